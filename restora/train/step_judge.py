"""Fit the learned step score (restora.agent.stepscore) on the agent's own steps.

The steps come from ``python -m restora.bench.judge --cache FILE`` (each a step the agent would
try on a random recipe of a random crop, with the judge's evidence, the pixel measures and its
ΔPSNR to the clean crop). Fit only on steps from the training photos; the held-out photos'
steps (``--val``) are scored, never fitted. Each step is weighted by |ΔPSNR| clipped to
[``--floor``, 15] dB and labelled "gained" (ΔPSNR > 0). The number of trees is chosen by
k-fold cross-validation on the training steps (summed clipped ΔPSNR of the steps each judge
keeps), then the model is re-fitted on all of them.

    python -m restora.train.step_judge runs/judge13/wall.json --val runs/judge13/held.json \\
        --out restora/weights/step_judge.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from restora.errors import RestoraError, run_main

CLIP_DB = 15.0
TAUS = (0.3, 0.4, 0.5, 0.6, 0.7)


def load_steps(paths: list[Path]) -> tuple[list[dict], list[str]]:
    steps, where = [], []
    for p in paths:
        try:
            got = json.loads(Path(p).read_text())
            s = got["steps"]
        except (OSError, ValueError, KeyError, TypeError):
            raise RestoraError(f"{p} is not a step cache of python -m restora.bench.judge") \
                from None
        if s and "physics" not in s[0]:
            raise RestoraError(f"{p} holds no pixel measures (drawn before they were recorded)")
        steps += s
        where.append(f"{p} ({got.get('where', '?')}, seed {got.get('seed', '?')}, {len(s)})")
    if not steps:
        raise RestoraError("no steps to fit on")
    return steps, where


def arrays(steps: list[dict], floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from restora.agent.stepscore import features

    x = np.stack([features(s) for s in steps])
    d = np.array([s["delta"] for s in steps], np.float64)
    return x, (d > 0).astype(np.float64), np.clip(np.abs(d), floor, CLIP_DB), d


def rule_table(steps: list[dict], scores: np.ndarray, tau: float = 0.5) -> list[tuple]:
    """Per judge: (name, kept, summed clipped ΔPSNR of kept, harmful kept, harmful, useful
    refused, useful, worst kept)."""
    from restora.agent.judge import decide_dict

    d = np.array([s["delta"] for s in steps])
    shipped = np.array([decide_dict(s)[0] for s in steps])
    no_margin = np.array([decide_dict(s, margin=0.0, op_margins=False)[0] for s in steps])
    fid = np.array([bool(s["fidelity_ok"]) for s in steps])
    learned = scores >= tau
    judges = {"shipped rules": shipped,
              "the learned score in place of the comparator's margins": no_margin & learned,
              "**shipped rules, then the learned score**": shipped & learned,
              "fidelity guard, then the learned score": fid & learned,
              "keep every step": np.ones(len(d), bool)}
    return [(name, *_kept(d, k)) for name, k in judges.items()]


def _kept(d: np.ndarray, k: np.ndarray) -> tuple:
    dc = np.clip(d, -CLIP_DB, CLIP_DB)
    worse, better = d <= -1.0, d >= 1.0
    return (int(k.sum()), float(dc[k].sum()), int(k[worse].sum()), int(worse.sum()),
            int((~k)[better].sum()), int(better.sum()),
            float(d[k].min()) if k.any() else float("nan"))


def op_table(steps: list[dict], scores: np.ndarray, tau: float = 0.5) -> str:
    """Per operator: the shipped rules against the shipped rules then the learned score."""
    from restora.agent.judge import decide_dict

    d = np.array([s["delta"] for s in steps])
    shipped = np.array([decide_dict(s)[0] for s in steps])
    both = shipped & (scores >= tau)
    ops = np.array([s["op"] for s in steps])
    out = [("| operator | steps | useful | harmful | shipped rules: kept, summed (dB) "
            "| then the learned score: kept, summed (dB) |"), "|---|---:|---:|---:|---:|---:|"]
    for op in sorted(set(ops)):
        sel = ops == op
        a, b = _kept(d[sel], shipped[sel]), _kept(d[sel], both[sel])
        out.append(f"| {op} | {sel.sum()} | {a[5]} | {a[3]} | {a[0]}, {a[1]:+.1f} "
                   f"| {b[0]}, {b[1]:+.1f} |")
    return "\n".join(out)


def format_table(rows: list[tuple], n: int) -> str:
    out = [("| judge | kept | summed ΔPSNR of kept, clipped ±15 dB | harmful kept "
            "| useful refused | worst kept (dB) |"), "|---|---:|---:|---:|---:|---:|"]
    for name, k, g, hk, h, ur, u, worst in rows:
        out.append(f"| {name} | {k}/{n} | {g:+.1f} | {hk} of {h} | {ur} of {u} | {worst:+.2f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m restora.train.step_judge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train", type=Path, nargs="+", help="step caches of the training photos")
    p.add_argument("--val", type=Path, action="append", default=[],
                   help="step caches of the held-out photos (scored, never fitted)")
    p.add_argument("--out", type=Path, default=None, help="write the model (JSON, with its card)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--floor", type=float, default=0.1, help="least weight of a step (dB)")
    p.add_argument("--trees", default="25,50,100,200,400",
                   help="tree counts to cross-validate (comma-separated)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    from restora.agent import stepscore as S

    try:
        counts = sorted({int(t) for t in a.trees.split(",")})
    except ValueError:
        raise RestoraError(f"--trees must be integers, got {a.trees!r}") from None
    if a.folds < 2 or min(counts) < 1 or a.depth < 1 or not 0 < a.lr <= 1:
        raise RestoraError("--folds ≥ 2, --trees ≥ 1, --depth ≥ 1 and 0 < --lr ≤ 1")
    if a.out is not None and a.out.exists() and not a.force:
        raise RestoraError(f"{a.out} exists (add --force to overwrite it)")
    steps, where = load_steps(a.train)
    x, y, w, _ = arrays(steps, a.floor)
    rng = np.random.default_rng(a.seed)
    fold = rng.integers(0, a.folds, len(steps))
    # cross-validated scores for each tree count (one boosting run per fold, cut at each count)
    cv = {t: np.zeros(len(steps)) for t in counts}
    for k in range(a.folds):
        tr, te = fold != k, fold == k
        m = S.fit(x[tr], y[tr], w[tr], trees=max(counts), depth=a.depth, lr=a.lr, seed=a.seed)
        xt = np.nan_to_num(x[te], nan=0.0)
        for t in counts:
            cv[t][te] = S.predict({"base": m["base"], "trees": m["trees"][:t]}, xt)
    print(f"Training steps: {'; '.join(where)}\n")
    print(f"{a.folds}-fold cross-validation on the training steps, the shipped rules then the "
          "learned score (τ 0.5):\n")
    print("| trees | kept | summed ΔPSNR of kept, clipped ±15 dB | harmful kept | useful refused |")
    print("|---:|---:|---:|---:|---:|")
    gains = {}
    for t in counts:
        r = rule_table(steps, cv[t])[2]
        gains[t] = r[2]
        print(f"| {t} | {r[1]}/{len(steps)} | {r[2]:+.1f} | {r[3]} of {r[4]} | {r[5]} of {r[6]} |")
    best = max(counts, key=lambda t: gains[t])
    print(f"\nChosen: {best} trees. The shipped rules, then the learned score at threshold τ "
          "(cross-validated scores):\n")
    print("| τ | kept | summed ΔPSNR of kept, clipped ±15 dB | harmful kept | useful refused |")
    print("|---:|---:|---:|---:|---:|")
    for t in TAUS:
        r = rule_table(steps, cv[best], t)[2]
        print(f"| {t:g} | {r[1]}/{len(steps)} | {r[2]:+.1f} | {r[3]} of {r[4]} | "
              f"{r[5]} of {r[6]} |")
    print("\nThe judges on the training steps (cross-validated scores, τ 0.5):\n")
    train_rows = rule_table(steps, cv[best])
    print(format_table(train_rows, len(steps)))
    t0 = time.perf_counter()
    model = S.fit(x, y, w, trees=best, depth=a.depth, lr=a.lr, seed=a.seed)
    fit_s = time.perf_counter() - t0
    val_rows = None
    if a.val:
        vsteps, vwhere = load_steps(a.val)
        vs = S.predict(model, np.nan_to_num(np.stack([S.features(s) for s in vsteps]), nan=0.0))
        val_rows = rule_table(vsteps, vs)
        print(f"\nHeld-out steps ({'; '.join(vwhere)}):\n")
        print(format_table(val_rows, len(vsteps)))
        print("\n" + op_table(vsteps, vs))
    if a.out is not None:
        model["features"] = S.feature_names()
        model["card"] = {
            "model": "boosted trees, logistic loss weighted by |ΔPSNR| (restora.agent.stepscore)",
            "data": {"training": where, "held_out": [str(v) for v in a.val]},
            "trees": best, "depth": a.depth, "learning_rate": a.lr, "floor_db": a.floor,
            "cross_validation": {str(t): round(g, 1) for t, g in gains.items()},
            "training_judges": [list(r) for r in train_rows],
            "held_out_judges": None if val_rows is None else [list(r) for r in val_rows],
            "fit_seconds": round(fit_s, 1),
            "command": "python -m restora.train.step_judge " + " ".join(
                sys.argv[1:] if argv is None else argv),
        }
        model["card"]["sha256_of_trees"] = hashlib.sha256(
            json.dumps(model["trees"]).encode()).hexdigest()
        text = json.dumps(model, separators=(",", ":"))
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)
        print(f"\nwrote {a.out} ({len(text) / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
