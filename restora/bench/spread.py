"""Is the noise in a photo everywhere, or in a part of it? The perceiver's noise map, measured.

    python -m restora.bench.spread --images runs/wallpapers      # choose (training photos)
    python -m restora.bench.spread                                # check (held-out photos)

A sensor's noise covers the whole frame; the spatial suite's noise covers a half, a blob or a
segment. The planner (restora.agent.planner.noise_spread) tells them apart by the 5th percentile
of the perceiver's noise probability map: near 0 where part of the image is clean of noise.
Each photo (at most 512 px) is degraded as the benchmark suites' items that hold noise are
(their recipes and seeds; the images are this run's): everywhere — the composite and three-deg
suites' noise cases and the camera suite's cases (demosaiced sensor noise, under-exposure, JPEG);
in a part — the spatial suite's noise cases; none — the composite and three-deg suites' cases
without noise (haze, rain, blur, low light, JPEG, …); and the clean photo. Printed per group: the
quantiles of that percentile over the images, then for each candidate limit the share of each
group at or above it, the shipped limit in bold (everywhere: more is better; in a part, none and
clean: fewer is better; the limit only widens noise steps some region already shows).
"""

from __future__ import annotations

import sys

import numpy as np

LIMITS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2)
GROUPS = ("everywhere", "in a part", "none", "clean")


def _cases(names: list[str]) -> list[tuple[str, object]]:
    """(group, suite item) of every item of the suites that holds noise, and of the composite
    and three-deg suites' items without noise (group "none")."""
    from restora.bench import suites

    out = []
    for suite in ("composite", "three-deg"):
        out += [("everywhere" if "noise" in it.recipe else "none", it)
                for it in suites.items(suite, names)]
    out += [("everywhere", it) for it in suites.items("camera", names)]
    out += [("in a part", it) for it in suites.items("spatial", names) if "noise" in it.recipe]
    return out


def study(photos: list[tuple[str, np.ndarray]], progress: bool = True) -> str:
    from tqdm import tqdm

    from restora.agent.planner import NOISE_SPREAD
    from restora.bench import suites
    from restora.nets.perceiver import OPS
    from restora.perceive import assess, load_model

    model = load_model()
    clean = dict(photos)
    cases = _cases(list(clean))
    j = OPS.index("noise")

    def p5(img: np.ndarray) -> float:
        return float(np.percentile(assess(img, model).prob_maps[j], 5))

    vals: dict[str, list[float]] = {g: [] for g in GROUPS}
    for group, it in tqdm(cases, desc="noisy items", disable=not progress, leave=False):
        ref = suites.domain_view(clean[it.image], it.domain)
        vals[group].append(p5(suites.render(ref, it)[0]))
    for _, img in tqdm(photos, desc="clean photos", disable=not progress, leave=False):
        vals["clean"].append(p5(img))
    lines = [f"{len(photos)} photos; the 5th percentile of the perceiver's noise map, per image.",
             "", "| noise | images | min | 5 % | median | 95 % | max |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for g in GROUPS:
        v = np.array(vals[g])
        q = np.percentile(v, [0, 5, 50, 95, 100])
        lines.append(f"| {g} | {v.size} | " + " | ".join(f"{x:.3f}" for x in q) + " |")
    lines += ["", ("Share of the images at or above each limit (the planner treats their noise "
                   "over the whole image):"), "",
              "| limit | " + " | ".join(GROUPS) + " |", "|---:|" + "---:|" * len(GROUPS)]
    for lim in sorted({*LIMITS, NOISE_SPREAD}):
        cells = [f"{np.mean(np.array(vals[g]) >= lim):.1%}" for g in GROUPS]
        row = f"| {lim:g} | " + " | ".join(cells) + " |"
        lines.append(row.replace("| ", "| **", 1).replace(" |", "** |", 1)
                     if lim == NOISE_SPREAD else row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from restora.bench.study_cli import photo_study

    return photo_study(argv, "python -m restora.bench.spread", __doc__,
                       lambda photos, _: study(photos))


if __name__ == "__main__":
    sys.exit(main())
