"""Classical degradation statistics per 8×8 cell, in torch: the perceiver's second view.

A convolutional encoder trained for minutes sees noise and JPEG blocks well and blur, colour loss
or streaks poorly; the signals for those are old, cheap and well understood (no-reference
measures of the kind Perceive-IR and RAR's assessors learn implicitly). :func:`cell_stats` turns
an image into a stride-8 map of them, aligned with the encoder's cells, so tiles stitch exactly
like the features; :func:`global_stats` pools a map into one vector per image.

Channels of :func:`cell_stats` (``STAT_NAMES``), each a mean over the cell unless said otherwise:

* luma mean, log luma std (within the cell), log chroma |x − Y|, saturation (max − min)/max,
  dark channel (minimum over the cell and the channels; haze, cloud), bright channel (low light);
* log |HH| of the 2×2 Haar transform of the luma (noise), log gradient magnitude at full, half and
  quarter resolution (blur and resolution loss show as the fine/coarse ratio), log |Laplacian|;
* log white top-hat (luma minus its 5×5 opening: thin bright structures such as streaks, flakes);
* JPEG grid: log ratio of luma jumps across x ≡ 7 | 8 (mod 8) columns and rows to jumps elsewhere;
* structure tensor of the luma gradients (Jxx, Jyy, Jxy) and of the top-hat's gradients (rain
  streaks share one direction; motion blur suppresses gradients along one);
* fractions of clipped-bright and crushed-dark pixels; colour cast R − G and B − G.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

STAT_NAMES: tuple[str, ...] = (
    "luma", "log_std", "log_chroma", "saturation", "dark", "bright",
    "log_hh", "log_grad1", "log_grad2", "log_grad4", "log_lap", "log_tophat", "log_block",
    "jxx", "jyy", "jxy", "txx", "tyy", "txy", "clip_hi", "clip_lo", "cast_rg", "cast_bg")
N_STATS = len(STAT_NAMES)
N_GLOBAL = 4 * N_STATS + 2  # mean, std, min, max over cells + two global coherences
_LUMA = (0.299, 0.587, 0.114)
_EPS = 1e-4


def _cell(v: torch.Tensor, k: int = 8) -> torch.Tensor:
    return F.avg_pool2d(v, k, k)


def _grad_mag(y: torch.Tensor) -> torch.Tensor:
    gx = F.pad(y[..., :, 1:] - y[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(y[..., 1:, :] - y[..., :-1, :], (0, 0, 0, 1))
    return gx.abs() + gy.abs()


def _central(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p = F.pad(y, (1, 1, 1, 1), mode="replicate")
    return (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) / 2, (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) / 2


def _tensor(y: torch.Tensor) -> list[torch.Tensor]:
    gx, gy = _central(y)
    return [_cell(gx * gx) * 100, _cell(gy * gy) * 100, _cell(gx * gy) * 100]


def _filter(y: torch.Tensor, k: int, op) -> torch.Tensor:
    """k×k minimum or maximum filter (``op`` = torch.minimum / torch.maximum), replicated edges,
    as 2(k − 1) element-wise operations on shifted views (max_pool2d at stride 1 is ~100× slower
    on CPU)."""
    r = k // 2
    p = F.pad(y, (r, r, 0, 0), mode="replicate")
    w = y.shape[-1]
    out = p[..., :, 0:w]
    for i in range(1, k):
        out = op(out, p[..., :, i:i + w])
    p = F.pad(out, (0, 0, r, r), mode="replicate")
    h = y.shape[-2]
    out = p[..., 0:h, :]
    for i in range(1, k):
        out = op(out, p[..., i:i + h, :])
    return out


def _log(v: torch.Tensor) -> torch.Tensor:
    return torch.log(v + _EPS)


@torch.no_grad()
def cell_stats(x: torch.Tensor) -> torch.Tensor:
    """B×3×H×W in [0, 1] → B×N_STATS×⌈H/8⌉×⌈W/8⌉ (edges padded by replication to whole cells;
    tiles whose origins are multiples of 8 give exactly the cells of the whole image, except
    within a few pixels of the tile border, where the filters see the padding)."""
    x = x.float()
    h, w = x.shape[-2:]
    ph, pw = -h % 8, -w % 8
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    lw = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    y = (x * lw).sum(1, keepdim=True)
    cmax, cmin = x.amax(1, keepdim=True), x.amin(1, keepdim=True)
    m = _cell(y)
    std = (_cell(y * y) - m * m).clamp(min=0).sqrt()
    chroma = (x - y).abs().mean(1, keepdim=True)
    sat = (cmax - cmin) / (cmax + 1e-3)
    dark = -F.max_pool2d(-cmin, 8, 8)  # dark channel over the cell's 8×8 patch
    hh = (y[..., 0::2, 0::2] - y[..., 0::2, 1::2] - y[..., 1::2, 0::2] + y[..., 1::2, 1::2]).abs() / 2
    y2 = F.avg_pool2d(y, 2)
    y4 = F.avg_pool2d(y2, 2)
    lap = (F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, 1) - y).abs()
    opening = _filter(_filter(y, 5, torch.minimum), 5, torch.maximum)
    top = (y - opening).clamp(min=0)  # white top-hat: thin bright structures
    # JPEG grid: luma jumps across the 8×8 block boundaries against jumps inside blocks
    dx = F.pad((y[..., :, 1:] - y[..., :, :-1]).abs(), (0, 1, 0, 0))
    dy = F.pad((y[..., 1:, :] - y[..., :-1, :]).abs(), (0, 0, 0, 1))
    col = (torch.arange(y.shape[-1], device=x.device) % 8 == 7).to(x.dtype).view(1, 1, 1, -1)
    row = (torch.arange(y.shape[-2], device=x.device) % 8 == 7).to(x.dtype).view(1, 1, -1, 1)
    across = _cell(dx * col) * 8 + _cell(dy * row) * 8
    inside = (_cell(dx * (1 - col)) + _cell(dy * (1 - row))) * 8 / 7
    block = _log(across) - _log(inside)
    cast = x - y
    maps = [m, _log(std), _log(_cell(chroma)), _cell(sat), dark, _cell(cmax),
            _log(F.avg_pool2d(hh, 4, 4)), _log(_cell(_grad_mag(y))),
            _log(F.avg_pool2d(_grad_mag(y2), 4, 4)), _log(F.avg_pool2d(_grad_mag(y4), 2, 2)),
            _log(_cell(lap)), _log(_cell(top)), block, *_tensor(y), *_tensor(top),
            _cell((y > 0.98).to(x.dtype)), _cell((y < 0.02).to(x.dtype)),
            _cell(cast[:, :1]), _cell(cast[:, 2:])]
    return torch.cat(maps, 1)


def _coherence(jxx: torch.Tensor, jyy: torch.Tensor, jxy: torch.Tensor) -> torch.Tensor:
    return ((jxx - jyy) ** 2 + 4 * jxy**2).sqrt() / (jxx + jyy + 1e-4)


def window_maps(x: torch.Tensor, window: int) -> dict[str, torch.Tensor]:
    """Mean, standard deviation, minimum and maximum over the cells of each window of
    ``window``×``window`` cells of B×C×h×w (stride half a window, windows wholly inside the map;
    a map no larger than a window is one window): B×C×nh×nw each."""
    kh, kw = min(window, x.shape[-2]), min(window, x.shape[-1])
    stride = (max(1, kh // 2), max(1, kw // 2))
    mean = F.avg_pool2d(x, (kh, kw), stride)
    var = (F.avg_pool2d(x * x, (kh, kw), stride) - mean * mean).clamp(min=0)
    return {"mean": mean, "std": var.sqrt(), "min": -F.max_pool2d(-x, (kh, kw), stride),
            "max": F.max_pool2d(x, (kh, kw), stride)}


def window_pool(x: torch.Tensor, window: int) -> dict[str, torch.Tensor]:
    """:func:`window_maps` averaged over the windows (B×C each): statistics of the size the
    network was trained on, whatever the image's size (a maximum over 4 096 cells is not a
    maximum over 256)."""
    return {k: v.flatten(2).mean(2) for k, v in window_maps(x, window).items()}


def _assemble(p: dict[str, torch.Tensor]) -> torch.Tensor:
    mean = p["mean"]
    i = STAT_NAMES.index
    coh = [_coherence(mean[:, i(a)], mean[:, i(b)], mean[:, i(c)])[:, None]
           for a, b, c in (("jxx", "jyy", "jxy"), ("txx", "tyy", "txy"))]
    return torch.cat([mean, p["std"], p["min"], p["max"], *coh], 1)


def global_stats(s: torch.Tensor, window: int = 16) -> torch.Tensor:
    """B×N_STATS×h×w (raw :func:`cell_stats`) → B×N_GLOBAL: per channel the mean, standard
    deviation, minimum and maximum over cells (within windows of ``window`` cells, averaged:
    :func:`window_pool`), then the coherence of the summed structure tensors (luma gradients,
    top-hat gradients)."""
    return _assemble(window_pool(s, window))


def local_stats(s: torch.Tensor, window: int = 16) -> torch.Tensor:
    """The vector of :func:`global_stats` for every window: B×N_GLOBAL×nh×nw."""
    return _assemble(window_maps(s, window))
