"""Seamless fusion of a restored image into the original under a region mask."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from restora.degrade.fields import smoothstep


def feather(mask: np.ndarray, width: float = 8.0) -> np.ndarray:
    """Weights in [0, 1]: 1 on the mask (M ≥ 0.5), falling smoothly to exactly 0 at ``width`` px
    outside it. Soft masks keep their own values where they exceed the feather."""
    m = np.asarray(mask, np.float32)
    inside = m >= 0.5
    if width <= 0 or inside.all() or not inside.any():
        return np.where(inside, np.float32(1), m).astype(np.float32)
    dist = ndimage.distance_transform_edt(~inside)
    ramp = smoothstep(1.0 - dist / width)
    return np.maximum(ramp, np.clip(m, 0, 1)).astype(np.float32)


def blend(original: np.ndarray, restored: np.ndarray, mask: np.ndarray | None,
          width: float = 8.0) -> np.ndarray:
    """``restored`` inside ``mask``, ``original`` outside, a feathered seam of ``width`` px between.
    Pixels where the weight is 0 are copied from ``original`` bit for bit."""
    if mask is None:
        return restored
    w = feather(mask, width)[..., None]
    mixed = (w * restored + (1.0 - w) * original).astype(np.float32)
    return np.where(w > 0, mixed, original).astype(np.float32)
