"""Calibrate the perceiver's detection thresholds on fresh synthetic data and fold them into the
weights.

A multi-label head trained with binary cross-entropy puts its best decision threshold away from
0.5 for types that are rare, subtle or often masked. This step draws fresh samples from the
training photos (a seed no training step used; the held-out scikit-image photos are never
touched), measures for each type the logit threshold that maximises F1 among those with a
precision of at least 0.9 — of the global type head per image, and of the dense head per 8×8
cell (the maps' masks) — and subtracts it from that head's bias. Afterwards probability 0.5 is each type's calibrated threshold, so every consumer
(restora.perceive, the agent, the benchmarks) keeps using 0.5. The offsets go in the card.

    python -m restora.train.calibrate runs/p1/perceiver_small.safetensors \\
        restora/weights/perceiver_small.safetensors --images runs/wallpapers --pairs 1536
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from restora.data import training_paths
from restora.nets.perceiver import OPS, Perceiver
from restora.train.perceiver import (
    N_OPS,
    PerceiverData,
    StepBatches,
    derived_parser,
    join_pair,
    load_perceiver,
    save_derived,
)

CALIBRATION_SEED = 424242  # no training run uses it (they use cfg.seed and cfg.seed + 7919)
MAX_SHIFT = 4.0  # a threshold's logit is kept within ±4 (probability 0.018 … 0.982)


def best_offset(logits: np.ndarray, target: np.ndarray,
                min_precision: float = 0.0) -> tuple[float, float]:
    """(logit threshold, F1 there) maximising F1 of ``logits > t`` against binary ``target``
    among the thresholds whose precision is at least ``min_precision`` (the highest-precision
    threshold when none reaches it); (0, nan) when there are no positives."""
    pos = target > 0.5
    if not pos.any():
        return 0.0, float("nan")
    order = np.argsort(-logits, kind="stable")
    s, y = logits[order], pos[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    f1 = 2 * tp / (2 * tp + fp + (pos.sum() - tp))
    precision = tp / (tp + fp)
    # a cut after index k predicts the k+1 largest as positive; only cut between distinct values
    valid = np.append(s[1:] < s[:-1], True)
    if not (valid & (precision >= min_precision)).any():
        k = int(np.argmax(np.where(valid, precision, -1.0)))
    else:
        k = int(np.argmax(np.where(valid & (precision >= min_precision), f1, -1.0)))
    t = float((s[k] + s[k + 1]) / 2) if k + 1 < len(s) else float(s[k] - 1e-3)
    return float(np.clip(t, -MAX_SHIFT, MAX_SHIFT)), float(f1[k])


@torch.no_grad()
def collect(model: Perceiver, data: PerceiverData, pairs: int, batch: int = 32,
            workers: int = 1, cells_per_image: int = 64) -> dict[str, np.ndarray]:
    """Global type logits and targets of 2·``pairs`` images, and a random sample of
    ``cells_per_image`` dense cells per image (logits and mask targets)."""
    model.eval()
    loader = DataLoader(data, batch_sampler=StepBatches(0, max(1, pairs // batch), batch),
                        num_workers=workers)
    rng = np.random.default_rng(CALIBRATION_SEED)
    g_log, g_tgt, d_log, d_tgt = [], [], [], []
    for b in loader:
        t = join_pair(b)
        out = model(t["image"])
        g_log.append(out.type_logits[:, :N_OPS].float().numpy())
        g_tgt.append(t["types"][:, :N_OPS].numpy())
        dl = out.dense_logits.float().flatten(2).numpy()  # B × 15 × cells
        dt = t["dense_mask"].flatten(2).numpy()
        idx = rng.integers(0, dl.shape[2], size=(dl.shape[0], cells_per_image))
        d_log.append(np.take_along_axis(dl, idx[:, None, :], 2).transpose(0, 2, 1).reshape(-1, N_OPS))
        d_tgt.append(np.take_along_axis(dt, idx[:, None, :], 2).transpose(0, 2, 1).reshape(-1, N_OPS))
    return {"global_logits": np.concatenate(g_log), "global_targets": np.concatenate(g_tgt),
            "dense_logits": np.concatenate(d_log), "dense_targets": np.concatenate(d_tgt)}


MIN_PRECISION = 0.9


def calibrate(model: Perceiver, stats: dict[str, np.ndarray],
              min_precision: float = MIN_PRECISION) -> dict:
    """Fold the F1-optimal thresholds of ``stats`` (from :func:`collect`) with precision at least
    ``min_precision`` into ``model``'s head biases; return the offsets and F1 before/after per
    type. The precision floor is there because a false detection costs the agent a tool run and
    risks harm, while a missed mild one costs little."""
    report = {}
    for kind, bias in (("global", model.type_head.bias), ("dense", model.dense_head[-1].bias)):
        lg, tg = stats[f"{kind}_logits"], stats[f"{kind}_targets"]
        for j, op in enumerate(OPS):
            t, f1 = best_offset(lg[:, j], tg[:, j], min_precision)
            pos = tg[:, j] > 0.5
            pred = lg[:, j] > 0
            f1_0 = 2 * (pred & pos).sum() / max(pred.sum() + pos.sum(), 1)
            with torch.no_grad():
                bias[j] -= t
            report.setdefault(op, {})[kind] = {"logit_threshold": round(t, 4),
                                               "f1_at_0.5": round(float(f1_0), 4),
                                               "f1_calibrated": round(f1, 4)}
    return report


def main(argv: list[str] | None = None) -> int:
    p = derived_parser("python -m restora.train.calibrate", __doc__)
    p.add_argument("--pairs", type=int, default=1536)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--min-precision", type=float, default=MIN_PRECISION,
                   help=f"precision floor of every threshold (default {MIN_PRECISION})")
    a = p.parse_args(argv)
    model = load_perceiver(a.weights)
    paths = training_paths([a.images] if a.images else None)
    data = PerceiverData(paths, crop=a.crop, seed=CALIBRATION_SEED)
    report = calibrate(model, collect(model, data, a.pairs, workers=a.workers), a.min_precision)
    out = save_derived(model, a.weights, a.out, "calibration",
                       {"pairs": a.pairs, "crop": a.crop, "seed": CALIBRATION_SEED,
                        "min_precision": a.min_precision, "images": len(paths),
                        "per_type": report})
    for op, r in report.items():
        g, d = r["global"], r["dense"]
        print(f"{op:13s} global F1 {g['f1_at_0.5']:.3f} → {g['f1_calibrated']:.3f} "
              f"(t {g['logit_threshold']:+.2f})   dense F1 {d['f1_at_0.5']:.3f} → "
              f"{d['f1_calibrated']:.3f} (t {d['logit_threshold']:+.2f})")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    from restora.errors import run_main

    raise SystemExit(run_main(main))
