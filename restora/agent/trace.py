"""The record of a restoration (the explanation): what was seen, every step tried, kept or rolled
back and why, the scores per round, why it stopped, and where the time went."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Attempt:
    """One candidate tool tried on one step."""

    tool: str
    params: dict
    p_better: float  # comparator: probability the result is closer to clean than before
    quality_before: float
    quality_after: float
    structure: float  # gradient correlation with the input (fidelity guard)
    chroma_shift: float
    verdict: str  # "kept", "beaten" (acceptable, another candidate scored higher) or "rolled back"
    reason: str
    seconds: float
    score: float | None = None  # the learned step score (restora.agent.stepscore), if used


@dataclass
class StepRecord:
    """One planned step (a degradation in a region) and its outcome."""

    round: int
    op: str
    region: int
    area: float
    prob: float
    estimate: str  # e.g. "sigma 24.1 /255"
    attempts: list[Attempt] = field(default_factory=list)
    kept: str | None = None  # the tool whose result was kept, if any
    vetoed: str = ""  # why the step was not tried (a physical check contradicted the detection)
    thumbnail: np.ndarray | None = field(default=None, repr=False)  # the image after the step
    undone: bool = False  # kept, then undone by the loop's final whole-image check


@dataclass
class Trace:
    """Everything :func:`restora.agent.restore` decided; ``to_dict`` is JSON-able."""

    detections: dict  # the input's assessment (Assessment.to_dict())
    regions: list[dict]
    steps: list[StepRecord] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)
    stop_reason: str = ""
    seconds: dict = field(default_factory=dict)  # total, perceive, plan, tools, judge
    signature: str = ""
    memory_used: dict = field(default_factory=dict)
    final_p_better: float | None = None  # comparator: result vs final_base, whole image
    final_base: str = "the input"  # what the final check compared the result with
    returned_quality: float | None = None  # quality of what the final check returned instead

    def to_dict(self) -> dict:
        steps = []
        for s in self.steps:
            d = asdict(s)
            d.pop("thumbnail")
            steps.append(d)
        return {"detections": self.detections, "regions": self.regions, "steps": steps,
                "rounds": self.rounds, "stop_reason": self.stop_reason,
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "signature": self.signature, "memory_used": self.memory_used,
                "final_p_better": self.final_p_better, "final_base": self.final_base,
                "returned_quality": self.returned_quality}

    def summary(self) -> str:
        """A few readable lines: what was found, what was done, why it stopped."""
        found = ", ".join(f"{t['op']} ({t['prob']:.0%})" for t in self.detections.get("types", []))
        lines = [f"found: {found or 'nothing (clean)'}"]
        for s in self.steps:
            what = f"kept {s.kept}" + (", undone by the final check" if s.undone else "") \
                if s.kept else f"vetoed ({s.vetoed})" if s.vetoed else "rolled back"
            tried = ", ".join(f"{a.tool} p={a.p_better:.2f}"
                              + (f" s={a.score:.2f}" if a.score is not None else "")
                              for a in s.attempts)
            where = {-1: "the whole image (veil test)", -2: "the whole image (grain test)"}.get(
                s.region, f"region {s.region}")
            lines.append(f"round {s.round}: {s.op} on {where} ({s.area:.0%}, "
                         f"{s.estimate}): {what}" + (f" [{tried}]" if tried else ""))
        lines.append(f"stopped: {self.stop_reason} ({self.seconds.get('total', 0):.2f} s)")
        return "\n".join(lines)
