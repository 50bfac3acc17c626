"""How well the agent's step judge tells good steps from bad ones, on the agent's own steps.

Each item is one step the agent itself would try (restora.train.comparator.agent_step: a random
recipe on a random crop, perceive → plan → a candidate tool under the region's mask), labelled by
ΔPSNR to the clean crop, and judged as the loop judges it (restora.agent.judge.decide). Printed
per judge rule: how many steps it keeps, their summed ΔPSNR, the share of harmful steps (≤ −1 dB)
it keeps, the share of useful steps (≥ 1 dB) it refuses, and the worst step it keeps; then the
same per operator.

The other options are the studies that chose the planner's limits, each on the agent's own
states: the low-light scene gate (``--scene-gate``), the veil test that adds a whole-image haze
step (``--veil-gate``; ``--gray``: on grayscale crops, also for the haze extents), the noise σ
under JPEG (``--jpeg-noise``), where a first-round haze, snow or rain step acts (``--haze-extent``,
``--snow-extent``, ``--rain-extent``) and a later haze step (``--late-haze``), how far a masked
noise or haze step grows (``--noise-extent``, ``--haze-grow``), a stronger deblocking where
noise hides under JPEG (``--jpeg-grain``), the vivid-colour check (``--colour-gate``) and the
low-light rule on the loop's brightenings of dark frames (``--dark-frame``; ``--cache FILE``
keeps the steps, so a changed rule is measured again without drawing them).

    python -m restora.bench.judge --steps 300            # held-out scikit-image photos
    python -m restora.bench.judge --steps 300 --images runs/wallpapers --seed 1
    python -m restora.bench.judge --scene-gate 60 --images runs/wallpapers
    python -m restora.bench.judge --veil-gate 300 --images runs/wallpapers --seed 7
    python -m restora.bench.judge --jpeg-noise 120 --images runs/wallpapers --seed 5
    python -m restora.bench.judge --haze-extent 2000 --images runs/wallpapers --seed 9
    python -m restora.bench.judge --noise-extent 60 --images runs/wallpapers --seed 13
    python -m restora.bench.judge --haze-grow 200 --images runs/wallpapers --seed 15
    python -m restora.bench.judge --jpeg-grain 150 --images runs/wallpapers --seed 17
    python -m restora.bench.judge --colour-gate 120 --images runs/wallpapers --seed 11
    python -m restora.bench.judge --dark-frame 200 --images runs/wallpapers --seed 1
    python -m restora.bench.judge --dark-frame 300                   # held-out
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from restora.errors import RestoraError, run_main

STEP_SEED = 881001
CLIP_DB = 15.0  # a step on a clean crop scores against a 60-dB cap: clip so a few don't decide


def _crops(rng: np.random.Generator, photos: Sequence, n: int, got, what: str,
           tries: int = 100, crop=None):
    """Random clean crops of ``photos`` (``crop(rng, photo)``; the comparator's crops by
    default) until ``got()`` reaches ``n``; a clear error after ``tries``·n crops that did not
    get there."""
    if crop is None:
        from restora.train.comparator import _crop as crop

    for _ in range(tries * n):
        if got() >= n:
            return
        yield crop(rng, photos[int(rng.integers(len(photos)))])
    if got() < n:
        raise RestoraError(f"only {got()} {what} in {tries * n} draws")


def _degraded_crops(rng: np.random.Generator, photos: Sequence, n: int, got, what: str):
    """(clean crop, degraded crop, its recipe's steps) drawn as the comparator's pairs are, until
    ``got()`` reaches ``n`` (:func:`_crops`)."""
    from restora.train.comparator import _degraded

    for clean in _crops(rng, photos, n, got, what):
        a, steps = _degraded(rng, clean)
        yield clean, a, steps


def draw_steps(photos: Sequence, n: int, model, seed: int = STEP_SEED,
               progress: bool = True) -> list[dict]:
    """``n`` agent steps on crops of the clean ``photos``, each a dict: op, tool, delta (dB), and
    what the judge reads (restora.agent.judge.StepEvidence.to_dict())."""
    from tqdm import tqdm

    from restora.agent import judge as J
    from restora.perceive import assess
    from restora.train.comparator import PSNR_CAP, agent_step
    from restora.train.perceiver import psnr

    rng = np.random.default_rng(seed)
    out: list[dict] = []
    bar = tqdm(total=n, desc="steps", disable=not progress)
    for clean, a, _ in _degraded_crops(rng, photos, n, lambda: len(out), "planned steps"):
        step = agent_step(rng, a, model)
        if step is None:
            continue
        box, b, tool, op, mask = step
        if min(a[box].shape[:2]) < 16:
            continue
        mask_box = None if mask is None else mask[box]
        ev = J.evidence(model, op, assess(a[box], model), assess(b[box], model), a[box], b[box],
                        mask_box)
        delta = psnr(b[box], clean[box], PSNR_CAP) - psnr(a[box], clean[box], PSNR_CAP)
        out.append({"op": op, "tool": tool, "delta": round(float(delta), 3),
                    **J.step_record(ev, a[box], b[box], mask_box)})
        bar.update(1)
    bar.close()
    return out


def _photo(source, max_side: int) -> np.ndarray:
    """A photo (file or array) as float32 RGB at a long side of at most ``max_side``."""
    from restora.data import resize_max
    from restora.io import read_image

    img = read_image(source)[..., :3] if isinstance(source, (str, Path)) else source[..., :3]
    return np.ascontiguousarray(resize_max(img, max_side), np.float32)


def _loop_crop(rng: np.random.Generator, source) -> np.ndarray:
    """A random crop as large as the agent's usual inputs: the photo scaled to a long side of
    384–1024 px, a 192–512 px crop of it (either side)."""
    img = _photo(source, int(rng.integers(384, 1025)))
    h, w = img.shape[:2]
    ch, cw = (min(h, int(rng.integers(192, 513))) for _ in range(2))
    cw = min(w, cw)
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(img[y:y + ch, x:x + cw], dtype=np.float32)


# The benchmark suites' recipe families (restora.bench.suites), for --suite-recipes.
SUITE_FAMILIES = ("three-deg", "five-deg", "composite", "spatial", "camera")


def suite_recipes() -> list[str]:
    from restora.bench import suites

    out = [r for name in SUITE_FAMILIES if name in suites.SUITES
           for r in suites.SUITES[name].values()]
    return out + [i.recipe for i in suites.items("camera", ["x"])]


def _loop_attempts(n: int, model, seed: int, draw: Callable, progress: bool = True,
                   op: str | None = None, max_draws: int | None = None) -> list[dict]:
    """``n`` candidates the loop itself tries (restora.agent.restore, every round, every
    candidate, judged by the rules alone), each recorded as :func:`draw_steps` records a step,
    with ``whole`` (no region mask) and the draw's own fields. ``draw(rng)`` gives (clean image,
    degraded image, fields); ``op``: only that operator's candidates; ``max_draws``: give up
    (RestoraError) after that many images."""
    from tqdm import tqdm

    from restora.agent import judge as J
    from restora.agent.loop import restore
    from restora.train.comparator import PSNR_CAP
    from restora.train.perceiver import psnr

    rng = np.random.default_rng(seed)
    out: list[dict] = []
    bar = tqdm(total=n, desc=f"{op.replace('_', '-') + ' ' if op else ''}attempts",
               disable=not progress)
    was, J.USE_LEARNED = J.USE_LEARNED, False
    draws = 0
    try:
        while len(out) < n:
            if max_draws is not None and draws >= max_draws:
                raise RestoraError(f"only {len(out)} {op or ''} attempts in {draws} draws")
            draws += 1
            clean, a, fields = draw(rng)

            def seen(step, tool, box, before, after, mask, ev, _score, clean=clean,
                     fields=fields):
                if (op and step.op != op) or min(before.shape[:2]) < 16 or len(out) >= n:
                    return
                delta = psnr(after, clean[box], PSNR_CAP) - psnr(before, clean[box], PSNR_CAP)
                out.append({"op": step.op, "tool": tool, "delta": round(float(delta), 3),
                            "whole": mask is None, **fields,
                            **J.step_record(ev, before, after, mask)})
                bar.update(1)

            restore(a, model=model, memory=False, on_attempt=seen)
    finally:
        J.USE_LEARNED = was
        bar.close()
    return out


def draw_loop_steps(photos: Sequence, n: int, model, seed: int = STEP_SEED,
                    progress: bool = True, recipes: Sequence[str] | None = None) -> list[dict]:
    """``n`` candidates the loop itself tries (:func:`_loop_attempts`) on random recipes of
    random crops. With ``recipes`` (recipe strings as the suites write them), each draw takes
    one of them with a fresh seed, on a random crop or, half the time, the whole photo at a
    long side of 512 px (as the suites see their photos)."""
    from restora.bench.suites import Item, render
    from restora.degrade import degrade
    from restora.degrade.sample import random_recipe

    def draw(rng):
        photo = photos[int(rng.integers(len(photos)))]
        if recipes:
            clean = _photo(photo, 512) if rng.random() < 0.5 else _loop_crop(rng, photo)
            rec = recipes[int(rng.integers(len(recipes)))]
            a, _ = render(clean, Item("draw", "", "", rec, int(rng.integers(0, 2**31 - 1))))
        else:
            clean = _loop_crop(rng, photo)
            items = random_recipe(rng, counts=(0.1, 0.35, 0.35, 0.2))
            a = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))[0] if items \
                else clean
        return clean, a, {}

    return _loop_attempts(n, model, seed, draw, progress)


def _read_cache(path: Path) -> dict:
    """A step cache this command wrote (``--cache``), or a one-line error."""
    try:
        got = json.loads(path.read_text())
        if not isinstance(got, dict) or not isinstance(got["steps"], list):
            raise TypeError
        return got
    except (ValueError, KeyError, TypeError):
        raise RestoraError(f"{path} is not a step cache of this command") from None


def summarise(steps: list[dict], accept: Callable[[dict], bool]) -> dict:
    d = np.array([s["delta"] for s in steps])
    k = np.array([bool(accept(s)) for s in steps])
    worse, better = d <= -1.0, d >= 1.0
    return {"steps": len(steps), "kept": int(k.sum()), "kept_gain_db": round(float(d[k].sum()), 1),
            "kept_gain_clipped_db": round(float(np.clip(d, -CLIP_DB, CLIP_DB)[k].sum()), 1),
            "false_accept": float(k[worse].mean()) if worse.any() else float("nan"),
            "false_reject": float((~k)[better].mean()) if better.any() else float("nan"),
            "worst_kept_db": round(float(d[k].min()), 2) if k.any() else float("nan"),
            "harmful": int(worse.sum()), "useful": int(better.sum())}


def rules() -> dict[str, Callable[[dict], bool]]:
    """The judge as shipped and the parts it is made of, for comparison."""
    from restora.agent import judge as J

    return {
        "comparator only (≥ 0.6)": lambda s: s["p_better"] >= 0.6,
        "+ fidelity guard, quality may not fall by > 0.02 (the judge before re-perception)":
            lambda s: J.decide_dict(s, reperceive=False, op_margins=False,
                                    quality_slack=0.02)[0],
        "+ fidelity guard": lambda s: J.decide_dict(s, reperceive=False, op_margins=False)[0],
        "+ per-operator margins (haze 0.9, defocus 0.7)": lambda s: J.decide_dict(s, reperceive=False)[0],
        "shipped (+ re-perception)": lambda s: J.decide_dict(s)[0],
        "shipped without the weather rule": lambda s: J.decide_dict(s, weather=False)[0],
        "shipped + the excellent-image haze rule (not shipped)":
            lambda s: J.decide_dict(s, clear=True)[0],
        "shipped + the quality rule (not shipped)":
            lambda s: J.decide_dict(s, quality_slack=0.02)[0],
        "shipped + no new noise or JPEG (not shipped)":
            lambda s: J.decide_dict(s, emerge=True)[0],
        "shipped without the colour haze bar (a dehazing of a colour box needs haze ≥ 0.3 seen)":
            lambda s: J.decide_dict(s, haze_seen=None)[0],
        **{f"shipped, the haze bar at {t:g} on colour boxes": (
            lambda s, t=t: J.decide_dict(s, haze_seen=t)[0]) for t in (0.2, 0.4)},
        **{f"shipped, the haze bar on boxes of chroma ≥ {c:g}": (
            lambda s, c=c: J.decide_dict(s, haze_seen_chroma=c)[0]) for c in (0.01, 0.03)},
        "shipped, the haze bar on every box, gray ones too (not shipped)":
            lambda s: J.decide_dict(s, haze_seen_chroma=0.0)[0],
        "shipped without the haze-rise rule (a dehazing may raise the haze it sees)":
            lambda s: J.decide_dict(s, haze_rise=False)[0],
        **{f"shipped + a dehazing may not lower the quality by > {d:g} (not shipped)":
           (lambda s, d=d: J.decide_dict(s)[0] and not (
               s["op"] == "haze" and s["quality_after"] < s["quality_before"] - d))
           for d in (0.05, 0.1)},
    }


def table(steps: list[dict], title: str) -> str:
    lines = [title, "", ("| judge | kept | summed ΔPSNR of kept (dB) | … clipped to ±15 dB "
                         "| harmful kept | useful refused | worst kept (dB) |"),
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rule in rules().items():
        r = summarise(steps, rule)
        lines.append(f"| {name} | {r['kept']}/{r['steps']} | {r['kept_gain_db']:+.1f} | "
                     f"{r['kept_gain_clipped_db']:+.1f} | "
                     f"{r['false_accept']:.0%} of {r['harmful']} | {r['false_reject']:.0%} of "
                     f"{r['useful']} | {r['worst_kept_db']:+.2f} |")
    shipped = rules()["shipped (+ re-perception)"]
    lines += ["", ("| operator | steps | useful | harmful | kept (shipped) "
                   "| summed ΔPSNR kept (dB) | worst kept (dB) |"), "|---|---:|---:|---:|---:|---:|---:|"]
    for op in sorted({s["op"] for s in steps}):
        sel = [s for s in steps if s["op"] == op]
        r = summarise(sel, shipped)
        lines.append(f"| {op} | {r['steps']} | {r['useful']} | {r['harmful']} | {r['kept']} | "
                     f"{r['kept_gain_db']:+.1f} | {r['worst_kept_db']:+.2f} |")
    return "\n".join(lines)


def scene_gate(photos: Sequence, n: int, model, seed: int = STEP_SEED, op: str = "low_light",
               progress: bool = True) -> str:
    """How restora.agent.planner's scene-wide check sorts the agent's regional steps of ``op``:
    ``n`` such steps planned on random recipes (crops of ``photos``, drawn as
    :func:`draw_steps` draws them, before that check), each true when ``op`` is in the recipe;
    the share kept and refused per whole-image probability threshold."""
    from tqdm import tqdm

    from restora.agent.planner import SCENE_SEEN, implausible, plan
    from restora.perceive import assess, regions

    rng = np.random.default_rng(seed)
    rows: list[tuple[float, bool]] = []
    bar = tqdm(total=n, desc=f"{op} regions", disable=not progress)
    for _, a, steps in _degraded_crops(rng, photos, n, lambda: len(rows), f"regional {op} steps"):
        scene = assess(a, model)
        for s in plan(regions(a, scene, model)):
            if s.op == op and s.mask is not None and not implausible(op, a, s.mask) \
                    and len(rows) < n:
                rows.append((float(scene.probs[op]), any(t.op == op for t in steps)))
                bar.update(1)
    bar.close()
    p = np.array([r[0] for r in rows])
    t = np.array([r[1] for r in rows])
    lines = [(f"{n} regional {op} steps, {int(t.sum())} true (in the recipe), "
              f"{int((~t).sum())} false."), "",
             "| whole-image probability ≥ | true kept | false refused |", "|---:|---:|---:|"]
    for th in (0.3, SCENE_SEEN, 0.7):
        keep = p >= th
        lines.append(f"| {th:g} | {int((keep & t).sum())} of {int(t.sum())} | "
                     f"{int((~keep & ~t).sum())} of {int((~t).sum())} |")
    return "\n".join(lines)


def _masked_low_light(rng: np.random.Generator):
    """A low light of random severity (0.1–1) under a random mask covering 30–70 %."""
    from restora.degrade import masks
    from restora.degrade.recipe import RecipeItem

    return RecipeItem("low_light", float(np.round(rng.uniform(0.1, 1.0), 3)), {},
                      str(rng.choice(masks.KINDS)), float(np.round(rng.uniform(0.3, 0.7), 2)))


def structure_gate(photos: Sequence, n: int, model, seed: int = STEP_SEED,
                   progress: bool = True) -> str:
    """How the fidelity guard's layout check sorts the agent's masked steps with a structure
    limit (restora.agent.judge.GUARD): ``n`` such steps, each the first candidate tool of a
    planned regional step on a loop-sized crop of ``photos`` under a random recipe (masks on 70 %
    of its operators; on half the crops a masked low light added, the operator whose regional
    steps the check refuses most), judged with the layout measured on the box and the region, and with the
    region's interior too (judge.fidelity's ``interior``). The steps the interior lets through,
    and what the whole judge then keeps of them, by ΔPSNR to the clean crop."""
    from tqdm import tqdm

    from restora.agent import judge as J
    from restora.agent.loop import apply_tool, step_box
    from restora.agent.planner import plan, ready, scene_plan
    from restora.degrade import degrade
    from restora.degrade.sample import NATURAL, random_recipe
    from restora.perceive import assess, regions
    from restora.train.comparator import PSNR_CAP
    from restora.train.perceiver import psnr

    rng = np.random.default_rng(seed)
    rows: list[tuple[str, bool, bool, bool, float]] = []  # op, old ok, new ok, judge keeps, Δ
    bar = tqdm(total=n, desc="masked steps", disable=not progress)
    for clean in _crops(rng, photos, n, lambda: len(rows), "masked steps with a structure limit",
                        crop=_loop_crop):
        dark = bool(rng.random() < 0.5)
        pool = tuple(o for o in NATURAL if not (dark and o in ("low_light", "contrast")))
        items = random_recipe(rng, pool=pool, counts=(0.0, 0.5, 0.35, 0.15), p_mask=0.7)
        if dark:
            items.insert(0, _masked_low_light(rng))
        a, _ = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
        scene = assess(a, model)
        for s in plan(regions(a, scene, model), **scene_plan(a, scene, 1)):
            if (s.mask is None or J.guard(s.op)[0] is None or ready(s, a, scene.probs)
                    or len(rows) >= n):
                continue
            tool, params = s.tools[0]
            b, _ = apply_tool(tool, params, a, s.mask, s.feather)
            box = step_box(s.mask, a.shape[:2])
            m = s.mask[box]
            old = J.fidelity(a[box], b[box], s.op, m, interior=False)[0]
            new = J.fidelity(a[box], b[box], s.op, m)[0]
            keep = new
            if new and not old:
                ev = J.evidence(model, s.op, assess(a[box], model), assess(b[box], model),
                                a[box], b[box], m)
                keep = J.decide(ev)[0]
            delta = psnr(b[box], clean[box], PSNR_CAP) - psnr(a[box], clean[box], PSNR_CAP)
            rows.append((s.op, old, new, keep, float(np.clip(delta, -CLIP_DB, CLIP_DB))))
            bar.update(1)
    bar.close()
    freed = [r for r in rows if r[2] and not r[1]]
    lines = [(f"{len(rows)} masked steps with a structure limit; the layout check refuses "
              f"{sum(not r[1] for r in rows)} on the box and region, "
              f"{sum(not r[2] for r in rows)} with the interior too."), "",
             ("| steps the interior lets through | how many | useful (≥ 1 dB) | harmful (≤ −1 dB) "
              "| summed ΔPSNR (dB) |"), "|---|---:|---:|---:|---:|"]
    for what, sel in (("all", freed), ("kept by the rest of the judge", [r for r in freed if r[3]])):
        d = np.array([r[4] for r in sel])
        lines.append(f"| {what} | {len(sel)} | {int((d >= 1).sum())} | {int((d <= -1).sum())} "
                     f"| {d.sum():+.1f} |")
    lines += ["", "| operator | freed | kept | summed ΔPSNR kept (dB) |", "|---|---:|---:|---:|"]
    for op in sorted({r[0] for r in freed}):
        sel = [r for r in freed if r[0] == op]
        lines.append(f"| {op} | {len(sel)} | {sum(r[3] for r in sel)} | "
                     f"{sum(r[4] for r in sel if r[3]):+.1f} |")
    return "\n".join(lines)


def dark_gate(photos: Sequence, n: int, model, seed: int = STEP_SEED,
              progress: bool = True) -> str:
    """The planner's dark gate (restora.agent.planner.DARK_GATE: a masked low-light step keeps
    the region's pixels no brighter than that many times its exposure, over a narrow seam), at
    the shipped value, others and none, with the noise model read over the whole image
    rather than the region (restora.agent.planner.REGION_NOISE_MODEL), and with the region
    grown over the dark patches it left out at other reaches (LOW_LIGHT_REACH), on ``n``
    regional low-light steps: loop-sized crops of ``photos`` with a masked low light and a
    random recipe (as :func:`structure_gate` draws them), the step's first candidate tool under
    each gate, each judged as the loop judges it. ΔPSNR to the clean crop (whole
    crop), and on the pixels the low light left untouched (its mask < 1 %)."""
    from tqdm import tqdm

    from restora.agent import judge as J
    from restora.agent import planner
    from restora.agent.loop import apply_tool, step_box
    from restora.degrade import degrade
    from restora.degrade.sample import NATURAL, random_recipe
    from restora.perceive import assess, regions
    from restora.train.comparator import PSNR_CAP
    from restora.train.perceiver import psnr

    rng = np.random.default_rng(seed)
    rows: list[tuple] = []  # per gate: ΔPSNR, ΔPSNR of the untouched pixels, kept
    bar = tqdm(total=n, desc="low-light steps", disable=not progress)
    saved = planner.DARK_GATE, planner.REGION_NOISE_MODEL, planner.LOW_LIGHT_REACH
    g0, noise0, reach0 = saved
    variants = [saved, *((g, noise0, reach0) for g in sorted({1.0, 1.5, 2.0, 3.0} - {g0})),
                (g0, not noise0, reach0), (0.0, noise0, reach0),
                *((g0, noise0, r) for r in sorted({0.0, 0.04, 0.08} - {reach0}))]
    try:
        for clean in _crops(rng, photos, n, lambda: len(rows), "regional low-light steps",
                            crop=_loop_crop):
            pool = tuple(o for o in NATURAL if o not in ("low_light", "contrast"))
            items = [_masked_low_light(rng),
                     *random_recipe(rng, pool=pool, counts=(0.4, 0.4, 0.2), p_mask=0.7)]
            a, label = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
            untouched = label.masks["low_light"] < 0.01
            if not untouched.any():  # the low light reached every pixel: nothing to spill on
                untouched = None
            scene = assess(a, model)
            for s in planner.plan(regions(a, scene, model), **planner.scene_plan(a, scene, 1)):
                if s.op != "low_light" or s.mask is None or len(rows) >= n:
                    continue
                got = []
                for planner.DARK_GATE, planner.REGION_NOISE_MODEL, planner.LOW_LIGHT_REACH \
                        in variants:
                    st = copy.copy(s)
                    if planner.ready(st, a, scene.probs):
                        got = []
                        break
                    tool, params = st.tools[0]
                    b, _ = apply_tool(tool, params, a, st.mask, st.feather)
                    box = step_box(st.mask, a.shape[:2])
                    ev = J.evidence(model, "low_light", assess(a[box], model),
                                    assess(b[box], model), a[box], b[box], st.mask[box])
                    d = psnr(b, clean, PSNR_CAP) - psnr(a, clean, PSNR_CAP)
                    # PSNR over the untouched pixels, as restora.bench.runner measures them
                    du = 0.0 if untouched is None else \
                        psnr(b[untouched][None], clean[untouched][None], PSNR_CAP) \
                        - psnr(a[untouched][None], clean[untouched][None], PSNR_CAP)
                    got += [float(np.clip(d, -CLIP_DB, CLIP_DB)), du, J.decide(ev)[0]]
                if got:
                    rows.append(tuple(got))
                    bar.update(1)
    finally:
        planner.DARK_GATE, planner.REGION_NOISE_MODEL, planner.LOW_LIGHT_REACH = saved
    bar.close()
    lines = [f"{len(rows)} regional low-light steps (planned and passing the physical checks).",
             "", ("| | steps kept by the judge | summed ΔPSNR kept (dB) | harmful kept (≤ −1 dB) "
                  "| untouched pixels, mean ΔPSNR of all steps (dB) |"), "|---|---:|---:|---:|---:|"]
    for i, (g, region_noise, reach) in enumerate(variants):
        o = 3 * i
        name = (f"gate {g:g} × the exposure" + ("" if region_noise else
                                                 ", noise model over the whole image")
                + (f", grown over enclosed dark patches within {reach:g}" if reach else "")
                + (" (shipped)" if (g, region_noise, reach) == saved else "")) if g \
            else "no gate (the region's mask, the default seam)"
        d = np.array([r[o] for r in rows])
        k = np.array([r[o + 2] for r in rows], bool)
        du = np.array([r[o + 1] for r in rows])
        lines.append(f"| {name} | {int(k.sum())} | {d[k].sum():+.1f} | {int((d[k] <= -1).sum())} "
                     f"| {du.mean():+.2f} |")
    return "\n".join(lines)


def _dark_state(rng: np.random.Generator, clean: np.ndarray) -> tuple[np.ndarray, str]:
    """A state for :func:`dark_frame`: (degraded image, what it is) — a synthetic low light of
    random severity over the whole frame with a random recipe of the other operators (40 %), a
    dark camera capture (40 %: exposure ×1/25–×1/4, 200–3000 photons at full exposure), or the
    clean photo (20 %: brightening it is a false step)."""
    from restora.bench.suites import CAMERA_PREFIX, Item, render
    from restora.degrade import degrade
    from restora.degrade.recipe import RecipeItem
    from restora.degrade.sample import NATURAL, random_recipe

    seed = int(rng.integers(0, 2**31 - 1))
    u = rng.random()
    if u < 0.4:
        pool = tuple(o for o in NATURAL if o not in ("low_light", "contrast"))
        items = [RecipeItem("low_light", float(np.round(rng.uniform(0.2, 1.0), 3))),
                 *random_recipe(rng, pool=pool, counts=(0.5, 0.35, 0.15), p_mask=0.5)]
        return degrade(clean, items, seed=seed)[0], "synthetic"
    if u < 0.8:
        exposure, photons = float(np.exp(rng.uniform(np.log(0.04), np.log(0.25)))), \
            float(np.exp(rng.uniform(np.log(200), np.log(3000))))
        rec = f"{CAMERA_PREFIX}exposure={exposure:.4f},photons={photons:.0f}"
        return render(clean, Item("draw", "", "", rec, seed))[0], "camera"
    return clean, "clean"


def dark_frame(photos: Sequence, n: int, model, seed: int = STEP_SEED, progress: bool = True,
               cache: Path | None = None) -> str:
    """The loop's low-light attempts on dark frames (:func:`_dark_state`: synthetic low light,
    dark camera captures, clean photos as the false-alarm side), ``n`` of them, each labelled by
    ΔPSNR to the clean image over the step's box, judged by the shipped judge and by the
    low-light rules measured against it (restora.agent.judge.judge_rules, ``light_drop``).
    Whole-frame steps (no region mask) are also counted apart: the comparator judges a
    brightening of a whole dark frame against a frame it has no clean reference of."""
    from restora.agent import judge as J

    if cache is not None and cache.exists():
        steps = _read_cache(cache)["steps"][:n]
    else:
        def draw(rng):
            photo = photos[int(rng.integers(len(photos)))]
            clean = _photo(photo, 512) if rng.random() < 0.5 else _loop_crop(rng, photo)
            a, kind = _dark_state(rng, clean)
            return clean, a, {"kind": kind}

        steps = _loop_attempts(n, model, seed, draw, progress, op="low_light",
                               max_draws=50 * n)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"seed": seed, "steps": steps}))
    variants = {f"shipped (low light sure where seen and down by ≥ {J.LIGHT_DROP:g})": {},
                "no low-light rule (the comparator decides)": {"light_drop": None},
                **{f"low light sure where seen and down by ≥ {d:g}": {"light_drop": d}
                   for d in (0.1, 0.2, 0.3) if d != J.LIGHT_DROP},
                "low light sure where seen and no longer seen": {"light_drop": 1.0}}
    kinds = ", ".join(f"{k} {sum(s['kind'] == k for s in steps)}"
                      for k in ("synthetic", "camera", "clean"))
    lines = [f"{len(steps)} low-light attempts of the loop ({kinds}).",
             "", ("| judge | steps | kept | summed ΔPSNR kept, clipped to ±15 dB | harmful kept "
                  "| useful refused | worst kept (dB) |"), "|---|---|---:|---:|---:|---:|---:|"]
    for name, kw in variants.items():
        for part, sel in (("all", steps), ("whole frame", [s for s in steps if s["whole"]]),
                          ("clean photos", [s for s in steps if s["kind"] == "clean"])):
            if not sel:
                continue
            r = summarise(sel, lambda s, kw=kw: J.decide_dict(s, **kw)[0])
            lines.append(f"| {name} | {part} ({r['steps']}) | {r['kept']} | "
                         f"{r['kept_gain_clipped_db']:+.1f} | {r['false_accept']:.0%} of "
                         f"{r['harmful']} | {r['false_reject']:.0%} of {r['useful']} | "
                         f"{r['worst_kept_db']:+.2f} |")
    return "\n".join(lines)


def sharpen_once(photos: Sequence, n: int, model, seed: int = STEP_SEED,
                 progress: bool = True, gray: bool = False) -> str:
    """The loop with and without restora.agent.loop.SHARPEN_ONCE (one upscaling or deblurring
    kept per round) on ``n`` loop-sized crops of ``photos``, each under a resolution loss, a
    defocus or motion blur, or a resolution loss and a blur (random severities), with a random
    second operator on half of them (``gray``: the crops made grayscale first): the restored
    crops' PSNR to the clean ones, where the rule changed the result."""
    from tqdm import tqdm

    from restora.agent import loop
    from restora.degrade import degrade
    from restora.degrade.recipe import RecipeItem
    from restora.train.comparator import PSNR_CAP
    from restora.train.perceiver import psnr

    kinds = (("low_res",), ("blur_defocus",), ("blur_motion",), ("low_res", "blur_defocus"),
             ("low_res", "blur_motion"))
    others = ("noise", "jpeg", "haze", "low_light", "rain")
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, float, float, float]] = []  # recipe, input, with, without
    saved = loop.SHARPEN_ONCE
    try:
        for _ in tqdm(range(n), desc="crops", disable=not progress):
            clean = _loop_crop(rng, photos[int(rng.integers(len(photos)))])
            if gray:
                clean = np.repeat(clean.mean(2, keepdims=True), 3, 2)
            ops = list(kinds[int(rng.integers(len(kinds)))])
            if rng.random() < 0.5:
                ops.append(str(rng.choice(others)))
            items = [RecipeItem(o, float(np.round(rng.uniform(0.2, 1.0), 3)), {}, None, None)
                     for o in ops]
            a, _ = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
            out = []
            for on in (True, False):
                loop.SHARPEN_ONCE = on
                out.append(psnr(loop.restore(a, model=model, memory=False).image, clean,
                                PSNR_CAP))
            rows.append(("+".join(ops), psnr(a, clean, PSNR_CAP), *out))
    finally:
        loop.SHARPEN_ONCE = saved
    diff = [r for r in rows if abs(r[2] - r[3]) > 1e-3]
    d = np.array([r[2] - r[3] for r in diff]) if diff else np.zeros(0)
    lines = [(f"{len(rows)} crops; the rule changed {len(diff)}: mean output PSNR "
              f"{np.mean([r[2] for r in rows]):.2f} dB with it, {np.mean([r[3] for r in rows]):.2f} "
              f"without (input {np.mean([r[1] for r in rows]):.2f})."), "",
             "| recipe | input | with the rule | without | with − without |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[2] - r[3]:+.2f} |"
              for r in diff]
    if diff:
        lines += ["", (f"Where it changed the result: {int((d > 0).sum())} better, "
                       f"{int((d < 0).sum())} worse, summed {d.sum():+.2f} dB.")]
    return "\n".join(lines)


