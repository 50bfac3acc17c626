"""The low-light tool's denoiser (restora.tools.classical.lowlight), measured.

    python -m restora.bench.lowlight --images runs/wallpapers --crops 30 --seed 1   # choose
    python -m restora.bench.lowlight --crops 30 --seed 2                            # check

On random crops of clean photos (128–384 px, restora.train.comparator's crops), two kinds of
under-exposure:

* "synthetic": the synthesiser's low-light operator at a severity drawn from 0.2–0.9, enhanced
  with the true parameters (the oracle's tuning). The dark image is denoised by each variant,
  then brightened the same way: "nlm" and "bm3d" are vst_denoise's methods (generalized
  Anscombe transform, algebraic inverse); "bm3d, exact inverse" is the noise tool's
  Poisson–Gaussian path (restora.tools.classical.denoise.bm3d_denoise with ``peak``: the same
  transform, Mäkitalo & Foi's exact unbiased inverse).
* "camera": restora.degrade.camera at 800 photons, exposure 1/8 or 1/20 (alternately), JPEG
  q90: the stand-in for a real dark photograph. Enhanced blind (every parameter estimated), with
  each of the low-light tool's denoisers ("bm3d, 2×": at twice the noise σ, for the noise that
  demosaicing correlated).

"…, recomposed": the same denoiser, then LIME's recombination of the reflectance (the tool's
``recompose``, :data:`RECOMPOSE` px), which the tool does not do by default.

Printed per kind: mean PSNR (dB) of the input and of each variant, the mean seconds per crop,
and how often and by how much each variant beats "nlm". Then the gray table: each crop and the
crop made gray, under the synthetic low light, denoised by BM3D; per limit on the denoised
image's :func:`chroma_ratio`, how many are made gray below it and the summed PSNR gain of doing
so (:data:`GRAY_CHROMA`, the limit tried in the agent).
"""

from __future__ import annotations

import sys
import time

import numpy as np

SYNTHETIC = ("nlm", "bm3d", "bm3d, exact inverse", "bm3d, recomposed")
CAMERA = ("nlm", "bm3d", "bm3d, 2×", "nlm, recomposed")
RECOMPOSE = 16  # px: the guided filter's radius in the "recomposed" variants (LIME's R·T + R_d·(1 − T))
EXPOSURES = (0.125, 0.05)


def _synthetic(dark: np.ndarray, params: dict, variant: str) -> np.ndarray:
    from restora.tools.classical import lowlight
    from restora.tools.classical.denoise import bm3d_denoise

    kw = lowlight._tune("low_light", params)
    photons, read = kw["photons"], kw["read_sigma"]
    if variant == "bm3d, exact inverse":
        den = bm3d_denoise(dark, peak=photons, read_sigma=read)
    else:
        den = lowlight.vst_denoise(dark, photons, read, 1.0, variant.split(",")[0])
    den = lowlight.unclip_black(den, read / 255.0)
    return lowlight.enhance_lowlight(den, **{**kw, "denoise": 0.0},
                                     recompose=RECOMPOSE if variant.endswith("recomposed") else 0)


GRAY_LIMITS = (0.01, 0.015, 0.02, 0.025, 0.03, 0.04)
# Measured, not used by the low-light tool: a gray scene under colour sensor noise keeps, once
# denoised, a few per cent of chroma, which the brightening (and a dehazing after it) lifts into
# coloured mottling; below GRAY_CHROMA the denoised image could be made gray
# (:func:`gray_if_colourless`). The gray table: at 0.02, +17.8 dB summed on the training photos
# (--images runs/wallpapers --crops 30 --seed 1), +6.4 on the held-out ones (--crops 30 --seed
# 2). Tried in the tool, it took away the agent's haze cue: the composite suite's gray camera
# photo under haze and low light, made gray, no longer looked hazy enough to the perceiver for
# the veil test, and was left veiled (BENCHMARKS.md).
GRAY_CHROMA = 0.02


def chroma_ratio(img: np.ndarray) -> float:
    """restora.agent.planner.mean_chroma over the mean level: 0 on a gray image."""
    from restora.agent.planner import mean_chroma

    return mean_chroma(img) / max(float(img.mean()), 1e-4)


def gray_if_colourless(img: np.ndarray, limit: float = GRAY_CHROMA) -> np.ndarray:
    """``img`` as gray (the mean of R, G, B) where its :func:`chroma_ratio` is below ``limit``."""
    if chroma_ratio(img) >= limit:
        return img
    return np.repeat(img.mean(2, keepdims=True), 3, axis=2).astype(np.float32)


