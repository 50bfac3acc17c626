"""DATPRL-IR's task and domain prompt pools (query → retrieval → composition), their fusion into
a domain-aware task prompt, and the adaptive gated fusion that injects it into a feature map.

* :class:`PromptPool` — N (key, value) pairs, keys in R^k, values T×d tokens. A query retrieves
  the top-k keys by cosine similarity; their values are composed with softmax weights of the
  similarities at a temperature (Eq. 1). The returned :class:`PoolOut` holds what the prompt
  regularisers need (similarities, selected indices, the query and the values).
* :class:`QueryProjector` — the "lightweight CNN" that maps a feature map to a query: a conv, a
  global average pool and a two-layer MLP.
* :class:`DomainAwarePrompt` — cross-attention of the task prompt tokens over the domain prompt
  tokens: PR_dt = PR_t + Attn(PR_t, PR_d).
* :class:`GatedPromptFusion` — Eq. 3, per layer: F_e = F + CrossAttn(α F, (1 − α) PR_dt), every
  pixel attending to the T prompt tokens, with a learnable α ∈ [0, 1] per layer; the output
  projection starts at zero (identity at initialisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class PoolOut:
    """One pool's answer for a batch: ``prompt`` B×T×d (composed), ``sims`` B×N cosine
    similarities of the query to every key, ``topk`` B×k selected indices, ``query`` B×key_dim,
    ``keys`` N×key_dim and ``values`` N×T×d (the pool's parameters, for the regularisers)."""

    prompt: torch.Tensor
    sims: torch.Tensor
    topk: torch.Tensor
    query: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor


class PromptPool(nn.Module):
    """N learnable prompts (key, value); retrieval of the top-k by cosine similarity and a
    softmax composition at ``temperature`` (DATPRL-IR Eq. 1)."""

    def __init__(self, size: int, key_dim: int, tokens: int, dim: int, top_k: int,
                 temperature: float = 0.1) -> None:
        super().__init__()
        if not 1 <= top_k <= size:
            raise ValueError(f"top_k must be in [1, {size}], got {top_k}")
        self.keys = nn.Parameter(torch.randn(size, key_dim))
        self.values = nn.Parameter(torch.randn(size, tokens, dim) / math.sqrt(dim))
        self.top_k, self.temperature = top_k, temperature

    def forward(self, query: torch.Tensor) -> PoolOut:
        sims = F.normalize(query, dim=-1) @ F.normalize(self.keys, dim=-1).T  # B×N
        top, idx = sims.topk(self.top_k, dim=-1)
        alpha = (top / self.temperature).softmax(-1)  # B×k
        prompt = torch.einsum("bk,bktd->btd", alpha, self.values[idx])
        return PoolOut(prompt, sims, idx, query, self.keys, self.values)


class QueryProjector(nn.Module):
    """Feature map B×C×H×W → query B×q: 3×3 conv, global average pool, two-layer MLP."""

    def __init__(self, ch: int, out: int, hidden: int = 32) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, hidden, 3, padding=1)
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(F.silu(self.conv(x)).mean((2, 3)))


class DomainAwarePrompt(nn.Module):
    """PR_dt = PR_t + softmax(PR_t W_q (PR_d W_k)^T / √d) PR_d W_v (single head)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.scale = 1 / math.sqrt(dim)

    def forward(self, task: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        attn = (self.q(task) @ self.k(domain).transpose(1, 2) * self.scale).softmax(-1)
        return task + attn @ self.v(domain)


class GatedPromptFusion(nn.Module):
    """DATPRL-IR Eq. 3 for one layer: pixels (scaled by α) attend to the prompt tokens (scaled
    by 1 − α); α = sigmoid(a) is learned per layer and starts at 0.5."""

    def __init__(self, ch: int, dim: int, attn_dim: int = 16) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(()))
        self.q = nn.Conv2d(ch, attn_dim, 1)
        self.k = nn.Linear(dim, attn_dim)
        self.v = nn.Linear(dim, attn_dim)
        self.out = nn.Conv2d(attn_dim, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.scale = 1 / math.sqrt(attn_dim)

    def forward(self, x: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        a = torch.sigmoid(self.gate)
        q = self.q(a * x).flatten(2).transpose(1, 2)  # B×HW×a
        p = (1 - a) * prompt
        k, v = self.k(p), self.v(p)  # B×T×a
        y = ((q @ k.transpose(1, 2)) * self.scale).softmax(-1) @ v
        return x + self.out(y.transpose(1, 2).reshape(b, -1, h, w))