def _veil_states(photos: Sequence, n: int, model, seed: int, progress: bool = True,
                 gray: bool = False, first_only: bool = False, op: str = "haze"):
    """``n`` states the agent may plan haze in, each (round, image, clean crop, hazy?, the
    operators of the steps the first round kept): random recipes on crops of ``photos``, haze
    added to half of them (with a mask on 30 %), seen as the first round sees them and, where
    the first round kept no haze step, as the second does; ``gray``: the crops made grayscale
    first; ``first_only``: the first round's states only."""
    from tqdm import tqdm

    from restora.agent.loop import restore
    from restora.degrade import degrade, masks
    from restora.degrade.recipe import RecipeItem
    from restora.degrade.sample import NATURAL, random_recipe
    from restora.train.comparator import _crop

    rng = np.random.default_rng(seed)
    pool = tuple(o for o in NATURAL if o != op)
    out: list = []
    bar = tqdm(total=n, desc="states", disable=not progress)
    while len(out) < n:
        clean = _crop(rng, photos[int(rng.integers(len(photos)))])
        if gray:
            clean = np.repeat(clean.mean(2, keepdims=True), 3, 2)
        items = random_recipe(rng, pool=pool, counts=(0.2, 0.45, 0.35))
        hazy = bool(rng.random() < 0.5)
        if hazy:
            kind = str(rng.choice(masks.KINDS)) if rng.random() < 0.3 else None
            cov = float(np.round(rng.uniform(0.4, 0.8), 2)) if kind else None
            haze = RecipeItem(op, float(np.round(rng.uniform(0.1, 1.0), 3)), {}, kind, cov)
            items = [haze, *items] if rng.random() < 0.5 else [*items, haze]
        a, _ = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
        states = [(1, a, frozenset())]
        r = None if first_only else restore(a, model=model, max_rounds=1, memory=False)
        if r is not None and r.image is not a and \
                not any(s.kept and s.op == op for s in r.trace.steps):
            states.append((2, r.image, frozenset(s.op for s in r.trace.steps if s.kept)))
        for rnd, x, kept in states[: n - len(out)]:
            out.append((rnd, x, clean, hazy, kept))
        bar.update(len(states))
    bar.close()
    return out