def _gray_gains(clean: np.ndarray, sev: float, seed: int) -> list[tuple[str, float, float]]:
    """(colour or gray, chroma ratio of the denoised image, PSNR gain of making it gray) for
    ``clean`` and ``clean`` made gray under the synthetic low light."""
    from restora.degrade import degrade
    from restora.degrade.recipe import RecipeItem
    from restora.metrics import psnr
    from restora.tools.classical import lowlight

    out = []
    for kind, x in (("colour", clean), ("gray", np.repeat(clean.mean(2, keepdims=True), 3, 2))):
        dark, label = degrade(x, [RecipeItem("low_light", sev, {})], seed=seed)
        kw = lowlight._tune("low_light", label.steps[0].params)
        den = lowlight.unclip_black(lowlight.vst_denoise(dark, kw["photons"], kw["read_sigma"]),
                                    kw["read_sigma"] / 255.0)
        kw["denoise"] = 0.0  # brightened as the tool does, without its own graying
        made = lowlight.enhance_lowlight(gray_if_colourless(den, np.inf), **kw)
        out.append((kind, chroma_ratio(den),
                    psnr(x, made) - psnr(x, lowlight.enhance_lowlight(den, **kw))))
    return out


def study(photos: list, crops: int, seed: int, progress: bool = True, gray: bool = True) -> str:
    from tqdm import tqdm

    from restora.degrade import degrade
    from restora.degrade.camera import camera_capture
    from restora.degrade.recipe import RecipeItem
    from restora.metrics import psnr
    from restora.tools.classical.lowlight import enhance_lowlight
    from restora.train.comparator import _crop

    rng = np.random.default_rng(seed)
    rows: dict[str, dict[str, list[float]]] = {"synthetic": {}, "camera": {}}
    secs: dict[str, dict[str, float]] = {"synthetic": {}, "camera": {}}
    grays: list[tuple[str, float, float]] = []
    for i in tqdm(range(crops), desc="low light", disable=not progress):
        clean = _crop(rng, photos[int(rng.integers(len(photos)))][1])
        clean = clean[: clean.shape[0] // 2 * 2, : clean.shape[1] // 2 * 2]
        sev = float(rng.uniform(0.2, 0.9))
        noise_seed = int(rng.integers(1 << 30))
        dark, label = degrade(clean, [RecipeItem("low_light", sev, {})], seed=noise_seed)
        cam = camera_capture(clean, exposure=EXPOSURES[i % 2], photons=800.0,
                             seed=int(rng.integers(1 << 30)))
        if gray:
            grays += _gray_gains(clean, sev, noise_seed)  # draws nothing: the same crops
        for kind, x, variants in (("synthetic", dark, SYNTHETIC), ("camera", cam, CAMERA)):
            rows[kind].setdefault("input", []).append(psnr(clean, x))
            for v in variants:
                t = time.perf_counter()
                out = (_synthetic(x, label.steps[0].params, v) if kind == "synthetic"
                       else enhance_lowlight(x, denoiser=v.split(",")[0],
                                             denoise=2.0 if v.endswith("2×") else 1.0,
                                             recompose=RECOMPOSE if v.endswith("recomposed") else 0))
                secs[kind][v] = secs[kind].get(v, 0.0) + time.perf_counter() - t
                rows[kind].setdefault(v, []).append(psnr(clean, out))
    lines = [(f"{crops} crops (seed {seed}). Mean PSNR (dB); s: mean seconds per crop; "
              "against nlm: mean difference, crops better, the worst difference."), "",
             "| kind | variant | PSNR | s | − nlm | better | worst |", "|---|---|---:|---:|---:|---:|---:|"]
    for kind, r in rows.items():
        lines.append(f"| {kind} | input | {np.mean(r['input']):.2f} | | | | |")
        base = np.asarray(r["nlm"])
        for v in (SYNTHETIC if kind == "synthetic" else CAMERA):
            d = np.asarray(r[v]) - base
            lines.append(f"| {kind} | {v} | {np.mean(r[v]):.2f} | {secs[kind][v] / crops:.2f} | "
                         f"{d.mean():+.2f} | {(d > 0).sum()} of {crops} | {d.min():+.2f} |")
    if gray:
        lines += ["", (f"Gray table: {crops} crops in colour and made gray, synthetic low light, "
                       "BM3D; made gray below the limit on the denoised image's chroma ratio: "
                       f"how many, the summed PSNR gain (dB); the limit tried in the agent {GRAY_CHROMA:g}."), "",
                  ("| limit | colour crops made gray | their gain | gray crops made gray | "
                  "their gain | total gain |"), "|---:|---:|---:|---:|---:|---:|"]
        for t in GRAY_LIMITS:
            c = [g for k, r, g in grays if r < t and k == "colour"]
            y = [g for k, r, g in grays if r < t and k == "gray"]
            name = f"**{t:g}**" if t == GRAY_CHROMA else f"{t:g}"
            lines.append(f"| {name} | {len(c)} | {sum(c):+.2f} | {len(y)} | {sum(y):+.2f} | "
                         f"{sum(c) + sum(y):+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from restora.bench.study_cli import crop_study

    return crop_study(argv, "python -m restora.bench.lowlight", __doc__,
                      lambda photos, crops, seed, _: study(photos, crops, seed))


if __name__ == "__main__":
    sys.exit(main())
