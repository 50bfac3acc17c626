"""What a camera does to light before the user sees it, for checking that Restora's choices hold on
camera-made noise and under-exposure, not only on the synthesiser's per-pixel operators.

The operators of shared/PROTOCOLS.md add noise to each pixel and channel independently, in the
image's own (display) values. A camera instead counts photons on a colour-filter mosaic in
linear light, fills in the two missing colours of each pixel from its neighbours (demosaicing,
which spreads each sample's noise over a few pixels and across channels), encodes the result
with a tone curve and saves it as a JPEG. Noise from such a pipeline is spatially correlated,
coloured and larger in the shadows, and a per-pixel noise estimator under-reads it badly.

:func:`camera_capture` renders that pipeline from a clean display-referred image: decoding by a
2.2 power, an exposure factor, an RGGB Bayer mosaic, Poisson shot noise and Gaussian read noise,
OpenCV's edge-aware demosaicing, encoding by the inverse power, JPEG. It is not one of the
synthesiser's operators (no label, no mask); ``restora bench camera`` uses it.
"""

from __future__ import annotations

import cv2
import numpy as np

ENCODING_GAMMA = 2.2


def mosaic(lin: np.ndarray) -> np.ndarray:
    """The RGGB Bayer samples of a linear RGB image (H and W even): one channel per pixel."""
    raw = np.empty(lin.shape[:2], np.float32)
    raw[0::2, 0::2] = lin[0::2, 0::2, 0]
    raw[0::2, 1::2] = lin[0::2, 1::2, 1]
    raw[1::2, 0::2] = lin[1::2, 0::2, 1]
    raw[1::2, 1::2] = lin[1::2, 1::2, 2]
    return raw


def demosaic(raw: np.ndarray) -> np.ndarray:
    """RGB from RGGB samples in [0, 1]: OpenCV's edge-aware interpolation on 16-bit data."""
    u16 = (np.clip(raw, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    # OpenCV names Bayer patterns by the second row's first two pixels: RGGB is its "BG"
    rgb = cv2.cvtColor(u16, cv2.COLOR_BayerBG2RGB_EA)
    return rgb.astype(np.float32) / 65535.0


def camera_capture(img: np.ndarray, *, exposure: float = 1.0, photons: float = 200.0,
                   read_sigma: float = 1.0, quality: int = 90, seed: int = 0) -> np.ndarray:
    """``img`` (display-referred RGB in [0, 1], H×W×3) as a camera would save it: taken at
    ``exposure`` (1: well exposed; 0.1: ten times too short), ``photons`` counted at full scale
    of a well-exposed frame, Gaussian read noise of ``read_sigma`` (/255 of the raw scale),
    demosaiced, tone-encoded and saved as a JPEG of ``quality`` (100 or more: no JPEG)."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"camera_capture needs an H×W×3 image, got shape {img.shape}")
    if exposure <= 0 or photons <= 0:
        raise ValueError("exposure and photons must be positive")
    h, w = img.shape[:2]
    h2, w2 = h + h % 2, w + w % 2
    src = np.pad(img, ((0, h2 - h), (0, w2 - w), (0, 0)), mode="edge") if (h2, w2) != (h, w) else img
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    lin = np.power(np.clip(src, 0.0, 1.0), ENCODING_GAMMA, dtype=np.float32) * np.float32(exposure)
    raw = mosaic(lin)
    shot = rng.poisson(raw.astype(np.float64) * photons).astype(np.float32) / np.float32(photons)
    raw = shot + rng.standard_normal(raw.shape, dtype=np.float32) * np.float32(read_sigma / 255.0)
    rgb = np.power(demosaic(raw), 1.0 / ENCODING_GAMMA, dtype=np.float32)[:h, :w]
    if quality >= 100:
        return np.ascontiguousarray(rgb)
    u8 = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit 3-channel array
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1], np.float32) / 255.0
