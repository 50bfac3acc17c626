"""Building blocks of the restoration backbones: a NAFNet block (simple gate, simplified channel
attention, no non-linear activation) and a Restormer block (multi-Dconv transposed attention over
channels, gated depthwise feed-forward). Both map B×C×H×W to B×C×H×W at any size."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of every pixel."""

    def __init__(self, ch: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ch))
        self.bias = nn.Parameter(torch.zeros(ch))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class SimpleGate(nn.Module):
    """Split the channels in two halves and multiply them (NAFNet's activation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """NAFNet block: norm → 1×1 → depthwise 3×3 → gate → channel attention → 1×1, then a gated
    feed-forward; both branches enter the residual through learnable scales that start at zero,
    so a fresh block is the identity."""

    def __init__(self, ch: int, expand: int = 2, ffn_expand: int = 2) -> None:
        super().__init__()
        dw = ch * expand
        self.norm1 = LayerNorm2d(ch)
        self.pw1 = nn.Conv2d(ch, dw, 1)
        self.dw = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.gate = SimpleGate()
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.pw2 = nn.Conv2d(dw // 2, ch, 1)
        self.norm2 = LayerNorm2d(ch)
        self.ffn1 = nn.Conv2d(ch, ch * ffn_expand, 1)
        self.ffn2 = nn.Conv2d(ch * ffn_expand // 2, ch, 1)
        self.beta = nn.Parameter(torch.zeros(1, ch, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, ch, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gate(self.dw(self.pw1(self.norm1(x))))
        y = self.pw2(y * self.sca(y))
        x = x + self.beta * y
        y = self.ffn2(self.gate(self.ffn1(self.norm2(x))))
        return x + self.gamma * y


class TransposedAttention(nn.Module):
    """Restormer's MDTA: queries, keys and values from 1×1 then depthwise 3×3 convolutions;
    attention between channels (a C/heads × C/heads map per head), so the cost is linear in the
    number of pixels."""

    def __init__(self, ch: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(ch, ch * 3, 1)
        self.qkv_dw = nn.Conv2d(ch * 3, ch * 3, 3, padding=1, groups=ch * 3)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dw(self.qkv(x)).chunk(3, dim=1)
        q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in (q, k, v))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        return self.proj((attn @ v).reshape(b, c, h, w))


class GatedDconvFFN(nn.Module):
    """Restormer's GDFN: 1×1 expand, depthwise 3×3, GELU-gated halves, 1×1 project."""

    def __init__(self, ch: int, expand: float = 2.0) -> None:
        super().__init__()
        hidden = int(ch * expand)
        self.pw1 = nn.Conv2d(ch, hidden * 2, 1)
        self.dw = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2)
        self.pw2 = nn.Conv2d(hidden, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dw(self.pw1(x)).chunk(2, dim=1)
        return self.pw2(F.gelu(a) * b)


class RestormerBlock(nn.Module):
    """Restormer transformer block: x + MDTA(norm x), then x + GDFN(norm x)."""

    def __init__(self, ch: int, heads: int = 1, ffn_expand: float = 2.0) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(ch)
        self.attn = TransposedAttention(ch, heads)
        self.norm2 = LayerNorm2d(ch)
        self.ffn = GatedDconvFFN(ch, ffn_expand)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def make_block(kind: str, ch: int, heads: int = 1) -> nn.Module:
    """A block of backbone ``kind`` ("nafnet" or "restormer") with ``ch`` channels."""
    if kind == "nafnet":
        return NAFBlock(ch)
    if kind == "restormer":
        return RestormerBlock(ch, heads=heads)
    raise ValueError(f"unknown backbone {kind!r} (known: nafnet, restormer)")
