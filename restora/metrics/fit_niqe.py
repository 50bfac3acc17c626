"""Fit the NIQE pristine model on a folder of clean photographs.

    python -m restora.metrics.fit_niqe --images DIR [DIR ...] --out restora/metrics/niqe_pristine.npz

Every jpg/jpeg/png/webp under the folders (recursively; byte-identical copies and thumbnails
named ``screenshot.*`` skipped) is downscaled so its long side is at most ``--long-side`` px,
converted to gray, cut into 96×96 patches, and the patches sharper than 0.75 × the sharpest patch
of that image are kept (Mittal et al. 2013, sec. III). The 36-D features of all kept patches give
the pristine multivariate Gaussian (mean ``mu``, covariance ``cov``), written to ``--out`` (.npz,
with the recipe parameters) next to a card (.json: sources, counts, parameters, date, sha256).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from restora.errors import RestoraError
from restora.metrics import noref as N

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}
SKIP = ("screenshot.*",)  # wallpaper-pack previews: tiny copies of the real image


def find_images(roots: list[Path]) -> list[Path]:
    """Image files under ``roots`` (files given directly are kept), sorted, content-deduplicated."""
    found, seen = [], set()
    for root in roots:
        if not root.exists():
            raise RestoraError(f"no such file or folder: {root}")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            if p.suffix.lower() not in EXTENSIONS or any(fnmatch.fnmatch(p.name, s) for s in SKIP):
                continue
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                found.append(p)
    return found


def load_gray(path: Path, long_side: int) -> np.ndarray:
    """0–255 gray version of an image file, downscaled (never upscaled) to ``long_side``."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = long_side / max(im.size)
        if scale < 1:
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            im = im.resize(size, Image.Resampling.LANCZOS)
        return N.gray255(np.asarray(im))


def fit(paths: list[Path], long_side: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Pristine (mu, cov) from the sharp patches of ``paths``, plus a per-image log."""
    kept, log = [], []
    for p in paths:
        gray = load_gray(p, long_side)
        if min(gray.shape) < N.BLOCK_SIZE:
            log.append({"path": str(p), "patches": 0, "kept": 0, "note": "too small"})
            continue
        feats, sharp = N.patch_features(gray)
        ok = np.all(np.isfinite(feats), axis=1)
        keep = ok & (sharp > N.SHARPNESS_THRESHOLD * sharp[ok].max()) if ok.any() else ok
        kept.append(feats[keep])
        log.append({"path": str(p), "patches": len(feats), "kept": int(keep.sum())})
    feats = np.concatenate(kept) if kept else np.empty((0, N.N_FEATURES))
    if len(feats) <= N.N_FEATURES:
        raise RestoraError(f"only {len(feats)} sharp patches found; give more images")
    return feats.mean(axis=0), np.cov(feats, rowvar=False), log


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m restora.metrics.fit_niqe", description=__doc__)
    ap.add_argument("--images", nargs="+", required=True, type=Path, help="folders or files")
    ap.add_argument("--out", type=Path, default=N.MODEL_PATH, help="model .npz (card: .json)")
    ap.add_argument("--long-side", type=int, default=1024, help="downscale target, px")
    ap.add_argument("--note", default="", help="free text for the card (e.g. how DIRs were picked)")
    args = ap.parse_args(argv)
    try:
        paths = find_images(args.images)
        if not paths:
            roots = " ".join(map(str, args.images))
            raise RestoraError(f"no jpg/png/webp images found under {roots}")
        mu, cov, log = fit(paths, args.long_side)
    except RestoraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, mu=mu, cov=cov, long_side=args.long_side, **N.RECIPE)
    used = [e for e in log if e["kept"]]
    card = {
        "model": args.out.name,
        "sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "method": "NIQE pristine MVG (Mittal, Soundararajan & Bovik, IEEE SPL 2013)",
        "sources": [str(p) for p in args.images],
        "note": args.note,
        "n_images": len(used),
        "n_patches": int(sum(e["kept"] for e in log)),
        "n_patches_seen": int(sum(e["patches"] for e in log)),
        "params": {**N.RECIPE, "long_side": args.long_side, "n_features": N.N_FEATURES},
        "images": log,
    }
    card_path = args.out.with_suffix(".json")
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    print(f"{card['n_images']} images, {card['n_patches']} patches → {args.out}, {card_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
