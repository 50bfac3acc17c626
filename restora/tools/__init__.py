"""Restoration tools behind one interface (:class:`Tool`).

``TOOLS`` lists every tool by name; ``candidates(op)`` gives the tools that treat a degradation,
best first (the order of this table: quality first, speed second).
"""

from __future__ import annotations

from restora.errors import lookup
from restora.tools import learned
from restora.tools.base import Tool, ToolParam
from restora.tools.classical import (
    deblock,
    deblur,
    dehaze,
    denoise,
    derain,
    lowlight,
    tone,
    upscale,
)

# The learned all-in-one network (when its weights are installed) comes first: the main tool;
# the classical tools follow as fallbacks.
_ALL: list[Tool] = [*learned.TOOLS, *deblock.TOOLS, *denoise.TOOLS, *upscale.TOOLS, *deblur.TOOLS, *dehaze.TOOLS,
                    *derain.TOOLS, *lowlight.TOOLS, *tone.TOOLS]
TOOLS: dict[str, Tool] = {t.name: t for t in _ALL}
LEARNED: frozenset[str] = frozenset(t.name for t in learned.TOOLS)


def get_tool(name: str) -> Tool:
    return lookup(TOOLS, name, "tool")


def candidates(op: str) -> list[Tool]:
    """Tools that treat degradation ``op`` and are installed, in order of preference."""
    return [t for t in _ALL if op in t.treats and t.available]


__all__ = ["LEARNED", "TOOLS", "Tool", "ToolParam", "candidates", "get_tool"]
