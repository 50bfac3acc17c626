"""The learned step score: how likely a tried step brought its box closer to the clean image,
read from what the judge already has (the perceiver's comparator, quality, type probabilities
and severities before and after, the fidelity guard) and from what the step did to the pixels
(restora.agent.judge.physics).

The model is a small ensemble of boosted regression trees (logistic loss, Friedman's gradient
boosting with second-order leaf values as in XGBoost, Chen & Guestrin, KDD 2016), fitted by
``python -m restora.train.step_judge`` on the agent's own steps drawn from the training photos,
each weighted by its |ΔPSNR| (clipped), so that "score ≥ 0.5" keeps the steps whose summed gain
is positive. The trees are a few kilobytes of JSON (restora/weights/step_judge.json, with its
card); numpy evaluates them.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "step_judge.json"

# The operators the perceiver names (restora.nets.perceiver.OPS), grouped by what a step against
# them does to the pixels; the pixel measures enter once per group, so each group gets its own
# trees' view of e.g. "the step darkened the box".
GROUPS = {
    "noise": ("noise", "poisson", "ct_noise", "jpeg"),
    "light": ("low_light", "contrast", "saturation"),
    "veil": ("haze", "cloud"),
    "weather": ("rain", "snow", "raindrop"),
    "sharpness": ("blur_motion", "blur_defocus", "low_res"),
}
_GROUP_OF = {op: g for g, ops in GROUPS.items() for op in ops}
PHYSICS = ("luma_before", "luma_change", "abs_change", "fine_ratio", "fine_removed",
           "coarse_ratio", "noise_before", "noise_after", "chroma_before", "chroma_after",
           "clip_change", "dark_before", "dark_after", "area")


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def feature_names() -> list[str]:
    names = [f"group={g}" for g in GROUPS]
    names += ["comparator_logit", "quality_before", "quality_after", "quality_change",
              "op_prob_before", "op_prob_after", "op_sev_before", "op_sev_after",
              "other_prob_before", "other_prob_after", "clean_prob_before", "clean_prob_after",
              "structure", "chroma_shift"]
    names += [f"{k}" for k in PHYSICS]
    return names


def features(step: dict) -> np.ndarray:
    """The feature vector of one step: a restora.agent.judge.StepEvidence.to_dict() with its
    ``physics`` entry (restora.agent.judge.physics)."""
    op = step["op"]
    group = _GROUP_OF.get(op, "noise")
    pb, pa = step["probs_before"], step["probs_after"]
    others_b = [v for k, v in pb.items() if k not in (op, "clean")]
    others_a = [v for k, v in pa.items() if k not in (op, "clean")]
    ph = step.get("physics") or {}
    v = [float(g == group) for g in GROUPS]
    v += [_logit(step["p_better"]), step["quality_before"], step["quality_after"],
          step["quality_after"] - step["quality_before"],
          pb.get(op, 0.0), pa.get(op, 0.0),
          step["sev_before"].get(op, 0.0), step["sev_after"].get(op, 0.0),
          max(others_b, default=0.0), max(others_a, default=0.0),
          pb.get("clean", 0.0), pa.get("clean", 0.0),
          step["structure"], step["chroma_shift"]]
    v += [float(ph.get(k, np.nan)) for k in PHYSICS]
    return np.asarray(v, np.float64)


# --- boosted trees ------------------------------------------------------------------------------

def _predict_tree(tree: list, x: np.ndarray) -> np.ndarray:
    """Leaf values of ``tree`` (nodes: [feature, threshold, left, right] or [value]) for rows x
    (finite: NaN features are set to 0 first)."""
    out = np.empty(len(x))
    for i, row in enumerate(x):
        n = 0
        while len(tree[n]) == 4:
            f, t, lo, hi = tree[n]
            n = lo if row[int(f)] <= t else hi
        out[i] = tree[n][0]
    return out


def raw_score(model: dict, x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, np.float64))
    s = np.full(len(x), float(model["base"]))
    for tree in model["trees"]:
        s += _predict_tree(tree, x)
    return s


def predict(model: dict, x: np.ndarray) -> np.ndarray:
    """P(the step gained) for rows of features."""
    return 1.0 / (1.0 + np.exp(-raw_score(model, x)))


def _best_split(x: np.ndarray, g: np.ndarray, h: np.ndarray, cuts: list[np.ndarray],
                feats: np.ndarray, lam: float, min_h: float):
    G, H = g.sum(), h.sum()
    parent = G * G / (H + lam)
    best = (0.0, None, None)
    for f in feats:
        c = cuts[f]
        if not len(c):
            continue
        idx = np.searchsorted(c, x[:, f], side="left")  # bin k: c[k-1] < x <= c[k]
        gb = np.bincount(idx, g, len(c) + 1)
        hb = np.bincount(idx, h, len(c) + 1)
        gl, hl = np.cumsum(gb)[:-1], np.cumsum(hb)[:-1]
        gr, hr = G - gl, H - hl
        ok = (hl >= min_h) & (hr >= min_h)
        if not ok.any():
            continue
        gain = np.where(ok, gl * gl / (hl + lam) + gr * gr / (hr + lam) - parent, -np.inf)
        k = int(np.argmax(gain))
        if gain[k] > best[0]:
            best = (float(gain[k]), int(f), float(c[k]))
    return best


def _grow(x, g, h, cuts, feats, depth, lam, min_h, lr, nodes):
    me = len(nodes)
    nodes.append(None)
    _gain, f, t = _best_split(x, g, h, cuts, feats, lam, min_h) if depth > 0 else (0, None, None)
    if f is None:
        nodes[me] = [float(-lr * g.sum() / (h.sum() + lam))]
        return me
    left = x[:, f] <= t
    lo = _grow(x[left], g[left], h[left], cuts, feats, depth - 1, lam, min_h, lr, nodes)
    hi = _grow(x[~left], g[~left], h[~left], cuts, feats, depth - 1, lam, min_h, lr, nodes)
    nodes[me] = [f, t, lo, hi]
    return me


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, trees: int = 150, depth: int = 3,
        lr: float = 0.05, lam: float = 1.0, min_h: float = 0.5, subsample: float = 0.8,
        colsample: float = 0.8, bins: int = 32, seed: int = 0) -> dict:
    """Boosted trees for P(y = 1), logistic loss weighted by ``w``."""
    rng = np.random.default_rng(seed)
    x = np.nan_to_num(np.asarray(x, np.float64), nan=0.0)
    y, w = np.asarray(y, np.float64), np.asarray(w, np.float64)
    cuts = [np.unique(np.quantile(x[:, f], np.linspace(0, 1, bins + 1)[1:-1]))
            for f in range(x.shape[1])]
    p0 = float(np.clip((w * y).sum() / w.sum(), 1e-3, 1 - 1e-3))
    model = {"base": math.log(p0 / (1 - p0)), "trees": []}
    s = np.full(len(x), model["base"])
    for _ in range(trees):
        p = 1.0 / (1.0 + np.exp(-s))
        g, h = w * (p - y), w * p * (1 - p)
        rows = rng.random(len(x)) < subsample
        feats = np.flatnonzero(rng.random(x.shape[1]) < colsample)
        nodes: list = []
        _grow(x[rows], g[rows], h[rows], cuts, feats, depth, lam, min_h, lr, nodes)
        model["trees"].append(nodes)
        s += _predict_tree(nodes, x)
    return model


@lru_cache(maxsize=4)
def load(path: str | None = None) -> dict | None:
    """The model at ``path``, or the shipped one (None when its file is missing)."""
    from restora.errors import RestoraError

    p = Path(path) if path else WEIGHTS
    if not p.exists():
        if path:
            raise RestoraError(f"no step judge weights at {p}")
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        raise RestoraError(f"{p} is not step judge weights (restora train step-judge)") from None


def score(step: dict, model: dict | None = None) -> float | None:
    """P(the step gained) for one step dict (see :func:`features`); None without a model."""
    model = model if model is not None else load()
    if model is None:
        return None
    x = np.nan_to_num(features(step), nan=0.0)
    return float(predict(model, x)[0])
