"""Speed and memory of the agent end to end: ``restora bench agent``.

* 512×512 — one held-out photo (scikit-image's astronaut) under each of a few single
  degradations; :func:`restora.agent.restore` with the shipped perceiver, memory off; the total
  time and its shares (perceiver, planning with its physical checks, tools, judging), the steps kept, and the ratio of the total to
  a bicubic ×2 down-and-up resize of the same image timed in the same run (these machines are
  noisy; the ratio travels, the seconds do not). Each case runs ``repeat`` times; the table
  gives the median run, and the first run's total apart (it pays one-off costs: the bm3d
  library's and the tools' first calls);
* ``--big`` — a 6000×4000 photo (a Debian wallpaper resized, or the astronaut when none is
  installed) with haze: wall time and the process's peak resident memory (ru_maxrss) measured in
  a fresh subprocess, so nothing earlier in this run counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import cv2
import numpy as np

from restora.bench.machine import describe

CASES = ("noise=25", "jpeg=20", "haze=0.5", "low_light=0.5", "contrast=0.6")


def _photo(size: int) -> np.ndarray:
    import skimage.data

    from restora._image import as_image

    return cv2.resize(as_image(skimage.data.astronaut()), (size, size),
                      interpolation=cv2.INTER_AREA)


def small(size: int = 512, seed: int = 0, fast: bool = False, repeat: int = 3) -> str:
    """Markdown table of the agent on ``size``² single degradations (``fast``: cheap tools), the
    median of ``repeat`` runs each."""
    from restora.agent import restore
    from restora.degrade import degrade
    from restora.metrics import psnr
    from restora.perceive import load_model

    img = _photo(size)
    model = load_model()

    def bicubic() -> None:
        s = cv2.resize(img, (size // 2, size // 2), interpolation=cv2.INTER_CUBIC)
        cv2.resize(s, (size, size), interpolation=cv2.INTER_CUBIC)

    bicubic()
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        bicubic()
        ts.append(time.perf_counter() - t)
    base = float(np.median(ts))
    restore(img, model=model, memory=False, max_rounds=1)  # warm-up (imports, caches)
    head = ("| degradation | total s | × bicubic | first run s | perceive s | plan s | tools s | judge s "
            "| steps kept | tools tried | PSNR in → out |")
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for recipe in CASES:
        deg, _ = degrade(img, recipe, seed=seed)
        runs = [restore(deg, model=model, memory=False, fast=fast) for _ in range(max(1, repeat))]
        first = runs[0].trace.seconds["total"]
        r = sorted(runs, key=lambda x: x.trace.seconds["total"])[len(runs) // 2]
        sec = r.trace.seconds
        kept = sum(1 for s in r.trace.steps if s.kept)
        tried = ", ".join(dict.fromkeys(a.tool for s in r.trace.steps for a in s.attempts))
        rows.append(f"| {recipe} | {sec['total']:.2f} | {sec['total'] / base:.0f}× | {first:.2f} | "
                    f"{sec.get('perceive', 0):.2f} | {sec.get('plan', 0):.2f} | {sec.get('tools', 0):.2f} | "
                    f"{sec.get('judge', 0):.2f} | {kept} | {tried or '–'} | "
                    f"{psnr(img, deg):.2f} → {psnr(img, r.image):.2f} |")
    mode = "--fast (cheap tools only)" if fast else "default tools"
    return (f"Agent ({mode}) on a {size}×{size} photo (astronaut), one degradation each, memory off, "
            f"median of {max(1, repeat)} runs; "
            f"bicubic ×2 down-and-up of the same image: {base * 1e3:.2f} ms. "
            f"Machine: {describe()}.\n\n" + "\n".join(rows))


def clean(max_side: int = 512) -> str:
    """The held-out photos as they are: how many the agent returns unchanged (PSNR to the input
    ≥ 50 dB), and what it did to the others."""
    from restora.agent import restore
    from restora.data import skimage_photos
    from restora.metrics import psnr
    from restora.perceive import load_model

    model = load_model()
    rows = ["| photo | steps tried | kept | PSNR to input (dB) |", "|---|---:|---:|---:|"]
    same = 0
    photos = skimage_photos(max_side)
    for name, img in photos:
        r = restore(img, model=model, memory=False)
        p = psnr(img, r.image)
        same += p >= 50
        kept = [s.kept for s in r.trace.steps if s.kept]
        rows.append(f"| {name} | {len(r.trace.steps)} | {', '.join(kept) or '–'} | "
                    f"{min(p, 99.0):.1f} |")
    return (f"Clean held-out photos (≤ {max_side} px) through the agent: {same} of {len(photos)} "
            f"come back unchanged (PSNR to the input ≥ 50 dB; 99 = identical).\n\n"
            + "\n".join(rows))


_BIG = r"""
import json, resource, sys, time
import cv2, numpy as np
from restora.agent import restore
from restora.degrade import degrade
from restora.data import wallpaper_paths
from restora import io
paths = wallpaper_paths()
img = None
for p in sorted(paths, key=lambda p: -p.stat().st_size):
    try:
        img = io.read_image(p)
        source = p.name
        break
    except Exception:
        continue
if img is None:
    import skimage.data
    from restora._image import as_image
    img, source = as_image(skimage.data.astronaut()), "astronaut"
img = cv2.resize(img, (6000, 4000), interpolation=cv2.INTER_CUBIC)
deg, _ = degrade(img, "haze=0.5", seed=0)
del img
t = time.perf_counter()
r = restore(deg, memory=False, max_rounds=1)
dt = time.perf_counter() - t
print(json.dumps({"source": source, "seconds": dt, "steps": len(r.trace.steps),
                  "kept": sum(1 for s in r.trace.steps if s.kept),
                  "shares": r.trace.seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def big() -> str:
    """Wall time and peak resident memory of the agent on a 6000×4000 hazy photo."""
    out = subprocess.run([sys.executable, "-c", _BIG], capture_output=True, text=True,
                         check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    shares = ", ".join(f"{k} {v:.0f} s" for k, v in r["shares"].items())
    return (f"Agent on a 6000×4000 photo ({r['source']} resized, haze 0.5), one round, memory "
            f"off: {r['seconds']:.0f} s ({shares}); {r['kept']} of {r['steps']} steps kept; peak "
            f"resident memory of the whole process (Python, torch, the image) "
            f"{r['peak_rss_mb']:.0f} MB. Machine: {describe()}.")
