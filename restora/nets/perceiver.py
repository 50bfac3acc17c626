"""The perceiver: one light convolutional encoder, several heads (how bad, what, where, which
domain, better or worse).

Input: B×3×H×W float RGB in [0, 1], any size (the encoder pads to a multiple of 8 implicitly
through its strided convolutions). The encoder keeps absolute intensities (no per-image
normalisation), since darkness, contrast and colour loss are what some heads must see.

Heads
* ``type_logits``  B×16  multi-label: the 15 operators of :data:`restora.degrade.OPERATORS`
  followed by ``"clean"`` (:data:`TYPES`);
* ``severity``     B×15  per operator, in normalised severity units (0 = none, 1 = heaviest
  trained level); meaningful only for the types present. Convert with
  ``OPERATORS[op].primary.at(s)`` (see :func:`decode`);
* ``dense_logits`` B×15×h×w per-cell (1/8 resolution) presence of each operator; the cell's
  target is the operator's mask averaged over the 8×8 cell; each cell is conditioned on the
  embedding of its own 128-px window (the training crop's size), not the whole image's;
* ``dense_severity`` B×15×h×w per-cell severity × mask (the label map averaged over the cell);
* ``domain_logits`` B×3 over :data:`DOMAINS` (natural, medical, remote);
* ``quality_logit`` B   no-reference quality; the score is ``sigmoid(quality_logit)`` ∈ [0, 1],
  trained so that it estimates ``sigmoid((PSNR_to_clean − 24 dB) / 4 dB)`` (see
  :func:`quality_from_psnr`); tiers by :data:`TIER_THRESHOLDS`;
* ``embedding``    B×E  the pooled latent all global heads read from: the conditioning vector for
  restorers (RAR: condition on the assessor's latent, not on decoded text);
* :meth:`Perceiver.compare` — siamese comparator on two embeddings: the logit that image B is
  closer to its clean version than image A; exactly antisymmetric:
  compare(a, b) = −compare(b, a).

Global heads pool over the dense features (mean, and maxima within 128-px windows averaged over
the windows), so every head works at any size and judges a large image like its training crops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from restora.degrade.operators import OPERATORS
from restora.nets.stats import (
    N_GLOBAL,
    N_STATS,
    cell_stats,
    global_stats,
    local_stats,
    window_maps,
    window_pool,
)

OPS: tuple[str, ...] = tuple(OPERATORS)
TYPES: tuple[str, ...] = OPS + ("clean",)
DOMAINS: tuple[str, ...] = ("natural", "medical", "remote")
TIERS: tuple[str, ...] = ("terrible", "mediocre", "excellent")
# Score thresholds between the tiers: < 0.25 terrible (PSNR ≲ 19.6 dB), ≥ 0.8 excellent
# (PSNR ≳ 29.5 dB), mediocre in between.
TIER_THRESHOLDS: tuple[float, float] = (0.25, 0.8)
QUALITY_CENTER_DB, QUALITY_SCALE_DB = 24.0, 4.0
STRIDE = 8


def quality_from_psnr(psnr_db: float | torch.Tensor) -> float | torch.Tensor:
    """The quality score the perceiver is trained to output: sigmoid((PSNR − 24 dB) / 4 dB).
    Monotone in PSNR-to-clean; 0.5 at 24 dB, 0.88 at 32 dB, 0.12 at 16 dB."""
    if isinstance(psnr_db, torch.Tensor):
        return torch.sigmoid((psnr_db - QUALITY_CENTER_DB) / QUALITY_SCALE_DB)
    return 1.0 / (1.0 + math.exp(-(psnr_db - QUALITY_CENTER_DB) / QUALITY_SCALE_DB))


def tier_of(score: float) -> str:
    """Perceive-IR's three quality tiers from a score in [0, 1]."""
    lo, hi = TIER_THRESHOLDS
    return TIERS[0] if score < lo else TIERS[2] if score >= hi else TIERS[1]


@dataclass
class PerceiverOutput:
    """Raw head outputs (tensors, batch first); see the module docstring for each field."""

    type_logits: torch.Tensor
    severity: torch.Tensor
    dense_logits: torch.Tensor
    dense_severity: torch.Tensor
    domain_logits: torch.Tensor
    quality_logit: torch.Tensor
    embedding: torch.Tensor

    @property
    def quality(self) -> torch.Tensor:
        return torch.sigmoid(self.quality_logit)


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
            dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k - 1) // 2
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, dilation, groups, bias=False),
                         nn.BatchNorm2d(cout))


