"""Experience memory (the review's §5.1): degradation signature → the tools that worked.

A signature is the detected degradations with their severities rounded to quarters, plus the
domain, e.g. ``natural|jpeg:0.5|noise:0.75``. After a restoration, each kept step's tool is stored
under the image's signature; when an image with the same signature comes again, the planner
tries those tools first. Stored as JSON in the user's cache folder
(``$XDG_CACHE_HOME/restora/memory.json``, default ``~/.cache``); ``RESTORA_NO_MEMORY=1`` or
``memory=False`` turns it off. Writes are atomic; a corrupt file is ignored and replaced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_ENTRIES = 2000


def default_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "restora" / "memory.json"


def signature(assessment) -> str:
    """Degradation signature of an Assessment: domain and types with severity in quarters."""
    parts = sorted(f"{d.op}:{round(d.severity * 4) / 4:g}" for d in assessment.types)
    return "|".join([assessment.domain, *parts])


class Memory:
    """The JSON store; ``enabled=False`` makes every call a no-op."""

    def __init__(self, path: str | Path | None = None, enabled: bool = True) -> None:
        self.enabled = enabled and os.environ.get("RESTORA_NO_MEMORY", "") not in ("1", "true")
        self.path = Path(path) if path else default_path()

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def recall(self, sig: str) -> dict[str, str]:
        """op → tool that was kept for this signature before ({} when unknown or disabled)."""
        if not self.enabled:
            return {}
        entry = self._load().get(sig)
        return dict(entry.get("tools", {})) if isinstance(entry, dict) else {}

    def store(self, sig: str, tools: dict[str, str]) -> None:
        """Remember the tools kept for ``sig`` (oldest entries dropped past MAX_ENTRIES)."""
        if not self.enabled or not tools:
            return
        data = self._load()
        old = data.pop(sig, {}) if isinstance(data.get(sig), dict) else {}
        data[sig] = {"tools": {**old.get("tools", {}), **tools}, "uses": old.get("uses", 0) + 1}
        while len(data) > MAX_ENTRIES:
            data.pop(next(iter(data)))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, self.path)
        except OSError:  # a read-only cache must not stop a restoration: stop remembering
            self.enabled = False
