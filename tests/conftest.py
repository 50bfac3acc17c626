import numpy as np
import pytest
import skimage.data
import torch

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


def tiny_model(types=("haze", "contrast", "saturation")) -> torch.nn.Module:
    """A random tiny perceiver that detects exactly ``types``, everywhere, and nothing locally
    (one region, few and fast steps): for tests of the agent's plumbing, not its quality."""
    from restora.nets.perceiver import OPS, perceiver

    torch.manual_seed(0)
    m = perceiver("tiny").eval()
    with torch.no_grad():
        m.type_head.weight.mul_(0.1)
        m.type_head.bias.fill_(-6.0)
        for op in types:
            m.type_head.bias[OPS.index(op)] = 6.0
        m.dense_head[-1].bias[:len(OPS)].fill_(-6.0)
    return m


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for the module: the tiny perceiver is far faster so when the other
    core is busy (two OpenMP threads stall on a shared core)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
