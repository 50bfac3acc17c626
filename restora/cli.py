"""The ``restora`` command line: degrade, metrics, assess, gallery, bench.

Every user-triggerable failure is a :class:`RestoraError`: printed as one line on stderr, exit
status 2, no traceback (set RESTORA_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from restora.errors import RestoraError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _agent_options(p: argparse.ArgumentParser) -> None:
    """The options restore and batch share (restora.agent.restore's)."""
    p.add_argument("--max-rounds", type=int, default=3, help="rounds at most (default 3)")
    p.add_argument("--tries", type=int, default=2, help="candidate tools per step (default 2)")
    p.add_argument("--no-memory", action="store_true",
                   help="neither use nor update the experience memory")
    p.add_argument("--fast", action="store_true",
                   help="cheap tools only (no BM3D-class denoising or deblocking): ~1–2 s at 512²")
    p.add_argument("--weights", metavar="FILE", help="perceiver weights (default: the shipped ones)")
    p.add_argument("--net", action="store_true",
                   help="also try the learned all-in-one network (experimental: with today's "
                   "CPU-trained weights it makes results worse on average, see BENCHMARKS.md)")


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="restora", formatter_class=fmt,
                                description="All-in-one image restoration toolkit.",
                                epilog=textwrap.dedent("""\
        examples:
          restora degrade photo.png hazy.png --recipe 'haze=0.6@blob,noise=25' --seed 1
          restora metrics clean.png restored.png
          restora metrics photo.jpg
          restora gallery --out demo
          restora bench ops
        """))
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    from restora.degrade import OPERATORS

    ops = ", ".join(OPERATORS)
    d = sub.add_parser("degrade", formatter_class=fmt, help="synthesise degradations with labels",
                       description="Degrade an image by a recipe; write the image and, beside it, "
                       "the label (OUT.label.json: parameters; OUT.label.npz: per-pixel maps).",
                       epilog=textwrap.dedent(f"""\
        recipe: comma-separated items name[=value][;key:value...][@mask[:coverage]]
          value in [0, 1] is a severity, a larger number the operator's main parameter;
          masks: blob, half, segment. Operators are applied in the physical order.
          operators: {ops}

        examples:
          restora degrade in.png out.png --recipe 'noise=25'             # sigma 25/255
          restora degrade in.png out.png --recipe 'haze=0.6@blob,jpeg=30' --seed 7
          restora degrade in.png out.png --recipe 'rain=angle:15;0.8@half:0.5'
        """))
    d.add_argument("input", help="clean image (PNG, JPEG, TIFF, WebP, BMP)")
    d.add_argument("output", help="degraded image to write (format from the extension)")
    d.add_argument("--recipe", "-r", required=True, help="degradation recipe, e.g. 'haze=0.6@blob,noise=25'")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--force", action="store_true", help="overwrite existing outputs")
    d.add_argument("--max-pixels", type=int, default=None, help="refuse larger inputs (default 100 MP)")

    m = sub.add_parser("metrics", formatter_class=fmt, help="image quality metrics",
                       description="Full-reference metrics of B against reference A (PSNR, SSIM; "
                       "RGB and Y channel), or no-reference metrics of a single image (NIQE).",
                       epilog=textwrap.dedent("""\
        examples:
          restora metrics clean.png restored.png
          restora metrics clean.png restored.png --crop-border 4 --json
          restora metrics photo.jpg                     # no-reference (NIQE, lower is better)
        """))
    m.add_argument("a", help="reference image (or the only image, for no-reference metrics)")
    m.add_argument("b", nargs="?", help="image to score against A")
    m.add_argument("--crop-border", type=int, default=0, help="pixels to ignore at each border")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")

    s = sub.add_parser("assess", formatter_class=fmt, help="what is wrong with an image, and where",
                       description="Run the perceiver on an image: quality score and tier, domain, "
                       "the degradation types it detects (probability, severity in the operator's "
                       "unit), then the image's regions (connected areas sharing one set of "
                       "types, largest first; the one without types is clean).",
                       epilog=textwrap.dedent("""\
        --maps DIR writes, per type detected or likely somewhere (a cell ≥ 0.3), STEM_TYPE.png:
        the photo darkened with the type's probability map over it, and STEM_regions.png: the
        regions tinted and numbered as in the table (at most 1024 px on the long side).

        examples:
          restora assess photo.jpg
          restora assess photo.jpg --json > photo.json
          restora assess photo.jpg --maps maps --threshold 0.6
        """))
    s.add_argument("image", help="image to assess (PNG, JPEG, TIFF, WebP, BMP)")
    s.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    s.add_argument("--maps", metavar="DIR", help="also write probability and region pictures here")
    s.add_argument("--weights", metavar="FILE", help="perceiver weights (default: the shipped ones)")
    s.add_argument("--threshold", type=float, default=0.5,
                   help="probability at which a type counts as present (default 0.5)")
    s.add_argument("--force", action="store_true", help="overwrite existing pictures in --maps")

    g = sub.add_parser("gallery", formatter_class=fmt, help="HTML gallery of every degradation",
                       description="Every operator at three severities and under a mask, with "
                       "its ground-truth label map, on one photo.",
                       epilog="examples:\n  restora gallery --out demo\n"
                       "  restora gallery --out g --image my.jpg --seed 3\n")
    g.add_argument("--out", required=True, help="output folder (gallery.html + img/)")
    g.add_argument("--image", help="photo to degrade (default: a bundled photo)")
    g.add_argument("--size", type=int, default=384, help="long side of the photo in px (default 384)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--force", action="store_true", help="overwrite an existing gallery")

    r = sub.add_parser("restore", formatter_class=fmt, help="restore an image, explaining each step",
                       description="Find what is wrong with an image and where (the perceiver), "
                       "then restore it region by region with the classical tools: a step is kept "
                       "only when the comparator judges the result better and it stays faithful to "
                       "the input; repeat until the image looks clean or no step helps. OUT keeps "
                       "the input's kind (bit depth, alpha, gray, EXIF; upright); its format "
                       "follows its extension. The input is never overwritten.",
                       epilog=textwrap.dedent("""\
        --report writes one self-contained HTML file: a before/after slider, the degradation
        maps and regions, every step with the tools tried and why each was kept or rolled back,
        the quality per round, the stop reason and the time spent. --json writes the same trace.

        examples:
          restora restore photo.jpg -o fixed.jpg
          restora restore scan.png -o scan_fixed.png --report scan.html --json scan.json
          restora restore photo.jpg -o fixed.png --max-rounds 1 --tries 3 --no-memory
        """))
    r.add_argument("input", help="image to restore (PNG, JPEG, TIFF, WebP, BMP)")
    r.add_argument("-o", "--output", required=True, help="restored image to write")
    r.add_argument("--report", metavar="R.html", help="also write an HTML report here")
    r.add_argument("--json", metavar="T.json", help="also write the trace as JSON here")
    _agent_options(r)
    r.add_argument("--force", action="store_true", help="overwrite existing outputs")
    r.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")

    bt = sub.add_parser("batch", formatter_class=fmt, help="restore every image of a folder",
                        description="Restore every image under IN_DIR (recursively) into the same "
                        "relative path under OUT_DIR, as `restora restore` does. Outputs that "
                        "already exist are skipped (rerun a killed batch to resume) unless "
                        "--force; writes are atomic, so no partial image is left. An unreadable "
                        "image is recorded as an error and the batch goes on. OUT_DIR/summary.csv "
                        "lists every image: status (ok, skipped, error), seconds, quality in and "
                        "out, steps kept, stop reason or error. Exit status 1 when an image failed.",
                        epilog=textwrap.dedent("""\
        examples:
          restora batch scans restored
          restora batch photos out --workers 2 --ext png --max-rounds 2
        """))
    bt.add_argument("in_dir", metavar="IN_DIR", help="folder of images (never written to)")
    bt.add_argument("out_dir", metavar="OUT_DIR", help="folder for the results (created if needed)")
    bt.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    bt.add_argument("--ext", choices=["same", "png"], default="same",
                    help="output format: that of each input (same, default) or PNG")
    _agent_options(bt)
    bt.add_argument("--force", action="store_true", help="redo images whose output exists")
    bt.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    t = sub.add_parser("train", formatter_class=fmt, help="train Restora's models",
                       description="Train a model; the options after the model name go to its "
                       "trainer (see `restora train perceiver --help`, `restora train restorer "
                       "--help`).",
                       epilog="examples:\n  restora train perceiver --config tiny --steps 200\n"
                       "  restora train perceiver --config small --minutes 8 --device cuda "
                       "--workers 14 --images runs/wallpapers\n"
                       "  restora train restorer --config nafnet-small --steps 3400 --out runs/r1\n"
                       "  torchrun --nproc-per-node 2 -m restora.train.restorer --config "
                       "nafnet-tiny --steps 20\n"
                       "  restora train comparator restora/weights/perceiver_small.safetensors "
                       "runs/cmp/perceiver_small.safetensors --cache runs/cmp\n"
                       "  restora train step-judge runs/judge13/wall.json --val "
                       "runs/judge13/held.json --out restora/weights/step_judge.json\n")
    t.add_argument("model", choices=["perceiver", "restorer", "comparator", "step-judge"],
                   help="which model (comparator: re-fit the perceiver's comparator on tool "
                   "outputs; step-judge: the agent's learned step score, from step caches of "
                   "python -m restora.bench.judge --cache)")
    t.add_argument("options", nargs=argparse.REMAINDER, help="options of the trainer")

    b = sub.add_parser("bench", formatter_class=fmt, help="benchmarks",
                       description="Quality suites of shared/PROTOCOLS.md (three-deg, five-deg, "
                       "weather, cdd11, composite, spatial, severity, unseen, multidomain) and 'camera' "
                       "(camera-made noise and under-exposure: mosaic, demosaicing, tone curve, "
                       "JPEG): every method on a fixed seeded list of (clean image, recipe); a "
                       "Markdown table on stdout. Speed suites: 'ops' (every degradation operator), 'tools' (every "
                       "restoration tool), both on 512×512 as a ratio to a bicubic resize measured "
                       "in the same run; 'pairs' (training-pair throughput per core); "
                       "'perception' (the perceiver's numbers on held-out photos); 'agent' (the "
                       "agent end to end at 512×512, --big adds a 6000×4000 photo); 'net' (the "
                       "all-in-one network's time, size and memory, --big adds 6000×4000).",
                       epilog=textwrap.dedent("""\
        examples:
          restora bench three-deg --method identity --method classical
          restora bench five-deg --method classical --out results/five-deg
          restora bench composite --method classical --method bm3d --limit 10
          restora bench spatial --images ~/photos/clean
          restora bench ops --repeat 5
          restora bench pairs --size 128 --count 200
          restora bench composite -m classical -m generic -m agent --photos 3
          restora bench perception
          restora bench agent --big
          restora bench five-deg -m classical -m net
          restora bench net
        """))
    b.add_argument("suite", help="a quality suite, or ops | tools | pairs | perception | agent | net")
    b.add_argument("--method", "-m", action="append", default=None,
                   help="identity, classical, generic, net, agent, agent_net, agent_global or "
                   "a tool name; repeat "
                   "to compare (default: identity, classical)")
    b.add_argument("--images", help="clean image folder (default: the scikit-image photos; pairs: wallpapers)")
    b.add_argument("--limit", type=int, default=None, help="only the first N items (quick runs)")
    b.add_argument("--big", action="store_true",
                   help="agent: also a 6000×4000 photo (time and peak memory)")
    b.add_argument("--photos", type=int, default=None,
                   help="only the first N clean photos (every case, fewer photos)")
    b.add_argument("--out", help="also write table.md, results.csv, results.json, plot.png here")
    b.add_argument("--force", action="store_true", help="overwrite files in --out")
    b.add_argument("--weights", help="perceiver weights (perception)")
    b.add_argument("--repeat", type=int, default=5, help="timed repeats (ops, tools, agent)")
    b.add_argument("--size", type=int, default=128, help="crop size (pairs)")
    b.add_argument("--count", type=int, default=200, help="pairs to generate (pairs)")
    return p


