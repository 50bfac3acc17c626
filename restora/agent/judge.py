"""Assessment of a step: is the new image better than the previous one, and still faithful?

* Better — RAR's stopping rule: the perceiver's siamese comparator gives the probability that the
  candidate is closer to the clean image than the image before the step; a step is kept only when
  that probability reaches ``margin`` and the no-reference quality does not fall. Judged on the
  region's bounding box (what changed), through restora.perceive.assess (tiled when large).
* Faithful — a guard against drift from the *input* (not the previous round): the layout
  (correlation of the standardised luma at 1/8 scale) and the colour (mean chromaticity) of the
  region must stay close to the input's, within limits set per degradation (:data:`GUARD`), so a
  tool that invents or erases content, or casts a colour, is rolled back whatever the comparator
  says, while a correct dehazing or colour restoration is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from restora._image import to_gray

# The guard, per degradation: (least coarse-structure correlation with the input, largest change
# of mean chromaticity). A perfect restoration must pass it: each limit is the worst case of the
# clean image against its version degraded at severity 1 (12 photos at 128 and 256 px, two
# seeds) with a margin of 0.15 (structure) or 0.05 (colour, at least 0.08); None where even that
# leaves nothing to check. Haze and cloud veil the scene's layout and colour by nature; light and
# tone operators change the colour by nature.
_COLOUR = 0.08
GUARD: dict[str, tuple[float | None, float | None]] = {
    "noise": (0.6, _COLOUR), "poisson": (0.4, _COLOUR), "ct_noise": (0.25, _COLOUR),
    "jpeg": (0.6, _COLOUR), "low_res": (0.7, _COLOUR), "blur_defocus": (0.5, _COLOUR),
    "blur_motion": (0.1, _COLOUR), "raindrop": (0.65, _COLOUR), "rain": (0.1, 0.13),
    "snow": (None, _COLOUR), "low_light": (0.55, None), "contrast": (0.8, None),
    "saturation": (0.8, None), "haze": (None, None), "cloud": (None, None),
}
_STRICT = (0.6, _COLOUR)  # an unknown operator


@dataclass
class Look:
    """What the perceiver sees of an image (crop): quality, embedding, type probabilities."""

    quality: float
    embedding: torch.Tensor
    probs: dict[str, float]


def as_look(a) -> Look:
    """The Look of an existing restora.perceive.Assessment."""
    emb = torch.as_tensor(np.asarray(a.embedding, np.float32)).reshape(1, -1)
    return Look(a.quality, emb, {d.op: d.prob for d in a.types})


def look(img: np.ndarray, model) -> Look:
    from restora.perceive import assess

    return as_look(assess(img, model))


def p_better(model, before: Look, after: Look) -> float:
    """Comparator probability that ``after`` is closer to the clean image than ``before``."""
    with torch.inference_mode():
        return float(torch.sigmoid(model.compare(before.embedding, after.embedding))[0])


def _coarse(img: np.ndarray, factor: int = 8) -> np.ndarray:
    """Luma at 1/``factor`` scale, standardised: the layout of the scene, blind to noise, blur,
    brightness and contrast."""
    y = to_gray(img)
    h, w = y.shape
    s = cv2.resize(y, (max(4, w // factor), max(4, h // factor)),
                   interpolation=cv2.INTER_AREA).ravel().astype(np.float64)
    return (s - s.mean()) / (s.std() + 1e-6)


def _chromaticity(img: np.ndarray) -> np.ndarray:
    s = img.reshape(-1, 3).astype(np.float64).mean(0)
    return s / max(s.sum(), 1e-6)


def guard(ops: str | tuple[str, ...] | None) -> tuple[float | None, float | None]:
    """The limits for a change that treats ``ops`` (one operator, several, or None: strict): the
    loosest of theirs, since a tool that treats several degradations at once (the all-in-one
    network) may rightly change what each of them changes."""
    if not ops:
        return _STRICT
    limits = [GUARD.get(op, _STRICT) for op in ((ops,) if isinstance(ops, str) else ops)]
    s = [s for s, _ in limits]
    c = [c for _, c in limits]
    return (None if None in s else min(s)), (None if None in c else max(c))


def fidelity(source: np.ndarray, candidate: np.ndarray,
             op: str | tuple[str, ...] | None = None) -> tuple[bool, str, float, float]:
    """(ok, reason, coarse-structure correlation, chromaticity change) of ``candidate`` against
    ``source`` (the input, same crop), with the limits :func:`guard` sets for the degradation(s)
    ``op`` (the strict ones when None)."""
    corr = float(np.mean(_coarse(source) * _coarse(candidate)))
    dc = float(np.abs(_chromaticity(source) - _chromaticity(candidate)).max())
    s_min, c_max = guard(op)
    why = ""
    if s_min is not None and corr < s_min:
        why = f"structure drifted from the input (correlation {corr:.2f} < {s_min})"
    elif c_max is not None and dc > c_max:
        why = f"colour drifted from the input (chromaticity change {dc:.3f} > {c_max})"
    return not why, why, corr, dc
