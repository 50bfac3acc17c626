"""Spatial masks M(x) ∈ [0, 1] that confine a degradation to part of the image.

out = M·op(img) + (1 − M)·img, so where M is exactly 0 the image is untouched. Edges are soft
(a few pixels of smooth ramp) like real spatially varying degradations, and what is returned is
exactly the mask used, so it serves as the ground-truth label map.
"""

from __future__ import annotations

import numpy as np
from skimage.segmentation import felzenszwalb

from restora.degrade.fields import rng_for, smooth_field, smoothstep
from restora.errors import RestoraError

KINDS = ("blob", "half", "segment")


def blob(shape: tuple[int, int], seed: int, coverage: float = 0.45, edge: float = 8.0) -> np.ndarray:
    """Smooth random blobs covering about ``coverage`` of the image, soft over ``edge`` px."""
    h, w = shape
    f = smooth_field(shape, max(min(h, w) / 3.0, 4.0), seed)
    thr = float(np.quantile(f, 1.0 - coverage))
    # Scale the ramp so its width is about `edge` pixels given the field's typical slope.
    gy, gx = np.gradient(f)
    slope = float(np.median(np.hypot(gx, gy))) + 1e-6
    return smoothstep((f - thr) / (slope * edge) + 0.5)


def half(shape: tuple[int, int], seed: int, coverage: float = 0.5, edge: float = 8.0) -> np.ndarray:
    """A half-plane at a random angle covering about ``coverage`` of the image, soft edge."""
    h, w = shape
    rng = rng_for(seed, 31)
    a = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = xx * np.cos(a) + yy * np.sin(a)
    thr = float(np.quantile(proj, 1.0 - coverage))
    return smoothstep((proj - thr) / edge + 0.5)


def segment(shape: tuple[int, int], seed: int, image: np.ndarray | None = None,
            coverage: float = 0.45) -> np.ndarray:
    """A random subset of the image's own segments (Felzenszwalb graph segmentation), so the
    degradation follows object boundaries. Without an image, random Voronoi cells stand in."""
    h, w = shape
    rng = rng_for(seed, 32)
    if image is not None:
        labels = felzenszwalb(image, scale=max(h, w) / 2.0, sigma=0.8, min_size=max(h * w // 400, 16))
    else:
        pts = rng.uniform(0, 1, (12, 2)) * [h, w]
        yy, xx = np.mgrid[0:h, 0:w]
        d = (yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2
        labels = d.argmin(axis=2)
    ids, counts = np.unique(labels, return_counts=True)
    order = rng.permutation(len(ids))
    chosen, total = [], 0
    for i in order:
        if total >= coverage * h * w:
            break
        chosen.append(ids[i])
        total += counts[i]
    return np.isin(labels, chosen).astype(np.float32)


def make(kind: str, shape: tuple[int, int], seed: int, image: np.ndarray | None = None,
         coverage: float | None = None) -> np.ndarray:
    """The mask of ``kind`` ("blob", "half" or "segment") for an image of ``shape``."""
    kw = {} if coverage is None else {"coverage": coverage}
    if coverage is not None and not 0.0 < coverage <= 1.0:
        raise RestoraError(f"mask coverage must be in (0, 1], got {coverage}")
    if kind == "blob":
        return blob(shape, seed, **kw)
    if kind == "half":
        return half(shape, seed, **kw)
    if kind == "segment":
        return segment(shape, seed, image=image, **kw)
    raise RestoraError(f"unknown mask '{kind}' (known: {', '.join(KINDS)})")
