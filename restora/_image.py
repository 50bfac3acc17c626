"""The image contract, checked in one place.

Public functions take and return float32 RGB in [0, 1]: numpy H×W×3 (or torch B×3×H×W in nets).
"""

from __future__ import annotations

import numpy as np

from restora.errors import RestoraError


def as_image(img: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Return ``img`` as a contiguous float32 H×W×3 array in [0, 1].

    Accepts H×W (grayscale, replicated to 3 channels), H×W×1, H×W×3; uint8 and uint16 are scaled
    to [0, 1]; float input is clipped to [0, 1]. Anything else raises :class:`RestoraError`.
    """
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise RestoraError(f"{name} must be H×W or H×W×3, got shape {tuple(a.shape)}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise RestoraError(f"{name} is empty (shape {tuple(a.shape)})")
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise RestoraError(f"{name} holds NaN or infinite values")
        a = np.clip(a.astype(np.float32, copy=False), 0.0, 1.0)
    else:
        raise RestoraError(f"{name} has unsupported dtype {a.dtype}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a, dtype=np.float32)


def to_gray(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an H×W×3 float image (H×W)."""
    return img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