def _positive(name: str, v: int | None) -> None:
    if v is not None and v <= 0:
        raise RestoraError(f"{name} must be positive, got {v}")


def cmd_degrade(a: argparse.Namespace) -> int:
    from restora import io
    from restora.degrade import degrade

    _positive("--max-pixels", a.max_pixels)
    src, out = Path(a.input), Path(a.output)
    lab_json = out.with_name(out.name + ".label.json")
    lab_npz = out.with_name(out.name + ".label.npz")
    if out.resolve() == src.resolve():
        raise RestoraError(f"output {out} is the input; choose another name")
    io.check_destination(out, a.force)
    for p in (lab_json, lab_npz):
        io.check_destination(p, a.force)
    f = io.load(src, max_pixels=a.max_pixels)
    img, label = degrade(f.pixels, a.recipe, seed=a.seed)
    io.save(out, img, like=f, overwrite=a.force)
    io.write_bytes(lab_json, json.dumps(label.to_dict(), indent=1).encode(), a.force)
    io.write_npz(lab_npz, label.arrays(), a.force)
    steps = "; ".join(f"{s.op}(s={s.severity:.2f}{'@' + s.mask if s.mask else ''})" for s in label.steps)
    print(f"wrote {out} and {lab_json.name}, {lab_npz.name}: {steps}")
    return 0


