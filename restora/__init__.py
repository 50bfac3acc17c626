"""Restora: all-in-one image restoration — perceive, plan, restore region by region, assess, repeat.

The public surface grows with the project; today it is the degradation synthesiser.
"""

from restora.degrade import degrade
from restora.errors import RestoraError

__version__ = "0.1.0"
__all__ = ["RestoraError", "__version__", "degrade"]
