"""Restoration methods the benchmark runner can compare: ``method(degraded, label) -> restored``.

* ``identity`` — the degraded input itself (the "input" row of every table);
* ``classical`` — an oracle baseline: for every degradation in the ground-truth label, the first
  classical tool that treats it, with parameters set from the true degradation parameters,
  applied under the true mask, undoing the degradations in reverse physical order;
* any tool by name — that tool alone, tuned from the label, on the items it treats.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from restora.degrade import Label
from restora.errors import RestoraError

Method = Callable[[np.ndarray, Label], np.ndarray]


def identity(img: np.ndarray, label: Label) -> np.ndarray:
    return img


def classical(img: np.ndarray, label: Label) -> np.ndarray:
    from restora.tools import candidates

    out = img
    for step in reversed(label.steps):
        tools = candidates(step.op)
        if not tools:
            continue
        tool = tools[0]
        mask = label.masks[step.op] if step.mask else None
        out = tool.apply(out, tool.for_degradation(step.op, step.params), mask=mask)
    return out


def tool_method(name: str) -> Method:
    """``name`` alone, on the items whose label holds a degradation it treats (tuned from the
    label, under its mask); other items pass through unchanged."""
    from restora.tools import get_tool

    tool = get_tool(name)

    def run(img: np.ndarray, label: Label) -> np.ndarray:
        for step in label.steps:
            if step.op in tool.treats:
                mask = label.masks[step.op] if step.mask else None
                return tool.apply(img, tool.for_degradation(step.op, step.params), mask=mask)
        return img

    return run


BUILTIN: dict[str, Method] = {"identity": identity, "classical": classical}


def resolve(name: str) -> Method:
    """The method called ``name``: a built-in or a tool; RestoraError lists what exists."""
    if name in BUILTIN:
        return BUILTIN[name]
    from restora.tools import TOOLS

    if name in TOOLS:
        return tool_method(name)
    raise RestoraError(f"unknown method '{name}' (known: {', '.join([*BUILTIN, *TOOLS])})")
