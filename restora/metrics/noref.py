"""No-reference quality: NIQE, the "naturalness" distance of Mittal, Soundararajan & Bovik.

A. Mittal, R. Soundararajan, A. C. Bovik, "Making a 'completely blind' image quality analyzer",
IEEE Signal Processing Letters 20(3), 2013.

Recipe (shared by :func:`niqe` and the fitting tool :mod:`restora.metrics.fit_niqe`):

1. gray image on the 0–255 scale (BT.601 luma of the RGB input);
2. MSCN coefficients ``(I − μ) / (σ + 1)``, μ and σ the local mean / standard deviation under a
   7×7 Gaussian window (σ_w = 7/6, edges replicated);
3. the image is cut into 96×96 patches; for each patch 18 features: a generalised Gaussian fit
   of the MSCN values (shape α, variance) and asymmetric generalised Gaussian fits of the four
   neighbour products — horizontal, vertical, main and anti diagonal — (shape α, mean η, left
   and right variances σl², σr²);
4. the same on the image downscaled by 2 (antialiased bicubic, 48×48 patches): 36 features;
5. a multivariate Gaussian (μ_d, Σ_d) is fitted to the patch features of the test image and
   compared with the pristine model (μ_p, Σ_p) fitted on sharp patches of clean photographs:
   ``NIQE = sqrt((μ_p − μ_d)ᵀ pinv((Σ_p + Σ_d) / 2) (μ_p − μ_d))``. Unitless; lower = more natural.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy.special import gammaln

from restora._image import as_image, to_gray
from restora.errors import RestoraError

BLOCK_SIZE = 96  # patch side at full scale, pixels
MSCN_WINDOW = 7  # Gaussian window side, pixels
MSCN_SIGMA = 7 / 6  # Gaussian window σ, pixels
MSCN_C = 1.0  # stabiliser in (I − μ)/(σ + C), 0–255 scale
SHARPNESS_THRESHOLD = 0.75  # pristine fit keeps patches with sharpness > this × image max
N_FEATURES = 36
MODEL_PATH = Path(__file__).with_name("niqe_pristine.npz")
RECIPE = {
    "block_size": BLOCK_SIZE,
    "mscn_window": MSCN_WINDOW,
    "mscn_sigma": MSCN_SIGMA,
    "mscn_c": MSCN_C,
    "sharpness_threshold": SHARPNESS_THRESHOLD,
}

# Shape look-up for the moment-matching fits: ρ(α) = Γ(1/α) Γ(3/α) / Γ(2/α)², strictly
# decreasing in α; a (generalised) Gaussian with shape α has E[x²] / E[|x|]² = ρ(α).
_ALPHA = np.arange(0.2, 10.0 + 1e-9, 0.001)
_RHO = np.exp(gammaln(1 / _ALPHA) + gammaln(3 / _ALPHA) - 2 * gammaln(2 / _ALPHA))


def _shape_from_ratio(rho: np.ndarray) -> np.ndarray:
    """α such that ρ(α) = rho (clipped to [0.2, 10]); NaN stays NaN."""
    return np.interp(rho, _RHO[::-1], _ALPHA[::-1])


def gray255(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an image (restora contract) as float64 on the 0–255 scale."""
    return to_gray(as_image(img)).astype(np.float64) * 255.0


