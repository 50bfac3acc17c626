"""Degradation synthesis: pure operators, seeded samplers, masks, and ground-truth labels.

>>> from restora.degrade import degrade
>>> out, label = degrade(img, "haze=0.6@blob,noise=25", seed=1)   # doctest: +SKIP
"""

from restora.degrade import masks, ops
from restora.degrade.core import degrade
from restora.degrade.label import Label, Step
from restora.degrade.operators import OPERATORS, STAGES, Operator, Param
from restora.degrade.recipe import RecipeItem, parse

__all__ = ["OPERATORS", "STAGES", "Label", "Operator", "Param", "RecipeItem", "Step", "degrade",
           "masks", "ops", "parse"]
