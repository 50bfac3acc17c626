"""A perceptually ordered colour map for severity maps (dark → bright), no matplotlib needed."""

from __future__ import annotations

import numpy as np

# Anchor colours sampled along an inferno-like ramp: black, purple, red-orange, yellow, near white.
_ANCHORS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]],
                    dtype=np.float32) / 255.0


def colorize(values: np.ndarray, vmax: float = 1.0) -> np.ndarray:
    """Map an H×W array in [0, vmax] to an H×W×3 float RGB image."""
    x = np.clip(np.asarray(values, np.float32) / max(vmax, 1e-9), 0.0, 1.0) * (len(_ANCHORS) - 1)
    i = np.minimum(x.astype(int), len(_ANCHORS) - 2)
    f = (x - i)[..., None]
    return (_ANCHORS[i] * (1 - f) + _ANCHORS[i + 1] * f).astype(np.float32)
