"""Train the perceiver on synthetic degradations of clean photos, generated on the fly.

    python -m restora.train.perceiver --config small --minutes 8 --echo 2 --batch 128 \\
        --workers 14 --device cuda --out runs/perceiver --images runs/wallpapers

(``--steps N`` instead of ``--minutes`` fixes the length; ``--export PATH`` names the weights file,
default ``OUT/perceiver_<config>.safetensors`` with ``OUT/perceiver_<config>.json`` beside it.)

Data (:class:`PerceiverData`): sample ``i`` is a clean crop of :class:`restora.data.PairStream`
(deterministic in (seed, i)), a *domain* and two degraded versions A and B of the same crop:

* natural (80 %): the NATURAL operator pool on the colour crop;
* medical (10 %): the crop made grayscale, pool :data:`MEDICAL` (CT-like noise, MRI-like
  resolution loss and blur, Gaussian noise, contrast loss);
* remote (10 %): the crop with at least one operator of :data:`REMOTE` (cloud, haze, resolution
  loss, noise, defocus, JPEG). Without aerial photos this domain is defined by its degradations
  (clouds above all), so the domain head can only be as good as that definition.

B is a partial "restoration" of A (each operator dropped w.p. 0.25, else its severity scaled by
U(0.1, 1.4), same noise realisation), the clean crop itself (15 %) or an independent recipe (25 %).
Targets: type presence, severity where present, masks and maps average-pooled to 1/8 resolution,
domain, quality z = (min(PSNR, 48) − 24) / 4 (the perceiver's quality logit), and for the
comparator a soft label sigmoid((PSNR_B − PSNR_A) / 0.5 dB). Both A and B train every head.

Resumes exactly: generated batch d is the fixed sample indices [d·batch, (d+1)·batch), the flip
or rotation of each echoed step is a function of the step, and the checkpoint holds model,
optimiser, schedule and step, so a killed run restarted with the same command continues where its
last checkpoint left off (bit for bit on CPU). To end a run early, rerun it with ``--steps`` set
to the checkpoint's step: it then only validates and exports.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from restora.data import PairStream, training_paths
from restora.degrade import Label, RecipeItem, degrade
from restora.degrade.fields import rng_for
from restora.degrade.sample import NATURAL, random_recipe
from restora.nets.perceiver import CONFIGS, DOMAINS, OPS, Perceiver, PerceiverOutput, perceiver

try:
    from tqdm import tqdm
except ImportError:  # the GPU image may lack tqdm: print a line every so often instead

    class tqdm:  # type: ignore[no-redef]
        """The few features of tqdm used here: a line every 50 steps."""

        def __init__(self, total=None, initial=0, desc="", disable=False, **_):
            self.total, self.n, self.desc, self.disable = total, initial, desc, disable
            self.t0, self.post = time.time(), ""

        def update(self, k: int = 1) -> None:
            self.n += k
            if not self.disable and (self.n % 50 == 0 or self.n == self.total):
                print(f"{self.desc} {self.n}/{self.total} {time.time() - self.t0:.0f}s {self.post}",
                      flush=True)

        def set_postfix_str(self, s: str) -> None:
            self.post = s

        def close(self) -> None:
            print(f"{self.desc} {self.n}/{self.total} done in {time.time() - self.t0:.0f}s {self.post}",
                  flush=True)


MEDICAL = ("ct_noise", "low_res", "blur_defocus", "blur_motion", "noise", "contrast")
REMOTE = ("cloud", "haze", "low_res", "noise", "blur_defocus", "jpeg")
DOMAIN_P = (0.8, 0.1, 0.1)
POOLS = {"natural": NATURAL, "medical": MEDICAL, "remote": REMOTE}
COUNTS = {"natural": (0.12, 0.43, 0.3, 0.15), "medical": (0.15, 0.45, 0.3, 0.1),
          "remote": (0.0, 0.5, 0.35, 0.15)}
PSNR_CAP = 48.0  # dB; identical images (PSNR = ∞) count as this
N_OPS = len(OPS)


def psnr(a: np.ndarray, b: np.ndarray, cap: float = PSNR_CAP) -> float:
    """PSNR in dB of float images in [0, 1], capped at ``cap`` (identical images give ``cap``)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return cap if mse <= 10 ** (-cap / 10) else min(cap, -10.0 * math.log10(mse))


