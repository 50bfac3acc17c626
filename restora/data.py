"""Clean-image sources and the on-the-fly stream of (degraded, clean, label) training pairs.

Sources:
* the scikit-image photographs — Restora's built-in *test* set, never trained on;
* the Debian wallpaper packages (``apt-get install gnome-backgrounds mate-backgrounds
  plasma-workspace-wallpapers ukui-wallpapers``) — the default *training* set;
* any folder of images a user brings (DIV2K, BSD, their own photos).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from restora._image import as_image
from restora.degrade import Label, degrade
from restora.degrade.fields import rng_for
from restora.degrade.sample import NATURAL, random_recipe
from restora.errors import RestoraError

# Real photographs bundled with scikit-image (no download needed): the held-out test set.
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
                  "hubble_deep_field", "immunohistochemistry", "motorcycle_left", "rocket")
WALLPAPER_DIRS = ("/usr/share/backgrounds", "/usr/share/wallpapers")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def resize_max(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """Anti-aliased (box + bicubic) downscale so the longer side is at most ``max_side``."""
    h, w = img.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return img
    f = max_side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    chans = [Image.fromarray(img[..., c]).resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
             for c in range(img.shape[2])]
    return np.clip(np.stack([np.asarray(c, np.float32) for c in chans], axis=2), 0.0, 1.0)


def skimage_photos(max_side: int | None = 512) -> list[tuple[str, np.ndarray]]:
    """The built-in held-out set: (name, float32 RGB image) with the long side ≤ ``max_side``."""
    import skimage.data

    def load(name: str) -> np.ndarray:
        if name == "motorcycle_left":
            return skimage.data.stereo_motorcycle()[0]
        return getattr(skimage.data, name)()

    return [(n, resize_max(as_image(load(n)), max_side)) for n in SKIMAGE_PHOTOS]


def _scan(folder: Path) -> list[Path]:
    return sorted(q for q in folder.rglob("*") if q.suffix.lower() in IMAGE_EXTS and q.is_file())


def image_paths(folder: str | Path) -> list[Path]:
    """All images under ``folder`` (recursive, sorted); RestoraError if missing or empty."""
    p = Path(folder)
    if not p.exists():
        raise RestoraError(f"image folder not found: {p}")
    if not p.is_dir():
        raise RestoraError(f"not a folder: {p}")
    paths = _scan(p)
    if not paths:
        raise RestoraError(f"no images ({', '.join(sorted(IMAGE_EXTS))}) in folder: {p}")
    return paths


def wallpaper_paths(roots: Sequence[str] = WALLPAPER_DIRS) -> list[Path]:
    """The Debian wallpapers installed on this machine, one file per wallpaper (KDE packages ship
    each at several resolutions: the largest is kept). Empty list when none are installed."""
    best: dict[str, tuple[int, Path]] = {}
    for root in roots:
        if not Path(root).is_dir():
            continue
        for q in _scan(Path(root)):
            if q.stem == "screenshot":  # KDE's small preview of a wallpaper
                continue
            m = re.fullmatch(r"(\d+)x(\d+)", q.stem)
            key = str(q.parent.parent.parent) if m and q.parent.name.startswith("images") else str(q)
            area = int(m[1]) * int(m[2]) if m else 0
            if key not in best or area > best[key][0]:
                best[key] = (area, q)
    return sorted(p for _, p in best.values())


def training_paths(folders: Sequence[str | Path] | None = None) -> list[Path]:
    """Training images: the given folders, else the installed wallpapers."""
    if folders:
        return [p for f in folders for p in image_paths(f)]
    paths = wallpaper_paths()
    if not paths:
        raise RestoraError("no training images: pass --images DIR or install the wallpapers "
                           "(apt-get install gnome-backgrounds mate-backgrounds "
                           "plasma-workspace-wallpapers ukui-wallpapers)")
    return paths


@lru_cache(maxsize=512)
def _load_u8(path: str, max_side: int) -> np.ndarray:
    from restora.io import read_image

    return np.round(resize_max(read_image(path), max_side) * 255).astype(np.uint8)


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size``×``size`` crop at a position drawn from ``rng`` (reflect-padded if too small)."""
    h, w = img.shape[:2]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
        h, w = img.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return img[y:y + size, x:x + size]


@dataclass
class Pair:
    """One training example: degraded and clean crops (float32 H×W×3) and the ground truth."""

    degraded: np.ndarray
    clean: np.ndarray
    label: Label


class PairStream:
    """Deterministic, indexable stream of training pairs generated on the fly.

    ``stream[i]`` depends only on (``seed``, ``i``): crop position, augmentation, recipe and noise
    realisation are all drawn from a generator keyed by both, so a distributed sampler can hand
    disjoint index ranges to ranks and a resumed run regenerates exactly the same pairs.
    Images are decoded once, downscaled so the long side is ≤ ``max_side`` (which also washes out
    compression artefacts in the sources), and cached as uint8.
    """

    def __init__(self, paths: Sequence[str | Path], size: int = 128, seed: int = 0,
                 pool: tuple[str, ...] = NATURAL, max_side: int = 1024, **recipe_kw) -> None:
        if not paths:
            raise RestoraError("no clean images given to the pair stream")
        self.paths = [str(p) for p in paths]
        self.size, self.seed, self.pool, self.max_side = size, seed, pool, max_side
        self.recipe_kw = recipe_kw

    def clean_crop(self, i: int) -> np.ndarray:
        rng = rng_for(self.seed, 101, i)
        img = _load_u8(self.paths[int(rng.integers(len(self.paths)))], self.max_side)
        # Scale augmentation: sometimes view the photo at half size (finer detail per pixel).
        if rng.random() < 0.3 and min(img.shape[:2]) >= 2 * self.size:
            img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
        crop = random_crop(img, self.size, rng)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return np.ascontiguousarray(crop, dtype=np.float32) / np.float32(255.0)

    def __getitem__(self, i: int) -> Pair:
        clean = self.clean_crop(i)
        rng = rng_for(self.seed, 102, i)
        items = random_recipe(rng, self.pool, **self.recipe_kw)
        degraded, label = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
        return Pair(degraded, clean, label)

    def __iter__(self) -> Iterator[Pair]:
        i = 0
        while True:
            yield self[i]
            i += 1
