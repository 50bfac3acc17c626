"""Seeded smooth random fields: the raw material of depth maps, blob masks and clouds."""

from __future__ import annotations

import cv2
import numpy as np


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """A generator for ``seed`` and a path of integer keys; independent streams per key path."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))


def smooth_field(shape: tuple[int, int], scale: float, seed: int, octaves: int = 1,
                 persistence: float = 0.5) -> np.ndarray:
    """A smooth random field in [0, 1] with features about ``scale`` px wide.

    Gaussian noise on a coarse grid, bicubically up-sampled and Gaussian-smoothed; ``octaves`` > 1
    adds finer layers with amplitude × ``persistence`` each (fractal, cloud-like texture).
    """
    h, w = shape
    rng = rng_for(seed, 7)
    out = np.zeros((h, w), dtype=np.float32)
    amp = 1.0
    for o in range(octaves):
        s = max(scale / 2**o, 2.0)
        gh, gw = int(np.ceil(h / s)) + 2, int(np.ceil(w / s)) + 2
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        up = cv2.resize(grid, (int(np.ceil(gw * s)), int(np.ceil(gh * s))),
                        interpolation=cv2.INTER_CUBIC)[:h, :w]
        up = cv2.GaussianBlur(up, (0, 0), s / 4.0, borderType=cv2.BORDER_REFLECT_101)
        out += amp * up
        amp *= persistence
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def synthetic_depth(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A plausible scene depth in [0.1, 1] (relative units): far at the top, near at the bottom,
    with smooth undulations, as outdoor photographs usually have. Used when no depth is given."""
    h, w = shape
    ramp = np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    f = smooth_field(shape, max(min(h, w) / 3.0, 4.0), seed)
    d = 0.6 * ramp + 0.4 * f
    return (0.1 + 0.9 * d).astype(np.float32)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic step from 0 (x ≤ 0) to 1 (x ≥ 1), exact 0 and 1 outside."""
    x = np.clip(x, 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32)
