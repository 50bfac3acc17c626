"""Planning: which tool, where, with which parameters, in which order.

* Order — MAIR's physical prior, the reverse of how degradations arise: compression first, then
  the sensor (noise), resolution, optics (blur), and the scene (haze, rain, snow, light, tone)
  last; among regions, the largest first.
* Candidates — the installed tools that treat the degradation (restora.tools.candidates, best
  first), a tool the experience memory remembers for this signature moved to the front, tools
  already rolled back for this degradation and region dropped; the loop tries the first few and
  keeps the one the assessor scores best (Q-Agent's quality-driven greedy choice).
* Parameters — from the estimated severity in the operator's own unit, through each tool's
  ``tune`` (the same mapping the oracle benchmarks use with true parameters), clipped to the
  tool's ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from restora.degrade.operators import OPERATORS, STAGES
from restora.tools import candidates
from restora.tools.base import Tool

WHOLE = 0.97  # a region covering this fraction of the image is treated without a mask
RESTORE_ORDER: tuple[str, ...] = tuple(sorted(
    OPERATORS, key=lambda op: (-STAGES.index(OPERATORS[op].stage), -list(OPERATORS).index(op))))


@dataclass
class PlannedStep:
    """One degradation in one region: the candidate tools (best first) with their parameters."""

    op: str
    region: int
    mask: np.ndarray | None  # None: the whole image
    area: float
    prob: float
    severity: float
    param: str
    value: float
    unit: str
    tools: list[tuple[Tool, dict]] = field(default_factory=list)


def tool_params(tool: Tool, op: str, param: str, value: float) -> dict:
    """The tool's parameters for degradation ``op`` estimated at ``param`` = ``value``, each
    clipped to the tool's declared range."""
    raw = tool.for_degradation(op, {param: value})
    ranges = {p.name: p for p in tool.params}
    return {k: float(np.clip(v, ranges[k].lo, ranges[k].hi)) if k in ranges and v is not None
            else v for k, v in raw.items() if k in ranges}


def plan(regions: list, *, prefer: dict[str, str] | None = None,
         rejected: set[tuple[str, int, str]] | None = None, tries: int = 2) -> list[PlannedStep]:
    """Ordered steps for ``regions`` (restora.perceive.Region list). ``prefer`` maps an operator to
    the tool that worked before (experience memory); ``rejected`` holds (op, region, tool)
    triples rolled back earlier, which are not proposed again; ``tries`` caps candidates."""
    prefer, rejected = prefer or {}, rejected or set()
    steps = []
    for i, reg in enumerate(regions):
        for det in reg.types:
            tools = candidates(det.op)
            if det.op in prefer:
                tools.sort(key=lambda t: t.name != prefer[det.op])
            tools = [t for t in tools if (det.op, i, t.name) not in rejected][:tries]
            if not tools:
                continue
            mask = None if reg.area >= WHOLE else reg.mask
            steps.append(PlannedStep(det.op, i, mask, reg.area, det.prob, det.severity, det.param,
                                     det.value, det.unit,
                                     [(t, tool_params(t, det.op, det.param, det.value))
                                      for t in tools]))
    steps.sort(key=lambda s: (RESTORE_ORDER.index(s.op), -s.area))
    return steps