class SepBlock(nn.Module):
    """Residual depthwise-separable block: depthwise k×k (optionally dilated) → pointwise expand
    → activation → pointwise project."""

    def __init__(self, ch: int, expand: int = 2, k: int = 3, dilation: int = 1) -> None:
        super().__init__()
        self.dw = conv_bn(ch, ch, k, groups=ch, dilation=dilation)
        self.pw1 = conv_bn(ch, ch * expand, 1)
        self.pw2 = conv_bn(ch * expand, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pw2(F.silu(self.pw1(self.dw(x))))


class Down(nn.Module):
    """Strided 3×3 convolution that halves the resolution."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = conv_bn(cin, cout, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.conv(x))


class Perceiver(nn.Module):
    """Encoder to a stride-8 feature map plus a coarse context branch (stride 32), then the heads.

    ``widths`` are the channels at strides 2, 4, 8; ``blocks`` the number of separable blocks at
    strides 4 and 8 (those at stride 8 cycle through ``dilations`` for a wide receptive field);
    ``context_blocks`` run at stride 32 and are added back, up-sampled, to the stride-8 features;
    ``embed`` is the size of the pooled latent.
    """

    def __init__(self, widths: tuple[int, int, int] = (24, 48, 96),
                 blocks: tuple[int, int] = (1, 4), dilations: tuple[int, ...] = (1, 2, 4, 1),
                 context_blocks: int = 2, expand: int = 2, embed: int = 96,
                 compare_hidden: int = 64, stats: bool = False, head_hidden: int = 0) -> None:
        super().__init__()
        self.use_stats, self.frozen_trunk = stats, False
        # global pooling statistics are taken over windows of the training crop's size (128 px
        # = 16 cells) and averaged, so that a large image is judged like the crops the heads
        # learnt from (restora.nets.stats.window_pool)
        self.pool_window = 16
        c1, c2, c3 = widths
        self.stem = Down(3, c1)
        self.stage4 = nn.Sequential(Down(c1, c2), *[SepBlock(c2, expand) for _ in range(blocks[0])])
        self.stage8 = nn.Sequential(
            Down(c2, c3),
            *[SepBlock(c3, expand, dilation=dilations[i % len(dilations)])
              for i in range(blocks[1])])
        self.context = nn.Sequential(Down(c3, c3), Down(c3, c3),
                                     *[SepBlock(c3, expand) for _ in range(context_blocks)])
        self.global_bias = nn.Linear(embed, c3)
        g_in = 2 * c3
        if stats:  # classical statistics per cell (restora.nets.stats), normalised by BatchNorm
            self.stat_norm = nn.BatchNorm2d(N_STATS)
            self.global_norm = nn.BatchNorm1d(N_GLOBAL)
            self.stat_proj = nn.Conv2d(N_STATS, c3, 1)
            g_in += N_GLOBAL
        hidden = head_hidden or embed
        self.to_embed = nn.Sequential(nn.Linear(g_in, hidden), nn.SiLU(), nn.Linear(hidden, embed),
                                      nn.LayerNorm(embed))
        n = len(OPS)
        self.type_head = nn.Linear(embed, n + 1)
        self.severity_head = nn.Linear(embed, n)
        self.domain_head = nn.Linear(embed, len(DOMAINS))
        self.quality_head = nn.Linear(embed, 1)
        self.dense_head = nn.Sequential(nn.Conv2d(c3, c3, 1), nn.SiLU(), nn.Conv2d(c3, 2 * n, 1))
        self.compare_head = nn.Sequential(nn.Linear(2 * embed, compare_hidden), nn.SiLU(),
                                          nn.Linear(compare_hidden, 1))
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.45), persistent=False)

    TRUNK = ("stem", "stage4", "stage8", "context")

    def freeze_trunk(self, frozen: bool = True) -> None:
        """Fix the convolutional trunk (weights and BatchNorm statistics) and train the heads only:
        how heads are re-trained cheaply on a CPU over a trunk trained on a GPU."""
        self.frozen_trunk = frozen
        for name in self.TRUNK:
            getattr(self, name).requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> Perceiver:
        super().train(mode)
        if self.frozen_trunk:
            for name in self.TRUNK:
                getattr(self, name).eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Stride-8 cell descriptor B×C×⌈H/8⌉×⌈W/8⌉: the trunk's features (with the coarse
        context added), followed by the raw classical statistics when the model uses them."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_trunk):
            f = self.stage8(self.stage4(self.stem((x - self.mean) * 4.0)))
            ctx = self.context(f)
            f = f + F.interpolate(ctx, size=f.shape[-2:], mode="bilinear", align_corners=False)
        if self.use_stats:
            f = torch.cat([f, cell_stats(x).to(f.dtype)], 1)
        return f

    def forward(self, x: torch.Tensor) -> PerceiverOutput:
        return self.heads(self.features(x))

    def heads(self, f: torch.Tensor) -> PerceiverOutput:
        """All head outputs from a stride-8 feature map (:meth:`features`). Global heads pool
        over the whole map, so a map assembled from tiles gives the whole image's answer."""
        parts = [f, None]
        if self.use_stats:
            parts = list(torch.split(f, [f.shape[1] - N_STATS, N_STATS], 1))
        f = parts[0]
        pooled = [f.mean((2, 3)), window_pool(f, self.pool_window)["max"]]
        cell = f
        if self.use_stats:
            raw = parts[1].float()
            pooled.append(self.global_norm(global_stats(raw, self.pool_window)).to(f.dtype))
            cell = f + self.stat_proj(self.stat_norm(raw)).to(f.dtype)
        emb = self.to_embed(torch.cat(pooled, dim=1))
        h, w = f.shape[-2:]
        if max(h, w) <= self.pool_window:
            bias = self.global_bias(emb)[:, :, None, None]
        else:  # each cell is conditioned on its own 128-px window, as in training
            bias = self._window_bias(f, parts[1], (h, w))
        dense = self.dense_head(F.silu(cell + bias))
        n = len(OPS)
        return PerceiverOutput(
            type_logits=self.type_head(emb),
            severity=self.severity_head(emb),
            dense_logits=dense[:, :n],
            dense_severity=dense[:, n:],
            domain_logits=self.domain_head(emb),
            quality_logit=self.quality_head(emb).squeeze(1),
            embedding=emb)

    def _window_bias(self, f: torch.Tensor, raw: torch.Tensor | None,
                     size: tuple[int, int]) -> torch.Tensor:
        """The dense head's conditioning per cell: the embedding of every 128-px window (stride
        64 px) through ``global_bias``, bilinearly interpolated to the cells."""
        m = window_maps(f, self.pool_window)
        parts = [m["mean"], m["max"]]
        if self.use_stats:
            g = local_stats(raw.float(), self.pool_window)
            b, c, nh, nw = g.shape
            g = self.global_norm(g.permute(0, 2, 3, 1).reshape(-1, c))
            parts.append(g.reshape(b, nh, nw, c).permute(0, 3, 1, 2).to(f.dtype))
        x = torch.cat(parts, 1)
        b, c, nh, nw = x.shape
        emb = self.to_embed(x.permute(0, 2, 3, 1).reshape(-1, c))
        bias = self.global_bias(emb).reshape(b, nh, nw, -1).permute(0, 3, 1, 2)
        return F.interpolate(bias, size=size, mode="bilinear", align_corners=False)

    def compare(self, emb_a: torch.Tensor, emb_b: torch.Tensor) -> torch.Tensor:
        """Logit that B is closer to its clean image than A (B×E, B×E → B); antisymmetric by
        construction: u(b, a) − u(a, b)."""
        u_ba = self.compare_head(torch.cat([emb_b, emb_a], dim=1))
        u_ab = self.compare_head(torch.cat([emb_a, emb_b], dim=1))
        return (u_ba - u_ab).squeeze(1)


CONFIGS: dict[str, dict] = {
    # Tests: 32 px on CPU in milliseconds.
    "tiny": {"widths": (8, 12, 16), "blocks": (0, 1), "dilations": (1,), "context_blocks": 1,
             "expand": 2, "embed": 16, "compare_hidden": 8, "stats": True},
    # Shipped: 1 030 388 parameters (4.2 MB fp32): ~0.13 s at 512×512 on 2 CPU cores
    # (BENCHMARKS.md), the classical statistics included.
    "small": {"widths": (24, 48, 128), "blocks": (1, 5), "dilations": (1, 2, 4, 8, 1),
              "context_blocks": 2, "expand": 2, "embed": 128, "compare_hidden": 64,
              "stats": True, "head_hidden": 256},
}


def perceiver(name: str = "small") -> Perceiver:
    """A fresh (untrained) perceiver of a named configuration."""
    if name not in CONFIGS:
        raise ValueError(f"unknown perceiver config {name!r} (known: {', '.join(CONFIGS)})")
    return Perceiver(**CONFIGS[name])


def decode(out: PerceiverOutput, threshold: float = 0.5) -> list[dict]:
    """Per-image readable summary of a batch of outputs: detected types with probability and
    severity (normalised and in the operator's own unit), clean flag, domain, quality and tier.
    A type is detected when its probability is ≥ ``threshold``; an image is clean when none is."""
    probs = torch.sigmoid(out.type_logits[:, : len(OPS)]).float().cpu()
    sev = out.severity.float().clamp(0.0, 1.2).cpu()
    dom = torch.softmax(out.domain_logits.float(), 1).cpu()
    q = out.quality.float().cpu()
    res = []
    for i in range(probs.shape[0]):
        found = []
        for j, op in enumerate(OPS):
            p = float(probs[i, j])
            if p >= threshold:
                s = float(sev[i, j])
                prim = OPERATORS[op].primary
                value = min(max(prim.at(s), prim.valid[0]), prim.valid[1])
                found.append({"op": op, "prob": p, "severity": s, "param": prim.name,
                              "value": value, "unit": prim.unit})
        found.sort(key=lambda d: -d["prob"])
        res.append({"types": found, "clean": not found,
                    "domain": DOMAINS[int(dom[i].argmax())], "domain_prob": float(dom[i].max()),
                    "quality": float(q[i]), "tier": tier_of(float(q[i]))})
    return res
