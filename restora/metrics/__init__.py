"""Image-quality metrics: pure functions plus the metadata needed to use them correctly.

Full-reference (restored image vs ground truth): PSNR and SSIM, RGB or BT.601 Y channel
(:mod:`restora.metrics.fullref`). No-reference: NIQE (:mod:`restora.metrics.noref`; its pristine
model is fitted by :mod:`restora.metrics.fit_niqe`).

``METRICS`` describes each metric (kind, direction, range, unit) so callers never hard-code
whether bigger is better; :func:`compute` runs one by name.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from restora.errors import RestoraError
from restora.metrics.fullref import psnr, psnr_y, ssim, ssim_y
from restora.metrics.noref import niqe

__all__ = ["METRICS", "MetricInfo", "compute", "niqe", "psnr", "ssim"]


@dataclass(frozen=True)
class MetricInfo:
    """What a metric measures and how to read it.

    ``kind`` is ``"full-reference"`` (needs the ground truth) or ``"no-reference"``;
    ``range`` is the (min, max) the value can take; ``unit`` is e.g. ``"dB"`` or ``""``.
    """

    name: str
    kind: str
    higher_is_better: bool
    range: tuple[float, float]
    unit: str
    fn: Callable[..., float]


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("psnr", "full-reference", True, (0.0, math.inf), "dB", psnr),
        MetricInfo("psnr_y", "full-reference", True, (0.0, math.inf), "dB", psnr_y),
        MetricInfo("ssim", "full-reference", True, (-1.0, 1.0), "", ssim),
        MetricInfo("ssim_y", "full-reference", True, (-1.0, 1.0), "", ssim_y),
        MetricInfo("niqe", "no-reference", False, (0.0, math.inf), "", niqe),
    )
}


def compute(name: str, a: np.ndarray, b: np.ndarray | None = None, **options) -> float:
    """Metric ``name`` of image ``a`` (against reference ``b`` for full-reference metrics).

    ``options`` go to the metric (e.g. ``crop_border=4``). A reference passed to a no-reference
    metric is ignored, so one loop can score every metric of :data:`METRICS`.
    """
    info = METRICS.get(name)
    if info is None:
        raise RestoraError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}")
    args = (a,) if info.kind == "no-reference" else (a, b)
    if b is None and len(args) == 2:
        raise RestoraError(f"metric {name!r} is full-reference and needs a reference image")
    try:
        inspect.signature(info.fn).bind(*args, **options)
    except TypeError:
        raise RestoraError(f"metric {name!r} takes no option(s) {', '.join(options)}") from None
    return info.fn(*args, **options)
