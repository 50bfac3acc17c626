"""Ablation of the restorer's conditioning paths and auxiliary losses, measured, not assumed:
every variant is trained from the same seed on the same crops for the same number of steps, then
restores the same held-out items.

    python -m restora.bench.ablation --steps 200 --out runs/ablation

Variants (``restora.nets.restorer.ABLATIONS`` and the loss weights of ``TrainConfig``):
no conditioning; embedding modulation; + spatial maps; + prompt pools; + regions (the full
model); the full model without the auxiliary losses (reconstruction only); with
``--with-losses`` also the full model with the quality, perceptual and internal-consistency
losses on.

Evaluation: the scikit-image photos (never trained on), centre crops of ``--side`` px, each
degraded by every case of :data:`CASES` with a fixed seed, restored blind by
:func:`restora.tools.learned.restore_net` with the variant's weights; PSNR (dB) per case.
Training runs resume from their checkpoints, so a killed ablation continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from restora.train.restorer import TrainConfig, load_restorer, train

CASES: tuple[tuple[str, str], ...] = (
    ("noise σ25", "noise=25"), ("haze", "haze=0.5"), ("rain", "rain=0.5"),
    ("motion blur", "blur_motion=0.5"), ("low light", "low_light=0.5"), ("jpeg q20", "jpeg=20"),
    ("noise+jpeg", "noise=15,jpeg=40"))
NO_AUX = {"w_contrast": 0.0, "w_div": 0.0, "w_bal": 0.0, "w_con": 0.0, "w_align": 0.0}
ALL_AUX = {"w_quality": 0.05, "w_perceptual": 0.05, "w_clue": 0.05}
VARIANTS: dict[str, tuple[str, dict]] = {
    "no conditioning": ("none", NO_AUX),
    "embedding modulation": ("embed", NO_AUX),
    "+ spatial maps": ("embed+maps", NO_AUX),
    "+ prompt pools": ("embed+maps+prompts", {}),
    "+ regions (full)": ("full", {}),
    "full, reconstruction loss only": ("full", NO_AUX),
}
# Not in the default run (each step costs about twice as much): pass --with-losses.
EXTRA: dict[str, tuple[str, dict]] = {
    "full, + quality/perceptual/consistency losses": ("full", ALL_AUX)}


def eval_items(side: int = 192, photos: int = 6) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(case, degraded, clean) for the first ``photos`` scikit-image photos, centre-cropped."""
    from restora.data import skimage_photos
    from restora.degrade import degrade

    items = []
    for k, (_, img) in enumerate(skimage_photos(512)[:photos]):
        h, w = img.shape[:2]
        y, x = (h - side) // 2, (w - side) // 2
        clean = np.ascontiguousarray(img[y:y + side, x:x + side])
        for name, recipe in CASES:
            items.append((name, degrade(clean, recipe, seed=k)[0], clean))
    return items


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(-10 * np.log10(max(np.mean((a.astype(np.float64) - b) ** 2), 1e-10)))


def evaluate(weights: str | Path, items) -> dict[str, float]:
    from restora.tools.learned import restore_net

    model = load_restorer(weights)
    scores: dict[str, list[float]] = {}
    for name, deg, clean in items:
        scores.setdefault(name, []).append(_psnr(restore_net(deg, model), clean))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m restora.bench.ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="nafnet-small")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--out", default="runs/ablation")
    p.add_argument("--images", default=None, help="clean training folder (default: wallpapers)")
    p.add_argument("--side", type=int, default=192)
    p.add_argument("--photos", type=int, default=6)
    p.add_argument("--only", action="append", help="run only these variants (repeatable)")
    p.add_argument("--with-losses", action="store_true",
                   help="also the variant with the quality, perceptual and consistency losses")
    a = p.parse_args(argv)
    items = eval_items(a.side, a.photos)
    # workers=0: this process has used OpenCV (the evaluation items) before any training starts,
    # and a worker forked after that can deadlock.
    base = TrainConfig(config=a.config, steps=a.steps, batch=a.batch, workers=0, warmup=20,
                       ckpt_every=50, val_crops=8, images=a.images)
    rows = []
    inputs = {}
    for name, deg, clean in items:
        inputs.setdefault(name, []).append(_psnr(deg, clean))
    variants = {**VARIANTS, **(EXTRA if a.with_losses else {})}
    for label, (ablation, weights) in variants.items():
        if a.only and label not in a.only:
            continue
        slug = label.replace(" ", "_").replace("/", "-").replace(",", "").replace("+", "p")
        cfg = replace(base, ablation=ablation, out=str(Path(a.out) / slug), **weights)
        t0 = time.time()
        s = train(cfg, progress=True)
        secs = time.time() - t0
        res = evaluate(s["export"], items)
        rows.append({"variant": label, "ablation": ablation, "loss_weights": weights,
                     "train_s": round(secs, 1), **{k: round(v, 2) for k, v in res.items()}})
        print(json.dumps(rows[-1]), flush=True)
    cases = [c for c, _ in CASES]
    lines = ["| variant | " + " | ".join(cases) + " | mean |",
             "|---|" + "---:|" * (len(cases) + 1),
             "| input | " + " | ".join(f"{np.mean(inputs[c]):.2f}" for c in cases)
             + f" | {np.mean([np.mean(inputs[c]) for c in cases]):.2f} |"]
    for r in rows:
        lines.append(f"| {r['variant']} | " + " | ".join(f"{r[c]:.2f}" for c in cases)
                     + f" | {np.mean([r[c] for c in cases]):.2f} |")
    table = "\n".join(lines)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "ablation.md").write_text(table + "\n")
    (Path(a.out) / "ablation.json").write_text(json.dumps(rows, indent=1))
    print(table)
    return 0


if __name__ == "__main__":
    from restora.errors import run_main

    raise SystemExit(run_main(main))
