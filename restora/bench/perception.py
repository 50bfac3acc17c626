"""Perception benchmark: how well the perceiver sees what was done, how strongly, where, and
whether an image got better — on the held-out scikit-image photographs (never trained on).

Every case is a seeded list of random crops (height and width each drawn in [128, 256] px) of
:func:`restora.data.skimage_photos`, degraded by :func:`restora.degrade.degrade`:

* single — one global operator at severity U(0.2, 1): the 13 natural operators on the colour
  photos, ``ct_noise`` on the grayscale ones (camera, coins: our medical stand-in), ``cloud`` on
  the colour ones (remote sensing); identification F1 per type, averaged over the 15 types
  (RAR Tab. S.2 style); severity MAE in each operator's own unit; domain accuracy;
* multi — 2 or 3 global natural operators (restora.degrade.sample exclusivity rules); mean F1;
* spatial — 1 or 2 natural operators, each under its own random mask; IoU of the predicted mask
  (per-cell probability, bilinearly up-sampled, > 0.5) with the label mask (> 0.5), averaged over
  (image, operator);
* clean — untouched crops of every photo; fraction with no type detected;
* quality — Spearman correlation of the quality score with PSNR-to-clean over all degraded crops
  of the cases above;
* comparator — pairs of the same crop: A a 1–2 operator recipe, B the same recipe at other
  severities (same noise realisation) or another recipe; pairs whose PSNRs differ by ≥ 1 dB;
  accuracy of "B is closer to clean";
* speed — median 512×512 pass as restora.perceive runs it (16 tiles of 128 px, batched) on 2 threads, and its ratio to one 3×3 convolution
  (3 → 16 channels) on the same input in the same run; 1 thread as well (on a shared machine two
  OpenMP threads stall badly when another process holds one of the cores).

A type counts as detected when its probability is ≥ 0.5.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch.nn import functional as F

from restora.degrade import OPERATORS, degrade
from restora.degrade.fields import rng_for
from restora.degrade.recipe import RecipeItem
from restora.degrade.sample import NATURAL, random_recipe
from restora.nets.perceiver import DOMAINS, OPS, Perceiver
from restora.train.perceiver import rescaled, spearman

TARGETS = {  # issue acceptance: (key, comparison, threshold)
    "single_f1": (">=", 0.97), "multi_f1": (">=", 0.85), "noise_sigma_mae": ("<=", 3.0),
    "jpeg_quality_mae": ("<=", 8.0), "mask_iou": (">=", 0.6), "clean_rate": (">=", 0.9),
    "quality_spearman": (">=", 0.85), "compare_acc": (">=", 0.9), "latency_s": ("<=", 0.15),
}
_CASE_KEYS = {"single": 1, "multi": 2, "spatial": 3, "clean": 4, "pair": 5}


def _psnr(a: np.ndarray, b: np.ndarray, cap: float = 60.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return cap if mse <= 10 ** (-cap / 10) else min(cap, -10 * np.log10(mse))


def _crop(photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    img = photos[int(rng.integers(len(photos)))]
    h, w = (int(rng.integers(128, 257)) for _ in range(2))
    h, w = min(h, img.shape[0]), min(w, img.shape[1])
    y, x = int(rng.integers(0, img.shape[0] - h + 1)), int(rng.integers(0, img.shape[1] - w + 1))
    return np.ascontiguousarray(img[y:y + h, x:x + w])


def _run(model: Perceiver, img: np.ndarray):
    """The perceiver as the product runs it (restora.perceive: 128-px tiles, stitched)."""
    from restora.perceive import outputs

    out = outputs(model, img)
    return type(out)(**{k: v.float().cpu() for k, v in vars(out).items()})


def _probs(out) -> np.ndarray:
    return torch.sigmoid(out.type_logits[0, : len(OPS)]).numpy()


def _mean_f1(true: list[set[str]], pred: list[set[str]]) -> tuple[float, dict[str, float]]:
    """F1 per type over all images, averaged over the types that occur in ``true``."""
    per = {}
    for t in sorted(set().union(*true)):
        tp = sum(t in a and t in b for a, b in zip(true, pred))
        fp = sum(t not in a and t in b for a, b in zip(true, pred))
        fn = sum(t in a and t not in b for a, b in zip(true, pred))
        per[t] = 2 * tp / max(2 * tp + fp + fn, 1)
    return float(np.mean(list(per.values()))), per


def _unit(op: str, s: float) -> float:
    prim = OPERATORS[op].primary
    lo, hi = prim.valid
    return min(max(prim.at(min(max(s, 0.0), 1.2)), lo), hi)


def _speed(model: Perceiver, repeat: int = 10, threads: int = 2) -> tuple[float, float]:
    """Median seconds of a 512×512 forward pass and of a 3×3 conv (3 → 16) on ``threads``."""
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.rand(1, 3, 512, 512)
        conv = torch.nn.Conv2d(3, 16, 3, padding=1).eval()

        def timed(fn) -> float:
            with torch.inference_mode():
                for _ in range(3):
                    fn(x)
                ts = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    fn(x)
                    ts.append(time.perf_counter() - t)
            return float(np.median(ts))

        from restora.perceive import outputs

        img = np.ascontiguousarray(x[0].numpy().transpose(1, 2, 0))
        return timed(lambda _: outputs(model, img)), timed(conv)
    finally:
        torch.set_num_threads(prev)


def evaluate(model: Perceiver, n_per_case: int = 30, seed: int = 0,
             photos: list[tuple[str, np.ndarray]] | None = None, agent_pairs: int = 0) -> dict:
    """All perception numbers (see the module docstring) as a flat dict plus per-type details.
    ``n_per_case`` crops per operator in *single*; the other cases scale with it.
    ``agent_pairs`` > 0 also measures the comparator on that many of the agent's own steps
    (A a degraded crop, B the result of a step the agent plans on it; CPU)."""
    from restora.data import skimage_photos

    model = model.eval()
    photos = photos if photos is not None else skimage_photos(512)
    is_gray = [bool(np.abs(im - im.mean(2, keepdims=True)).max() < 1e-6) for _, im in photos]
    color = [im for (_, im), g in zip(photos, is_gray) if not g]
    gray = [im for (_, im), g in zip(photos, is_gray) if g] or [
        np.repeat((im @ np.float32([0.299, 0.587, 0.114]))[..., None], 3, 2) for im in color[:2]]
    res: dict = {"photos": [n for n, _ in photos], "n_per_case": n_per_case, "seed": seed}
    q_scores, q_psnr = [], []

    def record_quality(out, img, clean) -> None:
        q_scores.append(float(torch.sigmoid(out.quality_logit[0])))
        q_psnr.append(_psnr(img, clean))

    # single: identification, severity, domain
    true, pred, sev_err, dom_ok, k = [], [], {}, [], 0
    cases = [(op, color, "natural") for op in NATURAL]
    cases += [("ct_noise", gray, "medical"), ("cloud", color, "remote")]
    for op, src, dom in cases:
        for _ in range(n_per_case):
            rng = rng_for(seed, _CASE_KEYS["single"], k)
            k += 1
            clean = _crop(src, rng)
            s = float(np.round(rng.uniform(0.2, 1.0), 3))
            img, lab = degrade(clean, [RecipeItem(op, s)], seed=int(rng.integers(2**31 - 1)))
            out = _run(model, img)
            p = _probs(out)
            true.append({op})
            pred.append({o for o, v in zip(OPS, p) if v >= 0.5})
            ps = float(out.severity[0, OPS.index(op)])
            prim = OPERATORS[op].primary
            sev_err.setdefault(op, []).append(abs(_unit(op, ps) - lab.steps[0].params[prim.name]))
            dom_ok.append(DOMAINS[int(out.domain_logits[0].argmax())] == dom)
            record_quality(out, img, clean)
    res["single_f1"], res["single_f1_per_type"] = _mean_f1(true, pred)
    res["severity_mae"] = {op: float(np.mean(v)) for op, v in sev_err.items()}
    res["severity_unit"] = {op: f"{OPERATORS[op].primary.name} ({OPERATORS[op].primary.unit})"
                            for op in sev_err}
    res["noise_sigma_mae"] = res["severity_mae"]["noise"]
    res["jpeg_quality_mae"] = res["severity_mae"]["jpeg"]
    res["domain_acc"] = float(np.mean(dom_ok))

    # multi: 2-3 global operators
    true, pred = [], []
    for k in range(n_per_case * len(NATURAL)):
        rng = rng_for(seed, _CASE_KEYS["multi"], k)
        clean = _crop(color, rng)
        items = random_recipe(rng, NATURAL, counts=(0, 0, 0.5, 0.5), p_mask=0.0,
                              severity=(0.2, 1.0))
        img, lab = degrade(clean, items, seed=int(rng.integers(2**31 - 1)))
        out = _run(model, img)
        true.append(set(lab.types))
        pred.append({o for o, v in zip(OPS, _probs(out)) if v >= 0.5})
        record_quality(out, img, clean)
    res["multi_f1"], res["multi_f1_per_type"] = _mean_f1(true, pred)

    # spatial: masks
    ious: dict[str, list[float]] = {}
    for k in range(n_per_case * 6):
        rng = rng_for(seed, _CASE_KEYS["spatial"], k)
        clean = _crop(color, rng)
        items = random_recipe(rng, NATURAL, counts=(0, 0.5, 0.5), p_mask=1.0, severity=(0.3, 1.0))
        img, lab = degrade(clean, items, seed=int(rng.integers(2**31 - 1)))
        out = _run(model, img)
        h, w = img.shape[:2]
        gh, gw = out.dense_logits.shape[-2:]
        up = F.interpolate(torch.sigmoid(out.dense_logits), size=(gh * 8, gw * 8), mode="bilinear",
                           align_corners=False)[0, :, :h, :w].numpy()
        for st in lab.steps:
            pm, tm = up[OPS.index(st.op)] > 0.5, lab.masks[st.op] > 0.5
            union = np.logical_or(pm, tm).sum()
            ious.setdefault(st.op, []).append(float(np.logical_and(pm, tm).sum() / max(union, 1)))
        record_quality(out, img, clean)
    res["mask_iou"] = float(np.mean([v for vs in ious.values() for v in vs]))
    res["mask_iou_per_type"] = {op: float(np.mean(v)) for op, v in sorted(ious.items())}

    # clean crops
    called = []
    all_imgs = color + gray
    for k in range(n_per_case * 4):
        rng = rng_for(seed, _CASE_KEYS["clean"], k)
        out = _run(model, _crop(all_imgs, rng))
        called.append(bool((_probs(out) < 0.5).all()))
    res["clean_rate"] = float(np.mean(called))

    res["quality_spearman"] = spearman(np.array(q_scores), np.array(q_psnr))

    # comparator
    ok = []
    for k in range(n_per_case * 8):
        rng = rng_for(seed, _CASE_KEYS["pair"], k)
        clean = _crop(color, rng)
        items = random_recipe(rng, NATURAL, counts=(0, 0.6, 0.4), p_mask=0.3, severity=(0.1, 1.0))
        sa = int(rng.integers(2**31 - 1))
        if rng.random() < 0.6:
            items_b, sb = rescaled(items, rng), sa
        else:
            items_b = random_recipe(rng, NATURAL, counts=(0, 0.6, 0.4), p_mask=0.3)
            sb = int(rng.integers(2**31 - 1))
        a, _ = degrade(clean, items, seed=sa)
        b, _ = degrade(clean, items_b, seed=sb)
        d = _psnr(b, clean) - _psnr(a, clean)
        if abs(d) < 1.0:
            continue
        ea, eb = _run(model, a).embedding, _run(model, b).embedding
        with torch.no_grad():
            dev = next(model.parameters()).device
            ok.append((float(model.compare(ea.to(dev), eb.to(dev))[0]) > 0) == (d > 0))
    res["compare_acc"] = float(np.mean(ok)) if ok else float("nan")
    res["compare_pairs"] = len(ok)

    on_cpu = next(model.parameters()).device.type == "cpu"
    cpu_model = model if on_cpu else copy.deepcopy(model).cpu()
    # the comparator on the agent's own steps: B = a step the agent plans on A (CPU tools)
    if agent_pairs:
        from restora.train.comparator import draw_pairs, scores

        steps = scores(cpu_model, draw_pairs(color, agent_pairs, cpu_model, seed, progress=False,
                                             kinds=(1.0, 0.0, 0.0, 0.0)))
        res["compare_steps_acc"] = steps["acc_1db"]
        res["compare_steps_false_accept"] = steps["false_accept"]
        res["compare_steps_false_reject"] = steps["false_reject"]
        res["compare_steps_pairs"] = agent_pairs
    res["latency_s"], res["conv_s"] = _speed(cpu_model)
    res["latency_1thread_s"], _ = _speed(cpu_model, threads=1)
    res["latency_ratio"] = res["latency_s"] / res["conv_s"]
    res["parameters"] = sum(p.numel() for p in model.parameters())
    return res


def passes(res: dict) -> dict[str, bool]:
    """Which acceptance targets the numbers meet."""
    return {k: (res[k] >= v if op == ">=" else res[k] <= v) for k, (op, v) in TARGETS.items()}


def table(res: dict) -> str:
    """Markdown table of the headline numbers against the issue's targets."""
    from restora.bench.machine import describe

    ok = passes(res)
    fmt = {"single_f1": ("single-degradation mean F1", "{:.3f}"),
           "multi_f1": ("2–3 degradations mean F1", "{:.3f}"),
           "noise_sigma_mae": ("noise σ MAE (/255)", "{:.2f}"),
           "jpeg_quality_mae": ("JPEG quality MAE", "{:.2f}"),
           "mask_iou": ("mask IoU (spatial recipes)", "{:.3f}"),
           "clean_rate": ("clean crops called clean", "{:.1%}"),
           "quality_spearman": ("quality score vs PSNR, Spearman", "{:.3f}"),
           "compare_acc": ("comparator accuracy (pairs ≥ 1 dB apart)", "{:.1%}"),
           "latency_s": ("512×512 forward, 2 threads (s)", "{:.3f}")}
    rows = ["| metric | value | target | met |", "|---|---:|---:|:-:|"]
    for k, (name, f) in fmt.items():
        op, v = TARGETS[k]
        rows.append(f"| {name} | {f.format(res[k])} | {op} {v:g} | {'yes' if ok[k] else 'no'} |")
    rows.append(f"| 512×512 forward ÷ one 3×3 conv 3→16 | {res['latency_ratio']:.1f}× | | |")
    rows.append(f"| 512×512 forward, 1 thread (s) | {res['latency_1thread_s']:.3f} | | |")
    rows.append(f"| domain accuracy (single case) | {res['domain_acc']:.1%} | | |")
    if "compare_steps_acc" in res:
        rows.append(f"| comparator on the agent's own steps, pairs ≥ 1 dB apart "
                    f"({res['compare_steps_pairs']} steps) | {res['compare_steps_acc']:.1%} | | |")
        rows.append(f"| … steps costing ≥ 1 dB judged ≥ 60 % better (false accepts) | "
                    f"{res['compare_steps_false_accept']:.1%} | | |")
        rows.append(f"| … steps gaining ≥ 1 dB judged < 60 % better (false rejects) | "
                    f"{res['compare_steps_false_reject']:.1%} | | |")
    sev = ["| operator | severity MAE | unit |", "|---|---:|---|"]
    sev += [f"| {op} | {v:.3g} | {res['severity_unit'][op]} |"
            for op, v in res["severity_mae"].items()]
    iou = ["| operator | mask IoU |", "|---|---:|"]
    iou += [f"| {op} | {v:.3f} |" for op, v in res["mask_iou_per_type"].items()]
    f1 = ["| operator | single F1 | multi F1 |", "|---|---:|---:|"]
    f1 += [f"| {op} | {v:.3f} | {res['multi_f1_per_type'].get(op, float('nan')):.3f} |"
           for op, v in res["single_f1_per_type"].items()]
    return (f"Perceiver on held-out scikit-image photos ({len(res['photos'])} photos, random "
            f"128–256 px crops, {res['n_per_case']} per case, seed {res['seed']}; "
            f"{res['parameters']:,} parameters; {res['compare_pairs']} comparator pairs). "
            f"Machine: {describe()}.\n\n" + "\n".join(rows) + "\n\n" + "\n".join(f1)
            + "\n\n" + "\n".join(sev) + "\n\n" + "\n".join(iou))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m restora.bench.perception",
                                description="Perception benchmark of a trained perceiver.")
    p.add_argument("weights", help="perceiver .safetensors file (card beside it)")
    p.add_argument("--n", type=int, default=30, help="crops per case (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--agent-pairs", type=int, default=200,
                   help="the agent's own steps to judge (default 200; 0: skip)")
    a = p.parse_args(argv)
    from restora.train.perceiver import load_perceiver

    print(table(evaluate(load_perceiver(a.weights), n_per_case=a.n, seed=a.seed,
                         agent_pairs=a.agent_pairs)))
    return 0


if __name__ == "__main__":
    from restora.errors import run_main

    raise SystemExit(run_main(main))