def _kept_gain(model, op: str, x: np.ndarray, b: np.ndarray, clean: np.ndarray,
               mask: np.ndarray | None) -> float:
    """ΔPSNR (whole image, dB) of a step that turned ``x`` into ``b`` under ``mask`` if the
    loop's judge keeps it (judged on the step's box, as the loop judges), else 0."""
    from restora.agent import judge as J
    from restora.agent.loop import step_box
    from restora.perceive import assess
    from restora.train.comparator import PSNR_CAP
    from restora.train.perceiver import psnr

    box = step_box(mask, x.shape[:2])
    ev = J.evidence(model, op, assess(x[box], model), assess(b[box], model), x[box], b[box],
                    None if mask is None else mask[box])
    return psnr(b, clean, PSNR_CAP) - psnr(x, clean, PSNR_CAP) if J.decide(ev)[0] else 0.0


VEIL_SEENS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
VEIL_MINS = (0.3, 0.35, 0.4, 0.45)
VEIL_FLOORS = (0.0, 0.05, 0.1, 0.15)


def veil_gate(photos: Sequence, n: int, model, seed: int = STEP_SEED,
              progress: bool = True, gray: bool = False) -> str:
    """How restora.agent.planner's veil test (a whole-image haze step where the regions show
    none) would do: on :func:`_veil_states`, the states where the regions plan no haze, the
    whole-image dehazing step each (seen, median) pair of limits adds, judged as the loop judges
    it; per round, how many are hazy / not, and the summed ΔPSNR of the kept steps. ``gray``:
    on grayscale crops of the photos."""
    from restora.agent.loop import apply_tool
    from restora.agent.planner import VEIL_FLOOR, VEIL_SEEN, plan, veil
    from restora.perceive import _detection, assess, regions

    rows = []
    for rnd, x, clean, hazy, _ in _veil_states(photos, n, model, seed, progress, gray):
        scene = assess(x, model)
        regs = regions(x, scene, model)
        if any(s.op == "haze" for s in plan(regs)):
            continue
        p = float(scene.probs["haze"])  # the step veiled() would add, whatever its limits
        det = _detection("haze", p, float(scene.severities["haze"]))
        (step,) = [s for s in plan(regs, add=[det]) if s.op == "haze"]
        tool, params = step.tools[0]
        b, _ = apply_tool(tool, params, x, None)
        rows.append((rnd, hazy, p, *veil(x), _kept_gain(model, "haze", x, b, clean, None)))
    head = (f"{n} states of {'grayscale' if gray else 'the'} crops; the regions plan no haze "
            f"in {len(rows)}. Per round: hazy / haze-free "
            "states the veil test adds a whole-image dehazing step to, and the summed ΔPSNR "
            "(dB) of the steps the judge keeps; by median (columns) and, first, by 5th "
            f"percentile of the dark channel at haze seen ≥ {VEIL_SEEN}, then by haze seen at a "
            f"5th percentile ≥ {VEIL_FLOOR}.")
    lines = [head, ""]

    def grid(name: str, values, pick) -> None:
        lines.extend([f"| round | {name} | " + " | ".join(f"median ≥ {t}" for t in VEIL_MINS)
                      + " |", "|---|---:|" + "---:|" * len(VEIL_MINS)])
        for rnd in (1, 2):
            for v in values:
                cells = []
                for vm in VEIL_MINS:
                    g = [r for r in rows if r[0] == rnd and pick(r, v) and r[3] >= vm]
                    hz = sum(r[1] for r in g)
                    cells.append(f"{hz} / {len(g) - hz}: {sum(r[5] for r in g):+.1f}")
                lines.append(f"| {rnd} | {v:g} | " + " | ".join(cells) + " |")
        lines.append("")

    grid("5th percentile ≥", VEIL_FLOORS, lambda r, v: r[2] >= VEIL_SEEN and r[4] >= v)
    grid("haze seen ≥", VEIL_SEENS, lambda r, v: r[2] >= v and r[4] >= VEIL_FLOOR)
    return "\n".join(lines)


