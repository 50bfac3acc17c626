"""Re-fit the perceiver's comparator on what the agent actually judges: tool outputs.

RAR's stopping rule asks of every step "is the result B closer to the clean image than the image A
before it?". The comparator head (restora.nets.perceiver, ``Perceiver.compare``) was trained on
two synthetic degradations of one crop, never on a restoration tool's output, and tools make
artefacts no degradation makes: a black object brightened to grey by a low-light tool, blotches
from dehazing a clean pale wall. On such pairs it said "better" with 0.7–0.99 and the agent kept
steps that cost 5–11 dB (BENCHMARKS.md, the agent's section).

This step draws pairs (A, B) from the training photos (never from the held-out scikit-image set):

* ``agent`` pairs — A a random recipe (or the clean crop), B the result of one of the steps the
  agent itself would plan on A (restora.perceive.regions → restora.agent.planner.plan →
  restora.agent.fuse.apply_in_region), judged on the step's bounding box as the loop judges it;
  false detections included, since those are the steps the comparator must refuse;
* ``oracle`` pairs — B a tool that treats one of A's true degradations, tuned from its label;
* ``any`` pairs — B any tool with its default parameters on any A (a tool on the wrong problem);
* ``degradation`` pairs — A and B two recipes of the same crop (what the head learnt first).

Each pair is labelled by ΔPSNR = PSNR(B, clean) − PSNR(A, clean), the embeddings of A and B come
from restora.perceive.assess (tiled, as the agent runs it), and only the comparator head is
re-fitted (binary cross-entropy against sigmoid(ΔPSNR / 0.5 dB), both orders), so every other
output of the perceiver — types, maps, severities, quality, the embedding the restorer reads — is
bit-identical. The new weights get a card whose ``comparator`` entry holds the data, steps and the
held-out accuracies before and after.

    restora train comparator restora/weights/perceiver_small.safetensors \\
        restora/weights/perceiver_small.safetensors --images runs/wallpapers --pairs 3000
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from restora.data import resize_max, training_paths
from restora.nets.perceiver import Perceiver
from restora.train.perceiver import (
    derived_parser,
    load_perceiver,
    psnr,
    save_derived,
    split_paths,
)

PAIR_SEED = 777001  # no training or calibration run uses it
KINDS = ("agent", "oracle", "any", "degradation")
KIND_P = (0.5, 0.2, 0.15, 0.15)
SOFT_DB = 0.5  # label sigmoid(ΔPSNR / SOFT_DB), as the perceiver's own training
PSNR_CAP = 60.0  # dB, for identical crops


@dataclass
class Pair:
    emb_a: np.ndarray
    emb_b: np.ndarray
    delta: float  # PSNR(B, clean) − PSNR(A, clean), dB
    kind: str
    what: str  # the tool (or recipe) that made B


def _crop(rng: np.random.Generator, source: Path | np.ndarray) -> np.ndarray:
    """A random square crop (128–384 px) of ``source`` (a photo or its file) at a random scale
    (long side 256–768 px)."""
    from restora.io import read_image

    img = read_image(source)[..., :3] if isinstance(source, (str, Path)) else source[..., :3]
    img = resize_max(img, int(rng.integers(256, 769)))
    h, w = img.shape[:2]
    side = int(min(h, w, rng.integers(128, 385)))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return np.ascontiguousarray(img[y:y + side, x:x + side], dtype=np.float32)


def _degraded(rng: np.random.Generator, clean: np.ndarray, p_clean: float = 0.15):
    from restora.degrade import degrade
    from restora.degrade.sample import random_recipe

    if rng.random() < p_clean:
        return clean, []
    items = random_recipe(rng, counts=(0.0, 0.5, 0.35, 0.15))
    img, label = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
    return img, label.steps


def make_pair(rng: np.random.Generator, clean: np.ndarray, model: Perceiver,
              kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """(A, B, clean) crops of one pair of ``kind`` and what made B; None when the draw gives no
    pair (e.g. the agent plans nothing on A)."""
    from restora.tools import LEARNED, TOOLS, candidates

    a, steps = _degraded(rng, clean)
    if kind == "degradation":
        b, _ = _degraded(rng, clean, p_clean=0.1)
        return a, b, clean, "recipe"
    if kind == "oracle":
        if not steps:
            return None
        s = steps[int(rng.integers(len(steps)))]
        tools = [t for t in candidates(s.op) if t.name not in LEARNED]
        if not tools:
            return None
        t = tools[int(rng.integers(len(tools)))]
        return a, t.apply(a, t.for_degradation(s.op, s.params)), clean, t.name
    if kind == "any":
        names = [n for n, t in TOOLS.items() if n not in LEARNED and t.available]
        t = TOOLS[names[int(rng.integers(len(names)))]]
        return a, t.apply(a), clean, t.name
    step = agent_step(rng, a, model)
    if step is None:
        return None
    box, b, tool, _, _ = step
    return a[box], b[box], clean[box], tool


def agent_step(rng: np.random.Generator, a: np.ndarray, model: Perceiver):
    """One step the agent itself would try on ``a``: (the box it is judged on, ``a`` after the
    step, the tool, the operator it treats, the step's mask or None), drawn at random among the
    planned steps that pass the physical checks and their candidate tools; None when the agent
    plans nothing."""
    from restora.agent.loop import apply_tool, step_box
    from restora.agent.planner import plan, ready, scene_plan
    from restora.perceive import assess, regions

    scene = assess(a, model)
    planned = [s for s in plan(regions(a, scene, model), tries=3, **scene_plan(a, scene, 1))
               if not ready(s, a, scene.probs)]
    if not planned:
        return None
    s = planned[int(rng.integers(len(planned)))]
    t, params = s.tools[int(rng.integers(len(s.tools)))]
    b, _ = apply_tool(t, params, a, s.mask, s.feather)
    return step_box(s.mask, a.shape[:2]), b, t.name, s.op, s.mask


def draw_pairs(photos: Sequence[Path | np.ndarray], n: int, model: Perceiver, seed: int,
               progress: bool = True, kinds: Sequence[float] = KIND_P) -> list[Pair]:
    """``n`` labelled pairs (embeddings, ΔPSNR) from the clean ``photos`` (files or float32 RGB
    arrays); ``kinds`` the probability of each of :data:`KINDS`."""
    from tqdm import tqdm

    from restora.perceive import assess

    rng = np.random.default_rng(seed)
    out: list[Pair] = []
    bar = tqdm(total=n, desc="pairs", disable=not progress)
    while len(out) < n:
        kind = KINDS[int(rng.choice(len(KINDS), p=np.asarray(kinds) / np.sum(kinds)))]
        clean = _crop(rng, photos[int(rng.integers(len(photos)))])
        got = make_pair(rng, clean, model, kind)
        if got is None:
            continue
        a, b, c, what = got
        if min(a.shape[:2]) < 16:
            continue
        ea = np.asarray(assess(a, model).embedding, np.float32).ravel()
        eb = np.asarray(assess(b, model).embedding, np.float32).ravel()
        out.append(Pair(ea, eb, psnr(b, c, PSNR_CAP) - psnr(a, c, PSNR_CAP), kind, what))
        bar.update(1)
    bar.close()
    return out


def _tensors(pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ea = torch.from_numpy(np.stack([p.emb_a for p in pairs]))
    eb = torch.from_numpy(np.stack([p.emb_b for p in pairs]))
    d = torch.tensor([p.delta for p in pairs], dtype=torch.float32)
    return ea, eb, d


def scores(model: Perceiver, pairs: list[Pair], margin: float = 0.6) -> dict[str, float]:
    """Accuracy on pairs ≥ 1 dB apart (all, and per kind), and how often a step that costs ≥ 1 dB
    would pass the agent's ``margin`` (false accepts) or one that gains ≥ 1 dB would not."""
    ea, eb, d = _tensors(pairs)
    with torch.inference_mode():
        p = torch.sigmoid(model.compare(ea, eb)).numpy()
    d = d.numpy()
    far = np.abs(d) >= 1.0
    res = {"pairs": len(pairs), "acc_1db": float(((p > 0.5) == (d > 0))[far].mean())}
    kinds = np.array([q.kind for q in pairs])
    for k in KINDS:
        sel = far & (kinds == k)
        if sel.any():
            res[f"acc_1db_{k}"] = float(((p > 0.5) == (d > 0))[sel].mean())
    worse, better = d <= -1.0, d >= 1.0
    res["false_accept"] = float((p[worse] >= margin).mean()) if worse.any() else float("nan")
    res["false_reject"] = float((p[better] < margin).mean()) if better.any() else float("nan")
    return {k: round(v, 4) for k, v in res.items()}


def fit_head(model: Perceiver, pairs: list[Pair], steps: int = 3000, batch: int = 256,
             lr: float = 2e-3, weight_decay: float = 1e-4, seed: int = 0) -> list[float]:
    """Re-fit ``model.compare_head`` on ``pairs`` (everything else untouched); the loss curve."""
    torch.manual_seed(seed)
    ea, eb, d = _tensors(pairs)
    target = torch.sigmoid(d / SOFT_DB)
    params = list(model.compare_head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    curve = []
    model.eval()
    for _ in range(steps):
        i = torch.randint(0, len(d), (batch,), generator=g)
        flip = torch.rand(batch, generator=g) < 0.5
        a = torch.where(flip[:, None], eb[i], ea[i])
        b = torch.where(flip[:, None], ea[i], eb[i])
        y = torch.where(flip, 1.0 - target[i], target[i])
        loss = F.binary_cross_entropy_with_logits(model.compare(a, b), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
    return curve


def save_pairs(pairs: list[Pair], path: Path) -> None:
    np.savez_compressed(path, emb_a=np.stack([p.emb_a for p in pairs]),
                        emb_b=np.stack([p.emb_b for p in pairs]),
                        delta=np.array([p.delta for p in pairs], np.float32),
                        kind=np.array([p.kind for p in pairs]), what=np.array([p.what for p in pairs]))


def load_pairs(path: Path) -> list[Pair]:
    z = np.load(path)
    return [Pair(a, b, float(d), str(k), str(w))
            for a, b, d, k, w in zip(z["emb_a"], z["emb_b"], z["delta"], z["kind"], z["what"])]


def _cached_pairs(cache: Path | None, name: str, photos, n, model, seed) -> list[Pair]:
    """``n`` pairs drawn with ``seed`` from ``photos``, kept in (and reused from) ``cache`` under
    a name that holds the seed and the number of photos."""
    path = cache and cache / f"{name}_seed{seed}_{len(photos)}photos.npz"
    if path is not None and path.exists():
        pairs = load_pairs(path)
        if len(pairs) >= n:
            return pairs[:n]
    pairs = draw_pairs(photos, n, model, seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_pairs(pairs, path)
    return pairs


def margins(model: Perceiver, pairs: list[Pair], kind: str = "agent",
            values: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9)) -> list[dict[str, float]]:
    """Per acceptance margin, over the pairs of ``kind``: the summed ΔPSNR of the steps it keeps
    (comparator ≥ margin), and the shares of harmful (≤ −1 dB) steps kept and of useful (≥ 1 dB)
    steps refused — what the agent's ``margin`` trades."""
    sel = [q for q in pairs if q.kind == kind]
    if not sel:
        return []
    ea, eb, d = _tensors(sel)
    with torch.inference_mode():
        p = torch.sigmoid(model.compare(ea, eb)).numpy()
    d = d.numpy()
    return [{"margin": m, "steps": len(sel), "kept_gain_db": round(float(d[p >= m].sum()), 1),
             "false_accept": round(float((p[d <= -1] >= m).mean()), 4),
             "false_reject": round(float((p[d >= 1] < m).mean()), 4)} for m in values]


def main(argv: list[str] | None = None) -> int:
    p = derived_parser("restora train comparator", __doc__)
    p.add_argument("--pairs", type=int, default=3000, help="training pairs (default 3000)")
    p.add_argument("--val-pairs", type=int, default=600, help="held-out pairs (default 600)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--cache", default=None, help="folder to keep the drawn pairs in (reused)")
    p.add_argument("--force", action="store_true",
                   help="write the weights even when the held-out accuracy fell")
    argv = list(sys.argv[1:] if argv is None else argv)
    a = p.parse_args(argv)
    from restora.errors import RestoraError

    if not Path(a.weights).is_file():
        raise RestoraError(f"no such weights file: {a.weights}")
    if min(a.pairs, a.val_pairs, a.steps) < 1:
        raise RestoraError("--pairs, --val-pairs and --steps must be at least 1")

    torch.set_flush_denormal(True)
    t0 = time.perf_counter()
    model = load_perceiver(a.weights)
    train_paths, val_paths = split_paths(training_paths([a.images] if a.images else None))
    cache = Path(a.cache) if a.cache else None
    train = _cached_pairs(cache, "train", train_paths, a.pairs, model, PAIR_SEED)
    val = _cached_pairs(cache, "val", val_paths, a.val_pairs, model, PAIR_SEED + 1)
    for split, pairs in (("training", train), ("held-out", val)):
        for row in margins(model, pairs):
            print(f"{split} agent steps, shipped head:", json.dumps(row))
    before, train_before = scores(model, val), scores(model, train)
    curve = fit_head(model, train, steps=a.steps, lr=a.lr)
    after, train_after = scores(model, val), scores(model, train)
    print(f"training pairs: accuracy {train_before['acc_1db']:.1%} → {train_after['acc_1db']:.1%}")
    print("held-out pairs before:", json.dumps(before))
    print("held-out pairs after: ", json.dumps(after))
    if after["acc_1db"] < before["acc_1db"] and not a.force:
        raise RestoraError(f"the re-fitted comparator is worse on held-out pairs (accuracy "
                           f"{before['acc_1db']:.1%} → {after['acc_1db']:.1%}); nothing written "
                           "(--force writes it anyway)")
    out = save_derived(model, a.weights, a.out, "comparator", {
        "what": "compare_head re-fitted on tool outputs (restora.train.comparator); "
                "every other tensor identical to 'from'",
        "pairs": a.pairs, "val_pairs": a.val_pairs, "kinds": dict(zip(KINDS, KIND_P)),
        "seed": PAIR_SEED, "steps": a.steps, "lr": a.lr,
        "images": {"train": len(train_paths), "held_out": len(val_paths)},
        "loss_first_last_100": [round(float(np.mean(curve[:100])), 4),
                                round(float(np.mean(curve[-100:])), 4)],
        "held_out_before": before, "held_out_after": after,
        "training_before": train_before, "training_after": train_after,
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "command": "restora train comparator " + " ".join(argv)})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    from restora.errors import run_main

    raise SystemExit(run_main(main))
