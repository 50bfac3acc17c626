"""Super-resolution of a down-up sampled image by iterative back-projection.

The degradation (:func:`restora.degrade.ops.low_res`) down-samples by ``scale`` with Pillow's
anti-aliased bicubic filter and up-samples back with the same filter, so the degraded image has
the clean image's size. Undoing it takes three steps:

1. Recover the low-resolution image L: the degraded image is U·L (U the bicubic up-sampling),
   so L is the least-squares solution of U·L = y (conjugate gradients, 10 iterations; the
   residual is ≈ 0.1/255 — re-down-sampling y instead would leave ≈ 3/255 of error in L).
2. Interpolate L with a sharper kernel than bicubic (Lanczos, 8×8 taps) as the starting point.
3. Iterative back-projection (Irani & Peleg, "Improving resolution by image registration",
   CVGIP: Graphical Models and Image Processing 53(3), 1991): x ← x + U·(L − D·x), with D the
   *exact* down-sampling operator of the degradation, until D·x reproduces L.

U and D are Pillow's own resampling filters as sparse matrices, read from Pillow's response to
unit impulses, so the operators match the degradation to float precision.

Measured on the 12 held-out photos (512 px): +1.3 dB over the degraded image at ×2, +0.7 dB at
×4 (bicubic initialisation instead of Lanczos: 0.25 dB less at ×2, 0.13 dB less at ×4).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import scipy.sparse as sp
from PIL import Image

from restora.tools.base import Tool, ToolParam

IBP_ITERATIONS = 10  # converged: 20 and 50 iterations give the same PSNR to 0.01 dB
LS_ITERATIONS = 10


@lru_cache(maxsize=64)
def resize_matrix(n: int, m: int) -> sp.csr_matrix:
    """The m×n matrix of Pillow's bicubic resize of a length-``n`` signal to length ``m``
    (anti-aliased when m < n), built from its response to each unit impulse."""
    eye = np.eye(n, dtype=np.float32)
    rows = np.asarray(Image.fromarray(eye, mode="F").resize((m, n), Image.Resampling.BICUBIC),
                      np.float32)
    a = rows.T.copy()
    a[np.abs(a) < 1e-8] = 0.0
    return sp.csr_matrix(a)


def _apply(img: np.ndarray, rows: sp.csr_matrix, cols: sp.csr_matrix) -> np.ndarray:
    """Separable resampling of an H×W×C image: ``rows`` acts along y, ``cols`` along x."""
    h, w, c = img.shape
    t = cols @ img.transpose(1, 0, 2).reshape(w, h * c)  # (w', h·c)
    t = t.reshape(-1, h, c).transpose(1, 0, 2).reshape(h, -1)  # (h, w'·c)
    out = rows @ t
    return np.asarray(out, np.float32).reshape(rows.shape[0], -1, c)


def low_res_size(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """(h, w) of the low-resolution grid, rounded as :func:`restora.degrade.ops.low_res` does."""
    h, w = shape
    return max(1, round(h / scale)), max(1, round(w / scale))


def _operators(shape: tuple[int, int], scale: float):
    h, w = shape
    hl, wl = low_res_size(shape, scale)
    down = (resize_matrix(h, hl), resize_matrix(w, wl))
    up = (resize_matrix(hl, h), resize_matrix(wl, w))
    return down, up


def recover_low_res(img: np.ndarray, scale: float, iterations: int = LS_ITERATIONS) -> np.ndarray:
    """The low-resolution image L with U·L closest to ``img`` (least squares, conjugate gradients
    on the normal equations Uᵀ U L = Uᵀ y, started from the re-down-sampled image)."""
    (dv, dh), (uv, uh) = _operators(img.shape[:2], scale)
    uvt, uht = uv.T.tocsr(), uh.T.tocsr()
    x = _apply(img, dv, dh).astype(np.float64)
    b = _apply(img, uvt, uht).astype(np.float64)

    def normal(v: np.ndarray) -> np.ndarray:
        return _apply(_apply(v.astype(np.float32), uv, uh), uvt, uht).astype(np.float64)

    r = b - normal(x)
    p = r.copy()
    rr = float((r * r).sum())
    for _ in range(int(iterations)):
        if rr <= 1e-20:
            break
        ap = normal(p)
        a = rr / float((p * ap).sum())
        x += a * p
        r -= a * ap
        rr_new = float((r * r).sum())
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x.astype(np.float32)


def estimate_scale(img: np.ndarray, candidates: tuple[float, ...] = (8, 6, 4, 3, 2)) -> float:
    """Largest candidate factor whose down-up model reproduces ``img`` (a down-up sampled image
    lies in the range of the up-sampler): median absolute residual below 0.01/255 — the median,
    as the degradation clips the up-sampler's overshoot at 0 and 1. On the held-out photos the
    true factor leaves < 0.005/255, a wrong one ≥ 0.02/255. 2 when none fits (e.g. after noise
    or JPEG on top)."""
    for s in candidates:
        hl, wl = low_res_size(img.shape[:2], s)
        if min(hl, wl) < 4:
            continue
        _, (uv, uh) = _operators(img.shape[:2], s)
        lr = recover_low_res(img, s)
        if np.median(np.abs(_apply(lr, uv, uh) - img)) < 0.01 / 255.0:
            return float(s)
    return 2.0


def ibp_upscale(img: np.ndarray, scale: float | None = None,
                iterations: float = IBP_ITERATIONS) -> np.ndarray:
    """Iterative back-projection super-resolution (Irani & Peleg 1991) of a down-up sampled
    image of factor ``scale`` (estimated when ``None``): low-resolution image by least squares,
    Lanczos initialisation, then x ← x + U·(L − D·x) with the degradation's exact operators."""
    s = estimate_scale(img) if scale is None else float(scale)
    if s <= 1.0:
        return img
    h, w = img.shape[:2]
    (dv, dh), (uv, uh) = _operators((h, w), s)
    lr = recover_low_res(img, s)
    x = cv2.resize(lr, (w, h), interpolation=cv2.INTER_LANCZOS4)
    if x.ndim == 2:
        x = x[..., None]
    for _ in range(int(iterations)):
        x += _apply(lr - _apply(x, dv, dh), uv, uh)
    return x


def _tune(op: str, p: dict) -> dict:
    """Loss of resolution: its factor."""
    if op == "low_res" and "scale" in p:
        return {"scale": float(p["scale"])}
    return {}


# cost = seconds of Tool.apply on the 512×512 astronaut photo after low_res ×2, scale given (best
# of 3) over seconds of a cv2 bicubic ×2 down+up of it (best of 50), measured in one run on 2
# shared CPU cores: 0.168 s / 0.75 ms.
TOOLS: list[Tool] = [
    Tool(
        "upscale_ibp", ("low_res",), ibp_upscale,
        params=(
            ToolParam("scale", "down-sampling factor (estimated when not given)", 1.0, 16.0, None),
            ToolParam("iterations", "back-projections", 0, 100, IBP_ITERATIONS),
        ),
        cost=230.0,
        cite="Irani & Peleg: Improving resolution by image registration (CVGIP: GMIP 1991)",
        tune=_tune,
    ),
]
