"""How the restorer is told what the perceiver saw.

* :class:`Condition` — the inputs: the perceiver's pooled embedding (what, how bad, globally),
  its dense per-cell maps (what and how strong, where) and optionally a partition of the image into
  regions (a label map).
* :class:`EmbeddingModulation` — ClearAIR's quality-guided modulation, X ⊙ Linear(F) + Linear(F)
  (Eq. 4), which is also Perceive-IR's prior-guided modulation: one scale and one shift per
  channel from the embedding. The scale is parametrised as 1 + Linear(F), zero-initialised, so a
  fresh layer is the identity.
* :class:`MapEncoder` + :class:`SpatialModulation` — the same affine form, but per pixel: scale
  and shift maps computed from the dense degradation maps (encoded once at their 1/8 resolution,
  projected per level and resized to the feature's resolution), so one pass treats haze here and
  noise there differently.
* :class:`RegionPrior` — ClearAIR's region awareness: mask average pooling of shallow features
  over every region (Eq. 6), broadcast back (Eq. 7), read by a semantic cross-attention (Eq. 8–9).
  Since F_sem is constant within a region, attention over its H·W tokens equals attention over the
  N region tokens with a log |Ω_i| bias on each logit, which is what is computed (exact, and cheap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class Condition:
    """Conditioning inputs of a batch.

    ``embedding`` B×E; ``maps`` B×M×h×w (any resolution: resized bilinearly per level, typically
    the perceiver's 1/8 cells: type probabilities then severities); ``regions`` B×H×W int64 region
    index per pixel (at the image's resolution) or None; ``domain`` B×3 domain probabilities or
    None (carried for reports and future use: the domain prompt query reads the shallow features,
    as in DATPRL-IR, not these)."""

    embedding: torch.Tensor
    maps: torch.Tensor
    regions: torch.Tensor | None = None
    domain: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Condition:
        mv = (lambda t: None if t is None else t.to(device))
        return Condition(mv(self.embedding), mv(self.maps), mv(self.regions), mv(self.domain))


class EmbeddingModulation(nn.Module):
    """x ⊙ (1 + Linear_s(e)) + Linear_b(e), per channel (ClearAIR Eq. 4)."""

    def __init__(self, embed: int, ch: int) -> None:
        super().__init__()
        self.scale = nn.Linear(embed, ch)
        self.shift = nn.Linear(embed, ch)
        for lin in (self.scale, self.shift):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return x * (1 + self.scale(e)[:, :, None, None]) + self.shift(e)[:, :, None, None]


class MapEncoder(nn.Module):
    """The dense maps B×M×h×w → hidden features B×hidden×h×w, computed once per image at the
    maps' own (1/8) resolution and shared by every level's :class:`SpatialModulation`."""

    def __init__(self, n_maps: int, hidden: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n_maps, hidden, 3, padding=1), nn.SiLU(),
                                  nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU())

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.body(maps)


class SpatialModulation(nn.Module):
    """x ⊙ (1 + γ) + β with per-pixel γ, β: a 1×1 convolution of the encoded maps (at their own
    resolution), resized bilinearly to x."""

    def __init__(self, hidden: int, ch: int) -> None:
        super().__init__()
        self.out = nn.Conv2d(hidden, 2 * ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        gb = self.out(encoded)
        if gb.shape[-2:] != x.shape[-2:]:
            gb = F.interpolate(gb, size=x.shape[-2:], mode="bilinear", align_corners=False)
        gamma, beta = gb.chunk(2, dim=1)
        return x * (1 + gamma) + beta


def mask_average_pool(x: torch.Tensor, regions: torch.Tensor, n: int) -> tuple[torch.Tensor,
                                                                                torch.Tensor]:
    """Mean feature of every region (ClearAIR Eq. 6): x B×C×H×W, ``regions`` B×H×W in [0, n).
    Returns (B×n×C means, B×n pixel counts); empty regions get a zero mean and a zero count."""
    b, c, h, w = x.shape
    idx = regions.reshape(b, 1, h * w).clamp(0, n - 1)
    sums = x.new_zeros(b, c, n).scatter_add_(2, idx.expand(b, c, h * w), x.reshape(b, c, h * w))
    counts = x.new_zeros(b, 1, n).scatter_add_(2, idx, x.new_ones(b, 1, h * w))
    return (sums / counts.clamp_min(1)).transpose(1, 2), counts[:, 0]


class RegionPrior(nn.Module):
    """Region-level semantic prior: x + W_o · softmax(q·k_i / √d + log|Ω_i|) v_i with q from x and
    (k_i, v_i) from the mask-averaged features of region i (ClearAIR Eq. 6–9). The output
    projection starts at zero (identity at initialisation)."""

    def __init__(self, ch: int, dim: int = 16, max_regions: int = 16) -> None:
        super().__init__()
        self.max_regions, self.dim = max_regions, dim
        self.q = nn.Conv2d(ch, dim, 1)
        self.kv = nn.Linear(ch, 2 * dim)
        self.out = nn.Conv2d(dim, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        if regions.shape[-2:] != (h, w):
            regions = F.interpolate(regions[:, None].float(), size=(h, w), mode="nearest")[:, 0]
        means, counts = mask_average_pool(x, regions.long(), self.max_regions)
        k, v = self.kv(means).chunk(2, dim=-1)  # B×n×d each
        q = self.q(x).flatten(2).transpose(1, 2)  # B×HW×d
        bias = torch.where(counts > 0, counts.clamp_min(1).log(), torch.full_like(counts, -1e4))
        attn = (q @ k.transpose(1, 2) / math.sqrt(self.dim) + bias[:, None, :]).softmax(-1)
        y = (attn @ v).transpose(1, 2).reshape(b, self.dim, h, w)
        return x + self.out(y)
