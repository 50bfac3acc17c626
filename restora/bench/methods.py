"""Restoration methods the benchmark runner can compare: ``method(degraded, label) -> restored``.

* ``identity`` — the degraded input itself (the "input" row of every table);
* ``classical`` — an oracle baseline: for every degradation in the ground-truth label, the first
  classical tool that treats it, with parameters set from the true degradation parameters,
  applied under the true mask, undoing the degradations in reverse physical order;
* ``agent`` — :func:`restora.agent.restore` (blind: perceives, plans and judges by itself);
* ``agent_global`` — the agent with every step over the whole image (no regions);
* ``agent_net`` — the agent with the learned network among its tools (``agent`` has classical
  tools only, the default);
* ``net`` — the all-in-one restorer in one blind pass (:func:`restora.tools.learned.restore_net`);
* ``generic`` — the oracle tools in a fixed generic order (the operator table's: scene first);
* any tool by name — that tool alone, tuned from the label, on the items it treats.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from restora.degrade import OPERATORS, Label
from restora.errors import RestoraError

Method = Callable[[np.ndarray, Label], np.ndarray]


def identity(img: np.ndarray, label: Label) -> np.ndarray:
    return img


def _classical(op: str) -> list:
    """The classical tools that treat ``op``, best first (the learned network left out)."""
    from restora.tools import LEARNED, candidates

    return [t for t in candidates(op) if t.name not in LEARNED]


def classical(img: np.ndarray, label: Label) -> np.ndarray:
    out = img
    for step in reversed(label.steps):
        tools = _classical(step.op)
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


def agent(img: np.ndarray, label: Label) -> np.ndarray:
    """The restoration agent (restora.agent.restore) with the shipped perceiver; it never sees the
    label. The experience memory is off, so every item is judged on its own and runs repeat."""
    from restora.agent import restore

    return restore(img, memory=False).image


def net(img: np.ndarray, label: Label) -> np.ndarray:
    """The shipped all-in-one restorer (restora.tools.learned) in one pass, blind: conditioned on
    the perceiver's view of the image, never on the label."""
    from restora.tools.learned import restore_net

    return restore_net(img)


def agent_net(img: np.ndarray, label: Label) -> np.ndarray:
    """The agent with the learned all-in-one network among its tools (restore(learned=True))."""
    from restora.agent import restore

    return restore(img, memory=False, learned=True).image


def agent_global(img: np.ndarray, label: Label) -> np.ndarray:
    """The agent with region-wise restoration off: the same perception and planning, every step
    applied to the whole image (the spatial suite's ablation)."""
    from restora.agent import restore

    return restore(img, memory=False, regionwise=False).image


def classical_order(order: tuple[str, ...]) -> Method:
    """Oracle tools (as ``classical``) applied in a fixed operator ``order`` instead of the reverse
    physical one: the fixed-order baseline the agent's planning is measured against."""

    def run(img: np.ndarray, label: Label) -> np.ndarray:
        out = img
        for step in sorted(label.steps, key=lambda s: order.index(s.op)):
            tools = _classical(step.op)
            if tools:
                mask = label.masks[step.op] if step.mask else None
                out = tools[0].apply(out, tools[0].for_degradation(step.op, step.params), mask=mask)
        return out

    return run


# A generic fixed order (the operators' table order: scene first, compression last), as a plain
# pipeline would run its stages without a physical prior.
BUILTIN: dict[str, Method] = {"identity": identity, "classical": classical, "agent": agent,
                              "agent_global": agent_global, "net": net,
                              "agent_net": agent_net,
                              "generic": classical_order(tuple(OPERATORS))}


def resolve(name: str) -> Method:
    """The method called ``name``: a built-in or a tool; RestoraError lists what exists."""
    if name in BUILTIN:
        return BUILTIN[name]
    from restora.tools import TOOLS

    if name in TOOLS:
        return tool_method(name)
    raise RestoraError(f"unknown method '{name}' (known: {', '.join([*BUILTIN, *TOOLS])})")
