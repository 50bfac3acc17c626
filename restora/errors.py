"""The one exception type users can trigger.

Every failure caused by input (a file, an option, a recipe) raises :class:`RestoraError` with a
message that reads well on one line; the CLI prints it and exits non-zero, without a traceback.
"""

from __future__ import annotations


class RestoraError(Exception):
    """A user-triggerable failure: bad file, bad option, image too large, unknown recipe..."""


def lookup(table: dict, name: str, kind: str):
    """``table[name]``, or a RestoraError that names the ``kind`` and lists the known names."""
    try:
        return table[name]
    except KeyError:
        raise RestoraError(f"unknown {kind} '{name}' (known: {', '.join(table)})") from None
