"""The restoration agent: perceive → plan → execute → assess → repeat (see loop.py)."""

from restora.agent.loop import Result, restore
from restora.agent.memory import Memory
from restora.agent.trace import Trace

__all__ = ["Memory", "Result", "Trace", "restore"]