EXTENT_BINS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.97)


# Measured, not shipped: a region at the airlight (bright sky) holds nothing to recover, and
# dehazing it divides by a tiny t. Refusing regional haze steps whose share reaches s changes
# little either way (haze_extent's last table).
def _airlight_share(img: np.ndarray, mask: np.ndarray | None) -> float:
    """1 − t at the clearest tenth of ``img`` under ``mask`` (None: all of it): the 10th
    percentile of the per-pixel minimum over R, G, B (smoothed 2 px, so that noise does not
    pull it down) over the mean of the whole image's airlight (restora.tools.classical.dehaze
    .shipped_airlight)."""
    import cv2

    from restora.tools.classical.dehaze import shipped_airlight

    sel = np.ones(img.shape[:2], bool) if mask is None else np.asarray(mask) >= 0.5
    if not sel.any():
        return 0.0
    low = cv2.GaussianBlur(img, (0, 0), 2.0).min(2)
    a = max(float(np.mean(shipped_airlight(img))), 1e-3)
    return float(np.percentile(low[sel], 10)) / a


def haze_extent(photos: Sequence, n: int, model, seed: int = STEP_SEED,
                progress: bool = True, late: bool = False, op: str = "haze",
                gray: bool = False) -> str:
    """Where a first-round haze step should act: on :func:`_veil_states`' first-round states
    where the regions plan a haze step under a mask, the step run in its region and over the
    whole image, each judged as the loop judges it (on its box), and over the whole image judged
    on its region's box; per share of the image the haze regions cover, the hazy / haze-free
    states and the summed ΔPSNR (whole image, dB) of the kept steps, each way — the check of
    restora.agent.planner.scene_plan's first-round whole-image haze. ``late``: the same on the
    second-round states of :func:`_veil_states` (the first round kept no haze step), where the
    loop plans haze in its region. ``op``: the same for another operator (snow, rain: added to
    half the states instead of haze). ``gray``: on grayscale crops."""
    from restora.agent.loop import apply_tool
    from restora.agent.planner import (
        WHOLE_SEEN,
        grow_haze_mask,
        implausible,
        plan,
        veil_over,
        whole_seen,
    )
    from restora.perceive import assess, regions

    rows = []
    for rnd, x, clean, hazy, kept in _veil_states(photos, n, model, seed, progress, gray=gray,
                                            first_only=not late, op=op):
        if late and rnd == 1:
            continue
        scene = assess(x, model)
        steps = [s for s in plan(regions(x, scene, model), whole_ops=frozenset())
                 if s.op == op and s.mask is not None]
        if not steps:
            continue
        step = max(steps, key=lambda s: s.area)
        if implausible(op, x, step.mask, scene.probs, small_gray=False):  # measured here
            continue
        tool, params = step.tools[0]
        inside, whole = (apply_tool(tool, params, x, mask)[0] for mask in (step.mask, None))
        gain_in = _kept_gain(model, op, x, inside, clean, step.mask)
        if op == "haze":  # the loop's growth of a masked haze step (planner.grow_haze_mask)
            grown = grow_haze_mask(x, step.mask)
            gain_grown = _kept_gain(model, op, x, apply_tool(tool, params, x, grown)[0], clean,
                                    grown)
        else:
            gain_grown = gain_in
        p_op = float(scene.probs.get(op, 0.0))
        rows.append((step.area, hazy, gain_in, _kept_gain(model, op, x, whole, clean, None),
                     _kept_gain(model, op, x, whole, clean, step.mask), p_op, veil_over(x),
                     _airlight_share(x, step.mask), gain_grown,
                     late or p_op < whole_seen(op, x), "low_light" in kept))
    what = "hazy / haze-free" if op == "haze" else f"with {op} / without"
    head = (f"{n} {'gray ' if gray else ''}"
            f"{'states (both rounds)' if late else 'first-round states'}; a masked {op} "
            f"step is planned in {len(rows)}{' of the second-round ones' if late else ''}. Summed "
            "ΔPSNR (dB) of the kept steps, the step in its region / over the whole image / "
            "over the whole image but judged on its region's box:")
    lines = [head, "",
             (f"| {op} regions cover | {what} | in its region | whole image | whole, judged "
              "on the region |"), "|---|---:|---:|---:|---:|"]
    bins = [(f"{lo:.0%}–{hi:.0%}", lo, hi) for lo, hi in pairwise(EXTENT_BINS)]
    for name, lo, hi in [*bins, ("**all**", EXTENT_BINS[0], EXTENT_BINS[-1])]:
        g = [r for r in rows if lo <= r[0] < hi]
        hz = sum(r[1] for r in g)
        lines.append(f"| {name} | {hz} / {len(g) - hz} | "
                     + " | ".join(f"{sum(r[k] for r in g):+.1f}" for k in (2, 3, 4)) + " |")
    # the whole image only where the perceiver's global head gives the operator ≥ g, else the
    # region (restora.agent.planner.WHOLE_SEEN)
    lines += ["", f"Over the whole image only where the whole image's {op} probability is ≥ g, "
              "else in its region (summed ΔPSNR, dB; steps moved to their region: hazy / "
              "haze-free):" if op == "haze" else f"Over the whole image only where the whole "
              f"image's {op} probability is ≥ g, else in its region (summed ΔPSNR, dB; steps "
              f"moved to their region: {what}):", "", "| g | summed ΔPSNR | moved |",
              "|---:|---:|---:|"]
    lines += [_gate_row(rows, g, lambda r, g=g: r[5] < g) for g in WHOLE_SEEN_GRID]
    lines += ["", ("The same, but over the whole image also wherever the veil test's dark-channel "
              "limits hold (restora.agent.planner.veil_over):"), "",
              "| g | summed ΔPSNR | moved |", "|---:|---:|---:|"]
    lines += [_gate_row(rows, g, lambda r, g=g: r[5] < g and not r[6]) for g in WHOLE_SEEN_GRID]
    # the whole image from a lower probability g only where the veil test's limits hold too,
    # else from WHOLE_SEEN (restora.agent.planner.WHOLE_SEEN_GRAY, on gray images)
    top = WHOLE_SEEN.get(op, 0.0)
    lines += ["", (f"Over the whole image where the whole image's {op} probability is ≥ "
                   f"{top:g}, or ≥ g where the veil test's dark-channel limits hold too, else in "
                   "its region:"), "", "| g | summed ΔPSNR | moved |", "|---:|---:|---:|"]
    lines += [_gate_row(rows, g, lambda r, g=g: not (r[5] >= top or (r[5] >= g and r[6])))
              for g in WHOLE_SEEN_GRID]
    if op == "haze":  # the regions' haze steps over the whole image where the veil test holds
        from restora.agent.planner import VEIL_SEEN

        def planned(r) -> float:  # as the loop plans without the replacement
            return r[2] if r[9] else r[3]

        veil = [r for r in rows if r[5] >= VEIL_SEEN and r[6]]
        rest = sum(planned(r) for r in rows if not (r[5] >= VEIL_SEEN and r[6]))
        hz = sum(r[1] for r in veil)
        lines += ["", ("The regions' haze steps over the whole image where the veil test holds "
                       "(restora.agent.planner.VEIL_WHOLE_AFTER: after a brightening): where the "
                       "whole image's haze "
                       f"probability is ≥ VEIL_SEEN ({VEIL_SEEN:g}) and the dark-channel limits "
                       f"hold, {hz} hazy / {len(veil) - hz} haze-free. Summed ΔPSNR (dB) of the "
                       "kept steps, hazy / haze-free; after a brightening: the first round kept a "
                       "low-light step:"), "",
                  "| those steps (how many) | hazy | haze-free | all, every step |",
                  "|---|---:|---:|---:|"]
        for name, fn in (("as planned (whole where p ≥ whole_seen in the first round)", planned),
                         ("over the whole image", lambda r: r[3])):
            for after, sel in (("", lambda r: True), (", after a brightening", lambda r: r[10]),
                               (", otherwise", lambda r: not r[10])):
                a = sum(fn(r) for r in veil if r[1] and sel(r))
                b = sum(fn(r) for r in veil if not r[1] and sel(r))
                n_ = sum(1 for r in veil if sel(r))
                tot = f"{a + b + rest:+.1f}" if not after else ""
                lines.append(f"| {name}{after} ({n_}) | {a:+.1f} | {b:+.1f} | {tot} |")
    if op == "haze":  # the growth, on the steps the loop leaves in their region
        left = [r for r in rows if r[9]]
        hz = sum(r[1] for r in left)
        lines += ["", ("The steps the loop leaves in their region (the whole image's haze "
                       "probability below restora.agent.planner.whole_seen in the first round; "
                       f"every step in later rounds): {hz} hazy / {len(left) - hz} haze-free. "
                       "Summed ΔPSNR (dB) of the kept steps, hazy / haze-free:"), "",
                  "| mask | hazy | haze-free | all |", "|---|---:|---:|---:|"]
        for name, k in (("planned", 2), ("grown over the veil (grow_haze_mask)", 8)):
            a = sum(r[k] for r in left if r[1])
            b = sum(r[k] for r in left if not r[1])
            lines.append(f"| {name} | {a:+.1f} | {b:+.1f} | {a + b:+.1f} |")
    # the regional step refused where its region is at the airlight (measured, not shipped)
    lines += ["", ("The masked step in its region refused where its clearest tenth reads "
                   "1 − t ≥ s (restora.bench.judge._airlight_share): the refused steps and "
                   "their summed ΔPSNR in their region (dB; negative: the refusal helps):"), "",
              "| s | refused: hazy / haze-free | their ΔPSNR | in its region, with the refusal |",
              "|---:|---:|---:|---:|"]
    for s in AT_AIRLIGHT_GRID:
        out = [r for r in rows if r[7] >= s]
        hz = sum(r[1] for r in out)
        cut = sum(r[2] for r in out)
        lines.append(f"| {s:g} | {hz} / {len(out) - hz} | {cut:+.1f} | "
                     f"{sum(r[2] for r in rows) - cut:+.1f} |")
    return "\n".join(lines)