def cmd_metrics(a: argparse.Namespace) -> int:
    from restora import io
    from restora.metrics import METRICS

    if a.crop_border < 0:
        raise RestoraError(f"--crop-border must be ≥ 0, got {a.crop_border}")
    A = io.read_image(a.a)
    res: dict[str, float] = {}
    if a.b is None:
        for name, info in METRICS.items():
            if info.kind == "no-reference":
                res[name] = float(info.fn(A))
    else:
        B = io.read_image(a.b)
        if A.shape != B.shape:
            raise RestoraError(f"images differ in size: {a.a} is {A.shape[1]}×{A.shape[0]}, "
                               f"{a.b} is {B.shape[1]}×{B.shape[0]}")
        for name, info in METRICS.items():
            if info.kind == "full-reference":
                res[name] = float(info.fn(A, B, crop_border=a.crop_border))
    if a.json:
        print(json.dumps(res))
    else:
        for name, v in res.items():
            info = METRICS[name]
            arrow = "↑" if info.higher_is_better else "↓"
            print(f"{name:8s} {v:10.4f} {info.unit:4s} {arrow}")
    return 0


def _check_folder(d: Path) -> None:
    """Refuse a folder that is not one, or that could not be created or written."""
    if d.exists() and not d.is_dir():
        raise RestoraError(f"cannot write to {d}: it is not a folder")
    base = d if d.exists() else d.parent
    if not base.is_dir():
        raise RestoraError(f"cannot create {d}: folder {base} does not exist")
    if not os.access(base, os.W_OK | os.X_OK):
        raise RestoraError(f"cannot write to {d}: folder {base} is not writable")


