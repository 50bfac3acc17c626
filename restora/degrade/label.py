"""The ground truth returned beside every degraded image: what was done, where, how strongly."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Step:
    """One applied operator with its exact parameters (enough to re-render it)."""

    op: str
    stage: str
    severity: float
    params: dict[str, float]
    mask: str | None = None
    mask_seed: int | None = None
    coverage: float | None = None


@dataclass
class Label:
    """Per-image ground truth.

    ``maps[op]`` is the per-pixel severity of ``op`` (H×W float32: severity × mask);
    ``masks[op]`` is the mask M(x) ∈ [0, 1] it was applied under (all ones when global);
    ``extras`` holds physical fields such as the haze transmission ``haze_t`` and airlight.
    """

    shape: tuple[int, int]
    seed: int
    recipe: str
    steps: list[Step] = field(default_factory=list)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def types(self) -> list[str]:
        return [s.op for s in self.steps]

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "seed": self.seed, "recipe": self.recipe,
                "steps": [asdict(s) for s in self.steps],
                "maps": sorted(self.maps), "extras": sorted(self.extras)}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"severity/{k}": v for k, v in self.maps.items()}
        out |= {f"mask/{k}": v for k, v in self.masks.items()}
        out |= {f"extra/{k}": np.asarray(v) for k, v in self.extras.items()}
        return out

    @classmethod
    def load(cls, json_path: str | Path) -> Label:
        """Read a label written by :func:`restora.degrade.save_label` (JSON + .npz beside it)."""
        p = Path(json_path)
        d = json.loads(p.read_text())
        lab = cls(tuple(d["shape"]), d["seed"], d["recipe"], [Step(**s) for s in d["steps"]])
        with np.load(p.with_suffix(".npz")) as z:
            for key in z.files:
                kind, _, name = key.partition("/")
                {"severity": lab.maps, "mask": lab.masks, "extra": lab.extras}[kind][name] = z[key]
        return lab
