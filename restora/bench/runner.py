"""The one benchmark runner: suites × methods → records, Markdown table, CSV, JSON, plot."""

from __future__ import annotations

import csv
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from restora.bench import suites
from restora.bench.machine import describe
from restora.bench.methods import resolve
from restora.errors import RestoraError
from restora.metrics import niqe, psnr, ssim


@dataclass
class Record:
    """One (item, method) result. PSNR/SSIM on RGB, 0–255 range, no border crop."""

    suite: str
    case: str
    image: str
    recipe: str
    method: str
    psnr_in: float
    ssim_in: float
    psnr: float
    ssim: float
    niqe: float
    seconds: float
    peak_mb: float  # resident memory above the level before the call
    psnr_clean: float = float("nan")  # PSNR over the pixels no operator touched (masked items)


class PeakMemory:
    """Peak resident memory above the starting level while the block runs, sampled every 5 ms
    from /proc (tracemalloc would slow numpy-heavy tools four-fold). 0 where /proc is missing."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> int:
        try:
            with open("/proc/self/statm", encoding="ascii") as f:
                return int(f.read().split()[1]) * 4096
        except OSError:
            return 0

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._rss())

    def __enter__(self) -> PeakMemory:  # noqa: PYI034
        self._base = self._peak = self._rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.peak_mb = (self._peak - self._base) / 2**20


def _niqe(img: np.ndarray) -> float:
    try:
        return float(niqe(img))
    except RestoraError:  # too small or flat: the no-reference score is simply not defined
        return float("nan")


def run(suite: str, methods: list[str], images: str | None = None, limit: int | None = None,
        progress: bool = True, photos: int | None = None) -> list[Record]:
    """Run ``methods`` on every item of ``suite`` (the first ``limit`` items if given; only the
    first ``photos`` clean photos, in name order, if given: every case on fewer photos)."""
    fns = {m: resolve(m) for m in methods}
    clean = dict(suites.clean_set(images))
    if photos is not None:
        if photos <= 0:
            raise RestoraError(f"--photos must be positive, got {photos}")
        clean = dict(list(clean.items())[:photos])
    todo = suites.items(suite, list(clean))
    if limit is not None:
        if limit <= 0:
            raise RestoraError(f"--limit must be positive, got {limit}")
        todo = todo[:limit]
    records = []
    bar = tqdm(total=len(todo) * len(fns), desc=suite, disable=not progress, unit="run")
    for it in todo:
        ref = suites.domain_view(clean[it.image], it.domain)
        deg, label = suites.render(ref, it)
        p_in, s_in = psnr(ref, deg), ssim(ref, deg)
        untouched = _untouched(label)
        for name, fn in fns.items():
            with PeakMemory() as mem:
                t = time.perf_counter()
                out = fn(deg, label)
                dt = time.perf_counter() - t
            peak = mem.peak_mb
            clean_db = float("nan")
            if untouched is not None:
                clean_db = psnr(ref[untouched][None], out[untouched][None])
            records.append(Record(suite, it.case, it.image, it.recipe, name, p_in, s_in,
                                  psnr(ref, out), ssim(ref, out), _niqe(out), dt, peak,
                                  clean_db))
            bar.update()
    bar.close()
    return records


def _untouched(label) -> np.ndarray | None:
    """Pixels no operator of ``label`` touched (all masks exactly 0) when some operator is
    masked and such pixels exist; None otherwise (a global degradation leaves none)."""
    if not label.steps or not all(st.mask for st in label.steps):
        return None
    touched = np.zeros(next(iter(label.masks.values())).shape, bool)
    for m in label.masks.values():
        touched |= np.asarray(m) > 0
    return None if touched.all() else ~touched


# The spatial suite's promise to the pixels no operator touched (issue 7): at least this PSNR to
# the clean image. An item whose untouched pixels came back identical counts (PSNR ∞).
CLEAN_DB = 40.0


def table(records: list[Record]) -> str:
    """Markdown: one row per case (and the average), PSNR / SSIM per method, then NIQE, seconds
    per image and peak memory per method."""
    methods = list(dict.fromkeys(r.method for r in records))
    cases = list(dict.fromkeys(r.case for r in records))

    def mean(rs: list[Record], key: str) -> float:
        vals = [getattr(r, key) for r in rs if np.isfinite(getattr(r, key))]
        return float(np.mean(vals)) if vals else float("nan")

    # cases named "A: …", "B: …" (the composite suite's groups) get a mean row per group
    groups = list(dict.fromkeys(c.split(":")[0] for c in cases)) \
        if all(":" in c for c in cases) else []
    head = "| case | input | " + " | ".join(methods) + " |"
    lines = [head, "|---" * (len(methods) + 2) + "|"]
    for case in [*cases, *(f"**group {g}**" for g in groups), "**average**"]:
        sel = records if case == "**average**" else \
            [r for r in records if r.case.split(":")[0] == case[8:-2]] \
            if case.startswith("**group ") else [r for r in records if r.case == case]
        row = [case, f"{mean(sel, 'psnr_in'):.2f} / {mean(sel, 'ssim_in'):.3f}"]
        for m in methods:
            rs = [r for r in sel if r.method == m]
            row.append(f"{mean(rs, 'psnr'):.2f} / {mean(rs, 'ssim'):.3f}")
        lines.append("| " + " | ".join(row) + " |")
    extra = [("NIQE ↓", "niqe", "{:.2f}"), ("s / image", "seconds", "{:.3f}"),
             ("peak MB", "peak_mb", "{:.0f}")]
    if any(not np.isnan(r.psnr_clean) for r in records):
        extra.insert(0, (f"untouched pixels: items ≥ {CLEAN_DB:g} dB (min)", "psnr_clean", None))
    extra.insert(0, ("worst item: output − input PSNR", "gain", None))
    for label, key, fmt in extra:
        if fmt is None:  # special rows
            row = [label, ""]
            for m in methods:
                rs = [r for r in records if r.method == m]
                if key == "gain":
                    row.append(f"{min(r.psnr - r.psnr_in for r in rs):+.2f}" if rs else "")
                    continue
                v = np.array([r.psnr_clean for r in rs if not np.isnan(r.psnr_clean)])
                row.append(f"{int((v >= CLEAN_DB).sum())} of {v.size} ({v.min():.2f})"
                           if v.size else "")
            lines.append("| " + " | ".join(row) + " |")
            continue
        row = [label, ""] + [fmt.format(mean([r for r in records if r.method == m], key))
                             for m in methods]
        lines.append("| " + " | ".join(row) + " |")
    n_img = len({r.image for r in records})
    return (f"PSNR (dB) / SSIM, RGB, 0–255, no border crop; {n_img} images, "
            f"{len(records) // max(len(methods), 1)} items. Machine: {describe()}.\n\n"
            + "\n".join(lines))


OUTPUTS = ("table.md", "results.csv", "results.json", "plot.png")


def check_out(out_dir: str | Path, overwrite: bool) -> None:
    """Refuse, before any work, an output folder that is a file or already holds results."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RestoraError(f"--out {out} is a file, not a folder")
    clash = [n for n in OUTPUTS if (out / n).exists()]
    if clash and not overwrite:
        raise RestoraError(f"{out / clash[0]} exists (use --force to overwrite)")
    if not out.exists() and not out.parent.is_dir():
        raise RestoraError(f"--out {out}: folder {out.parent} does not exist")


