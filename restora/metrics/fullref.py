"""Full-reference fidelity metrics: PSNR and SSIM, as the restoration literature reports them.

Conventions (shared by most super-resolution / denoising papers, so numbers are comparable):

* values are computed on the 0–255 scale (``data_range`` = 255);
* RGB mode uses all three channels (PSNR over every sample; SSIM = mean of the per-channel SSIMs);
* Y mode uses ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` computes it,
  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (R, G, B in [0, 1], Y in [16, 235]);
* ``crop_border`` pixels are removed from every side before measuring (the usual practice for
  ×s super-resolution, where ``crop_border = s``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from restora._image import as_image
from restora.errors import RestoraError

DATA_RANGE = 255.0
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])  # BT.601 luma on the 0–255 scale, + 16 offset
_SSIM_SIGMA = 1.5  # Gaussian window of Wang et al. (2004)
_SSIM_RADIUS = 5  # 11×11 window (scikit-image: int(3.5 * 1.5 + 0.5) = 5)
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _prepare(a: np.ndarray, b: np.ndarray, y_channel: bool, crop_border: int) -> tuple:
    """Both images as float64 H×W×C arrays on the 0–255 scale (C = 1 for Y), border cropped."""
    a = as_image(a, name="image")
    b = as_image(b, name="reference")
    if a.shape != b.shape:
        raise RestoraError(
            f"image and reference differ in size: {a.shape[1]}×{a.shape[0]} vs "
            f"{b.shape[1]}×{b.shape[0]}"
        )
    crop = int(crop_border)
    if crop < 0:
        raise RestoraError(f"crop_border must be ≥ 0, got {crop_border}")
    h, w = a.shape[:2]
    if 2 * crop >= min(h, w):
        raise RestoraError(f"crop_border={crop} leaves nothing of a {w}×{h} image")
    out = []
    for img in (a, b):
        img = img[crop : h - crop, crop : w - crop].astype(np.float64)
        if y_channel:
            img = (img @ _Y_WEIGHTS + 16.0)[..., None]
        else:
            img = img * DATA_RANGE
        out.append(img)
    return out[0], out[1]


def psnr(a: np.ndarray, b: np.ndarray, *, y_channel: bool = False, crop_border: int = 0) -> float:
    """Peak signal-to-noise ratio of ``a`` against the reference ``b``, in dB (higher is better).

    ``PSNR = 10 log10(255² / MSE)`` with the MSE over all pixels (and channels, unless
    ``y_channel``). Identical images give ``inf``. Images follow the restora contract
    (float32 H×W×3 in [0, 1], or anything :func:`restora._image.as_image` accepts).
    """
    x, y = _prepare(a, b, y_channel, crop_border)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / mse)


def _gaussian_kernel() -> np.ndarray:
    t = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / _SSIM_SIGMA) ** 2)
    return k / k.sum()


_KERNEL = _gaussian_kernel()


def _blur(img: np.ndarray) -> np.ndarray:
    # Only the interior (away from the border by the window radius) is averaged below, so the
    # border mode never reaches the result.
    return cv2.sepFilter2D(img, cv2.CV_64F, _KERNEL, _KERNEL, borderType=cv2.BORDER_REFLECT)


def _ssim_channel(x: np.ndarray, y: np.ndarray) -> float:
    c1 = (_SSIM_K1 * DATA_RANGE) ** 2
    c2 = (_SSIM_K2 * DATA_RANGE) ** 2
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    mx, my = _blur(x), _blur(y)
    vx = _blur(x * x) - mx * mx  # population (biased) local statistics
    vy = _blur(y * y) - my * my
    cxy = _blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * cxy + c2)
    den = (mx * mx + my * my + c1) * (vx + vy + c2)
    r = _SSIM_RADIUS
    return float(np.mean((num / den)[r:-r, r:-r]))


def ssim(a: np.ndarray, b: np.ndarray, *, y_channel: bool = False, crop_border: int = 0) -> float:
    """Structural similarity of ``a`` against the reference ``b`` (unitless, ≤ 1, higher is better).

    Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
    structural similarity", IEEE TIP 13(4), 2004: Gaussian window σ = 1.5 (11×11), K1 = 0.01,
    K2 = 0.03, L = 255, population (co)variances. The SSIM map is averaged over the pixels whose
    window lies inside the image (a 5-pixel margin is dropped), as scikit-image's
    ``structural_similarity(..., gaussian_weights=True, use_sample_covariance=False)`` does.
    RGB: mean of the three per-channel values.
    """
    x, y = _prepare(a, b, y_channel, crop_border)
    if min(x.shape[:2]) < 2 * _SSIM_RADIUS + 1:
        raise RestoraError(
            f"SSIM needs at least {2 * _SSIM_RADIUS + 1}×{2 * _SSIM_RADIUS + 1} pixels "
            f"after cropping, got {x.shape[1]}×{x.shape[0]}"
        )
    return float(np.mean([_ssim_channel(x[..., c], y[..., c]) for c in range(x.shape[2])]))


def psnr_y(a: np.ndarray, b: np.ndarray, *, crop_border: int = 0) -> float:
    """PSNR on the BT.601 Y channel (dB); see :func:`psnr`."""
    return psnr(a, b, y_channel=True, crop_border=crop_border)


def ssim_y(a: np.ndarray, b: np.ndarray, *, crop_border: int = 0) -> float:
    """SSIM on the BT.601 Y channel (unitless); see :func:`ssim`."""
    return ssim(a, b, y_channel=True, crop_border=crop_border)
