"""The all-in-one restorer: a U-Net whose blocks are NAFNet's or Restormer's, conditioned on what
the perceiver saw through one interface (:class:`restora.nets.conditioning.Condition`).

Per level (encoder, middle, decoder), after the level's blocks:
  embedding modulation (ClearAIR Eq. 4 / Perceive-IR's prior-guided modulation)
  → spatial modulation from the dense maps (per pixel; the review's spatially varying call)
  → in the middle and decoder: gated fusion of the domain-aware task prompt (DATPRL-IR Eq. 1–3).
At full resolution, after the first convolution: the region prior (ClearAIR Eq. 5–9).

The task prompt pool is queried from the middle feature, the domain pool from the shallow feature
(as in DATPRL-IR). Each conditioning path has a switch in :class:`RestorerConfig`, so the ablation
"none / embedding / + maps / + prompts (+ regions)" is a config change, and a fresh model (every
conditioning output projection zero-initialised) starts as the plain backbone.

Input B×3×H×W in [0, 1], any size (padded by reflection to a multiple of 2^levels, cropped back);
output the restored image (input + predicted residual, not clamped during training).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn
from torch.nn import functional as F

from restora.nets.blocks import make_block
from restora.nets.conditioning import (
    Condition,
    EmbeddingModulation,
    MapEncoder,
    RegionPrior,
    SpatialModulation,
)
from restora.nets.prompts import (
    DomainAwarePrompt,
    GatedPromptFusion,
    PoolOut,
    PromptPool,
    QueryProjector,
)


@dataclass(frozen=True)
class RestorerConfig:
    """Hyper-parameters of a restorer (nothing else: no paths, no weights)."""

    backbone: str = "nafnet"  # "nafnet" or "restormer"
    width: int = 16
    enc: tuple[int, ...] = (1, 1, 2)  # blocks per encoder level (each followed by a downsample)
    mid: int = 2
    dec: tuple[int, ...] = (1, 1, 1)  # blocks per decoder level (deepest first)
    heads: tuple[int, ...] = (1, 2, 4, 8)  # Restormer heads per level, the middle last
    embed: int = 128  # size of the perceiver embedding
    n_maps: int = 30  # channels of the dense maps (15 type probabilities + 15 severities)
    map_hidden: int = 32
    embed_mod: bool = True
    spatial: bool = True
    prompts: bool = True
    regions: bool = True
    max_regions: int = 16
    prompt_size: int = 15
    prompt_tokens: int = 2
    prompt_dim: int = 32
    prompt_key: int = 32
    task_k: int = 3
    domain_k: int = 5
    prompt_temperature: float = 0.1

    @property
    def conditioned(self) -> bool:
        return self.embed_mod or self.spatial or self.prompts or self.regions


@dataclass
class RestorerOutput:
    """``image`` B×3×H×W; ``features`` the decoder's level outputs (deepest first, before the
    last convolution: what the internal-consistency loss compares); ``task`` / ``domain`` the
    prompt pools' answers (None without prompts)."""

    image: torch.Tensor
    features: list[torch.Tensor] = field(default_factory=list)
    task: PoolOut | None = None
    domain: PoolOut | None = None


class _Level(nn.Module):
    """Blocks of one level followed by its conditioning."""

    def __init__(self, cfg: RestorerConfig, ch: int, n_blocks: int, heads: int,
                 prompt: bool) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[make_block(cfg.backbone, ch, heads) for _ in range(n_blocks)])
        self.emb = EmbeddingModulation(cfg.embed, ch) if cfg.embed_mod else None
        self.spatial = SpatialModulation(cfg.map_hidden, ch) if cfg.spatial else None
        self.prompt = GatedPromptFusion(ch, cfg.prompt_dim) if prompt else None

    def forward(self, x: torch.Tensor, cond: Condition | None, maps: torch.Tensor | None,
                prompt: torch.Tensor | None = None) -> torch.Tensor:
        x = self.blocks(x)
        if self.emb is not None:
            x = self.emb(x, cond.embedding)
        if self.spatial is not None:
            x = self.spatial(x, maps)
        if self.prompt is not None and prompt is not None:
            x = self.prompt(x, prompt)
        return x


