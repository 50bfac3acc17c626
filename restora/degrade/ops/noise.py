"""Noise operators: additive Gaussian, Poisson–Gaussian sensor noise, CT-like low-dose noise.

Each is a pure function of the image, its physical parameters and a ``seed`` that fixes the noise
realisation: same arguments, same output, bit for bit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from restora._image import to_gray


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed)))


def gaussian_noise(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Additive white Gaussian noise, independent per channel; ``sigma`` in /255 units."""
    n = _rng(seed).standard_normal(img.shape, dtype=np.float32)
    return np.clip(img + n * np.float32(sigma / 255.0), 0.0, 1.0)


def poisson_gaussian(img: np.ndarray, peak: float, read_sigma: float, seed: int) -> np.ndarray:
    """Signal-dependent sensor noise: Poisson shot noise with ``peak`` photons at intensity 1,
    plus Gaussian read noise of ``read_sigma`` (/255). Fewer photons, noisier image."""
    rng = _rng(seed)
    shot = rng.poisson(np.maximum(img, 0.0).astype(np.float64) * peak).astype(np.float32) / peak
    read = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(read_sigma / 255.0)
    return np.clip(shot + read, 0.0, 1.0).astype(np.float32)


def ct_noise(img: np.ndarray, dose: float, seed: int) -> np.ndarray:
    """Low-dose CT-like noise in the sinogram-free approximation: Poisson noise on the intensity
    with ``dose`` photons at intensity 1, identical in all channels (CT slices are grayscale) and
    slightly correlated in space, as filtered back-projection correlates neighbouring pixels."""
    y = to_gray(img).astype(np.float64)
    counts = _rng(seed).poisson(np.maximum(y, 0.0) * dose) / dose
    resid = counts - y
    # The reconstruction kernel correlates the noise; keep its variance after smoothing.
    smooth = ndimage.gaussian_filter(resid, 0.7, mode="reflect")
    resid = smooth * (resid.std() / max(smooth.std(), 1e-12))
    return np.clip(img + resid[..., None].astype(np.float32), 0.0, 1.0)