def mscn(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients and the local std map σ (0–255 scale)."""
    t = np.arange(MSCN_WINDOW, dtype=np.float64) - (MSCN_WINDOW - 1) / 2
    k = np.exp(-0.5 * (t / MSCN_SIGMA) ** 2)
    k /= k.sum()

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(x, cv2.CV_64F, k, k, borderType=cv2.BORDER_REPLICATE)

    mu = blur(gray)
    sigma = np.sqrt(np.abs(blur(gray * gray) - mu * mu))
    return (gray - mu) / (sigma + MSCN_C), sigma


def _ggd(x: np.ndarray) -> list[np.ndarray]:
    """Per-row generalised Gaussian fit of x (n × m): [shape α, variance]."""
    var = np.mean(x * x, axis=1)
    alpha = _shape_from_ratio(var / np.mean(np.abs(x), axis=1) ** 2)
    return [alpha, var]


def _aggd(x: np.ndarray) -> list[np.ndarray]:
    """Per-row asymmetric generalised Gaussian fit of x (n × m): [α, η, σl², σr²]."""
    neg, pos = x < 0, x > 0
    var_l = np.sum(np.where(neg, x * x, 0.0), axis=1) / np.sum(neg, axis=1)
    var_r = np.sum(np.where(pos, x * x, 0.0), axis=1) / np.sum(pos, axis=1)
    g = np.sqrt(var_l / var_r)  # left/right scale ratio γ
    r_hat = np.mean(np.abs(x), axis=1) ** 2 / np.mean(x * x, axis=1)
    r_norm = r_hat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = _shape_from_ratio(1.0 / r_norm)  # the AGGD ratio is 1/ρ(α)
    ln_ratio = gammaln(2 / alpha) - 0.5 * (gammaln(1 / alpha) + gammaln(3 / alpha))
    eta = (np.sqrt(var_r) - np.sqrt(var_l)) * np.exp(ln_ratio)
    return [alpha, eta, var_l, var_r]


def _scale_features(coef: np.ndarray, block: int) -> np.ndarray:
    """18 features for every block×block patch of an MSCN map → (n_patches, 18)."""
    ny, nx = coef.shape[0] // block, coef.shape[1] // block
    b = coef[: ny * block, : nx * block].reshape(ny, block, nx, block).transpose(0, 2, 1, 3)
    b = b.reshape(ny * nx, block, block)
    pairs = (
        b[:, :, :-1] * b[:, :, 1:],  # horizontal neighbours
        b[:, :-1, :] * b[:, 1:, :],  # vertical
        b[:, :-1, :-1] * b[:, 1:, 1:],  # main diagonal
        b[:, :-1, 1:] * b[:, 1:, :-1],  # anti-diagonal
    )
    n = len(b)
    feats = _ggd(b.reshape(n, -1))
    for p in pairs:
        feats += _aggd(p.reshape(n, -1))
    return np.stack(feats, axis=1)


def _half(gray: np.ndarray) -> np.ndarray:
    """Downscale by 2 with antialiased bicubic interpolation (like MATLAB ``imresize(I, 0.5)``)."""
    h, w = gray.shape
    im = Image.fromarray(gray.astype(np.float32))
    return np.asarray(im.resize((w // 2, h // 2), Image.Resampling.BICUBIC), dtype=np.float64)


def patch_features(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NIQE features of a 0–255 gray image, one row per 96×96 patch.

    Returns ``(features (n, 36), sharpness (n,))``, sharpness being the patch mean of the local
    std map σ (0–255 scale). The image is cropped (top-left kept) to whole patches. Rows of flat
    patches hold NaN (the fits are undefined there).
    """
    h, w = gray.shape
    ny, nx = h // BLOCK_SIZE, w // BLOCK_SIZE
    gray = gray[: ny * BLOCK_SIZE, : nx * BLOCK_SIZE]
    with np.errstate(divide="ignore", invalid="ignore"):
        coef, sigma = mscn(gray)
        f1 = _scale_features(coef, BLOCK_SIZE)
        coef2, _ = mscn(_half(gray))
        f2 = _scale_features(coef2, BLOCK_SIZE // 2)
    sharp = sigma.reshape(ny, BLOCK_SIZE, nx, BLOCK_SIZE).mean(axis=(1, 3)).ravel()
    return np.concatenate([f1, f2], axis=1), sharp


@functools.lru_cache(maxsize=1)
def _pristine() -> tuple[np.ndarray, np.ndarray]:
    """The shipped pristine model (μ_p, Σ_p), loaded once."""
    if not MODEL_PATH.exists():
        raise RestoraError(
            f"NIQE model {MODEL_PATH.name} is missing; run python -m restora.metrics.fit_niqe"
        )
    with np.load(MODEL_PATH) as z:
        for key, value in RECIPE.items():
            if key not in z or not np.isclose(float(z[key]), value):
                raise RestoraError(
                    f"NIQE model {MODEL_PATH.name} was fitted with a different {key}; refit it"
                )
        mu, cov = z["mu"].astype(np.float64), z["cov"].astype(np.float64)
    if mu.shape != (N_FEATURES,) or cov.shape != (N_FEATURES, N_FEATURES):
        raise RestoraError(f"NIQE model {MODEL_PATH.name} has unexpected shapes; refit it")
    return mu, cov


def niqe(img: np.ndarray) -> float:
    """NIQE score of an image (unitless, ≥ 0, lower = closer to pristine natural statistics).

    ``img`` follows the restora contract (float32 H×W×3 in [0, 1], or what
    :func:`restora._image.as_image` accepts); it is scored on its BT.601 luma. Both sides must
    be at least 192 px (two 96-px patches) — smaller images raise :class:`RestoraError`.
    """
    gray = gray255(img)
    h, w = gray.shape
    if min(h, w) < 2 * BLOCK_SIZE:
        raise RestoraError(
            f"NIQE needs at least {2 * BLOCK_SIZE}×{2 * BLOCK_SIZE} px "
            f"(two {BLOCK_SIZE}-px patches per side), got {w}×{h}"
        )
    feats, _ = patch_features(gray)
    feats = feats[np.all(np.isfinite(feats), axis=1)]
    if len(feats) == 0:
        raise RestoraError("NIQE is undefined for this image: every patch is flat")
    mu_p, cov_p = _pristine()
    mu_d = feats.mean(axis=0)
    cov_d = np.cov(feats, rowvar=False) if len(feats) > 1 else np.zeros_like(cov_p)
    d = mu_p - mu_d
    return float(np.sqrt(max(d @ np.linalg.pinv((cov_p + cov_d) / 2) @ d, 0.0)))
