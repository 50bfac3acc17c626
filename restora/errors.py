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


def run_main(main) -> int:
    """Run a module's ``main()`` (``python -m restora.…``) as the ``restora`` command does: a
    RestoraError becomes one line on stderr and exit status 2, not a traceback."""
    import sys

    try:
        return int(main() or 0)
    except RestoraError as e:
        print(f"restora: error: {e}", file=sys.stderr)
        return 2
