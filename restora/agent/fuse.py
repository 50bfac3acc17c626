"""Execution under region masks: a tool runs on the region's bounding box only (with a margin, so
it sees context), large areas run in overlapping tiles, and the result is fused back with weights
that rise smoothly inside the region (:func:`inward`), so there is no seam and nothing outside
the mask moves."""

from __future__ import annotations

import numpy as np

from restora.tools.base import Tool

TILE, OVERLAP, MARGIN = 1024, 64, 32


def bbox(mask: np.ndarray | None, shape: tuple[int, int], margin: int = MARGIN,
         align: int = 8) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the mask's pixels ≥ 0.5, grown by ``margin`` px, origin aligned to
    ``align`` (JPEG's 8×8 grid stays on the grid), clipped to the image; the whole image for
    None."""
    h, w = shape
    if mask is None:
        return 0, h, 0, w
    ys, xs = np.nonzero(np.asarray(mask) >= 0.5)
    if ys.size == 0:
        return 0, 0, 0, 0
    y0 = max(0, (int(ys.min()) - margin) // align * align)
    x0 = max(0, (int(xs.min()) - margin) // align * align)
    return y0, min(h, int(ys.max()) + 1 + margin), x0, min(w, int(xs.max()) + 1 + margin)


def _ramp(n: int, lo: bool, hi: bool, overlap: int) -> np.ndarray:
    r = np.ones(n, np.float32)
    k = min(overlap, n // 2)
    if k > 0:
        edge = (np.arange(k, dtype=np.float32) + 0.5) / k
        if lo:
            r[:k] = edge
        if hi:
            r[n - k:] = edge[::-1]
    return r


def fits_one_tile(shape: tuple[int, ...], tile: int = TILE) -> bool:
    """:func:`run_tiled` hands an image of this shape to the tool in one call."""
    return shape[0] <= tile and shape[1] <= tile


def run_tiled(tool: Tool, img: np.ndarray, params: dict, tile: int = TILE,
              overlap: int = OVERLAP) -> np.ndarray:
    """``tool`` over ``img`` in tiles of at most ``tile`` px (origins on the 8-px grid) that
    overlap by ``overlap`` px, cross-faded linearly; one call when the image fits a tile."""
    h, w = img.shape[:2]
    if fits_one_tile(img.shape, tile):
        return tool.apply(img, params)
    step = max(8, (tile - overlap) // 8 * 8)
    out = np.zeros_like(img)
    acc = np.zeros((h, w, 1), np.float32)
    for y in range(0, max(1, h - overlap), step):
        for x in range(0, max(1, w - overlap), step):
            y1, x1 = min(h, y + tile), min(w, x + tile)
            part = tool.apply(img[y:y1, x:x1], params)
            wgt = np.outer(_ramp(y1 - y, y > 0, y1 < h, overlap),
                           _ramp(x1 - x, x > 0, x1 < w, overlap))[..., None]
            out[y:y1, x:x1] += part * wgt
            acc[y:y1, x:x1] += wgt
    return out / np.maximum(acc, 1e-6)


def inward(mask: np.ndarray, width: float) -> np.ndarray:
    """Fusion weights for a region: exactly 0 outside it, rising smoothly inside to 1 at
    ``width`` px from its edge (at most a quarter of the region's own depth, so small regions
    still reach full weight). Pixels outside the region are never changed: a region the
    perceiver called clean stays bit for bit what it was."""
    from scipy import ndimage

    from restora.degrade.fields import smoothstep

    inside = np.asarray(mask) >= 0.5
    if inside.all() or not inside.any():
        return inside.astype(np.float32)
    depth = ndimage.distance_transform_edt(inside)
    w = max(1.0, min(width, 0.25 * float(depth.max())))
    return np.where(inside, smoothstep(np.clip(depth / w, 0.0, 1.0)), 0.0).astype(np.float32)


def apply_in_region(tool: Tool, params: dict, img: np.ndarray, mask: np.ndarray | None,
                    feather_px: float = 8.0) -> np.ndarray:
    """``img`` with ``tool`` applied inside ``mask`` (None: everywhere): computed on the mask's
    bounding box plus a margin (context for the tool) only, fused through :func:`inward`
    weights, so nothing outside the mask changes and there is no seam inside it."""
    y0, y1, x0, x1 = bbox(mask, img.shape[:2])
    if y1 <= y0 or x1 <= x0:
        return img
    crop = img[y0:y1, x0:x1]
    restored = run_tiled(tool, crop, params)
    if mask is None:
        return restored if restored.shape == img.shape else _paste(img, restored, y0, x0)
    w = inward(mask[y0:y1, x0:x1], feather_px)[..., None]
    out = img.copy()
    out[y0:y1, x0:x1] = np.where(w > 0, w * restored + (1.0 - w) * crop, crop)
    return out


def _paste(img: np.ndarray, part: np.ndarray, y0: int, x0: int) -> np.ndarray:
    out = img.copy()
    out[y0:y0 + part.shape[0], x0:x0 + part.shape[1]] = part
    return out


def feather_px(shape: tuple[int, ...]) -> float:
    """Seam width for region fusion: 3 % of the image diagonal, at least 8 px."""
    return max(8.0, 0.03 * float(np.hypot(shape[0], shape[1])))


