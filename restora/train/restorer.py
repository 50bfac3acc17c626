"""Train the all-in-one restorer on synthetic degradations of clean photos, generated on the fly,
conditioned on the (frozen) perceiver's view of each degraded crop.

    restora train restorer --config nafnet-small --minutes 90 --out runs/restorer
    torchrun --nproc-per-node 2 -m restora.train.restorer --config nafnet-tiny --steps 20 ...

Data (:class:`RestorerData`): sample ``i`` (deterministic in (seed, i)) is a clean crop of
:class:`restora.data.PairStream`, a domain (natural 80 %, medical 10 % as grayscale, remote 10 %,
the perceiver's pools), a random recipe of one to three operators (12 % clean: the restorer must
leave clean content alone), spatial masks on 40 % of the operators, and a region partition: the
pixels grouped by which operators' masks cover them, each mask dropped with probability 0.3 and
merged into the background (ClearAIR's mask dropout). At inference the regions come from
:func:`restora.perceive.regions`.

Loss (``restora.train.losses``, weights in :class:`TrainConfig`, 0 switches a term off):
reconstruction L1 + 0.1 · Fourier L1; the contrastive degradation loss on the task-prompt query;
DATPRL-IR's prompt regularisers (diversity, balance, selection contrast, domain alignment to a
fixed random projection of the perceiver's embedding of the clean crop); optionally the quality
loss and the contrastive perceptual loss through the frozen perceiver, and the internal
consistency of a second pass on a flipped output.

Exact resumption: optimiser step s trains on the sample indices [s·batch, (s+1)·batch); the
checkpoint holds model, EMA, optimiser, schedule and step. Distributed (torchrun; gloo on CPU,
NCCL on GPU): ``batch`` is the global batch, rank r of R takes the r-th 1/R of each step's indices,
so no crop repeats across ranks and the averaged gradient equals one process's on the same batch
(for the per-sample terms; the batch-level contrastive and balance terms see local batches).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from restora.data import PairStream, training_paths
from restora.degrade import degrade
from restora.degrade.fields import rng_for
from restora.degrade.sample import random_recipe
from restora.nets.conditioning import Condition
from restora.nets.perceiver import DOMAINS, OPS, Perceiver
from restora.nets.restorer import Restorer, config_dict, restorer, restorer_config
from restora.train import losses as L
from restora.train.perceiver import (
    COUNTS,
    DOMAIN_P,
    POOLS,
    _chroma,
    _gray,
    _hardware,
    _save_atomic,
    _truncate_log,
    _worker_init,
    card_path,
    config_parser,
    load_perceiver,
    psnr,
    sha256_of,
    split_paths,
    tqdm,
    verified_metadata,
)

DEFAULT_PERCEIVER = Path(__file__).resolve().parents[1] / "weights" / "perceiver_small.safetensors"
N_OPS = len(OPS)


# --------------------------------------------------------------------------------------------
# data


def region_partition(masks: Sequence[np.ndarray], rng: np.random.Generator, max_regions: int,
                     p_drop: float = 0.3) -> np.ndarray:
    """H×W int64 region ids: pixels grouped by which of the (kept) ``masks`` cover them (> 0.5);
    each mask is dropped with probability ``p_drop``; at most ``max_regions`` ids (larger ids
    folded into the last)."""
    h, w = masks[0].shape if masks else (0, 0)
    code = np.zeros((h, w), np.int64)
    for j, m in enumerate(masks):
        if rng.random() >= p_drop:
            code |= (np.asarray(m) > 0.5).astype(np.int64) << j
    _, inv = np.unique(code, return_inverse=True)
    return np.minimum(inv.reshape(h, w), max_regions - 1)


class RestorerData(Dataset):
    """Map-style dataset of (degraded, clean) crops with types, domain and regions; see the
    module docstring. ``data[i]`` is deterministic in (``seed``, ``i``)."""

    def __init__(self, paths: Sequence[str | Path], crop: int = 128, seed: int = 0,
                 max_side: int = 512, p_mask: float = 0.4, max_regions: int = 16) -> None:
        if crop % 8:
            raise ValueError(f"crop must be a multiple of 8, got {crop}")
        self.stream = PairStream(paths, size=crop, seed=seed, max_side=max_side)
        self.crop, self.seed, self.p_mask, self.max_regions = crop, seed, p_mask, max_regions

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        i = int(i)
        rng = rng_for(self.seed, 303, i)
        d = int(rng.choice(len(DOMAINS), p=DOMAIN_P))
        clean = self.stream.clean_crop(i)
        pool = POOLS[DOMAINS[d]]
        if DOMAINS[d] == "medical":
            clean = _gray(clean)
        elif DOMAINS[d] == "natural" and _chroma(clean) < 0.01:
            pool = tuple(p for p in pool if p != "saturation")
        items = random_recipe(rng, pool, counts=COUNTS[DOMAINS[d]], p_mask=self.p_mask)
        img, label = degrade(clean, items, seed=int(rng.integers(0, 2**31 - 1)))
        types = np.zeros(N_OPS + 1, np.float32)
        for s in label.steps:
            types[OPS.index(s.op)] = 1.0
        types[N_OPS] = float(not label.steps)
        masks = [label.masks[s.op] for s in label.steps]
        regions = (region_partition(masks, rng, self.max_regions) if masks
                   else np.zeros(clean.shape[:2], np.int64))
        return {"input": np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32),
                "target": np.ascontiguousarray(clean.transpose(2, 0, 1), dtype=np.float32),
                "types": types, "domain": np.int64(d), "regions": regions,
                "psnr_in": np.float32(psnr(img, clean))}


class RankBatches(Sampler[list[int]]):
    """Step ``s`` uses the global sample indices [s·batch, (s+1)·batch); rank r of ``world``
    takes its contiguous 1/world of them (a resumed or distributed run sees exactly the crops an
    uninterrupted single-process run would)."""

    def __init__(self, start: int, stop: int, batch: int, rank: int = 0, world: int = 1) -> None:
        if batch % world:
            raise ValueError(f"the global batch {batch} must be a multiple of the {world} ranks")
        self.start, self.stop, self.batch, self.rank, self.world = start, stop, batch, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        local = self.batch // self.world
        for s in range(self.start, self.stop):
            first = s * self.batch + self.rank * local
            yield list(range(first, first + local))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


# --------------------------------------------------------------------------------------------
# conditioning and the loss


@torch.no_grad()
def condition_from(perceiver: Perceiver, x: torch.Tensor,
                   regions: torch.Tensor | None = None) -> Condition:
    """The restorer's condition from the perceiver's outputs on the degraded batch ``x``: the
    embedding, the dense maps (type probabilities, then severities; 1/8 resolution), the domain
    probabilities, and the given region partition."""
    out = perceiver(x)
    maps = torch.cat([torch.sigmoid(out.dense_logits), out.dense_severity], 1)
    return Condition(out.embedding, maps, regions, out.domain_logits.softmax(-1))


def frozen_perceiver(path: str | Path, device: torch.device | str = "cpu") -> Perceiver:
    """The perceiver the restorer is conditioned on: eval mode, no gradients to its weights
    (losses through it still reach the restorer's output)."""
    p = load_perceiver(path).to(device)
    for w in p.parameters():
        w.requires_grad_(False)
    return p


def anchor_projection(embed: int, dim: int, seed: int = 1234) -> torch.Tensor:
    """A fixed random orthogonal-ish projection E → d (the stand-in for CLIP's text space in
    DATPRL-IR's alignment loss; fixed, so the loss cannot collapse both sides)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(embed, dim, generator=g) / math.sqrt(embed)


@dataclass
class TrainConfig:
    """Everything a run depends on; ``batch`` is the global batch (all ranks together)."""

    config: str = "nafnet-small"
    ablation: str = "full"
    steps: int = 4000
    batch: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    crop: int = 128
    seed: int = 0
    workers: int = 1
    device: str = "cpu"
    ema: float = 0.999
    clip: float = 1.0
    ckpt_every: int = 100
    val_every: int = 0  # 0: at every checkpoint
    val_crops: int = 24
    val_suite: str = "five-deg"  # bench suite recipes on held-out training images ("": none)
    val_suite_images: int = 4
    log_every: int = 10
    out: str = "runs/restorer"
    images: str | None = None
    max_side: int = 512
    perceiver: str = str(DEFAULT_PERCEIVER)
    export: str | None = None
    minutes: float = 0.0  # > 0: fix ``steps`` to fill this wall-clock budget (measured early)
    init: str | None = None  # start from these weights (.safetensors, or a ckpt.pt's EMA)
    p_mismatch: float = 0.25  # share of samples trained on a neighbour's perceiver outputs
    fft_weight: float = 0.1
    w_contrast: float = 0.1  # contrastive degradation loss on the task query (Perceive-IR Eq. 12)
    w_div: float = 0.1
    w_bal: float = 0.1
    w_con: float = 0.1
    w_align: float = 0.1
    w_quality: float = 0.0  # quality-aware loss through the frozen perceiver (Perceive-IR Eq. 9)
    w_perceptual: float = 0.0  # contrastive perceptual loss on perceiver features (Eq. 10–11)
    w_clue: float = 0.0  # internal consistency of a second pass (ClearAIR Eq. 15–17)


def ckpt_exists(out: str | Path) -> bool:
    return (Path(out) / "ckpt.pt").is_file()


def init_restorer(model: Restorer, path: str | Path, verbose: bool = False) -> None:
    """Copy the tensors of ``path`` (exported weights, or the EMA of a training checkpoint)
    whose names and shapes match into ``model``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--init: no such file: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        src = load_file(str(path))
    else:
        src = torch.load(path, map_location="cpu", weights_only=False)["ema"]
    own = model.state_dict()
    same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(same, strict=False)
    if verbose:
        print(f"init from {path}: {len(same)} of {len(own)} tensors copied", flush=True)


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    warm = min(cfg.warmup, max(1, cfg.steps // 10))
    if step < warm:
        return (step + 1) / warm
    p = min(1.0, (step - warm) / max(1, cfg.steps - warm))
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * p))


def mismatched(cond: Condition, p: float, generator: torch.Generator) -> Condition:
    """``cond`` with each sample's perceiver outputs (embedding, maps, domain) replaced, with
    probability ``p``, by its neighbour's in the batch (the regions stay: they come from the
    image itself). The perceiver errs, on real photos above all (a bright clean wall read as
    haze); a restorer trained only on matching conditions follows such a false reading and
    "dehazes" a clean wall. Training on some mismatched ones teaches it to check the pixels."""
    n = cond.embedding.shape[0]
    if p <= 0 or n < 2:
        return cond
    swap = (torch.rand(n, generator=generator) < p).to(cond.embedding.device)

    def mix(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        m = swap.view(-1, *([1] * (t.ndim - 1)))
        return torch.where(m, t.roll(1, 0), t)

    return Condition(mix(cond.embedding), mix(cond.maps), cond.regions, mix(cond.domain))


def loss_terms(model: Restorer, perceiver: Perceiver, batch: dict[str, torch.Tensor],
               cfg: TrainConfig, anchor: torch.Tensor | None,
               run_model=None, step: int = 0) -> dict[str, torch.Tensor]:
    """Every enabled loss term (unweighted) for one batch on the model's device; ``step`` seeds
    the condition mismatching (so a resumed run repeats it)."""
    run_model = run_model or model
    x, y = batch["input"], batch["target"]
    regions = batch["regions"] if model.cfg.regions else None
    cond = condition_from(perceiver, x, regions) if model.cfg.conditioned else None
    if cond is not None and cfg.p_mismatch > 0:
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        cond = mismatched(cond, cfg.p_mismatch, g)
    out = run_model(x, cond)
    parts = {"rec": L.reconstruction(out.image, y, cfg.fft_weight)}
    if out.task is not None:
        if cfg.w_contrast:
            parts["contrast"] = L.degradation_contrastive(out.task.query, batch["types"])
        for name, pool in (("task", out.task), ("domain", out.domain)):
            if cfg.w_div:
                parts[f"div_{name}"] = L.prompt_diversity(pool.values)
            if cfg.w_bal:
                parts[f"bal_{name}"] = L.prompt_balance(pool.sims)
            if cfg.w_con:
                parts[f"con_{name}"] = L.prompt_contrastive(pool.query, pool.keys, pool.topk)
        if cfg.w_align and anchor is not None:
            with torch.no_grad():
                target = perceiver(y).embedding @ anchor
            parts["align"] = L.prompt_align(out.domain.prompt.mean(1), target)
    if cfg.w_quality:
        parts["quality"] = L.quality_aware(perceiver(out.image).quality_logit)
    if cfg.w_perceptual:
        with torch.no_grad():
            f_clean, f_in = perceiver.features(y), perceiver.features(x)
        difficulty = (1.0 - (batch["psnr_in"] - 10.0) / 30.0).clamp(0, 1)
        parts["perceptual"] = L.contrastive_perceptual([perceiver.features(out.image)],
                                                       [f_clean], [f_in], difficulty)
    if cfg.w_clue:
        flip = out.image.flip(-1)
        cond2 = None if cond is None else Condition(
            cond.embedding, cond.maps.flip(-1),
            None if cond.regions is None else cond.regions.flip(-1), cond.domain)
        second = run_model(flip, cond2)
        parts["clue"] = L.clue_consistency([flip, *[f.flip(-1) for f in out.features]],
                                           [second.image, *second.features])
    return parts


_WEIGHT_OF = {"rec": "1", "contrast": "w_contrast", "div": "w_div", "bal": "w_bal",
              "con": "w_con", "align": "w_align", "quality": "w_quality",
              "perceptual": "w_perceptual", "clue": "w_clue"}


def total_loss(parts: dict[str, torch.Tensor], cfg: TrainConfig) -> torch.Tensor:
    total = parts["rec"]
    for k, v in parts.items():
        if k != "rec":
            total = total + getattr(cfg, _WEIGHT_OF[k.split("_")[0]]) * v
    return total


# --------------------------------------------------------------------------------------------
# the loop


class EMA:
    """Exponential moving average of a model's floating-point tensors (parameters and buffers);
    the average is what gets exported."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # short runs: a shorter memory early on
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)


def _dist() -> tuple[int, int]:
    """(rank, world size) of a torchrun launch, initialising the process group; (0, 1) alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available()
                                and os.environ.get("RESTORA_DDP_BACKEND") != "gloo" else "gloo")
    return dist.get_rank(), world


@torch.no_grad()
def validate(weights: dict[str, torch.Tensor], model: Restorer, perceiver: Perceiver,
             batches: list[dict[str, torch.Tensor]],
             suite: list[tuple[str, np.ndarray, np.ndarray]] | None = None) -> dict[str, float]:
    """PSNR (dB) of the input and of the restored crops, with the weights ``weights`` (the EMA);
    with ``suite`` items (:func:`suite_items`) also the bench-style validation."""
    live = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(weights)
    model.eval()
    p_in, p_out = [], []
    for b in batches:
        regions = b["regions"] if model.cfg.regions else None
        cond = condition_from(perceiver, b["input"], regions) if model.cfg.conditioned else None
        y = model(b["input"], cond).image.clamp(0, 1)
        mse = ((y - b["target"]) ** 2).mean((1, 2, 3)).clamp_min(1e-10)
        p_out += (-10 * torch.log10(mse)).tolist()
        p_in += b["psnr_in"].tolist()
    res = {"val_psnr_in": float(np.mean(p_in)), "val_psnr": float(np.mean(p_out)),
           "val_gain": float(np.mean(p_out) - np.mean(p_in))}
    if suite:
        res |= suite_validation(model, perceiver, suite)
    model.load_state_dict(live)
    model.train()
    return res


def suite_items(suite: str, paths: Sequence[Path], n: int = 4, side: int = 256,
                max_side: int = 512) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(case, degraded, clean): the recipes and seeds of bench suite ``suite``
    (restora.bench.suites) on centre crops of ``n`` held-out training images — validation the
    way ``restora bench`` measures, without touching the test photos."""
    from restora.bench.suites import items as bench_items
    from restora.data import _load_u8

    clean = {}
    for p in list(paths)[:n]:
        img = _load_u8(str(p), max_side).astype(np.float32) / 255
        h, w = img.shape[:2]
        s = min(side, h, w) // 8 * 8
        y, x = (h - s) // 2, (w - s) // 2
        clean[Path(p).name] = np.ascontiguousarray(img[y:y + s, x:x + s])
    out = []
    for it in bench_items(suite, list(clean)):
        out.append((it.case, degrade(clean[it.image], it.recipe, seed=it.seed)[0],
                    clean[it.image]))
    return out


def suite_validation(model: Restorer, perceiver: Perceiver,
                     items: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean PSNR (dB) over ``items`` restored blind by the product path
    (restora.tools.learned.restore_net): ``val_suite``, with ``val_suite_in`` for the input and
    ``val_suite:<case>`` per case."""
    from restora.tools.learned import restore_net

    per: dict[str, list[tuple[float, float]]] = {}
    for case, deg, clean in items:
        out = restore_net(deg, model, perceiver)
        per.setdefault(case, []).append((psnr(deg, clean, 99.0), psnr(out, clean, 99.0)))
    res = {"val_suite_in": float(np.mean([a for v in per.values() for a, _ in v])),
           "val_suite": float(np.mean([b for v in per.values() for _, b in v]))}
    res |= {f"val_suite:{c}": float(np.mean([b for _, b in v])) for c, v in per.items()}
    return res


_LOG_FIELDS = ["step", "loss", "rec", "contrast", "div_task", "div_domain", "bal_task",
               "bal_domain", "con_task", "con_domain", "align", "quality", "perceptual", "clue",
               "lr", "val_psnr_in", "val_psnr", "val_gain", "val_suite_in", "val_suite"]
_CAL_SKIP, _CAL_STEPS, _RESERVE_S = 40, 30, 30.0  # skip the workers' first decodes


def train(cfg: TrainConfig, stop_at: int | None = None, progress: bool = True) -> dict:
    """Train (or resume from ``cfg.out``/ckpt.pt) up to ``cfg.steps``; export the EMA weights at
    the end (rank 0). ``stop_at`` ends this call after that step with a checkpoint."""
    rank, world = _dist()
    progress = progress and rank == 0
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device if cfg.device != "cuda" or world == 1
                          else f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    torch.manual_seed(cfg.seed)
    all_paths = training_paths([cfg.images] if cfg.images else None)
    train_paths, val_paths = split_paths(all_paths)
    mcfg = restorer_config(cfg.config, cfg.ablation)
    data = RestorerData(train_paths, crop=cfg.crop, seed=cfg.seed, max_side=cfg.max_side,
                        max_regions=mcfg.max_regions)
    val_data = RestorerData(val_paths, crop=cfg.crop, seed=cfg.seed + 7919,
                            max_side=cfg.max_side, max_regions=mcfg.max_regions)
    model = restorer(cfg.config, cfg.ablation).to(device)
    if cfg.init and not ckpt_exists(cfg.out):
        init_restorer(model, cfg.init, verbose=progress)
    perceiver = frozen_perceiver(cfg.perceiver, device)
    if mcfg.embed != perceiver.to_embed[-1].normalized_shape[0]:
        raise ValueError(f"{cfg.config} expects a {mcfg.embed}-d embedding; the perceiver "
                         f"{cfg.perceiver} gives {perceiver.to_embed[-1].normalized_shape[0]}")
    anchor = anchor_projection(mcfg.embed, mcfg.prompt_dim).to(device) if mcfg.prompts else None
    run_model = model
    if world > 1:
        run_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    ema = EMA(model, cfg.ema)
    ckpt_path, log_path = out_dir / "ckpt.pt", out_dir / "log.csv"
    step, wall = 0, 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if (ck["config"]["config"], ck["config"]["ablation"]) != (cfg.config, cfg.ablation):
            raise ValueError(f"{ckpt_path} is a {ck['config']['config']}/"
                             f"{ck['config']['ablation']} run, not {cfg.config}/{cfg.ablation}")
        model.load_state_dict(ck["model"])
        ema.shadow = ck["ema"]
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        step, wall = ck["step"], ck["wall"]
        if cfg.minutes > 0:
            cfg.steps = ck["config"]["steps"]
        if progress:
            print(f"resuming {ckpt_path} at step {step}", flush=True)
    if rank == 0:
        _truncate_log(log_path, step)

    def loader(ds: Dataset, sampler: Sampler) -> DataLoader:
        return DataLoader(ds, batch_sampler=sampler, num_workers=cfg.workers,
                          worker_init_fn=_worker_init if cfg.workers else None,
                          prefetch_factor=2 if cfg.workers else None)

    val_batches: list[dict[str, torch.Tensor]] = []
    suite: list = []

    def run_validation() -> dict[str, float]:
        if not val_batches:
            vb = min(8, cfg.val_crops)
            for b in loader(val_data, RankBatches(0, max(1, cfg.val_crops // vb), vb)):
                val_batches.append({k: v.to(device) for k, v in b.items()})
        # Built after the data workers are forked: OpenCV's thread pool, once started in this
        # process, deadlocks a forked child.
        if cfg.val_suite and not suite:
            suite.extend(suite_items(cfg.val_suite, val_paths, cfg.val_suite_images,
                                     max_side=cfg.max_side))
        return validate(ema.shadow, model, perceiver, val_batches, suite)

    budget = cfg.minutes * 60.0
    calibrating = budget > 0 and not ckpt_path.exists()
    if calibrating:
        cfg.steps = 10**9
    last = min(cfg.steps, stop_at if stop_at is not None else 10**9)
    val_every = cfg.val_every or cfg.ckpt_every
    summary: dict = {}
    if step < last:
        model.train()
        sampler = RankBatches(step, last, cfg.batch, rank, world)
        bar = tqdm(total=None if calibrating else last, initial=step, desc="restorer",
                   disable=not progress, dynamic_ncols=True)
        t0, first, mark = time.time(), step, None
        fh = open(log_path, "a", newline="") if rank == 0 else None  # noqa: SIM115
        writer = csv.DictWriter(fh, fieldnames=_LOG_FIELDS, extrasaction="ignore") if fh else None
        if fh is not None and fh.tell() == 0:
            writer.writeheader()
        try:
            for batch in loader(data, sampler):
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                parts = loss_terms(model, perceiver, batch, cfg, anchor, run_model, step)
                loss = total_loss(parts, cfg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                opt.step()
                row = {"step": step + 1, "lr": opt.param_groups[0]["lr"],
                       "loss": float(loss.detach()),
                       **{k: float(v.detach()) for k, v in parts.items()}}
                sched.step()
                ema.update(model, step)
                step += 1
                if calibrating:
                    if step == first + _CAL_SKIP:
                        mark = (step, time.time())
                    elif mark is not None and step == mark[0] + _CAL_STEPS:
                        rate = (step - mark[0]) / (time.time() - mark[1])
                        left = budget - wall - (time.time() - t0) - _RESERVE_S
                        cfg.steps = max(step + 1, step + int(rate * left * 0.97))
                        last = min(cfg.steps, last)
                        sampler.stop = last
                        bar.total, calibrating = last, False
                        if progress:
                            print(f"\n{rate:.3f} steps/s: {cfg.steps} steps fit "
                                  f"{cfg.minutes:g} minutes", flush=True)
                if rank == 0:
                    if step % val_every == 0 or step == cfg.steps:
                        row |= run_validation()
                    if step % cfg.log_every == 0 or "val_psnr" in row or step == last:
                        writer.writerow(row)
                        fh.flush()
                    if step % cfg.ckpt_every == 0 or step == last:
                        _save_atomic({"model": model.state_dict(), "ema": ema.shadow,
                                      "opt": opt.state_dict(), "sched": sched.state_dict(),
                                      "step": step, "config": asdict(cfg),
                                      "wall": wall + time.time() - t0}, ckpt_path)
                bar.set_postfix_str(f"loss {row['loss']:.4f}"
                                    + (f" val +{row['val_gain']:.2f} dB" if "val_gain" in row
                                       else ""))
                bar.update(1)
                summary["last_row"] = row
                if step >= last:
                    break
        finally:
            if fh is not None:
                fh.close()
            bar.close()
        wall += time.time() - t0
        summary["steps_per_s"] = (step - first) / max(1e-9, time.time() - t0)
    summary |= {"step": step, "wall_s": wall}
    if step >= cfg.steps and rank == 0:
        val = run_validation()
        export = Path(cfg.export) if cfg.export else out_dir / f"restorer_{cfg.config}.safetensors"
        card = export_restorer(ema.shadow, model, export, cfg, val=val, wall_s=wall,
                               n_images=len(all_paths), hardware=_hardware(device), world=world)
        summary |= {"export": str(export), "card": card, "val": val}
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return summary


# --------------------------------------------------------------------------------------------
# export and load


def export_restorer(weights: dict[str, torch.Tensor], model: Restorer, path: str | Path,
                    cfg: TrainConfig, *, val: dict[str, float], wall_s: float, n_images: int,
                    hardware: str, world: int = 1) -> dict:
    """Write ``weights`` (fp32 safetensors, |w| < 1e-30 set to 0: no denormals) and a JSON card."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in weights.items():
        v = v.detach().cpu().contiguous()
        if v.is_floating_point():
            if not torch.isfinite(v).all():
                raise ValueError(f"refusing to export: {k} holds NaN or infinite values")
            v = torch.where(v.abs() < 1e-30, torch.zeros_like(v), v.float())
        tensors[k] = v
    cfg_json = json.dumps(config_dict(model.cfg))
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"model": "restorer", "config": cfg.config,
                                           "restorer_config": cfg_json})
    os.replace(tmp, path)
    os.chmod(path, 0o644)
    card = {
        "model": "restorer", "config": cfg.config, "ablation": cfg.ablation,
        "hyper_parameters": config_dict(model.cfg), "file": path.name,
        "sha256": sha256_of(path), "bytes": path.stat().st_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "perceiver": {"file": Path(cfg.perceiver).name, "sha256": sha256_of(cfg.perceiver)},
        "data": {"images": n_images, "crop": cfg.crop, "max_side": cfg.max_side,
                 "source": cfg.images or "Debian wallpapers (restora.data.wallpaper_paths)",
                 "synthesis": "restora.degrade on the fly (restora.train.restorer.RestorerData)",
                 "held_out_for_validation": "every 20th image"},
        "training": {"steps": cfg.steps, "batch": cfg.batch, "processes": world, "lr": cfg.lr,
                     "ema": cfg.ema, "seed": cfg.seed, "wall_time_s": round(wall_s, 1),
                     "hardware": hardware,
                     "loss_weights": {k: getattr(cfg, k) for k in
                                      ("fft_weight", "w_contrast", "w_div", "w_bal", "w_con",
                                       "w_align", "w_quality", "w_perceptual", "w_clue")},
                     "command": "restora train restorer " + " ".join(_cli_args(cfg)),
                     "init": cfg.init and {"file": Path(cfg.init).name,
                                           "sha256": sha256_of(cfg.init)},
                     "p_mismatch": cfg.p_mismatch},
        "validation": {k: round(v, 4) for k, v in val.items()},
    }
    cp = card_path(path)
    tmp = cp.with_name(cp.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=1))
    os.replace(tmp, cp)
    return card


def _cli_args(cfg: TrainConfig) -> list[str]:
    d = TrainConfig()
    out = []
    for f in fields(TrainConfig):
        v = getattr(cfg, f.name)
        if v != getattr(d, f.name) and f.name not in ("steps",):
            out.append(f"--{f.name.replace('_', '-')} {v}")
    return out + [f"--steps {cfg.steps}"]


def load_restorer(path: str | Path, verify: bool = True) -> Restorer:
    """A restorer in eval mode from an exported safetensors file; the card beside it (when
    present) is checked against the file's sha256 if ``verify``."""
    from safetensors.torch import load_file

    from restora.nets.restorer import config_from_dict

    meta = verified_metadata(path, verify)
    if meta.get("model") != "restorer":
        raise ValueError(f"{path} is not a restorer weights file")
    model = Restorer(config_from_dict(json.loads(meta["restorer_config"])))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


# --------------------------------------------------------------------------------------------
# command line


def _parser() -> argparse.ArgumentParser:
    return config_parser(TrainConfig, "restora train restorer", "Train the all-in-one restorer "
                         "on synthetic degradations (torchrun for several processes).")


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    cfg = TrainConfig(**{f.name: getattr(a, f.name) for f in fields(TrainConfig)})
    restorer_config(cfg.config, cfg.ablation)  # unknown names fail here, before any work
    if not Path(cfg.perceiver).is_file():
        raise SystemExit(f"no perceiver weights at {cfg.perceiver}")
    if _dist()[0] == 0:
        print(json.dumps(asdict(cfg)), flush=True)
    s = train(cfg, stop_at=a.stop_at)
    s.pop("card", None)
    if _dist()[0] == 0:
        print(json.dumps(s, indent=1, default=str), flush=True)
    return 0


if __name__ == "__main__":
    from restora.errors import run_main

    raise SystemExit(run_main(main))
