"""The Tool interface: anything that takes an image (and optionally a region mask and
parameters) and returns a better one.

A tool is a thin frozen record around a pure function: its name, the degradations it treats, its
parameters with ranges and units, a relative cost, the paper it follows, and ``tune`` — how to set
its parameters from a degradation's physical parameters (true ones in oracle benchmarks, the
perceiver's estimates in the agent).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from restora._image import as_image
from restora.errors import RestoraError
from restora.tools.blend import blend


@dataclass(frozen=True)
class ToolParam:
    """A tool parameter: valid range, unit and default."""

    name: str
    unit: str
    lo: float
    hi: float
    default: float | None  # None: estimated from the image when not given


Tune = Callable[[str, dict], dict]


def _no_tuning(op: str, params: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Tool:
    """A restoration tool. ``fn(img, **params) -> img`` is pure; ``cost`` is the time on a
    512×512 image relative to a bicubic resize (see BENCHMARKS.md)."""

    name: str
    treats: tuple[str, ...]
    fn: Callable[..., np.ndarray]
    params: tuple[ToolParam, ...] = ()
    cost: float = 1.0
    cite: str = ""
    tune: Tune = field(default=_no_tuning, repr=False)
    requires: tuple[str, ...] = ()  # optional packages the tool needs (extras)

    @property
    def available(self) -> bool:
        """Whether the optional packages this tool needs are installed."""
        return all(importlib.util.find_spec(m) is not None for m in self.requires)

    def check(self, params: dict | None) -> dict:
        """Defaults completed and every value checked against its range."""
        known = {p.name: p for p in self.params}
        out = {p.name: p.default for p in self.params if p.default is not None}
        for k, v in (params or {}).items():
            if k not in known:
                raise RestoraError(f"tool {self.name} has no parameter '{k}' "
                                   f"(known: {', '.join(known) or 'none'})")
            p = known[k]
            if v is not None and not (p.lo <= float(v) <= p.hi):
                raise RestoraError(f"tool {self.name}: {k}={v} out of range [{p.lo}, {p.hi}] {p.unit}")
            out[k] = v
        return out

    def apply(self, img: np.ndarray, params: dict | None = None, mask: np.ndarray | None = None,
              feather: float = 8.0) -> np.ndarray:
        """Restore ``img`` (float32 RGB in [0, 1]); under ``mask`` only, with a feathered seam."""
        img = as_image(img)
        out = np.clip(self.fn(img, **self.check(params)), 0.0, 1.0).astype(np.float32)
        return blend(img, out, mask, feather)

    def for_degradation(self, op: str, op_params: dict) -> dict:
        """Tool parameters for a degradation ``op`` with physical parameters ``op_params``."""
        return self.tune(op, op_params)
