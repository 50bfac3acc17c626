"""Restora: all-in-one image restoration — perceive, plan, restore region by region, assess, repeat.

* ``restore(img)`` — the agent (restora.agent): returns a Result (image + Trace);
* ``assess(img)`` — the perceiver (restora.perceive): quality, types, severities, domain, maps;
* ``degrade(img, recipe, seed)`` — the degradation synthesiser, with labels.

``restore`` and ``assess`` load torch and the shipped weights on first use only.
"""

from restora.degrade import degrade
from restora.errors import RestoraError

__version__ = "0.1.0"
__all__ = ["RestoraError", "__version__", "assess", "degrade", "restore"]


def __getattr__(name: str):
    if name == "restore":
        from restora.agent import restore

        return restore
    if name == "assess":
        from restora.perceive import assess

        return assess
    raise AttributeError(f"module 'restora' has no attribute {name!r}")
