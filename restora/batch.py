"""Restore every image of a folder into another folder, resumably.

Every image under IN_DIR (recursively, sorted) is restored by :func:`restora.agent.restore` and
written to the same relative path under OUT_DIR (``ext="png"`` changes the extension to .png), in
the kind of its input (bit depth, alpha, gray, EXIF; :func:`restora.io.save`). Writes are atomic
(a temporary file beside the target, then a rename), so a killed batch leaves no partial image,
and a rerun skips the outputs that already exist (``force`` redoes them). An image that cannot be
read or restored is recorded as an error and the batch goes on. At the end OUT_DIR/summary.csv
lists every input: status (ok, skipped, error), seconds, input and output quality, steps kept and
the stop reason or the error; a skipped image keeps the numbers of an earlier summary.

With ``workers`` > 1 the images are spread over that many processes (each loads the perceiver
once and uses its share of the CPU threads); with one, they run in this process.
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from restora import io
from restora.errors import RestoraError

SUMMARY = "summary.csv"
EXTS = ("same", "png")


@dataclass
class Row:
    """One line of summary.csv."""

    file: str  # path relative to IN_DIR
    status: str  # "ok", "skipped" or "error"
    seconds: float | str = ""
    quality_in: float | str = ""
    quality_out: float | str = ""
    steps_kept: int | str = ""
    detail: str = ""  # the stop reason, or the error


@dataclass
class Options:
    """What every image is restored with (see restora.agent.restore)."""

    max_rounds: int = 3
    tries: int = 2
    memory: bool = True
    force: bool = False
    fast: bool = False
    learned: bool = False


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def plan(in_dir: str | Path, out_dir: str | Path, ext: str = "same") -> list[tuple[Path, Path]]:
    """(input, output) pairs; RestoraError for a missing or empty IN_DIR, nested or equal
    folders, an unknown ``ext``, or two inputs that would write one output."""
    from restora.data import image_paths

    if ext not in EXTS:
        raise RestoraError(f"--ext must be one of {', '.join(EXTS)}, got {ext!r}")
    src, dst = Path(in_dir), Path(out_dir)
    rs, rd = src.resolve(), dst.resolve()
    if _inside(rd, rs) or _inside(rs, rd):
        what = "is" if rs == rd else "is inside" if _inside(rd, rs) else "contains"
        raise RestoraError(f"output folder {dst} {what} the input folder {src}; choose a "
                           "separate folder (a batch never writes into its input)")
    if dst.exists() and not dst.is_dir():
        raise RestoraError(f"cannot write to {dst}: it is not a folder")
    pairs, seen = [], {}
    for p in image_paths(src):
        rel = p.relative_to(src)
        out = dst / (rel.with_suffix(".png") if ext == "png" else rel)
        if out in seen:
            raise RestoraError(f"{seen[out].relative_to(src)} and {rel} would both be written to "
                               f"{out}; rename one (or use --ext same)")
        seen[out] = p
        pairs.append((p, out))
    return pairs


_MODEL = None  # the perceiver of this process (set by _init in worker processes)


def _init(weights: str | None, threads: int) -> None:
    """Worker-process set-up: its share of the CPU threads, and the perceiver, loaded once."""
    global _MODEL
    import signal

    import torch

    from restora.perceive import load_model

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops handing out images
    torch.set_num_threads(max(1, threads))
    _MODEL = load_model(weights)


def restore_one(src: Path, dst: Path, rel: str, opts: Options, model=None) -> Row:
    """Restore ``src`` into ``dst``; every failure becomes an error row (KeyboardInterrupt
    excepted)."""
    from restora.agent import restore
    from restora.report.restore_report import final_quality, steps_kept

    t0 = time.perf_counter()
    try:
        f = io.load(src)
        res = restore(f.pixels, model=model if model is not None else _MODEL,
                      max_rounds=opts.max_rounds, tries=opts.tries, memory=opts.memory,
                      fast=opts.fast, learned=opts.learned)
        dst.parent.mkdir(parents=True, exist_ok=True)
        io.save(dst, res.image, like=f, overwrite=opts.force)
    except RestoraError as e:
        return Row(rel, "error", round(time.perf_counter() - t0, 2), detail=str(e))
    except Exception as e:  # a bug on one image must not end the batch (unless debugging)
        if os.environ.get("RESTORA_DEBUG"):
            raise
        return Row(rel, "error", round(time.perf_counter() - t0, 2),
                   detail=f"internal error: {type(e).__name__}: {' '.join(str(e).split())}")
    tr = res.trace
    return Row(rel, "ok", round(time.perf_counter() - t0, 2), _r(tr.detections.get("quality")),
               _r(final_quality(tr)), steps_kept(tr), tr.stop_reason)


def _r(v) -> float | str:
    return round(float(v), 4) if isinstance(v, int | float) else ""


def _old_rows(path: Path) -> dict[str, dict]:
    """The rows of an earlier summary.csv by file ({} when absent or unreadable)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return {r["file"]: r for r in csv.DictReader(fh) if r.get("file")}
    except (OSError, ValueError, KeyError, csv.Error):
        return {}


