"""The perceiver's classical per-cell statistics and head-only training over a frozen trunk."""

from __future__ import annotations

import numpy as np
import torch

from restora.degrade import degrade
from restora.nets.perceiver import perceiver
from restora.nets.stats import N_GLOBAL, N_STATS, STAT_NAMES, cell_stats, global_stats


def _photo(h: int = 96, w: int = 128) -> np.ndarray:
    import skimage.data

    img = skimage.data.astronaut()[100:100 + h, 150:150 + w].astype(np.float32) / 255
    return np.ascontiguousarray(img)


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.transpose(2, 0, 1).copy())[None]


def test_shapes_and_odd_sizes():
    s = cell_stats(torch.rand(2, 3, 37, 70))
    assert s.shape == (2, N_STATS, 5, 9) and len(STAT_NAMES) == N_STATS
    assert global_stats(s).shape == (2, N_GLOBAL)
    assert torch.isfinite(global_stats(s)).all()


def test_tiles_on_the_8px_grid_give_the_same_interior_cells():
    img = _t(_photo())
    whole = cell_stats(img)
    tile = cell_stats(img[..., 32:96, 40:120])  # origin (32, 40): cell (4, 5)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    assert torch.allclose(tile[inner], whole[:, :, 4:12, 5:15][inner], atol=1e-5)


def _channel(img: np.ndarray, name: str) -> float:
    return float(cell_stats(_t(img))[0, STAT_NAMES.index(name)].mean())


def test_channels_respond_to_their_degradations():
    clean = _photo()
    noisy, _ = degrade(clean, "noise=25", seed=1)
    assert _channel(noisy, "log_hh") > _channel(clean, "log_hh") + 1.0
    jpeg, _ = degrade(clean, "jpeg=15", seed=1)
    assert _channel(jpeg, "log_block") > _channel(clean, "log_block") + 0.3
    hazy, _ = degrade(clean, "haze=0.8", seed=1)
    assert _channel(hazy, "dark") > _channel(clean, "dark") + 0.1
    gray, _ = degrade(clean, "saturation=1.0", seed=1)
    assert _channel(gray, "log_chroma") < _channel(clean, "log_chroma") - 1.0


def test_frozen_trunk_stays_fixed_while_heads_learn():
    torch.manual_seed(0)
    m = perceiver("tiny")
    m.freeze_trunk()
    m.train()
    assert not m.stem.conv[1].training  # trunk BatchNorm stays in eval mode
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    out = m(torch.rand(4, 3, 32, 32))
    (out.type_logits.sum() + out.dense_logits.sum()).backward()
    opt.step()
    after = m.state_dict()
    trunk = [k for k in after if k.split(".")[0] in m.TRUNK]
    heads = [k for k in after if k.startswith("type_head")]
    assert trunk and all(torch.equal(before[k], after[k]) for k in trunk)
    assert not all(torch.equal(before[k], after[k]) for k in heads)


def test_window_pooling_equals_plain_pooling_on_one_window_and_is_size_stable():
    from restora.nets.stats import window_pool

    x = torch.rand(2, 5, 16, 16)
    p = window_pool(x, 16)
    flat = x.flatten(2)
    assert torch.allclose(p["mean"], flat.mean(2), atol=1e-6)
    assert torch.allclose(p["std"], flat.std(2, unbiased=False), atol=1e-5)
    assert torch.allclose(p["max"], flat.amax(2)) and torch.allclose(p["min"], flat.amin(2))
    big = window_pool(torch.rand(1, 5, 128, 128), 16)  # same distribution, 64× the cells
    assert torch.allclose(big["max"], window_pool(torch.rand(1, 5, 16, 16), 16)["max"], atol=0.1)