class Restorer(nn.Module):
    def __init__(self, cfg: RestorerConfig) -> None:
        super().__init__()
        if len(cfg.dec) != len(cfg.enc):
            raise ValueError("enc and dec must have one entry per level")
        if cfg.backbone == "restormer" and len(cfg.heads) < len(cfg.enc) + 1:
            raise ValueError("heads needs one entry per level plus the middle")
        self.cfg = cfg
        w, n = cfg.width, len(cfg.enc)
        heads = cfg.heads if cfg.backbone == "restormer" else (1,) * (n + 1)
        self.intro = nn.Conv2d(3, w, 3, padding=1)
        self.map_encoder = MapEncoder(cfg.n_maps, cfg.map_hidden) if cfg.spatial else None
        self.region = RegionPrior(w, max_regions=cfg.max_regions) if cfg.regions else None
        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        ch = w
        for i, k in enumerate(cfg.enc):
            self.encoders.append(_Level(cfg, ch, k, heads[i], prompt=False))
            self.downs.append(nn.Conv2d(ch, ch * 2, 2, stride=2))
            ch *= 2
        self.middle = _Level(cfg, ch, cfg.mid, heads[n], prompt=cfg.prompts)
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        for i, k in enumerate(cfg.dec):
            self.ups.append(nn.Sequential(nn.Conv2d(ch, ch * 2, 1), nn.PixelShuffle(2)))
            ch //= 2
            self.decoders.append(_Level(cfg, ch, k, heads[n - 1 - i], prompt=cfg.prompts))
        self.ending = nn.Conv2d(w, 3, 3, padding=1)
        nn.init.zeros_(self.ending.weight)  # a fresh restorer is the identity
        nn.init.zeros_(self.ending.bias)
        if cfg.prompts:
            self.task_pool = PromptPool(cfg.prompt_size, cfg.prompt_key, cfg.prompt_tokens,
                                        cfg.prompt_dim, cfg.task_k, cfg.prompt_temperature)
            self.domain_pool = PromptPool(cfg.prompt_size, cfg.prompt_key, cfg.prompt_tokens,
                                          cfg.prompt_dim, cfg.domain_k, cfg.prompt_temperature)
            self.task_query = QueryProjector(w * 2**n, cfg.prompt_key)
            self.domain_query = QueryProjector(w, cfg.prompt_key)
            self.fuse_prompts = DomainAwarePrompt(cfg.prompt_dim)

    @property
    def multiple(self) -> int:
        return 2 ** len(self.cfg.enc)

    def forward(self, x: torch.Tensor, cond: Condition | None = None) -> RestorerOutput:
        if self.cfg.conditioned and cond is None:
            raise ValueError("this restorer is conditioned: pass a Condition (perceiver outputs)")
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        # Reflect where the image is large enough to mirror, else repeat its edge.
        mode = "reflect" if ph < h and pw < w else "replicate"
        inp = F.pad(x, (0, pw, 0, ph), mode=mode) if ph or pw else x
        if cond is not None and cond.regions is not None and (ph or pw):
            reg = F.pad(cond.regions[:, None].float(), (0, pw, 0, ph), mode=mode)
            cond = replace(cond, regions=reg[:, 0].long())
        f = self.intro(inp)
        if self.region is not None and cond.regions is not None:
            f = self.region(f, cond.regions)
        maps = self.map_encoder(cond.maps) if self.map_encoder is not None else None
        shallow, skips = f, []
        for enc, down in zip(self.encoders, self.downs, strict=True):
            f = enc(f, cond, maps)
            skips.append(f)
            f = down(f)
        task = domain = prompt = None
        if self.cfg.prompts:
            task = self.task_pool(self.task_query(f))
            domain = self.domain_pool(self.domain_query(shallow))
            prompt = self.fuse_prompts(task.prompt, domain.prompt)
        f = self.middle(f, cond, maps, prompt)
        feats = []
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            f = dec(up(f) + skip, cond, maps, prompt)
            feats.append(f)
        out = (inp + self.ending(f))[..., :h, :w]
        return RestorerOutput(out, feats, task, domain)


_BASE = {"tiny": {"width": 8, "enc": (1, 1), "mid": 1, "dec": (1, 1), "heads": (1, 1, 2), "embed": 16,
                      "prompt_size": 6, "prompt_dim": 8, "prompt_key": 8, "task_k": 2, "domain_k": 3,
                      "max_regions": 8},
         "small": {"width": 16, "enc": (1, 1, 2), "mid": 2, "dec": (1, 1, 1), "heads": (1, 2, 2, 4)},
         "base": {"width": 32, "enc": (2, 2, 4), "mid": 6, "dec": (2, 2, 2), "heads": (1, 2, 4, 8),
                      "prompt_dim": 64, "prompt_key": 64}}
CONFIGS: dict[str, RestorerConfig] = {
    f"{bb}-{size}": RestorerConfig(backbone=bb, **kw) for bb in ("nafnet", "restormer")
    for size, kw in _BASE.items()}
# Ablation presets: switch conditioning paths off (applied on top of a config).
ABLATIONS: dict[str, dict] = {
    "none": {"embed_mod": False, "spatial": False, "prompts": False, "regions": False},
    "embed": {"embed_mod": True, "spatial": False, "prompts": False, "regions": False},
    "embed+maps": {"embed_mod": True, "spatial": True, "prompts": False, "regions": False},
    "embed+maps+prompts": {"embed_mod": True, "spatial": True, "prompts": True, "regions": False},
    "full": {},
}


def restorer_config(name: str, ablation: str = "full", **overrides) -> RestorerConfig:
    """The named config (e.g. "nafnet-small"), with an ablation preset and overrides applied."""
    if name not in CONFIGS:
        raise ValueError(f"unknown restorer config {name!r} (known: {', '.join(CONFIGS)})")
    if ablation not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablation!r} (known: {', '.join(ABLATIONS)})")
    return replace(CONFIGS[name], **{**ABLATIONS[ablation], **overrides})


def restorer(name: str = "nafnet-small", ablation: str = "full", **overrides) -> Restorer:
    return Restorer(restorer_config(name, ablation, **overrides))


def config_dict(cfg: RestorerConfig) -> dict:
    """JSON-ready form of a config (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def config_from_dict(d: dict) -> RestorerConfig:
    return RestorerConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