WHOLE_SEEN_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def _gate_row(rows: list, g: float, in_region) -> str:
    """One row of a gate table of :func:`haze_extent`: the summed ΔPSNR with the step in its
    region where ``in_region(row)``, over the whole image elsewhere, and the steps so kept in
    their region (hazy / haze-free)."""
    moved = [r for r in rows if in_region(r)]
    total = sum(r[2] if in_region(r) else r[3] for r in rows)
    hz = sum(r[1] for r in moved)
    return f"| {g:g} | {total:+.1f} | {hz} / {len(moved) - hz} |"
AT_AIRLIGHT_GRID = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


NOISE_MATCHES = (0.5, 0.7)
NOISE_REACHES = (0.05, 0.1, 0.2)
HAZE_MATCHES = (0.5, 0.7, 0.85)
HAZE_REACHES = (0.1, 0.25, 0.5, 1.0)


def mask_growth(photos: Sequence, n: int, model, seed: int = STEP_SEED,
                 progress: bool = True, op: str = "noise") -> str:
    """How far a masked noise step should reach (restora.agent.planner.grow_noise_mask), or with
    ``op="haze"`` a masked haze step (grow_haze_mask): ``n`` crops of ``photos`` with ``op``
    (severity 0.2–1) under a random mask (30–70 % of the crop), then on a third a second
    degradation (JPEG after noise, noise after haze); on each, the largest masked step of ``op``
    the agent plans, run by its first tool under the planned mask, under the mask grown at each
    (match, reach), and over the whole image. Mean PSNR (dB) of the whole crop, of the pixels
    the degradation did not touch, and of the whole crop where the loop's judge decides (the
    step on its box; a refused step leaves the input). For haze, half the crops get a random
    recipe without haze instead (a pale surface the perceiver takes for haze, grown over), and
    the growth is also measured gated on the step's and the whole image's haze probability."""
    from tqdm import tqdm

    from restora.agent import judge as J
    from restora.agent.loop import apply_tool, step_box
    from restora.agent.planner import (
        HAZE_MATCH,
        HAZE_REACH,
        NOISE_GROWS,
        grow_haze_mask,
        grow_noise_mask,
        plan,
    )
    from restora.degrade import degrade, masks
    from restora.degrade.recipe import RecipeItem
    from restora.degrade.sample import NATURAL, random_recipe
    from restora.metrics import psnr
    from restora.perceive import assess, regions
    from restora.train.comparator import PSNR_CAP

    haze = op == "haze"
    grow, ops, grid, after = (grow_haze_mask, {"haze"}, (HAZE_MATCHES, HAZE_REACHES), "noise") \
        if haze else (grow_noise_mask, NOISE_GROWS, (NOISE_MATCHES, NOISE_REACHES), "jpeg")
    rng = np.random.default_rng(seed)
    variants = [("planned mask", None), *[(f"grown, match {m:g}, reach {r:g}", (m, r))
                                          for r in grid[1] for m in grid[0]],
                ("whole image", "whole")]
    rows: list[list[tuple[float, float, float]]] = []
    seen: list[tuple[bool, float, float]] = []  # (with op?, step's prob, whole image's prob)
    bar = tqdm(total=n, desc=f"{op} steps", disable=not progress)
    for clean in _crops(rng, photos, n, lambda: len(rows), f"masked {op} steps"):
        if haze and rng.random() < 0.5:
            items = random_recipe(rng, pool=tuple(o for o in NATURAL if o != op),
                                  counts=(0.2, 0.45, 0.35))
        else:
            items = [RecipeItem(op, float(np.round(rng.uniform(0.2, 1.0), 3)), {},
                                str(rng.choice(masks.KINDS)),
                                float(np.round(rng.uniform(0.3, 0.7), 2)))]
            if rng.random() < 1 / 3:
                items.append(RecipeItem(after, float(np.round(rng.uniform(0.2, 0.8), 3)), {}))
        x, label = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
        has = op in label.masks
        calm = np.asarray(label.masks[op]) <= 0 if has else np.ones(x.shape[:2], bool)
        scene = assess(x, model)
        steps = [s for s in plan(regions(x, scene, model), whole_ops=frozenset())
                 if s.op in ops and s.mask is not None]
        if not steps or not calm.any():
            continue
        step = max(steps, key=lambda s: s.area)
        tool, params = step.tools[0]
        x_in = min(psnr(clean, x), PSNR_CAP)
        got = []
        for _, v in variants:
            mask = step.mask if v is None else None if v == "whole" else grow(x, step.mask, *v)
            b = apply_tool(tool, params, x, mask)[0]
            out = min(psnr(clean, b), PSNR_CAP)
            box = step_box(mask, x.shape[:2])
            ev = J.evidence(model, step.op, assess(x[box], model), assess(b[box], model), x[box],
                            b[box], None if mask is None else np.asarray(mask, np.float32)[box])
            got.append((out, min(psnr(clean[calm][None], b[calm][None]), PSNR_CAP),
                        out if J.decide(ev)[0] else x_in))
        rows.append(got)
        seen.append((has, float(step.prob), float(scene.probs.get(op, 0.0))))
        bar.update(1)
    bar.close()
    r, has = np.array(rows), np.array([s[0] for s in seen])
    with_op = f"{has.sum()} with {op} / {len(has) - has.sum()} without" if haze else ""
    lines = [(f"{n} crops with {op} under a mask ({after} after it on a third"
              f"{'; half the crops without ' + op + ' instead' if haze else ''}) where the agent "
              f"plans a masked {op} step{' (' + with_op + ')' if haze else ''}; its first tool "
              "under each mask, mean PSNR (dB):"), "",
             f"| mask | whole crop | pixels the {op} did not touch (min) | through the judge |"
             + (f" judged, with {op} | judged, without |" if haze else ""),
             "|---|---:|---:|---:|" + ("---:|---:|" if haze else "")]
    for i, (name, _) in enumerate(variants):
        lines.append(f"| {name} | {r[:, i, 0].mean():.2f} | {r[:, i, 1].mean():.2f} "
                     f"({r[:, i, 1].min():.2f}) | {r[:, i, 2].mean():.2f} |"
                     + (f" {_mean(r[has, i, 2])} | {_mean(r[~has, i, 2])} |" if haze else ""))
    if haze:
        k = next(i for i, (_, v) in enumerate(variants) if v == (HAZE_MATCH, HAZE_REACH))
        step_p, scene_p = np.array([s[1] for s in seen]), np.array([s[2] for s in seen])
        for what, probs, grid_g in (("the step's", step_p, STEP_P_GRID),
                                    ("the whole image's", scene_p, WHOLE_SEEN_GRID)):
            lines += ["", (f"Grown (match {HAZE_MATCH:g}, reach {HAZE_REACH:g}) only where "
                           f"{what} {op} probability is ≥ g, else the planned mask; through the "
                           "judge, mean PSNR (dB):"), "",
                      f"| g | grown: with {op} / without | all | with {op} | without |",
                      "|---:|---:|---:|---:|---:|"]
            for g in grid_g:
                on = probs >= g
                v = np.where(on, r[:, k, 2], r[:, 0, 2])
                lines.append(f"| {g:g} | {int((on & has).sum())} / {int((on & ~has).sum())} | "
                             f"{v.mean():.2f} | {_mean(v[has])} | {_mean(v[~has])} |")
    return "\n".join(lines)