def _assess_table(name: str, res, parts: list) -> str:
    h, w = res.shape
    dom = res.domain_probs[res.domain]
    lines = [f"{name}: {w}×{h} px, {res.domain} ({dom:.2f})",
             f"quality {res.quality:.2f} ({res.tier})",
             f"detected (p ≥ {res.threshold:g}):"]
    for d in res.types:
        lines.append(f"  {d.op:13s} p {d.prob:.2f}  severity {d.severity:.2f}  "
                     f"{d.param} {d.value:.3g} {d.unit}")
    if res.clean:
        lines.append("  none: clean")
    lines.append("regions:")
    for k, r in enumerate(parts, 1):
        kinds = ", ".join(f"{d.op} ({d.param} {d.value:.3g})" for d in r.types) or "clean"
        lines.append(f"  {k:2d}  {100 * r.area:5.1f} %  {kinds}  [confidence {r.confidence:.2f}]")
    return "\n".join(lines)


def cmd_assess(a: argparse.Namespace) -> int:
    import numpy as np

    from restora import io, perceive
    from restora.nets.perceiver import OPS

    if not 0.0 < a.threshold < 1.0:
        raise RestoraError(f"--threshold must be in (0, 1), got {a.threshold}")
    maps = Path(a.maps) if a.maps else None
    if maps is not None:
        _check_folder(maps)
    img = io.read_image(a.image)
    model = perceive.load_model(a.weights)
    res = perceive.assess(img, model, threshold=a.threshold)
    parts = perceive.regions(img, res, threshold=a.threshold)
    pictures = {}
    if maps is not None:
        stem = Path(a.image).stem
        seen = {d.op for r in parts for d in r.types} | {d.op for d in res.types}
        for j, op in enumerate(OPS):
            if op in seen or res.prob_maps[j].max() >= 0.3:
                pictures[maps / f"{stem}_{op}.png"] = op
        pictures[maps / f"{stem}_regions.png"] = None
        if maps.is_dir():
            for p in pictures:
                io.check_destination(p, a.force)
        drawn = {}  # all drawn (as 8 bits) before any is written
        for p, op in pictures.items():
            if op is None:
                pic = perceive.render_regions(img, parts)
            else:
                pic = perceive.render_map(img, res, op)
            drawn[p] = np.round(pic * 255.0).astype(np.uint8)
        maps.mkdir(exist_ok=True)
        for p, pic in drawn.items():
            io.save(p, pic, overwrite=a.force)
    if a.json:
        print(json.dumps({"image": str(a.image), "assessment": res.to_dict(),
                          "regions": [r.to_dict() for r in parts],
                          "maps": [str(p) for p in pictures]}))
    else:
        print(_assess_table(str(a.image), res, parts))
        if pictures:
            print(f"wrote {len(pictures)} pictures to {maps}")
    return 0


