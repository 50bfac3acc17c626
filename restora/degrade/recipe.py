"""A small recipe language for people: ``haze=0.6@blob,noise=25,jpeg``.

Grammar (items separated by commas, applied in the physical order whatever the written order)::

    item   := name ['=' value (';' value)*] ['@' mask [':' coverage]]
    value  := number          # in [0, 1]: a severity; > 1: the operator's main parameter
            | key ':' number  # an explicit parameter (s / severity for the severity)
    mask   := blob | half | segment

Examples: ``noise=25`` (σ = 25/255), ``noise=0.5`` (severity 0.5), ``haze=beta:1.2;airlight:0.9``,
``rain=0.8@half``, ``low_res=4``, ``jpeg`` (a severity drawn from the seed).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from restora.degrade import masks
from restora.degrade.operators import get
from restora.errors import RestoraError

_ITEM = re.compile(r"^(?P<name>[a-z_]+)(?:=(?P<value>[^@]+))?(?:@(?P<mask>[a-z]+)(?::(?P<cov>[^@]+))?)?$")


@dataclass(frozen=True)
class RecipeItem:
    """One parsed degradation: a severity (or None: drawn from the seed), explicit parameters,
    and an optional mask kind with its coverage."""

    name: str
    severity: float | None = None
    params: dict[str, float] = field(default_factory=dict)
    mask: str | None = None
    coverage: float | None = None

    def __str__(self) -> str:
        parts = [] if self.severity is None else [f"{self.severity:g}"]
        parts += [f"{k}:{v:g}" for k, v in self.params.items()]
        s = self.name + ("=" + ";".join(parts) if parts else "")
        if self.mask:
            s += "@" + self.mask + ("" if self.coverage is None else f":{self.coverage:g}")
        return s


def _number(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise RestoraError(f"recipe: '{text}' in '{where}' is not a number") from None
    if not math.isfinite(v):
        raise RestoraError(f"recipe: '{text}' in '{where}' is not a finite number")
    return v


def parse_item(text: str) -> RecipeItem:
    """Parse one item, validating the operator, its parameters and ranges."""
    t = text.strip()
    m = _ITEM.match(t)
    if not m:
        raise RestoraError(f"recipe: cannot read '{t}' (expected name[=value][@mask], e.g. haze=0.6@blob)")
    op = get(m["name"])
    severity: float | None = None
    params: dict[str, float] = {}
    for part in (m["value"] or "").split(";") if m["value"] else []:
        part = part.strip()
        if ":" in part:
            key, _, val = part.partition(":")
            key, v = key.strip(), _number(val.strip(), t)
            if key in ("s", "severity"):
                severity = v
            else:
                params[key] = op.check(key, v)
        else:
            v = _number(part, t)
            if 0.0 <= v <= 1.0:
                severity = v
            else:
                params[op.primary.name] = op.check(op.primary.name, v)
    if severity is not None and not 0.0 <= severity <= 1.0:
        raise RestoraError(f"recipe: severity {severity:g} in '{t}' is out of range [0, 1]")
    if severity is not None and op.primary.name in params:
        raise RestoraError(f"recipe: '{t}' gives both a severity and {op.primary.name}")
    cov = None
    if m["mask"]:
        if m["mask"] not in masks.KINDS:
            raise RestoraError(f"recipe: unknown mask '{m['mask']}' in '{t}' (known: {', '.join(masks.KINDS)})")
        if m["cov"] is not None:
            cov = _number(m["cov"], t)
            if not 0.0 < cov <= 1.0:
                raise RestoraError(f"recipe: mask coverage {cov:g} in '{t}' must be in (0, 1]")
    return RecipeItem(op.name, severity, params, m["mask"], cov)


def parse(recipe: str | list[RecipeItem]) -> list[RecipeItem]:
    """Parse a recipe string (or pass a list of items through), sorted in the physical order."""
    if not isinstance(recipe, str):
        items = list(recipe)
    else:
        if not recipe.strip():
            raise RestoraError("recipe is empty (e.g. --recipe 'haze=0.6@blob,noise=25')")
        items = [parse_item(p) for p in recipe.split(",")]
    seen: set[str] = set()
    for it in items:
        if it.name in seen:
            raise RestoraError(f"recipe: '{it.name}' appears twice")
        seen.add(it.name)
    return sorted(items, key=lambda it: get(it.name).order)


def to_string(items: list[RecipeItem]) -> str:
    return ",".join(str(it) for it in items)