STEP_P_GRID = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)


def _mean(v: np.ndarray) -> str:
    return f"{v.mean():.2f}" if len(v) else "–"


COLOUR_P99S = (0.3, 0.4, 0.5, 0.6, 0.7, 1.01)


def colour_gate(photos: Sequence, n: int, model, seed: int = STEP_SEED,
                progress: bool = True) -> str:
    """How restora.agent.planner's vivid-colour check (SATURATION_MAX_P99) sorts the agent's
    colour-boost steps: random recipes on crops of ``photos``, a colour loss (severity 0.2–1)
    in half of them, until ``n`` saturation steps are planned (the other checks of
    :func:`implausible` passed); each run and judged as the loop judges it. Per limit on the
    99th percentile of the region's chroma: faded / not faded steps let through, and the
    summed ΔPSNR (dB) of those the judge keeps."""
    from tqdm import tqdm

    from restora.agent.loop import apply_tool
    from restora.agent.planner import implausible, plan, region_chroma
    from restora.degrade import degrade
    from restora.degrade.recipe import RecipeItem
    from restora.degrade.sample import NATURAL, random_recipe
    from restora.perceive import assess, regions

    rng = np.random.default_rng(seed)
    pool = tuple(o for o in NATURAL if o != "saturation")
    rows: list[tuple[bool, float, float]] = []
    bar = tqdm(total=n, desc="colour steps", disable=not progress)
    for clean in _crops(rng, photos, n, lambda: len(rows), "colour-boost steps", tries=200):
        items = random_recipe(rng, pool=pool, counts=(0.5, 0.35, 0.15))
        faded = bool(rng.random() < 0.5)
        if faded:
            items.append(RecipeItem("saturation", float(np.round(rng.uniform(0.2, 1.0), 3)), {}))
        x, _ = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
        scene = assess(x, model)
        for s in plan(regions(x, scene, model)):
            if s.op != "saturation" or len(rows) >= n:
                continue
            if implausible("saturation", x, s.mask, scene.probs, vivid=False):
                continue
            tool, params = s.tools[0]
            b, _ = apply_tool(tool, params, x, s.mask, s.feather)
            p99 = region_chroma(x, s.mask)
            rows.append((faded, p99, _kept_gain(model, "saturation", x, b, clean, s.mask)))
            bar.update(1)
    bar.close()
    f = sum(r[0] for r in rows)
    lines = [(f"{n} colour-boost steps, {f} on faded crops, {n - f} on crops with no colour loss. "
              "Steps let through / summed ΔPSNR (dB) of those the judge keeps, by the limit on "
              "the 99th percentile of the region's chroma (max − min of R, G, B):"), "",
             "| let through below | faded | not faded | ΔPSNR faded | ΔPSNR not faded |",
             "|---:|---:|---:|---:|---:|"]
    for th in COLOUR_P99S:
        g = [r for r in rows if r[1] < th]
        name = "any" if th > 1 else f"{th:g}"
        lines.append(f"| {name} | {sum(r[0] for r in g)} of {f} | "
                     f"{sum(not r[0] for r in g)} of {n - f} | "
                     f"{sum(r[2] for r in g if r[0]):+.1f} | "
                     f"{sum(r[2] for r in g if not r[0]):+.1f} |")
    return "\n".join(lines)