def cmd_gallery(a: argparse.Namespace) -> int:
    from restora import io
    from restora.data import resize_max
    from restora.report.gallery import write_gallery

    _positive("--size", a.size)
    if a.image:
        img, source = io.read_image(a.image), a.image
    else:
        import skimage.data

        from restora._image import as_image

        img, source = as_image(skimage.data.astronaut()), "scikit-image 'astronaut' (NASA, public domain)"
    page = write_gallery(resize_max(img, a.size), a.out, seed=a.seed, overwrite=a.force, source=source)
    print(f"wrote {page}")
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from restora.bench import runner, suites, synth

    for name in ("--repeat", "--size", "--count", "--limit", "--photos"):
        _positive(name, getattr(a, name[2:]))
    if a.suite == "ops":
        print(synth.bench_ops(repeat=a.repeat))
    elif a.suite == "tools":
        print(synth.bench_tools(repeat=a.repeat))
    elif a.suite == "pairs":
        print(synth.bench_pairs(size=a.size, count=a.count, images=a.images))
    elif a.suite == "agent":
        from restora.bench import agent_speed

        print(agent_speed.small(repeat=a.repeat))
        print()
        print(agent_speed.small(fast=True, repeat=a.repeat))
        print()
        print(agent_speed.clean())
        if a.big:
            print()
            print(agent_speed.big())
    elif a.suite == "net":
        from restora.bench import net_speed

        net_speed.main(["--big"] if a.big else [])
    elif a.suite == "perception":
        from restora.bench import perception
        from restora.perceive import DEFAULT_WEIGHTS

        weights = a.weights or str(DEFAULT_WEIGHTS)
        if not Path(weights).is_file():
            raise RestoraError(f"no perceiver weights at {weights} (give --weights FILE)")
        perception.main([weights])
    elif a.suite in suites.NAMES:
        if a.out:
            runner.check_out(a.out, a.force)
        records = runner.run(a.suite, a.method or ["identity", "classical"], images=a.images,
                             limit=a.limit, photos=a.photos)
        print(runner.table(records))
        if a.out:
            runner.write(records, a.out, overwrite=a.force)
    else:
        raise RestoraError(f"unknown bench suite '{a.suite}' "
                           f"(known: {', '.join(suites.NAMES)}, ops, tools, pairs, perception, agent, net)")
    return 0


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _json_default(x):
    import numpy as np

    if isinstance(x, np.generic | np.ndarray):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON-serialisable")


