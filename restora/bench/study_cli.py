"""The command line shared by the measurement studies that run on a folder of clean photos
(python -m restora.bench.grain, python -m restora.bench.airlight)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def photo_study(argv: list[str] | None, prog: str, doc: str | None, run: Callable,
                configure: Callable | None = None) -> int:
    """Parse ``--images`` (default: the held-out scikit-image photos) and whatever ``configure``
    adds to the parser, then print ``run(photos, args)``; a RestoraError (raised by ``run`` too)
    is one line on stderr and exit status 2."""
    from restora.bench.suites import clean_set
    from restora.errors import RestoraError

    p = argparse.ArgumentParser(prog=prog, description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=None, help="clean photo folder (default: the held-out "
                   "scikit-image photos)")
    if configure is not None:
        configure(p)
    a = p.parse_args(argv)
    try:
        photos = clean_set(a.images)
        if not photos:
            raise RestoraError(f"no images in {a.images}")
        print(run(photos, a))
    except RestoraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def crop_study(argv: list[str] | None, prog: str, doc: str | None, study: Callable) -> int:
    """:func:`photo_study` with the options of the studies on random crops: ``--crops`` (≥ 1,
    default 30) and ``--seed`` (default 1); prints ``study(photos, crops, seed, images)``."""
    from restora.errors import RestoraError

    def configure(p) -> None:
        p.add_argument("--crops", type=int, default=30, help="crops to draw (default 30)")
        p.add_argument("--seed", type=int, default=1)

    def run(photos, a) -> str:
        if a.crops < 1:
            raise RestoraError(f"--crops must be ≥ 1, got {a.crops}")
        return study(photos, a.crops, a.seed, a.images)

    return photo_study(argv, prog, doc, run, configure)