def write(records: list[Record], out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """table.md, results.csv, results.json and plot.png (mean PSNR per case per method)."""
    from restora.io import write_bytes

    out = Path(out_dir)
    names = list(OUTPUTS)
    check_out(out, overwrite)
    out.mkdir(exist_ok=True)
    rows = [asdict(r) for r in records]
    write_bytes(out / "table.md", (table(records) + "\n").encode(), overwrite)
    import io as _io

    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else list(Record.__annotations__))
    w.writeheader()
    w.writerows(rows)
    write_bytes(out / "results.csv", buf.getvalue().encode(), overwrite)
    write_bytes(out / "results.json", json.dumps(rows, indent=1).encode(), overwrite)
    write_bytes(out / "plot.png", _plot(records), overwrite)
    return [out / n for n in names]


def _plot(records: list[Record]) -> bytes:
    import io as _io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(r.method for r in records))
    cases = list(dict.fromkeys(r.case for r in records))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(cases) * max(1, len(methods) / 2)), 4))
    width = 0.8 / (len(methods) + 1)
    x = np.arange(len(cases))
    series = [("input", [np.mean([r.psnr_in for r in records if r.case == c]) for c in cases])]
    series += [(m, [np.mean([r.psnr for r in records if r.case == c and r.method == m])
                    for c in cases]) for m in methods]
    for i, (name, vals) in enumerate(series):
        ax.bar(x + (i - len(series) / 2 + 0.5) * width, vals, width, label=name)
    ax.set_xticks(x, cases, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
