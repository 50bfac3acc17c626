"""Global tone operators: low light, contrast loss, saturation loss."""

from __future__ import annotations

import numpy as np

from restora._image import to_gray
from restora.degrade.ops.noise import poisson_gaussian


def low_light(img: np.ndarray, scale: float, gamma: float, peak: float, read_sigma: float,
              seed: int) -> np.ndarray:
    """Under-exposure as in LOL-style synthesis: ``scale · img^gamma`` (exposure times a gamma
    darkening of the tone curve), then Poisson–Gaussian sensor noise, whose photon count falls
    with the exposure (``peak`` photons at full scale)."""
    dark = scale * np.power(img, gamma, dtype=np.float32)
    return poisson_gaussian(dark, peak=peak * scale, read_sigma=read_sigma, seed=seed)


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Contrast loss: pull every pixel towards the mean luminance; ``factor`` 1 keeps the image,
    0 makes it flat grey."""
    mean = np.float32(to_gray(img).mean())
    return np.clip(mean + np.float32(factor) * (img - mean), 0.0, 1.0)


def saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """Colour loss: blend with the luminance; ``factor`` 1 keeps colours, 0 is grayscale."""
    y = to_gray(img)[..., None]
    return np.clip(y + np.float32(factor) * (img - y), 0.0, 1.0)
