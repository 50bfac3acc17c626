"""Assessment of a step: is the new image better than the previous one, and still faithful?

* Better — RAR's stopping rule: the perceiver's siamese comparator gives the probability that the
  candidate is closer to the clean image than the image before the step; a step is kept only when
  that probability reaches ``margin`` and the no-reference quality does not fall. Judged on the
  region's bounding box (what changed), through restora.perceive.assess (tiled when large).
* Faithful — a guard against drift from the *input* (not the previous round): the structure
  (correlation of smoothed luma gradients) and the colour (mean chromaticity) of the region must
  stay close to the input's, so a tool that invents or erases content, or casts a colour, is
  rolled back whatever the comparator says.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from restora._image import to_gray

STRUCTURE_MIN = 0.55  # gradient correlation with the input, at least
CHROMA_MAX = 0.08  # change of mean chromaticity (r, b shares of the sum), at most


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


def _grad(img: np.ndarray) -> np.ndarray:
    y = cv2.GaussianBlur(to_gray(img), (0, 0), 1.5)
    return np.hypot(cv2.Sobel(y, cv2.CV_32F, 1, 0), cv2.Sobel(y, cv2.CV_32F, 0, 1)).ravel()


def _chromaticity(img: np.ndarray) -> np.ndarray:
    s = img.reshape(-1, 3).astype(np.float64).mean(0)
    return s / max(s.sum(), 1e-6)


def fidelity(source: np.ndarray, candidate: np.ndarray) -> tuple[bool, str, float, float]:
    """(ok, reason, structure correlation, chromaticity change) of ``candidate`` against
    ``source`` (the input, same crop)."""
    ga, gb = _grad(source), _grad(candidate)
    if ga.std() < 1e-6 or gb.std() < 1e-6:
        corr = 1.0 if ga.std() < 1e-6 and gb.std() < 1e-6 else 0.0
    else:
        corr = float(np.corrcoef(ga, gb)[0, 1])
    dc = float(np.abs(_chromaticity(source) - _chromaticity(candidate)).max())
    if corr < STRUCTURE_MIN:
        return False, f"structure drifted from the input (gradient correlation {corr:.2f})", corr, dc
    if dc > CHROMA_MAX:
        return False, f"colour drifted from the input (chromaticity change {dc:.3f})", corr, dc
    return True, "", corr, dc