JPEG_NOISE_KS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)


def noise_under_jpeg(photos: Sequence, n: int, model, seed: int = STEP_SEED,
                     progress: bool = True) -> str:
    """How restora.agent.planner's noise σ under JPEG (NOISE_UNDER_JPEG) is chosen: ``n`` crops
    of ``photos`` under Gaussian noise (σ 10–50), JPEG-compressed after it on 70 % (quality
    15–70); on each, the agent's largest noise step denoised by BM3D at k × its planned σ (the
    planner's factor left out). Mean PSNR per k, apart for the crops by the factor the planner
    applies: none (its regions show no JPEG), quality below / above the planner's split."""
    from tqdm import tqdm

    from restora.agent.planner import JPEG_Q_SPLIT, NOISE_UNDER_JPEG, plan
    from restora.degrade import degrade
    from restora.metrics import psnr
    from restora.perceive import assess, regions
    from restora.tools import get_tool
    from restora.train.comparator import _crop

    rng = np.random.default_rng(seed)
    bm3d = get_tool("bm3d")
    groups = ("JPEG not seen", f"JPEG seen, quality < {JPEG_Q_SPLIT:g}",
              f"JPEG seen, quality ≥ {JPEG_Q_SPLIT:g}")
    rows: dict[str, list] = {g: [] for g in groups}
    truth: dict[str, list] = {g: [] for g in groups}
    bar = tqdm(total=n, desc="crops", disable=not progress)
    for i in range(n):
        clean = _crop(rng, photos[int(rng.integers(len(photos)))])
        sigma, q = float(rng.uniform(10, 50)), int(rng.integers(15, 71))
        recipe = f"noise={sigma:.1f}" + (f",jpeg={q}" if rng.random() < 0.7 else "")
        a, _ = degrade(clean, recipe, seed=seed + i)
        regs = regions(a, assess(a, model), model)
        steps = [(s, f) for s, f in zip(plan(regs, jpeg_factor=False), plan(regs))
                 if s.op == "noise"]
        bar.update(1)
        if not steps:
            continue
        step, factored = max(steps, key=lambda sf: sf[0].area)
        est, applied = step.value, factored.value / max(step.value, 1e-9)
        g = groups[0] if applied < 1.01 else \
            groups[1 + int(abs(applied - NOISE_UNDER_JPEG[1]) < 1e-6)]
        rows[g].append([psnr(clean, bm3d.apply(a, {"sigma": min(k * est, 100.0)}))
                        for k in JPEG_NOISE_KS])
        truth[g].append(sigma / est)
    bar.close()
    lines = ["| crops | n | true σ ÷ planned σ (median) | "
             + " | ".join(f"k = {k:g}" for k in JPEG_NOISE_KS) + " |",
             "|---|---:|---:|" + "---:|" * len(JPEG_NOISE_KS)]
    for g in groups:
        if rows[g]:
            m = np.mean(rows[g], 0)
            lines.append(f"| {g} | {len(rows[g])} | {np.median(truth[g]):.2f} | "
                         + " | ".join(f"{v:.2f}" for v in m) + " |")
    return (f"{n} noisy crops; BM3D at k × the σ the agent plans for its largest noise step, "
            "mean PSNR (dB):\n\n" + "\n".join(lines))


JPEG_GRAIN_FS = (0.75, 0.5, 0.25)


def jpeg_grain(photos: Sequence, n: int, model, seed: int = STEP_SEED,
               progress: bool = True) -> str:
    """Noise that JPEG hid from the perceiver: ``n`` crops of ``photos``, half under Gaussian
    noise (σ 5–40) then JPEG (quality 15–60), half under JPEG only (quality 15–80); on those
    where the agent plans a JPEG step and no noise step, the deblocker at the planned quality
    and at f × it, each alone through the step judge, and as the loop would run the two as
    candidates (the planned quality first, f × it second, tried only where the loop would: the
    first not kept with confidence; the kept one the judge is surest of, restora.agent.judge
    .decide). Mean PSNR (dB) of the crops with noise under JPEG and of those
    with JPEG only (a refused step leaves the input)."""
    from tqdm import tqdm

    from restora.agent import judge as J
    from restora.agent.loop import CONFIDENT
    from restora.agent.planner import NOISE_FAMILY, coarser_quality, plan
    from restora.degrade import degrade
    from restora.metrics import psnr
    from restora.perceive import assess, regions
    from restora.tools import get_tool

    rng = np.random.default_rng(seed)
    tool = get_tool("deblock")
    rows: dict[bool, list] = {True: [], False: []}
    bar = tqdm(total=n, desc="JPEG steps", disable=not progress)
    for clean in _crops(rng, photos, n, lambda: len(rows[True]) + len(rows[False]),
                        "JPEG steps without a noise step"):
        noisy = bool(rng.random() < 0.5)
        q = int(rng.integers(15, 61 if noisy else 81))
        recipe = (f"noise={rng.uniform(5, 40):.1f}," if noisy else "") + f"jpeg={q}"
        x, _ = degrade(clean, recipe, seed=int(rng.integers(0, 2**31 - 1)))
        before = assess(x, model)
        steps = plan(regions(x, before, model))
        jpeg = [st for st in steps if st.op == "jpeg"]
        if not jpeg or any(st.op in NOISE_FAMILY for st in steps):
            continue
        planned = max(jpeg, key=lambda st: st.area).value
        got, judged = [], []
        for f in (1.0, *JPEG_GRAIN_FS):
            b = tool.apply(x, {"quality": coarser_quality(planned, f)})
            ev = J.evidence(model, "jpeg", before, assess(b, model), x, b, None)
            ok, _, sure = J.decide(ev)
            out = psnr(clean, b)
            got.append(out if ok else psnr(clean, x))
            judged.append((ok, (sure, ev.p_better), out))
        x_in, first = psnr(clean, x), judged[0]
        pairs = []
        for k in range(1, len(judged)):
            if first[0] and (first[1][0] or first[1][1] >= CONFIDENT):
                pairs.append(first[2])  # the loop does not try a second candidate
                continue
            kept = [j for j in (first, judged[k]) if j[0]]
            pairs.append(max(kept, key=lambda j: j[1])[2] if kept else x_in)
        rows[noisy].append([x_in, *got, *pairs])
        bar.update(1)
    bar.close()
    fs = ", ".join(f"{f:g}" for f in JPEG_GRAIN_FS)
    head = ["input", "planned q", *(f"{f:g} q" for f in JPEG_GRAIN_FS),
            *(f"planned, then {f:g} q" for f in JPEG_GRAIN_FS)]
    lines = [(f"{n} crops where the agent plans a JPEG step and no noise step; the deblocker at "
              f"the planned quality q and at f × q (f = {fs}), alone and as two candidates, "
              "through the step judge, mean PSNR (dB):"), "",
             "| crops | n | " + " | ".join(head) + " |", "|---|---:|" + "---:|" * len(head)]
    for noisy, name in ((True, "noise under JPEG"), (False, "JPEG only")):
        if rows[noisy]:
            m = np.mean(rows[noisy], 0)
            lines.append(f"| {name} | {len(rows[noisy])} | "
                         + " | ".join(f"{v:.2f}" for v in m) + " |")
    return "\n".join(lines)