def quality_z(psnr_db: float | np.ndarray) -> float | np.ndarray:
    """Target of the quality logit: (min(PSNR, 48) − 24) / 4, so sigmoid(z) is
    :func:`restora.nets.perceiver.quality_from_psnr`."""
    return (np.minimum(psnr_db, PSNR_CAP) - 24.0) / 4.0


def _pool8(m: np.ndarray) -> np.ndarray:
    """Mean over 8×8 cells (H and W multiples of 8): area resampling is exactly that."""
    h, w = m.shape
    return cv2.resize(np.asarray(m, np.float32), (w // 8, h // 8), interpolation=cv2.INTER_AREA)


def _gray(img: np.ndarray) -> np.ndarray:
    y = img @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.ascontiguousarray(np.repeat(y[..., None], 3, axis=2), dtype=np.float32)


def _chroma(img: np.ndarray) -> float:
    return float(np.abs(img - img.mean(2, keepdims=True)).mean())


def rescaled(items: list[RecipeItem], rng: np.random.Generator, p_drop: float = 0.0,
             scale: tuple[float, float] = (0.1, 1.4)) -> list[RecipeItem]:
    """The same recipe (operators, masks) with each operator dropped with probability ``p_drop``
    and its severity otherwise multiplied by U(``scale``), kept in [0.05, 1]: rendered with the
    same seed, a stronger or weaker (partly restored) version of the same degradation."""
    out = []
    for it in items:
        if rng.random() < p_drop:
            continue
        s = float(np.clip(it.severity * rng.uniform(*scale), 0.05, 1.0))
        out.append(RecipeItem(it.name, s, {}, it.mask, it.coverage))
    return out


def label_targets(label: Label, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per-image targets from a degradation label: ``types`` (16, last = clean), ``severity``
    (15, 0 where absent), ``dense_mask`` and ``dense_map`` (15 × H/8 × W/8)."""
    h, w = shape
    types = np.zeros(N_OPS + 1, np.float32)
    sev = np.zeros(N_OPS, np.float32)
    dmask = np.zeros((N_OPS, h // 8, w // 8), np.float32)
    dmap = np.zeros((N_OPS, h // 8, w // 8), np.float32)
    for s in label.steps:
        j = OPS.index(s.op)
        types[j], sev[j] = 1.0, s.severity
        dmask[j] = _pool8(label.masks[s.op])
        dmap[j] = _pool8(label.maps[s.op])
    types[N_OPS] = float(not label.steps)
    return {"types": types, "severity": sev, "dense_mask": dmask, "dense_map": dmap}


class PerceiverData(Dataset):
    """Map-style dataset: ``data[i]`` is a dict of numpy arrays (A and B images as 3×H×W plus
    their targets), deterministic in (``seed``, ``i``); see the module docstring."""

    def __init__(self, paths: Sequence[str | Path], crop: int = 128, seed: int = 0,
                 max_side: int = 512, p_mask: float = 0.4) -> None:
        if crop % 8:
            raise ValueError(f"crop must be a multiple of 8, got {crop}")
        self.stream = PairStream(paths, size=crop, seed=seed, max_side=max_side)
        self.crop, self.seed, self.p_mask = crop, seed, p_mask

    def __len__(self) -> int:
        return 2**62

    def draw(self, i: int) -> tuple[np.ndarray, np.ndarray, Label, np.ndarray, Label, int]:
        """(clean, A, label A, B, label B, domain index) for sample ``i``."""
        rng = rng_for(self.seed, 202, i)
        d = int(rng.choice(len(DOMAINS), p=DOMAIN_P))
        domain = DOMAINS[d]
        clean = self.stream.clean_crop(i)
        pool = POOLS[domain]
        if domain == "medical":
            clean = _gray(clean)
        elif domain == "natural" and _chroma(clean) < 0.01:
            pool = tuple(p for p in pool if p != "saturation")  # no colour to lose
        items_a = random_recipe(rng, pool, counts=COUNTS[domain], p_mask=self.p_mask)
        seed_a = int(rng.integers(0, 2**31 - 1))
        a, la = degrade(clean, items_a, seed=seed_a)
        u = float(rng.random())
        if items_a and u < 0.6:
            items_b, seed_b = rescaled(items_a, rng, p_drop=0.25), seed_a
        elif items_a and u < 0.75:
            items_b, seed_b = [], seed_a
        else:
            counts = (0.0,) + COUNTS[domain][1:]
            items_b = random_recipe(rng, pool, counts=counts, p_mask=self.p_mask)
            seed_b = int(rng.integers(0, 2**31 - 1))
        b, lb = degrade(clean, items_b, seed=seed_b)
        return clean, a, la, b, lb, d

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        clean, a, la, b, lb, d = self.draw(int(i))
        shape = clean.shape[:2]
        pa, pb = psnr(a, clean), psnr(b, clean)
        out: dict[str, np.ndarray] = {}
        for key, img, lab, p in (("a", a, la, pa), ("b", b, lb, pb)):
            out[f"{key}_image"] = np.ascontiguousarray(img.transpose(2, 0, 1))
            for k, v in label_targets(lab, shape).items():
                out[f"{key}_{k}"] = v
            out[f"{key}_psnr"] = np.float32(p)
        out["domain"] = np.int64(d)
        return out


class StepBatches(Sampler[list[int]]):
    """Batch ``s`` is the sample indices [s·batch, (s+1)·batch): a run resumed at step s sees
    exactly the batches an uninterrupted run would. ``stop`` may be changed while iterating."""

    def __init__(self, start: int, stop: int, batch: int) -> None:
        self.start, self.stop, self.batch = start, stop, batch

    def __iter__(self) -> Iterator[list[int]]:
        s = self.start
        while s < self.stop:
            yield list(range(s * self.batch, (s + 1) * self.batch))
            s += 1

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


# --------------------------------------------------------------------------------------------
# losses and validation numbers

# Type and dense terms are summed over the operators (mean over images and cells), so each
# operator's signal is not diluted by the number of operators.
LOSS_WEIGHTS = {"types": 0.5, "severity": 2.0, "dense": 0.5, "dense_sev": 0.5, "domain": 0.2,
                "quality": 0.5, "compare": 0.5}


def join_pair(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stack the A and B halves of a batch into one batch of 2B images and targets."""
    keys = [k[2:] for k in batch if k.startswith("a_")]
    out = {k: torch.cat([batch["a_" + k], batch["b_" + k]]) for k in keys}
    out["domain"] = torch.cat([batch["domain"], batch["domain"]])
    return out


def losses(out: PerceiverOutput, cmp_logit: torch.Tensor,
           t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every loss term (unweighted) for a joined batch ``t`` of 2B images (A then B)."""
    present = t["types"][:, :N_OPS]
    n_present = present.sum().clamp(min=1.0)
    z = (t["psnr"].clamp(max=PSNR_CAP) - 24.0) / 4.0  # quality_z, in torch
    n = z.shape[0] // 2
    dz = (t["psnr"][n:] - t["psnr"][:n]) / 0.5
    return {
        "types": F.binary_cross_entropy_with_logits(out.type_logits.float(), t["types"],
                                                    reduction="none").sum(1).mean(),
        "severity": ((out.severity.float() - t["severity"]).abs() * present).sum() / n_present,
        "dense": F.binary_cross_entropy_with_logits(out.dense_logits.float(), t["dense_mask"],
                                                    reduction="none").sum(1).mean(),
        "dense_sev": (out.dense_severity.float() - t["dense_map"]).abs().sum(1).mean(),
        "domain": F.cross_entropy(out.domain_logits.float(), t["domain"]),
        "quality": F.smooth_l1_loss(out.quality_logit.float(), z),
        "compare": F.binary_cross_entropy_with_logits(cmp_logit.float(), torch.sigmoid(dz)),
    }


def total_loss(parts: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(LOSS_WEIGHTS[k] * v for k, v in parts.items())


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n−1, ties sharing their average rank."""
    _, inv, counts = np.unique(np.asarray(x), return_inverse=True, return_counts=True)
    start = np.cumsum(counts) - counts
    return (start + (counts - 1) / 2.0)[inv.ravel()]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN for fewer than 3 points."""
    if len(x) < 3:
        return float("nan")
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


@torch.no_grad()
def validate(model: Perceiver, batches: list[dict[str, torch.Tensor]], device: torch.device,
             amp: bool) -> dict[str, float]:
    """Mean losses and headline numbers on a fixed validation set: micro-F1 of the detected types
    (clean counts as a type), severity MAE (normalised units), domain accuracy, Spearman of the
    quality score with PSNR (degraded images), comparator accuracy on pairs ≥ 1 dB apart."""
    model.eval()
    sums: dict[str, float] = {}
    tp = fp = fn = 0.0
    sev_err, sev_n, dom_ok, n_img = 0.0, 0.0, 0.0, 0
    q, ps, cmp_ok, cmp_n = [], [], 0.0, 0.0
    for batch in batches:
        t = {k: v.to(device) for k, v in join_pair(batch).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(t["image"])
            n = t["image"].shape[0] // 2
            c = model.compare(out.embedding[:n], out.embedding[n:])
        for k, v in losses(out, c, t).items():
            sums[k] = sums.get(k, 0.0) + float(v) * n
        pred = (out.type_logits.float()[:, :N_OPS] > 0).float()
        pred = torch.cat([pred, (pred.sum(1, keepdim=True) == 0).float()], 1)
        tp += float((pred * t["types"]).sum())
        fp += float((pred * (1 - t["types"])).sum())
        fn += float(((1 - pred) * t["types"]).sum())
        present = t["types"][:, :N_OPS]
        sev_err += float(((out.severity.float() - t["severity"]).abs() * present).sum())
        sev_n += float(present.sum())
        dom_ok += float((out.domain_logits.argmax(1) == t["domain"]).sum())
        n_img += t["image"].shape[0]
        keep = t["psnr"] < PSNR_CAP
        q.append(out.quality_logit.float()[keep].cpu().numpy())
        ps.append(t["psnr"][keep].cpu().numpy())
        d = t["psnr"][n:] - t["psnr"][:n]
        far = d.abs() >= 1.0
        cmp_ok += float(((c.float() > 0) == (d > 0))[far].sum())
        cmp_n += float(far.sum())
    model.train()
    n_pairs = n_img / 2
    res = {f"val_{k}": v / n_pairs for k, v in sums.items()}
    res["val_loss"] = sum(LOSS_WEIGHTS[k] * res[f"val_{k}"] for k in LOSS_WEIGHTS)
    res["val_f1"] = 2 * tp / max(2 * tp + fp + fn, 1.0)
    res["val_sev_mae"] = sev_err / max(sev_n, 1.0)
    res["val_domain_acc"] = dom_ok / max(n_img, 1)
    res["val_spearman"] = spearman(np.concatenate(q), np.concatenate(ps))
    res["val_compare_acc"] = cmp_ok / max(cmp_n, 1.0)
    return res


# --------------------------------------------------------------------------------------------
# the training loop


@dataclass
class TrainConfig:
    """Everything a run depends on. ``steps`` counts optimiser steps of ``batch`` pairs (each pair
    is two degraded images, so 2·batch images per step).

    ``echo`` > 1 reuses every generated batch for that many consecutive steps, each seeing it
    under a different one of the 8 flips/rotations (data echoing: when the CPU workers cannot
    keep the accelerator busy, echoed steps are nearly free). ``minutes`` > 0 measures the step
    rate over 150 steps early in the session, then fixes ``steps`` so that the whole run (all
    sessions together) ends within the budget; the cosine schedule follows the fixed ``steps``.
    """

    config: str = "small"
    steps: int = 2000
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.02
    warmup: int = 100
    crop: int = 128
    seed: int = 0
    workers: int = 2
    device: str = "cpu"
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    ckpt_every: int = 200
    val_every: int = 0  # 0: at every checkpoint
    val_pairs: int = 256
    log_every: int = 10
    out: str = "runs/perceiver"
    images: str | None = None
    max_side: int = 512
    export: str | None = None  # default: OUT/perceiver_<config>.safetensors
    compile: bool = False
    echo: int = 1  # optimiser steps per generated batch, each under another flip/rotation
    minutes: float = 0.0  # > 0: set ``steps`` to fill this wall-clock budget (measured early)
    init: str | None = None  # start from these weights (tensors whose shapes match; the rest new)
    freeze_trunk: bool = False  # train the heads only (the convolutional trunk fixed)


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up (at most a tenth of the run), then cosine decay to 2 % of the peak
    learning rate at ``cfg.steps``."""
    warm = min(cfg.warmup, max(1, cfg.steps // 10))
    if step < warm:
        return (step + 1) / warm
    p = min(1.0, (step - warm) / max(1, cfg.steps - warm))
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * p))


def init_from(model: Perceiver, path: str | Path, verbose: bool = False) -> list[str]:
    """Copy every tensor of the weights file ``path`` whose name and shape match into ``model``;
    return the names of the model's tensors left at their fresh initial values."""
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise FileNotFoundError(f"--init: no such weights file: {path}")
    src = load_file(str(path))
    own = model.state_dict()
    same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(same, strict=False)
    fresh = [k for k in own if k not in same]
    if verbose:
        print(f"init from {path}: {len(same)} tensors copied, {len(fresh)} fresh", flush=True)
    return fresh


def split_paths(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Every 20th clean image is held out for validation (all of them are used for both when there
    are fewer than 20; the validation stream then differs by its seed only)."""
    paths = list(paths)
    if len(paths) < 20:
        return paths, paths
    return [p for i, p in enumerate(paths) if i % 20], paths[::20]


def _prefetch_for_shm(cfg: TrainConfig, verbose: bool) -> int:
    """Batches each worker may queue: workers hand batches over in shared memory (/dev/shm),
    which containers often keep small; queue fewer when it would not hold four per worker."""
    if cfg.workers == 0:
        return 2
    per_batch = cfg.batch * (2 * 3 * cfg.crop**2 + 4 * 15 * (cfg.crop // 8) ** 2 + 64) * 4
    try:
        st = os.statvfs("/dev/shm")
        free = st.f_bavail * st.f_frsize
    except OSError:
        return 2
    for prefetch in (4, 2, 1):
        if cfg.workers * prefetch * per_batch * 1.5 <= free:
            return prefetch
    if verbose:
        print(f"warning: /dev/shm has {free / 2**20:.0f} MiB free; {cfg.workers} workers need "
              f"about {cfg.workers * per_batch * 1.5 / 2**20:.0f} MiB: lower --workers or --batch "
              "(or run the container with a larger --shm-size)", flush=True)
    return 1


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _hardware(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    return (f"{gpu}; {cpu}, {os.cpu_count()} CPUs; torch {torch.__version__}; "
            f"Python {platform.python_version()}")


def _resume(cfg: TrainConfig, path: Path, model: Perceiver, opt: torch.optim.Optimizer,
            sched: torch.optim.lr_scheduler.LRScheduler, device: torch.device,
            verbose: bool) -> tuple[int, float]:
    """Load ``path`` into model, optimiser and schedule; return (step, wall seconds so far)."""
    ck = torch.load(path, map_location=device, weights_only=False)
    if ck["config"]["config"] != cfg.config:
        raise ValueError(f"{path} is a '{ck['config']['config']}' run, not '{cfg.config}'")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    sched.load_state_dict(ck["sched"])
    if cfg.minutes > 0:  # the step count a budgeted run settled on
        cfg.steps = ck["config"]["steps"]
    changed = [k for k in ("batch", "seed", "crop", "images", "max_side", "steps", "lr")
               if ck["config"].get(k) != getattr(cfg, k)]
    if verbose:
        if changed:
            print(f"warning: resuming with another {', '.join(changed)} than the checkpoint's: "
                  "the run will differ from an uninterrupted one", flush=True)
        print(f"resuming {path} at step {ck['step']}", flush=True)
    return ck["step"], ck["wall"]


def dihedral(t: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Transform ``k`` ∈ 0..7 (k % 4 quarter turns, then a left-right flip when k ≥ 4) of the
    images and dense targets of a batch; labels are invariant (crops are multiples of 8, so the
    JPEG grid stays aligned)."""
    if k == 0:
        return t
    out = dict(t)
    for key in ("image", "dense_mask", "dense_map"):
        v = torch.rot90(t[key], k % 4, dims=(-2, -1))
        out[key] = v.flip(-1) if k >= 4 else v
    return out


def _echo_transform(step: int, echo: int) -> int:
    """The flip/rotation used at optimiser ``step``: none for a batch's first use, then distinct
    non-identity transforms for its echoes."""
    k = step % echo
    return 0 if k == 0 else (3 * (step // echo) + k - 1) % 7 + 1


def _step(model: Perceiver, run_model, opt: torch.optim.Optimizer, batch: dict[str, torch.Tensor],
          device: torch.device, amp: bool, transform: int = 0) -> dict[str, float]:
    """One optimiser step on a batch of pairs; returns the loss terms as floats."""
    t = {k: v.to(device, non_blocking=True) for k, v in join_pair(batch).items()}
    t = dihedral(t, transform)
    x = t["image"]
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        out = run_model(x)
        n = x.shape[0] // 2
        c = model.compare(out.embedding[:n], out.embedding[n:])
    parts = losses(out, c, t)
    loss = total_loss(parts)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
    opt.step()
    return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in parts.items()}}


def train(cfg: TrainConfig, stop_at: int | None = None, progress: bool = True) -> dict:
    """Train (or resume from ``cfg.out``/ckpt.pt) up to ``cfg.steps``; export at the end.

    ``stop_at`` ends this call after that step, leaving a checkpoint (a planned interruption, as
    tests and time-limited jobs use). A run whose checkpoint already reached ``cfg.steps`` only
    validates and exports. Returns a summary dict (last losses, validation, export paths).
    The main process uses the cores the data workers leave free (OpenMP threads competing with
    busy workers for the same cores slow training down many times over).
    """
    threads = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, min(threads, (cores or 1) - cfg.workers)))
    try:
        return _train(cfg, stop_at, progress)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, stop_at: int | None, progress: bool) -> dict:
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed)
    all_paths = training_paths([cfg.images] if cfg.images else None)
    train_paths, val_paths = split_paths(all_paths)
    data = PerceiverData(train_paths, crop=cfg.crop, seed=cfg.seed, max_side=cfg.max_side)
    val_data = PerceiverData(val_paths, crop=cfg.crop, seed=cfg.seed + 7919, max_side=cfg.max_side)

    model = perceiver(cfg.config).to(device)
    if cfg.init:
        init_from(model, cfg.init, verbose=progress)
    if cfg.freeze_trunk:
        model.freeze_trunk()
    trainable = [p for p in model.parameters() if p.requires_grad]
    matrices = [p for p in trainable if p.ndim > 1]  # decayed; norms and biases not
    others = [p for p in trainable if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": matrices, "weight_decay": cfg.weight_decay},
                             {"params": others, "weight_decay": 0.0}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    ckpt_path, log_path = out_dir / "ckpt.pt", out_dir / "log.csv"
    step, wall = 0, 0.0
    if ckpt_path.exists():
        step, wall = _resume(cfg, ckpt_path, model, opt, sched, device, progress)
    _truncate_log(log_path, step)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    run_model = torch.compile(model) if cfg.compile else model
    prefetch = _prefetch_for_shm(cfg, progress)

    def loader(ds: Dataset, sampler: Sampler) -> DataLoader:
        return DataLoader(ds, batch_sampler=sampler, num_workers=cfg.workers,
                          worker_init_fn=_worker_init if cfg.workers else None,
                          pin_memory=device.type == "cuda",
                          prefetch_factor=prefetch if cfg.workers else None)

    val_batches: list[dict[str, torch.Tensor]] = []

    def run_validation() -> dict[str, float]:
        if not val_batches:
            vb = min(cfg.batch, cfg.val_pairs)
            val_batches.extend(loader(val_data, StepBatches(0, max(1, cfg.val_pairs // vb), vb)))
        return validate(model, val_batches, device, amp)

    budget = cfg.minutes * 60.0
    if budget > 0 and (cfg.steps >= _UNCALIBRATED or not ckpt_path.exists()):
        cfg.steps = _UNCALIBRATED  # until the step rate is measured
    stop = stop_at if stop_at is not None else _UNCALIBRATED
    last = min(cfg.steps, stop)
    val_every = cfg.val_every or cfg.ckpt_every
    summary: dict = {}
    val: dict[str, float] = {}
    if step < last:
        model.train()
        echo = max(1, cfg.echo)
        sampler = StepBatches(step // echo, -(-last // echo), cfg.batch)
        bar = tqdm(total=None if last >= _UNCALIBRATED else last, initial=step, desc="perceiver",
                   disable=not progress, dynamic_ncols=True)
        t0, t_data, t_last, first = time.time(), 0.0, time.time(), step
        mark: tuple[int, float] | None = None
        with open(log_path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=_LOG_FIELDS, extrasaction="ignore")
            if fh.tell() == 0:
                writer.writeheader()
            for d, batch in enumerate(loader(data, sampler), start=step // echo):
                t_data += time.time() - t_last
                for s in range(d * echo, min((d + 1) * echo, last)):
                    if s < step:  # resumed in the middle of a batch's echoes
                        continue
                    row = {"step": s + 1, "lr": opt.param_groups[0]["lr"],
                           **_step(model, run_model, opt, batch, device, amp,
                                   _echo_transform(s, echo))}
                    sched.step()
                    step = s + 1
                    if budget > 0 and cfg.steps >= _UNCALIBRATED:
                        if step == first + _CAL_SKIP:
                            mark = (step, time.time())
                        elif mark is not None and step == mark[0] + _CAL_STEPS:
                            rate = (step - mark[0]) / (time.time() - mark[1])
                            left = budget - wall - (time.time() - t0) - _RESERVE_S
                            cfg.steps = max(step + 1, step + int(rate * left))
                            last = min(cfg.steps, stop)
                            sampler.stop = -(-last // echo)
                            bar.total = last
                            if progress:
                                print(f"\n{rate:.2f} steps/s: {cfg.steps} steps fit "
                                      f"{cfg.minutes:g} minutes", flush=True)
                    if step % val_every == 0 or step == cfg.steps:
                        val = run_validation()
                        row |= val
                    if step % cfg.log_every == 0 or "val_loss" in row or step == last:
                        writer.writerow(row)
                        fh.flush()
                    if step % cfg.ckpt_every == 0 or step == last:
                        _save_atomic({"model": model.state_dict(), "opt": opt.state_dict(),
                                      "sched": sched.state_dict(), "step": step,
                                      "config": asdict(cfg), "wall": wall + time.time() - t0},
                                     ckpt_path)
                    elapsed = max(1e-9, time.time() - t0)
                    pairs_s = (step - first) * cfg.batch / echo / elapsed
                    bar.set_postfix_str(f"loss {row['loss']:.3f} data-wait {t_data / elapsed:.0%} "
                                        f"{pairs_s:.0f} pairs/s")
                    bar.update(1)
                    summary["last_row"] = row
                if step >= last:
                    break
                t_last = time.time()
        bar.close()
        elapsed = time.time() - t0
        wall += elapsed
        summary["data_wait_fraction"] = t_data / max(1e-9, elapsed)
        summary["pairs_per_s"] = (step - first) * cfg.batch / echo / max(1e-9, elapsed)
    summary |= {"step": step, "wall_s": wall}
    if step >= cfg.steps:
        val = val or run_validation()
        export = Path(cfg.export) if cfg.export else out_dir / f"perceiver_{cfg.config}.safetensors"
        card = export_model(model, export, cfg, val=val, wall_s=wall, n_images=len(all_paths),
                            source=cfg.images or "Debian wallpapers (restora.data.wallpaper_paths)",
                            hardware=_hardware(device), throughput=summary.get("pairs_per_s"))
        summary |= {"export": str(export), "card": card, "val": val}
    return summary


_UNCALIBRATED = 10**9  # ``steps`` of a --minutes run before its step rate is measured
_CAL_SKIP, _CAL_STEPS = 50, 150  # a budgeted run times steps first+50 … first+200
_RESERVE_S = 20.0  # seconds of a --minutes budget kept for the last validation and the export
_LOG_FIELDS = (["step", "loss", *LOSS_WEIGHTS, "lr"]
               + [f"val_{k}" for k in LOSS_WEIGHTS]
               + ["val_loss", "val_f1", "val_sev_mae", "val_domain_acc", "val_spearman",
                  "val_compare_acc"])


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows after ``step`` (steps a killed run did after its last checkpoint)."""
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
    if len(keep) != len(rows):
        with open(path, "w", newline="") as fh:
            csv.writer(fh).writerows(keep)


# --------------------------------------------------------------------------------------------
# export and load


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(weights: str | Path) -> Path:
    """The JSON card beside a weights file: ``x.safetensors`` → ``x.json``."""
    return Path(weights).with_suffix(".json")


def export_model(model: Perceiver, path: str | Path, cfg: TrainConfig, *, val: dict[str, float],
                 wall_s: float, n_images: int, source: str, hardware: str,
                 throughput: float | None = None) -> dict:
    """Write the weights (fp32 safetensors, |w| < 1e-30 set to 0) and a JSON card beside them;
    return the card."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if v.is_floating_point():
            v = v.float()
            if not torch.isfinite(v).all():
                raise ValueError(f"refusing to export: {k} holds NaN or infinite values")
            v = torch.where(v.abs() < 1e-30, torch.zeros_like(v), v)
        tensors[k] = v
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"model": "perceiver", "config": cfg.config})
    os.replace(tmp, path)
    os.chmod(path, 0o644)
    n_params = sum(p.numel() for p in model.parameters())
    card = {
        "model": "perceiver", "config": cfg.config, "hyper_parameters": CONFIGS[cfg.config],
        "file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size,
        "parameters": n_params,
        "data": {"images": n_images, "source": source, "crop": cfg.crop, "max_side": cfg.max_side,
                 "domains": dict(zip(DOMAINS, DOMAIN_P)),
                 "synthesis": "restora.degrade on the fly (restora.train.perceiver.PerceiverData)",
                 "held_out_for_validation": "every 20th image"},
        "training": {"steps": cfg.steps, "batch_pairs": cfg.batch, "images_per_step": 2 * cfg.batch,
                     "lr": cfg.lr, "weight_decay": cfg.weight_decay, "seed": cfg.seed,
                     "echo": cfg.echo, "minutes_budget": cfg.minutes,
                     "wall_time_s": round(wall_s, 1), "hardware": hardware,
                     "pairs_per_s_last_session": throughput and round(throughput, 1),
                     "loss_weights": LOSS_WEIGHTS,
                     "init": cfg.init and {"file": Path(cfg.init).name,
                                           "sha256": sha256_of(cfg.init)},
                     "trunk_frozen": cfg.freeze_trunk},
        "validation": {k: round(v, 5) for k, v in val.items()},
        "outputs": {"types": list(OPS) + ["clean"], "domains": list(DOMAINS),
                    "quality": "sigmoid(logit) ≈ sigmoid((PSNR_to_clean − 24 dB) / 4 dB)"},
    }
    cp = card_path(path)
    tmp = cp.with_name(cp.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=1))
    os.replace(tmp, cp)
    return card


def derived_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The command line of a step that turns exported perceiver weights into new ones
    (calibration, the comparator re-fit): WEIGHTS OUT [--images DIR]."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", help="perceiver .safetensors to start from (card beside it)")
    p.add_argument("out", help=".safetensors to write (card beside it; may be the same file)")
    p.add_argument("--images", default=None, help="clean photo folder (default: the wallpapers)")
    return p


def save_derived(model: Perceiver, source: str | Path, out: str | Path, key: str,
                 entry: dict) -> Path:
    """Write ``model`` to ``out`` (atomically) with the card of ``source`` plus ``entry`` under
    ``key`` — which records the source file and its sha256 as ``from`` — and the new file's
    name, size and sha256."""
    from safetensors.torch import save_file

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    card = json.loads(card_path(source).read_text())
    src = {"file": Path(source).name, "sha256": sha256_of(source)}
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    tmp = out.with_name(out.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"model": "perceiver", "config": card["config"]})
    os.replace(tmp, out)
    card |= {"file": out.name, "sha256": sha256_of(out), "bytes": out.stat().st_size,
             key: {**entry, "from": src}}
    cp = card_path(out)
    tmp = cp.with_name(cp.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=1))
    os.replace(tmp, cp)
    return out


def verified_metadata(path: str | Path, verify: bool = True) -> dict[str, str]:
    """The safetensors metadata of an exported weights file, after checking the file against
    the sha256 of its JSON card (when the card is present and ``verify``)."""
    from safetensors import safe_open

    path = Path(path)
    cp = card_path(path)
    if verify and cp.exists():
        want = json.loads(cp.read_text())["sha256"]
        if sha256_of(path) != want:
            raise ValueError(f"{path}: sha256 does not match its card {cp}")
    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def load_perceiver(path: str | Path, verify: bool = True) -> Perceiver:
    """A perceiver in eval mode from an exported safetensors file (its card, when present beside
    it, is checked against the file's sha256 if ``verify``)."""
    from safetensors.torch import load_file

    model = perceiver(verified_metadata(path, verify).get("config", "small"))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


# --------------------------------------------------------------------------------------------
# command line


def config_parser(cls: type, prog: str, description: str) -> argparse.ArgumentParser:
    """A command line with one ``--flag`` per field of the dataclass ``cls`` (its defaults, its
    types; booleans as ``--x/--no-x``), plus ``--stop-at``."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    d = cls()
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(d, f.name)
        if f.type in ("bool", bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(flag, type=kind, default=default, help=f"default {default}")
    p.add_argument("--stop-at", type=int, default=None, help="end this call after that step "
                   "(checkpoint kept; rerun the command to continue)")
    return p


def _parser() -> argparse.ArgumentParser:
    return config_parser(TrainConfig, "python -m restora.train.perceiver",
                         "Train the perceiver on synthetic degradations.")


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    stop_at = a.stop_at
    cfg = TrainConfig(**{f.name: getattr(a, f.name) for f in fields(TrainConfig)})
    if cfg.config not in CONFIGS:
        raise SystemExit(f"unknown config {cfg.config!r} (known: {', '.join(CONFIGS)})")
    print(json.dumps(asdict(cfg)), flush=True)
    s = train(cfg, stop_at=stop_at)
    s.pop("card", None)
    print(json.dumps(s, indent=1, default=str), flush=True)
    return 0


if __name__ == "__main__":
    from restora.errors import run_main

    raise SystemExit(run_main(main))
