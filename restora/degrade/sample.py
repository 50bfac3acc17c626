"""Seeded samplers: draw whole recipes (which operators, how strong, where) for training data."""

from __future__ import annotations

import numpy as np

from restora.degrade import masks
from restora.degrade.operators import OPERATORS
from restora.degrade.recipe import RecipeItem

NATURAL = ("noise", "poisson", "blur_motion", "blur_defocus", "haze", "rain", "snow", "raindrop",
           "low_light", "jpeg", "low_res", "contrast", "saturation")
# Operators that describe the same physical cause: a recipe takes at most one of each group.
EXCLUSIVE = ({"noise", "poisson", "ct_noise"}, {"rain", "snow"}, {"blur_motion", "blur_defocus"},
             {"contrast", "low_light"})


def random_recipe(rng: np.random.Generator, pool: tuple[str, ...] = NATURAL,
                  counts: tuple[float, ...] = (0.1, 0.45, 0.3, 0.15), p_mask: float = 0.4,
                  severity: tuple[float, float] = (0.1, 1.0)) -> list[RecipeItem]:
    """A random recipe: ``counts[k]`` is the probability of k operators (k = 0 is a clean pair);
    each operator gets a uniform severity in ``severity`` and, with probability ``p_mask``, a
    random mask (blob, half-plane or image segments)."""
    for name in pool:
        if name not in OPERATORS:
            raise ValueError(f"unknown operator in pool: {name}")
    k = int(rng.choice(len(counts), p=np.asarray(counts) / np.sum(counts)))
    chosen: list[str] = []
    for name in rng.permutation(pool):
        if len(chosen) == k:
            break
        if any(name in g and g & set(chosen) for g in EXCLUSIVE):
            continue
        chosen.append(str(name))
    items = []
    for name in chosen:
        sev = float(np.round(rng.uniform(*severity), 3))
        mask = str(rng.choice(masks.KINDS)) if rng.random() < p_mask else None
        cov = float(np.round(rng.uniform(0.25, 0.7), 2)) if mask else None
        items.append(RecipeItem(name, sev, {}, mask, cov))
    return items
