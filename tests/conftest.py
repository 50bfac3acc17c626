import numpy as np
import pytest
import skimage.data

from restora._image import as_image
from restora.data import resize_max


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo, 256×256 (scikit-image 'coffee', centre crop)."""
    img = resize_max(as_image(skimage.data.coffee()), 384)
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[(h - 256) // 2:(h - 256) // 2 + 256, (w - 256) // 2:(w - 256) // 2 + 256])


@pytest.fixture(scope="session")
def small(photo) -> np.ndarray:
    return np.ascontiguousarray(photo[64:160, 64:160])
