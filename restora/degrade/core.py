"""Compose operators in the physical order, under masks, and return the ground-truth label."""

from __future__ import annotations

import zlib

import numpy as np

from restora._image import as_image
from restora.degrade import masks as _masks
from restora.degrade.fields import rng_for
from restora.degrade.label import Label, Step
from restora.degrade.operators import get
from restora.degrade.recipe import RecipeItem, parse, to_string


def _key(name: str) -> int:
    return zlib.crc32(name.encode())


def degrade(img: np.ndarray, recipe: str | list[RecipeItem], seed: int = 0) -> tuple[np.ndarray, Label]:
    """Degrade ``img`` (float32 RGB in [0, 1]) by ``recipe``; return the image and its label.

    Each operator draws from its own seeded stream (keyed by its name), so adding an operator to a
    recipe does not change how the others are drawn, and the same recipe and seed always give the
    same bits. A severity left open is drawn from [0.2, 1].
    """
    img = as_image(img)
    items = parse(recipe)
    h, w = img.shape[:2]
    label = Label((h, w), int(seed), to_string(items))
    clean = img
    out = img
    for it in items:
        op = get(it.name)
        rng = rng_for(seed, _key(it.name))
        sev = it.severity
        if sev is None and op.primary.name in it.params:
            sev = op.primary.severity_of(it.params[op.primary.name])  # may exceed 1 (unseen)
        elif sev is None:
            sev = float(np.round(rng.uniform(0.2, 1.0), 3))
        params = op.params_for(min(max(sev, 0.0), 1.0), rng, it.params)
        mask, mask_seed = None, None
        if it.mask:
            mask_seed = int(rng_for(seed, _key(it.name), 1).integers(0, 2**31 - 1))
            mask = _masks.make(it.mask, (h, w), mask_seed, image=clean, coverage=it.coverage)
        out, extras = op.render(out, params, mask)
        out = np.clip(out, 0.0, 1.0).astype(np.float32)
        m = mask if mask is not None else np.ones((h, w), np.float32)
        label.steps.append(Step(op.name, op.stage, float(sev), params, it.mask, mask_seed, it.coverage))
        label.maps[op.name] = (np.float32(sev) * m).astype(np.float32)
        label.masks[op.name] = m
        label.extras.update(extras)
    return out, label
