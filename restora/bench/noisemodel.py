"""The low-light tool's test of how its noise was made (restora.tools.classical.lowlight.
noise_model), measured.

    python -m restora.bench.noisemodel --images runs/wallpapers --crops 60 --seed 1   # choose
    python -m restora.bench.noisemodel --crops 60 --seed 2                            # check

The tool denoises and brightens an image one of two ways: "raw" (the noise was added to the
values as given, as the synthesiser's low-light operator adds it: denoised as given, brightened
by the inverse of a gamma-2 curve) or "encoded" (the noise was added in linear light and the
result tone-encoded, as a camera does: denoised in linear light, brightened by a gain). The photon
fit decides: a fit that holds on the values as given says "raw". On a dark camera photo it can
hold too, its darkest bins thinned by the clipping at black, and the gamma-2 brightening then
lifts the noise floor into coloured grain. The power of the noise variance against the level
(:func:`restora.tools.classical.lowlight.noise_exponent`) tells the two apart: about 1 or more for
noise added as given, 0 or less for noise added before a 1/2.2 tone curve.

On random crops of clean photos (128–384 px, restora.train.comparator's crops): the synthesiser's
low light (severity 0.2–0.9) and restora.degrade.camera at 800 photons, exposure 1/8 and 1/20.
Printed per kind: the exponent's range, how many crops the photon fit alone calls "raw", and per
limit on the exponent (:data:`restora.tools.classical.lowlight.RAW_EXPONENT` is the shipped one)
how many crops' call the test changes and the summed and worst change of the blind enhancement's
PSNR (every parameter estimated).
"""

from __future__ import annotations

import sys

import numpy as np

KINDS = ("synthetic", "camera ×1/8", "camera ×1/20")


def _dark(kind: str, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from restora.degrade import degrade
    from restora.degrade.camera import camera_capture
    from restora.degrade.recipe import RecipeItem

    if kind == "synthetic":
        sev = float(rng.uniform(0.2, 0.9))
        return degrade(clean, [RecipeItem("low_light", sev, {})],
                       seed=int(rng.integers(1 << 30)))[0]
    exposure = 0.125 if kind.endswith("1/8") else 0.05
    return camera_capture(clean, exposure=exposure, photons=800.0, seed=int(rng.integers(1 << 30)))


LIMITS = (0.4, 0.5, 0.6, 0.65, 0.7, 0.8)


def study(photos: list, crops: int, seed: int) -> str:
    """Markdown tables of the test on ``crops`` crops of ``photos`` (name, image) pairs."""
    from tqdm import tqdm

    from restora.metrics import psnr
    from restora.tools.classical import lowlight
    from restora.train.comparator import _crop

    shipped = lowlight.RAW_EXPONENT
    rng = np.random.default_rng(seed)
    # per kind: (exponent, PSNR of the blind enhancement as the photon fit alone calls the noise,
    # PSNR where the exponent test fails) — the two equal where the test cannot change the call
    rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in KINDS}
    raw_fit = dict.fromkeys(KINDS, 0)
    try:
        for _ in tqdm(range(crops), desc="crops"):
            clean = _crop(rng, photos[int(rng.integers(len(photos)))][1])
            clean = clean[: clean.shape[0] // 2 * 2, : clean.shape[1] // 2 * 2]
            for kind in KINDS:
                dark = _dark(kind, clean, rng)
                p = lowlight.noise_exponent(dark)
                lowlight.RAW_EXPONENT = -np.inf  # the photon fit alone
                fit = lowlight.noise_model(dark)[0]
                lowlight.RAW_EXPONENT = np.inf  # the exponent test fails
                failed = lowlight.noise_model(dark)[0]
                raw_fit[kind] += fit == "raw"
                if fit == failed:
                    rows[kind].append((p, 0.0, 0.0))
                    continue
                lowlight.RAW_EXPONENT = -np.inf
                was = psnr(clean, lowlight.enhance_lowlight(dark))
                lowlight.RAW_EXPONENT = np.inf
                rows[kind].append((p, was, psnr(clean, lowlight.enhance_lowlight(dark))))
    finally:
        lowlight.RAW_EXPONENT = shipped
    lines = [(f"{crops} crops (seed {seed}). p: the noise exponent (min / median / max); raw: "
              "crops the photon fit alone calls raw. Per limit on p (shipped: "
              f"{shipped:g}): the crops whose call the test changes, the summed and the worst "
              "change of the blind enhancement's PSNR (dB)."), "",
             "| kind | p | raw | " + " | ".join(f"{t:g}" for t in LIMITS) + " |",
             "|---|---|---:|" + "---:|" * len(LIMITS)]
    for kind, r in rows.items():
        a = np.asarray(r, float).reshape(-1, 3)
        p = a[np.isfinite(a[:, 0]), 0]
        cells = []
        for t in LIMITS:
            sel = a[(a[:, 0] < t) & (a[:, 1] != a[:, 2])]  # nan p: the test never fires
            d = sel[:, 2] - sel[:, 1]
            cells.append(f"{len(d)}: {d.sum():+.1f} / {d.min():+.1f}" if len(d) else "0")
        span = f"{p.min():.2f} / {np.median(p):.2f} / {p.max():.2f}" if p.size else "–"
        lines.append(f"| {kind} | {span} | {raw_fit[kind]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from restora.bench.study_cli import crop_study

    return crop_study(argv, "python -m restora.bench.noisemodel", __doc__,
                      lambda photos, crops, seed, _: study(photos, crops, seed))


if __name__ == "__main__":
    sys.exit(main())