def cmd_restore(a: argparse.Namespace) -> int:
    from restora import io, perceive
    from restora.agent import restore
    from restora.report.restore_report import write_report

    for name, v in (("--max-rounds", a.max_rounds), ("--tries", a.tries)):
        if v < 1:
            raise RestoraError(f"{name} must be ≥ 1, got {v}")
    src, out = Path(a.input), Path(a.output)
    if out.suffix.lower() not in io.FORMATS:
        raise RestoraError(f"cannot save {out}: unknown extension {out.suffix!r} "
                           f"(use one of {', '.join(sorted(io.FORMATS))})")
    targets = [out, *(Path(p) for p in (a.report, a.json) if p)]
    for i, p in enumerate(targets):
        if _same_file(p, src):
            raise RestoraError(f"{p} is the input; choose another name (the input is never "
                               "overwritten)")
        if any(_same_file(p, q) for q in targets[:i]):
            raise RestoraError(f"{p} is named for two outputs; give each its own name")
        io.check_destination(p, a.force)
    f = io.load(src)
    model = perceive.load_model(a.weights)
    def progress(rec) -> None:  # one line per decided step, on stderr, for long restorations
        what = f"kept {rec.kept}" if rec.kept else f"not tried ({rec.vetoed})" if rec.vetoed \
            else "rolled back"
        print(f"  round {rec.round}: {rec.op} ({rec.area:.0%} of the image): {what}",
              file=sys.stderr, flush=True)

    if not a.quiet:
        print(f"restoring {src} ({f.pixels.shape[1]}×{f.pixels.shape[0]})…", file=sys.stderr,
              flush=True)
    res = restore(f.pixels, model=model, max_rounds=a.max_rounds, tries=a.tries,
                  memory=not a.no_memory, on_step=None if a.quiet else progress, fast=a.fast,
                  learned=a.net)
    io.save(out, res.image, like=f, overwrite=a.force)
    if a.json:
        doc = {"input": str(src), "output": str(out), **res.trace.to_dict()}
        io.write_bytes(Path(a.json), json.dumps(doc, indent=1, default=_json_default).encode(),
                       a.force)
    if a.report:
        write_report(res, a.report, before=f.pixels, source_name=src.name, overwrite=a.force)
    if not a.quiet:
        print(res.trace.summary())
        print("wrote " + ", ".join(str(p) for p in targets))
    return 0


def cmd_batch(a: argparse.Namespace) -> int:
    from restora import batch

    rows = batch.run(a.in_dir, a.out_dir, workers=a.workers, ext=a.ext, max_rounds=a.max_rounds,
                     tries=a.tries, memory=not a.no_memory, force=a.force, weights=a.weights,
                     progress=not a.quiet, fast=a.fast, learned=a.net)
    c = batch.counts(rows)
    for r in rows:
        if r.status == "error":
            print(f"restora: {r.file}: {r.detail}", file=sys.stderr)
    print(f"{c['ok']} restored, {c['skipped']} skipped (output exists), {c['error']} failed, "
          f"of {len(rows)}; summary in {Path(a.out_dir) / batch.SUMMARY}")
    return 1 if c["error"] else 0


def cmd_train(a: argparse.Namespace) -> int:
    if a.model == "step-judge":
        from restora.train import step_judge

        return int(step_judge.main(a.options) or 0)
    if a.model == "comparator":
        from restora.train import comparator

        return int(comparator.main(a.options) or 0)
    if a.model == "restorer":
        from restora.train import restorer

        return int(restorer.main(a.options) or 0)
    from restora.train import perceiver

    return int(perceiver.main(a.options) or 0)


COMMANDS = {"degrade": cmd_degrade, "metrics": cmd_metrics, "assess": cmd_assess,
            "gallery": cmd_gallery, "bench": cmd_bench, "train": cmd_train,
            "restore": cmd_restore, "batch": cmd_batch}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    a = parser.parse_args(argv)
    if a.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[a.command](a)
    except RestoraError as e:
        print(f"restora: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("restora: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: still one line unless debugging
        if os.environ.get("RESTORA_DEBUG"):
            raise
        print(f"restora: internal error: {type(e).__name__}: {e} (RESTORA_DEBUG=1 for details)",
              file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