def _skipped(rel: str, old: dict[str, dict]) -> Row:
    prev = old.get(rel, {})
    if prev.get("status") != "ok":
        return Row(rel, "skipped", detail="output exists")
    keep = {f.name: prev.get(f.name, "") for f in fields(Row) if f.name not in ("file", "status")}
    return Row(rel, "skipped", **keep)


def write_summary(rows: list[Row], path: Path) -> None:
    """summary.csv, atomically (rows sorted by file)."""
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[f.name for f in fields(Row)], lineterminator="\n")
    w.writeheader()
    for r in sorted(rows, key=lambda r: r.file):
        w.writerow(asdict(r))
    io.write_bytes(path, buf.getvalue().encode("utf-8"), overwrite=True)


def _remove_stale_temps(pairs: list[tuple[Path, Path]]) -> None:
    """Temporary files a killed run left beside its outputs (``.NAME.xxxxxxxx.tmp``)."""
    for folder in {dst.parent for _, dst in pairs}:
        if not folder.is_dir():
            continue
        names = {dst.name for _, dst in pairs if dst.parent == folder}
        for t in folder.glob(".*.tmp"):
            if t.name[1:].rsplit(".", 2)[0] in names:
                with contextlib.suppress(OSError):
                    t.unlink()


def run(in_dir: str | Path, out_dir: str | Path, *, workers: int = 1, ext: str = "same",
        max_rounds: int = 3, tries: int = 2, memory: bool = True, force: bool = False,
        weights: str | None = None, model=None, progress: bool = True,
        fast: bool = False, learned: bool = False) -> list[Row]:
    """Restore the folder (see the module docstring); returns the summary rows. ``model``
    (in-process runs only) replaces loading ``weights``."""
    from tqdm import tqdm

    for name, v in (("--workers", workers), ("--max-rounds", max_rounds), ("--tries", tries)):
        if v < 1:
            raise RestoraError(f"{name} must be ≥ 1, got {v}")
    pairs = plan(in_dir, out_dir, ext)
    if model is None:
        from restora.perceive import load_model

        model = load_model(weights)  # a bad weights file fails here, before any work
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RestoraError(f"cannot create {out}: {e.strerror or e}") from None
    io.check_destination(out / SUMMARY, overwrite=True)
    old = _old_rows(out / SUMMARY)
    _remove_stale_temps(pairs)
    opts = Options(max_rounds, tries, memory, force, fast, learned)
    src_root = Path(in_dir)
    rows, todo = [], []
    for src, dst in pairs:
        rel = src.relative_to(src_root).as_posix()
        if dst.exists() and not force:
            rows.append(_skipped(rel, old))
        else:
            todo.append((src, dst, rel))
    bar = tqdm(total=len(pairs), initial=len(rows), desc="restore", unit="img",
               disable=not progress)
    try:
        if workers == 1 or len(todo) <= 1:
            for src, dst, rel in todo:
                rows.append(restore_one(src, dst, rel, opts, model))
                bar.update()
        else:
            _run_pool(todo, opts, workers, weights, rows, bar)
    finally:  # an interrupted batch still says what it did
        bar.close()
        write_summary(rows, out / SUMMARY)
    return sorted(rows, key=lambda r: r.file)


def _run_pool(todo: list, opts: Options, workers: int, weights: str | None, rows: list[Row],
              bar) -> None:
    import multiprocessing

    import torch

    threads = max(1, torch.get_num_threads() // workers)
    # workers fork from a clean server process that imported the heavy modules once (forking
    # this process, whose torch thread pools may be running, can deadlock; spawn re-imports all)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "restora.agent", "restora.perceive", "restora.batch"])
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init,
                             initargs=(weights, threads)) as pool:
        futures = {pool.submit(restore_one, src, dst, rel, opts): rel for src, dst, rel in todo}
        try:
            for fut in as_completed(futures):
                try:
                    rows.append(fut.result())
                except BrokenProcessPool:
                    rows.append(Row(futures[fut], "error", detail="worker process died "
                                    "(out of memory?)"))
                bar.update()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def counts(rows: list[Row]) -> dict[str, int]:
    c = {"ok": 0, "skipped": 0, "error": 0}
    for r in rows:
        c[r.status] = c.get(r.status, 0) + 1
    return c


__all__ = ["Row", "counts", "plan", "run", "write_summary"]