MARGINS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def margin_table(steps: list[dict]) -> str:
    """Per operator and comparator margin: summed ΔPSNR (clipped to ±CLIP_DB) of the steps the
    judge keeps with that margin, and how many — how restora.agent.judge.OP_MARGIN is chosen."""
    from restora.agent import judge as J

    lines = ["| operator | " + " | ".join(f"margin {m}" for m in MARGINS) + " |",
             "|---|" + "---:|" * len(MARGINS)]
    for op in sorted({s["op"] for s in steps}):
        sel = [s for s in steps if s["op"] == op]
        d = np.clip([s["delta"] for s in sel], -CLIP_DB, CLIP_DB)
        cells = []
        for m in MARGINS:
            k = np.array([J.decide_dict(s, margin=m, op_margins=False)[0] for s in sel])
            cells.append(f"{d[k].sum():+.0f} ({k.sum()})")
        lines.append(f"| {op} ({len(sel)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _photos(folder: Path | None) -> tuple[list, str]:
    """The clean photos to draw from (a folder, or the held-out scikit-image photos) and how
    to name them."""
    if folder is not None:
        from restora.data import training_paths

        photos = training_paths([folder])
        if not photos:
            raise RestoraError(f"no images in {folder}")
        return photos, f"{len(photos)} photos of {folder}"
    from restora.data import skimage_photos

    photos = [im for _, im in skimage_photos(512)]
    return photos, f"the {len(photos)} held-out scikit-image photos"


# The planning studies (instead of the judge's table): option → what N counts.
STUDIES = {
    "scene-gate": "regional low-light steps, and how the planner's scene-wide check sorts them",
    "veil-gate": "states the agent may plan haze in, and what the planner's veil test adds there",
    "jpeg-noise": "noisy crops (most JPEG-compressed), and BM3D at multiples of the noise σ the "
                  "agent plans",
    "haze-extent": "first-round states, and a masked haze step in its region against over the "
                   "whole image",
    "colour-gate": "colour-boost steps, and how the planner's vivid-colour check sorts them",
    "noise-extent": "crops with masked noise, and the noise step under its mask grown or not",
    "haze-grow": "crops with masked haze, and the haze step under its mask grown or not",
    "jpeg-grain": "crops with noise under JPEG or JPEG only, and a stronger deblocking",
    "late-haze": "states as --haze-extent's, and the masked haze steps of the second round",
    "snow-extent": "first-round states (snow added to half), and a masked snow step in its "
                   "region against over the whole image",
    "rain-extent": "the same for rain",
    "structure-gate": "masked steps with a structure limit, and what the layout check on the "
                      "region's interior lets through",
    "dark-gate": "regional low-light steps, with and without the planner's dark gate",
    "dark-frame": "the loop's low-light attempts on dark frames (synthetic, camera, clean), "
                  "judged by the shipped judge and by low-light rules (--cache keeps them)",
    "sharpen-once": "crops under resolution loss or blur, restored with and without one "
                    "sharpening step per round",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m restora.bench.judge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="agent steps to draw (default 300)")
    p.add_argument("--images", type=Path, default=None,
                   help="clean photo folder (default: the held-out scikit-image photos)")
    p.add_argument("--seed", type=int, default=STEP_SEED)
    p.add_argument("--in-loop", action="store_true",
                   help="draw the candidates the loop itself tries (every round, larger crops) "
                   "instead of one first-round step per crop")
    p.add_argument("--suite-recipes", action="store_true",
                   help="with --in-loop: the benchmark suites' recipes (three-deg, five-deg, "
                   "composite, spatial, camera) on the photos, instead of random recipes")
    p.add_argument("--cache", type=Path, default=None,
                   help="keep the drawn steps in this JSON file and reuse them")
    for flag, what in STUDIES.items():
        p.add_argument(f"--{flag}", type=int, default=0, metavar="N", help=f"instead: N {what}")
    p.add_argument("--gray", action="store_true",
                   help="with --veil-gate, --haze-extent, --late-haze or --sharpen-once: on grayscale crops "
                   "of the photos")
    a = p.parse_args(argv)
    sizes = {flag: getattr(a, flag.replace("-", "_")) for flag in STUDIES}
    if a.steps < 1 or min(sizes.values()) < 0:
        raise RestoraError("--steps must be at least 1, and "
                           + ", ".join(f"--{f}" for f in STUDIES) + " at least 0")
    chosen = [f for f, n in sizes.items() if n]
    if chosen:
        import torch

        from restora.perceive import load_model

        torch.manual_seed(0)
        photos, where = _photos(a.images)
        n, model = sizes[chosen[0]], load_model()
        study = {"scene-gate": lambda: scene_gate(photos, n, model, a.seed),
                 "veil-gate": lambda: veil_gate(photos, n, model, a.seed, gray=a.gray),
                 "jpeg-noise": lambda: noise_under_jpeg(photos, n, model, a.seed),
                 "haze-extent": lambda: haze_extent(photos, n, model, a.seed, gray=a.gray),
                 "colour-gate": lambda: colour_gate(photos, n, model, a.seed),
                 "noise-extent": lambda: mask_growth(photos, n, model, a.seed),
                 "haze-grow": lambda: mask_growth(photos, n, model, a.seed, op="haze"),
                 "jpeg-grain": lambda: jpeg_grain(photos, n, model, a.seed),
                 "late-haze": lambda: haze_extent(photos, n, model, a.seed, late=True,
                                                  gray=a.gray),
                 "snow-extent": lambda: haze_extent(photos, n, model, a.seed, op="snow"),
                 "rain-extent": lambda: haze_extent(photos, n, model, a.seed, op="rain"),
                 "structure-gate": lambda: structure_gate(photos, n, model, a.seed),
                 "dark-gate": lambda: dark_gate(photos, n, model, a.seed),
                 "dark-frame": lambda: dark_frame(photos, n, model, a.seed, cache=a.cache),
                 "sharpen-once": lambda: sharpen_once(photos, n, model, a.seed, gray=a.gray)}[chosen[0]]()
        print(f"{where}, seed {a.seed}: {study}")
        return 0
    if a.cache is not None and a.cache.exists():
        got = _read_cache(a.cache)
        try:
            steps, seed, where = got["steps"][: a.steps], got["seed"], got["where"]
        except KeyError:
            raise RestoraError(f"{a.cache} is not a step cache of this command") from None
        print(f"{len(steps)} steps from {a.cache} ({where}, seed {seed})")
    else:
        import torch

        from restora.perceive import load_model

        torch.manual_seed(0)
        model = load_model()
        photos, where = _photos(a.images)
        seed = a.seed
        if a.in_loop:
            steps = draw_loop_steps(photos, a.steps, model, seed,
                                    recipes=suite_recipes() if a.suite_recipes else None)
            where += ", in the loop" + (", the suites' recipes" if a.suite_recipes else "")
        else:
            steps = draw_steps(photos, a.steps, model, seed)
        print(f"drew {len(steps)} steps from {where}, seed {seed}")
        if a.cache is not None:
            a.cache.parent.mkdir(parents=True, exist_ok=True)
            a.cache.write_text(json.dumps({"seed": seed, "where": where, "steps": steps}))
    print(table(steps, f"The agent's step judge on {len(steps)} of its own steps ({where}, "
                       f"seed {seed})."))
    print(f"\nSummed ΔPSNR (clipped to ±{CLIP_DB:g} dB) of the kept steps, and how many, per "
          "comparator margin (no per-operator margins):\n")
    print(margin_table(steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
