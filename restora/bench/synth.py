"""Speed of the degradation synthesiser: per-operator time and training-pair throughput."""

from __future__ import annotations

import time

import cv2
import numpy as np
from tqdm import tqdm

from restora.bench.machine import describe
from restora.degrade import OPERATORS, degrade


def _timed(fn, repeat: int) -> float:
    fn()  # warm-up (imports, caches)
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def bench_ops(repeat: int = 5, severity: float = 0.6, size: int = 512) -> str:
    """Median time of every operator on a ``size``² photo, and its ratio to a bicubic
    down-and-up resize (×2) of the same image, timed in the same run."""
    import skimage.data

    from restora._image import as_image

    img = as_image(skimage.data.astronaut())
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)

    def bicubic() -> None:
        small = cv2.resize(img, (size // 2, size // 2), interpolation=cv2.INTER_CUBIC)
        cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)

    base = _timed(bicubic, max(repeat, 20))
    rows = [f"| operator | ms (median of {repeat}) | × bicubic resize |", "|---|---:|---:|"]
    for name in tqdm(OPERATORS, desc="ops", leave=False):
        t = _timed(lambda n=name: degrade(img, f"{n}={severity}", seed=0), repeat)
        rows.append(f"| {name} | {t * 1000:.1f} | {t / base:.0f} |")
    rows.append(f"| *bicubic resize ×2 down+up (baseline)* | {base * 1000:.2f} | 1 |")
    return (f"Synthesiser speed, {size}×{size} photo, severity {severity}. Machine: {describe()}.\n\n"
            + "\n".join(rows))


def bench_pairs(size: int = 128, count: int = 200, images: str | None = None, seed: int = 0) -> str:
    """Training pairs per second on one core (OpenCV limited to one thread), after the clean
    images are decoded and cached (decoding is reported separately)."""
    from restora.data import PairStream, _load_u8, training_paths

    cv2.setNumThreads(1)
    paths = training_paths([images] if images else None)
    stream = PairStream(paths, size=size, seed=seed)
    t = time.perf_counter()
    for p in tqdm(stream.paths, desc="decode", leave=False):
        _load_u8(p, stream.max_side)
    decode = time.perf_counter() - t
    t = time.perf_counter()
    n_ops = 0
    for i in tqdm(range(count), desc="pairs", leave=False):
        n_ops += len(stream[i].label.steps)
    dt = time.perf_counter() - t
    return (f"Training pairs {size}×{size}, {count} pairs, {len(paths)} clean images "
            f"({n_ops / count:.2f} operators per pair on average). Machine: {describe()}.\n\n"
            f"| pairs / s / core | ms / pair | one-off decode of the sources (s) |\n|---:|---:|---:|\n"
            f"| {count / dt:.1f} | {dt / count * 1000:.1f} | {decode:.1f} |")


def bench_tools(repeat: int = 3, size: int = 512) -> str:
    """Median time of every restoration tool on a ``size``² degraded photo, as a ratio to a
    bicubic down-and-up resize of the same image timed in the same run."""
    import skimage.data

    from restora._image import as_image
    from restora.tools import TOOLS

    img = cv2.resize(as_image(skimage.data.astronaut()), (size, size), interpolation=cv2.INTER_AREA)

    def bicubic() -> None:
        small = cv2.resize(img, (size // 2, size // 2), interpolation=cv2.INTER_CUBIC)
        cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)

    base = _timed(bicubic, 20)
    rows = [f"| tool | treats | ms (median of {repeat}) | × bicubic resize |", "|---|---|---:|---:|"]
    for name, tool in tqdm(TOOLS.items(), desc="tools", leave=False):
        op = tool.treats[0]
        deg, label = degrade(img, f"{op}=0.5", seed=0)
        params = tool.for_degradation(op, label.steps[0].params)
        t = _timed(lambda tool=tool, deg=deg, params=params: tool.apply(deg, params), repeat)
        rows.append(f"| {name} | {', '.join(tool.treats)} | {t * 1000:.0f} | {t / base:.0f} |")
    rows.append(f"| *bicubic resize ×2 down+up (baseline)* | | {base * 1000:.2f} | 1 |")
    return (f"Tool speed, {size}×{size} photo, each on its first degradation at severity 0.5. "
            f"Machine: {describe()}.\n\n" + "\n".join(rows))
