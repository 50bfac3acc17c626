"""restore-assess-repeat (RAR), region by region (the review's perception → planning →
execution → evaluation), with AgenticIR's rollback and Q-Agent's greedy choice of tools.

    perceive (quality, regions, types, severities)
    → plan    (ordered steps: tool candidates × region mask × parameters; planner.py)
    → execute (each candidate under its feathered region mask; fuse.py)
    → assess  (re-perception + comparator + fidelity to the input; judge.py): keep the best, or
              roll back
    → CONTINUE while a round kept a step, else STOP (clean, nothing kept, or max rounds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from restora._image import as_image
from restora.agent import judge as J
from restora.agent.fuse import apply_in_region, bbox, feather_px, fits_one_tile
from restora.agent.memory import Memory, signature
from restora.agent.planner import (
    GRAIN_REGION,
    PlannedStep,
    grain,
    plan,
    ready,
    scene_params,
    scene_plan,
)
from restora.agent.trace import Attempt, StepRecord, Trace
from restora.tools import LEARNED

CONFIDENT = 0.85  # a candidate this likely better is kept without trying the others
# Resolution loss and blur are one symptom, missing fine detail: once a step of the round has
# restored it (an upscaling or a deblurring kept), the round tries no other. Both kept, the
# second sharpens what the first already sharpened and rings at the edges (the toolbox suite's
# ×4 camera photo: upscaled, then deconvolved, 26.21 → 23.81 dB). On the training photos it
# never fired (python -m restora.bench.judge --sharpen-once 60 --images runs/wallpapers, and
# --sharpen-once 80 --gray): kept for the ringing it prevents, not for a measured gain.
SHARPENING = frozenset({"low_res", "blur_defocus", "blur_motion"})
SHARPEN_ONCE = True


@dataclass
class Result:
    """The restored image (float32 RGB in [0, 1]), its Trace, and what was seen of the input."""

    image: np.ndarray
    trace: Trace
    assessment: object  # restora.perceive.Assessment of the input
    regions: list


class _Clock(dict):
    def add(self, key: str, t0: float) -> None:
        self[key] = self.get(key, 0.0) + time.perf_counter() - t0


def restore(img: np.ndarray, *, model=None, max_rounds: int = 3, tries: int = 2,
            margin: float = 0.6, memory: bool | Memory = True, threshold: float = 0.5,
            regionwise: bool = True, on_step=None, fast: bool = False,
            learned: bool = False, on_attempt=None) -> Result:
    """Restore ``img`` (anything restora._image.as_image takes); see the module docstring.
    ``tries`` candidate tools per step, a step kept when the comparator gives ≥ ``margin``;
    ``regionwise=False`` applies every step to the whole image (an ablation); ``on_step``, if
    given, is called with each StepRecord as soon as it is decided (progress on long work);
    ``on_attempt`` (studies) is called for every tried candidate with (the step, the tool's
    name, its box, the box before and after the candidate, the step's mask on the box or None,
    the judge's StepEvidence, the learned step score or None);
    ``fast`` uses only the cheap tools (planner.FAST_MAX_COST); ``learned=True`` also tries the
    learned all-in-one network (off by default: with today's weights it makes the agent worse
    on the composite suite, BENCHMARKS.md)."""
    from restora.perceive import assess, load_model, regions

    src, clock, t_start = as_image(img), _Clock(), time.perf_counter()
    model = model if model is not None else load_model()
    mem = memory if isinstance(memory, Memory) else Memory(enabled=bool(memory))
    seen = _Seen(model, clock, threshold)
    first = seen.get(src)
    t0 = time.perf_counter()
    first_regions = regions(src, first, model, threshold=threshold)
    clock.add("perceive", t0)
    trace = Trace(first.to_dict(), [r.to_dict() for r in first_regions], signature=signature(first))
    prefer = trace.memory_used = mem.recall(trace.signature)
    current, rejected, kept = src, set(), {}
    # the image after the leading kept steps the re-perception was sure of (the final check's
    # fallback), how many they are, and whether a kept step it was not sure of came after them
    sure_img, n_sure, unsure = src, 0, False
    stop = f"reached the maximum of {max_rounds} rounds"
    for rnd in range(1, max_rounds + 1):
        t0 = time.perf_counter()
        scene = seen.get(current)  # the whole image as the round starts
        regs = first_regions if rnd == 1 else regions(current, scene, model, threshold=threshold)
        clock.add("perceive", t0)
        t0 = time.perf_counter()
        steps = plan(regs, prefer=prefer, rejected=rejected, tries=tries, regionwise=regionwise,
                     done=set(kept), fast=fast, learned=learned,
                     **scene_plan(current, scene, rnd, frozenset(kept)))
        clock.add("plan", t0)
        if not steps:
            stop = "the image looks clean" if rnd == 1 else "nothing left to treat"
            break
        n_kept, round_img, sharpened = 0, current, ""
        for step in steps:
            t0 = time.perf_counter()
            why = ready(step, current, scene.probs, lambda img=current: seen.get(img).probs)
            if not why and SHARPEN_ONCE and sharpened and step.op in SHARPENING:
                why = (f"the round's {sharpened.replace('_', ' ')} step already restored the "
                       "fine detail: a second sharpening rings")
            clock.add("plan", t0)
            if why:  # a physical check contradicts the detection: not tried
                rec = StepRecord(rnd, step.op, step.region, step.area, step.prob,
                                 f"{step.param} {step.value:.3g} {step.unit}", vetoed=why)
            else:
                # the detection that planned the step, where an earlier step of the round has
                # changed the image since (judge.decide)
                planned = None if current is round_img else step.prob
                current, rec, sure = _execute(step, current, src, model, margin, rnd, clock, seen,
                                              planned, on_attempt)
                if rec.kept:
                    unsure = unsure or not sure
                    if not unsure:
                        sure_img, n_sure = current, n_sure + 1
            trace.steps.append(rec)
            if on_step is not None:
                on_step(rec)
            rejected |= {(step.op, a.tool) for a in rec.attempts if a.verdict == "rolled back"}
            if rec.kept:
                n_kept, kept[step.op] = n_kept + 1, rec.kept
                if step.op in SHARPENING and not sharpened:
                    sharpened = step.op
        trace.rounds.append({"round": rnd, "steps": len(steps), "kept": n_kept,
                             "quality": seen.get(current).quality})
        if not n_kept:
            stop = "no step improved the image" if rnd == 1 else "the last round improved nothing"
            break
    if unsure:  # final check of the whole result (regions were judged locally) against the
        # input, or against the result of the leading steps the re-perception was sure of
        kept_recs = [r for r in trace.steps if r.kept]
        sure_kept = {r.op: r.kept for r in kept_recs[:n_sure]}
        base = seen.get(src) if sure_img is src else assess(sure_img, model, threshold=threshold)
        p = J.p_better(model, J.as_look(base), J.as_look(seen.get(current)))
        what = "the input" if sure_img is src else \
            f"the result of its {', '.join(sure_kept)} step{'s' * (len(sure_kept) > 1)}"
        trace.final_p_better, trace.final_base = p, what
        if p < 0.5:
            for rec in kept_recs[n_sure:]:
                rec.undone = True
            trace.returned_quality = float(base.quality)
            current, kept = sure_img, dict(sure_kept)
            stop += f"; final check: the result is only {p:.0%} likely better than {what}, " \
                    f"so {what} is returned"
    mem.store(trace.signature, kept)
    trace.stop_reason = stop
    trace.seconds = {**clock, "total": time.perf_counter() - t_start}
    return Result(current, trace, first, first_regions)


class _Seen:
    """The perceiver's assessment of the latest whole image, computed once per image: the round's
    quality, the next round's regions and the next whole-image step's "before" share it."""

    def __init__(self, model, clock: _Clock, threshold: float) -> None:
        self.model, self.clock, self.threshold = model, clock, threshold
        self.img: np.ndarray | None = None
        self.assessment = None

    def get(self, img: np.ndarray):
        if img is not self.img:
            from restora.perceive import assess

            t0 = time.perf_counter()
            self.img, self.assessment = img, assess(img, self.model, threshold=self.threshold)
            self.clock.add("perceive", t0)
        return self.assessment

    def put(self, img: np.ndarray, assessment) -> None:
        self.img, self.assessment = img, assessment


def _execute(step: PlannedStep, current: np.ndarray, src: np.ndarray, model, margin: float,
             rnd: int, clock: _Clock, seen: _Seen,
             planned: float | None = None,
             on_attempt=None) -> tuple[np.ndarray, StepRecord, bool]:
    """Try the step's candidate tools; keep the best acceptable result or roll back. The flag:
    the kept result was kept on the re-perception's evidence (restora.agent.judge.decide, to
    which ``planned`` goes)."""
    from restora.perceive import assess

    box = step_box(step.mask, current.shape[:2])
    whole = (box[0].stop - box[0].start, box[1].stop - box[1].start) == current.shape[:2]
    t0 = time.perf_counter()
    before = seen.get(current) if whole else assess(current[box], model)
    clock.add("judge", t0)
    rec = StepRecord(rnd, step.op, step.region, step.area, step.prob,
                     f"{step.param} {step.value:.3g} {step.unit}")
    best, any_sure = None, False
    ranked = step.op not in J.SURE_KEEPS_SEARCHING  # a sure verdict outranks the comparator
    for tool, params in step.tools:
        t0 = time.perf_counter()
        cand, params = apply_tool(tool, params, current, step.mask, step.feather, src)
        secs = time.perf_counter() - t0
        clock.add("tools", t0)
        t0 = time.perf_counter()
        seen_after = assess(cand[box], model, threshold=seen.threshold)
        # The network treats every degradation the perceiver sees in the crop at once.
        ops = (step.op, *(d.op for d in before.types)) if tool.name in LEARNED else step.op
        mask_box = None if step.mask is None else step.mask[box]
        ev = J.evidence(model, ops, before, seen_after, src[box], cand[box], mask_box, current[box])
        score = J.learned_score(ev, current[box], cand[box], mask_box)
        if on_attempt is not None:
            on_attempt(step, tool.name, box, current[box], cand[box], mask_box, ev, score)
        if step.region == GRAIN_REGION:
            ok, why, sure = J.decide_grain(ev, grain(cand), margin, planned, learned=score)
        else:
            ok, why, sure = J.decide(ev, margin, planned=planned, learned=score)
        clock.add("judge", t0)
        p, corr, dc = (ev.p_better if score is None else score), ev.structure, ev.chroma_shift
        rec.attempts.append(Attempt(tool.name, params, ev.p_better, ev.quality_before,
                                    ev.quality_after, corr, dc, "kept" if ok else "rolled back",
                                    why, secs, score))
        any_sure = any_sure or (ok and sure)
        if ok and (best is None or (sure and ranked, p) > best[0]):
            if best is not None:
                rec.attempts[best[2]].verdict = "beaten"
            best = ((sure and ranked, p), cand, len(rec.attempts) - 1, seen_after)
        elif ok:
            rec.attempts[-1].verdict = "beaten"
        if best is not None and (best[0][0] or best[0][1] >= CONFIDENT):
            break  # greedy: confident enough, the remaining candidates are not worth their time
    if best is None:
        return current, rec, False
    rec.kept = rec.attempts[best[2]].tool
    rec.thumbnail = _thumb(best[1])
    if whole:
        seen.put(best[1], best[3])
    return best[1], rec, any_sure


def step_box(mask: np.ndarray | None, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The part of the image a step is judged on: its mask's bounding box plus the fusion margin
    (the whole image when ``mask`` is None)."""
    y0, y1, x0, x1 = bbox(mask, shape)
    return slice(y0, y1), slice(x0, x1)


def apply_tool(tool, params: dict, img: np.ndarray, mask: np.ndarray | None,
               feather: float | None = None, src: np.ndarray | None = None):
    """(``img`` with ``tool`` run under ``mask``'s feathered weights, the parameters it ran
    with): as the loop tries a candidate, with scene-wide parameters (the airlight) taken from
    the whole image when the tool sees less than all of it: a region's crop, or the tiles of an
    image larger than one tile (each tile estimating its own airlight left seams of colour).
    ``src``: the image as captured, where earlier steps changed ``img`` (planner.scene_params)."""
    if mask is not None or not fits_one_tile(img.shape):
        params = scene_params(tool, params, img, mask, src)
    feather = feather_px(img.shape) if feather is None else feather
    return apply_in_region(tool, params, img, mask, feather), params


def _thumb(img: np.ndarray, side: int = 192) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = min(1.0, side / max(h, w))
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA) if s < 1 else img.copy()
