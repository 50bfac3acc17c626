"""Compression and resolution operators: JPEG re-encoding and bicubic down-sampling."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def jpeg(img: np.ndarray, quality: float) -> np.ndarray:
    """Re-encode as baseline JPEG at ``quality`` (1–100, libjpeg scale, 4:2:0 chroma)."""
    u8 = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=round(quality), subsampling=2)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    chans = [Image.fromarray(img[..., c]).resize((w, h), Image.Resampling.BICUBIC)
             for c in range(img.shape[2])]
    return np.stack([np.asarray(c, dtype=np.float32) for c in chans], axis=2)


def low_res(img: np.ndarray, scale: float) -> np.ndarray:
    """Loss of resolution: anti-aliased bicubic down-sampling by ``scale`` (×2, ×4 in the SR
    protocols; any value ≥ 1 here), then bicubic up-sampling back to the original size, so the
    degraded image keeps the clean image's shape (pre-upsampled SR, as restoration pairs need)."""
    h, w = img.shape[:2]
    small = _resize(img, max(1, round(w / scale)), max(1, round(h / scale)))
    return np.clip(_resize(small, w, h), 0.0, 1.0)
