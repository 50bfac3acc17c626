"""The dehazer's airlight estimate, measured: which estimator, on which photos, at which haze.

    python -m restora.bench.airlight --images runs/wallpapers       # choose (training photos)
    python -m restora.bench.airlight                                 # check (held-out photos)

Each photo (at most 512 px) is hazed by the synthesiser at three severities (its own depth map,
β from the severity, a gray airlight A drawn in [0.7, 1]), alone and with light noise (σ 5 /255:
what a denoising leaves). Each estimator of restora.tools.classical.dehaze.AIRLIGHT gives Â; the
photo is then dehazed by restora.tools.classical.dehaze.dehaze_dcp with the haze's true β (as
the oracle tunes it) and Â, so the table isolates the airlight. Printed: mean |Â − A| and the
mean PSNR (dB, each capped at 60) of the dehazed photo per condition, the shipped estimator in bold.
"""

from __future__ import annotations

import sys

import numpy as np

SEVERITIES = (0.2, 0.5, 0.8)
NOISE = 5.0
CAP = 60.0  # dB: a flat synthetic wallpaper dehazed with its true airlight comes back exact


def _db(x: np.ndarray, y: np.ndarray) -> float:
    from restora.metrics import psnr

    return min(float(psnr(x, y)), CAP)


def study(photos: list[tuple[str, np.ndarray]], progress: bool = True) -> str:
    from tqdm import tqdm

    from restora.degrade import degrade
    from restora.tools.classical.dehaze import AIRLIGHT, AIRLIGHT_METHOD, dehaze_dcp, tune_haze

    conds = [(s, n) for n in (0.0, NOISE) for s in SEVERITIES]
    err = {m: {c: [] for c in conds} for m in AIRLIGHT}
    db = {m: {c: [] for c in conds} for m in (*AIRLIGHT, "true A")}
    hazy = {c: [] for c in conds}
    for i, (_, x) in enumerate(tqdm(photos, desc="airlight", disable=not progress)):
        for s, n in conds:
            recipe = f"haze={s}" + (f",noise={n}" if n else "")
            y, label = degrade(x, recipe, seed=1000 * i + int(100 * s) + int(n))
            p = next(st.params for st in label.steps if st.op == "haze")
            kw = tune_haze("haze", {"beta": p["beta"]})
            hazy[(s, n)].append(_db(x, y))
            db["true A"][(s, n)].append(_db(x, dehaze_dcp(y, airlight=p["airlight"], **kw)))
            for m, fn in AIRLIGHT.items():
                a = float(np.mean(fn(y)))
                err[m][(s, n)].append(abs(a - p["airlight"]))
                db[m][(s, n)].append(_db(x, dehaze_dcp(y, airlight=a, **kw)))
    head = [f"haze {s:g}" + (f" + σ{n:g}" if n else "") for s, n in conds]
    lines = [(f"{len(photos)} photos. Mean |Â − A| / mean PSNR (dB) after dehazing with the "
              f"true β and Â; the shipped estimator ({AIRLIGHT_METHOD}) in bold:"), "",
             "| estimator | " + " | ".join(head) + " | mean PSNR |",
             "|---|" + "---:|" * (len(conds) + 1)]
    lines.append("| hazy input | " + " | ".join(f"{np.mean(hazy[c]):.2f}" for c in conds)
                 + f" | {np.mean([np.mean(hazy[c]) for c in conds]):.2f} |")
    for m in (*AIRLIGHT, "true A"):
        name = f"**{m}**" if m == AIRLIGHT_METHOD else m
        cells = [(f"{np.mean(err[m][c]):.3f} / " if m in err else "") + f"{np.mean(db[m][c]):.2f}"
                 for c in conds]
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {np.mean([np.mean(db[m][c]) for c in conds]):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from restora.bench.study_cli import photo_study

    return photo_study(argv, "python -m restora.bench.airlight", __doc__,
                       lambda photos, _a: study(photos))


if __name__ == "__main__":
    sys.exit(main())
