"""Perceive an image: what is wrong with it, how badly, and where.

:func:`assess` runs the perceiver (:mod:`restora.nets.perceiver`) on an image of any size and
returns an :class:`Assessment`: quality score and tier, domain, the degradation types the global
head detects (probability, severity in the operator's own unit) and the dense per-cell maps
(stride 8). Large images are cut into tiles whose stride-8 features are stitched into one cell
map before the heads run once, so the global answer is the whole image's, and memory grows with
that cell map (C channels at 1/64 of the pixels; a few copies of it while the heads run) plus
one tile, never with the encoder's full-resolution activations: a 6000×4000 photo peaked at
1.9 GB resident with the "small" perceiver, the image and its float copies included.

:func:`regions` turns an assessment into a partition of the image: connected areas that share
one set of detected types (a "signature"), with edges that follow the image (superpixels), small
fragments merged into their neighbours, and per-region severities: what a planner restores region
by region. The region without types is the clean one.

:func:`render_map` and :func:`render_regions` draw both for people.
"""

from __future__ import annotations

import functools
import heapq
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from restora._image import as_image
from restora.degrade.operators import OPERATORS
from restora.errors import RestoraError
from restora.nets.perceiver import DOMAINS, OPS, STRIDE, Perceiver, tier_of
from restora.report.colormap import colorize

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "perceiver_small.safetensors"
# Tile origins are multiples of the encoder's coarsest stride (its stride-32 context branch), so
# every tile sees the same pixel grids as the whole image: the JPEG 8×8 grid, the stride-8 cells
# and the context cells.
ALIGN = 32
GLOBAL_ONLY_COVER = 0.05  # a globally detected type whose dense map covers less is "everywhere"
MIN_PRESENCE = 0.05  # below this mean dense probability a region's severity ratio is unreliable
WORK_SIDE = 1024  # long side of the copy regions() segments (superpixels, components)
SUPERPIXEL_PX = 400  # target superpixel area in pixels of that copy (about 20×20)
# SLIC runs on a copy at most this long (its labels up-sampled, nearest): its cost grows with the
# pixels, and region edges 2–4 px coarser are far inside the agent's fusion feather (≥ 8 px, 3 %
# of the diagonal). 0.155 s → 0.040 s on a 512×512 photo (BENCHMARKS.md).
SUPERPIXEL_SIDE = 256


# --------------------------------------------------------------------------------------------
# weights


def load_model(path: str | Path | None = None) -> Perceiver:
    """The perceiver in eval mode from a .safetensors file (default :data:`DEFAULT_WEIGHTS`),
    its JSON card's sha256 checked; cached per resolved path (the same object is returned on the
    next call, so do not modify it). Denormal floats are flushed (CPU speed). A missing,
    corrupt or incompatible file raises :class:`RestoraError` with a one-line message."""
    p = Path(DEFAULT_WEIGHTS if path is None else path).expanduser().resolve()
    if not p.is_file():
        hint = (" (the shipped weights are not installed: train them with `restora train "
                "perceiver`, or give a weights file)" if path is None else "")
        raise RestoraError(f"perceiver weights not found: {p}{hint}")
    return _load_cached(str(p))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> Perceiver:
    from safetensors import SafetensorError

    from restora.train.perceiver import load_perceiver

    torch.set_flush_denormal(True)
    try:
        return load_perceiver(path).eval()
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as e:
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise RestoraError(f"cannot load perceiver weights {path}: {reason}") from None


# --------------------------------------------------------------------------------------------
# results


@dataclass
class Detection:
    """One degradation type: probability, severity (normalised: 0 none, 1 the heaviest trained
    level) and that severity as the operator's main parameter (``param`` = ``value`` ``unit``)."""

    op: str
    prob: float
    severity: float
    param: str
    value: float
    unit: str


def _detection(op: str, prob: float, severity: float) -> Detection:
    prim = OPERATORS[op].primary
    value = min(max(prim.at(severity), prim.valid[0]), prim.valid[1])
    return Detection(op, float(prob), float(severity), prim.name, float(value), prim.unit)


@dataclass
class Assessment:
    """What the perceiver sees in one image of ``shape`` (H, W).

    ``types`` are the global head's detections (probability ≥ the threshold of :func:`assess`),
    most probable first; ``clean`` is true when there are none. ``probs`` holds the global
    probability of every type (the 15 operators and "clean"), ``severities`` the global
    normalised severity of every operator (meaningful only where the type is present).
    ``prob_maps`` (15×h×w) is the per-cell probability that the operator acts on the cell's 8×8
    pixels, ``severity_maps`` the per-cell severity × presence, h = ⌈H/8⌉, w = ⌈W/8⌉, in the
    order of :data:`restora.nets.perceiver.OPS`. ``embedding`` is the perceiver's pooled latent.
    """

    quality: float
    tier: str
    types: list[Detection]
    clean: bool
    domain: str
    domain_probs: dict[str, float]
    embedding: np.ndarray
    prob_maps: np.ndarray
    severity_maps: np.ndarray
    shape: tuple[int, int]
    probs: dict[str, float] = field(default_factory=dict)
    severities: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.5

    def to_dict(self) -> dict:
        """A JSON-serialisable summary (no maps, no embedding)."""
        return {"quality": self.quality, "tier": self.tier, "clean": self.clean,
                "domain": self.domain, "domain_probs": dict(self.domain_probs),
                "types": [asdict(d) for d in self.types], "probs": dict(self.probs),
                "threshold": self.threshold, "shape": list(self.shape),
                "cells": list(self.prob_maps.shape[1:])}

    def map(self, op: str) -> np.ndarray:
        """The probability map of ``op`` at the image's size: H×W float32 in [0, 1], each cell's
        value at its centre, bilinear in between."""
        return _upsample(self.prob_maps[_op_index(op)], self.shape, self.shape)


def _op_index(op: str) -> int:
    if op not in OPS:
        raise RestoraError(f"unknown degradation type '{op}' (known: {', '.join(OPS)})")
    return OPS.index(op)


@dataclass
class Region:
    """One part of the partition :func:`regions` returns.

    ``mask`` is H×W bool; ``types`` the degradations acting there (empty: the clean region), most
    probable first, each with the region's own severity; ``area`` the fraction of the image's
    pixels; ``confidence`` the weakest agreement of the per-pixel evidence with the region's
    label (for each type the mean probability inside the region if the type is in the label,
    one minus it otherwise; the minimum over types); ``bbox`` (top, left, bottom, right) in
    pixels, bottom and right exclusive.
    """

    mask: np.ndarray
    types: list[Detection]
    area: float
    confidence: float
    bbox: tuple[int, int, int, int]

    @property
    def clean(self) -> bool:
        return not self.types

    def to_dict(self) -> dict:
        """A JSON-serialisable summary (no mask)."""
        return {"area": self.area, "confidence": self.confidence, "bbox": list(self.bbox),
                "clean": self.clean, "types": [asdict(d) for d in self.types]}


# --------------------------------------------------------------------------------------------
# assess


def _spans(n: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles along an axis of ``n`` pixels: (start, stop) in pixels and the core (start, stop)
    in global cells each tile writes. Starts are multiples of :data:`ALIGN`; every tile but the
    last is ``tile`` long, the last one ends at ``n`` (up to ALIGN − 1 longer); the cores
    partition the ⌈n/8⌉ cells, each border cell going to the tile that sees it farther from its
    own edge (the overlap split in half)."""
    if n <= tile:
        return [(0, n, 0, -(-n // STRIDE))]
    step = tile - overlap
    starts = list(range(0, n - tile, step))
    last = (n - tile) // ALIGN * ALIGN
    if last > starts[-1]:
        starts.append(last)
    stops = [s + tile for s in starts[:-1]] + [n]
    cuts = [(starts[i + 1] + stops[i]) // (2 * STRIDE) for i in range(len(starts) - 1)]
    lo, hi = [0] + cuts, cuts + [-(-n // STRIDE)]
    return list(zip(starts, stops, lo, hi, strict=True))


def _device(model: torch.nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


TILE_BATCH = 32  # tiles of one shape that run through the network together


def _features(model: Perceiver, img: np.ndarray, tile: int, overlap: int) -> torch.Tensor:
    """The stride-8 cell map 1×C×⌈H/8⌉×⌈W/8⌉ of the whole image, computed tile by tile (each
    tile's core copied in) when a side exceeds ``tile``; tiles of one shape run together in
    batches of :data:`TILE_BATCH`. Call under inference mode."""
    dev = _device(model)
    H, W = img.shape[:2]

    def run(boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
        x = np.stack([img[y0:y1, x0:x1].transpose(2, 0, 1) for y0, y1, x0, x1 in boxes])
        return model.features(torch.from_numpy(np.ascontiguousarray(x)).to(dev))

    if H <= tile and W <= tile:
        return run([(0, H, 0, W)])
    jobs: dict[tuple[int, int], list] = {}
    for y0, y1, cy0, cy1 in _spans(H, tile, overlap):
        for x0, x1, cx0, cx1 in _spans(W, tile, overlap):
            jobs.setdefault((y1 - y0, x1 - x0), []).append((y0, y1, x0, x1, cy0, cy1, cx0, cx1))
    out = None
    for group in jobs.values():
        for k in range(0, len(group), TILE_BATCH):
            part = group[k:k + TILE_BATCH]
            f = run([j[:4] for j in part])
            if out is None:
                out = f.new_empty((1, f.shape[1], -(-H // STRIDE), -(-W // STRIDE)))
            for i, (y0, _, x0, _, cy0, cy1, cx0, cx1) in enumerate(part):
                ty, tx = y0 // STRIDE, x0 // STRIDE
                out[0, :, cy0:cy1, cx0:cx1] = f[i, :, cy0 - ty:cy1 - ty, cx0 - tx:cx1 - tx]
    assert out is not None
    return out


def outputs(model: Perceiver, img: np.ndarray, tile: int = 128, overlap: int = 0):
    """The raw head outputs (PerceiverOutput, batch of one) for an H×W×3 float image, computed
    the way :func:`assess` does (in tiles of ``tile`` px); the model must be in eval mode."""
    with torch.inference_mode():
        return model.heads(_features(model, img, tile, overlap))


def assess(img: np.ndarray, model: Perceiver | None = None, *, tile: int = 128, overlap: int = 0,
           threshold: float = 0.5) -> Assessment:
    """Run the perceiver on ``img`` (anything :func:`restora._image.as_image` accepts).

    ``model`` defaults to :func:`load_model` (the shipped weights); it is run in eval mode and
    left in the mode it came in. Images with both sides ≤ ``tile`` run in one pass; larger ones
    in tiles of ``tile`` px (rounded down to a multiple of 32) overlapping by ``overlap`` px
    (rounded up to a multiple of 32), origins on the 32-pixel grid, whose features are stitched
    (each tile keeps its core: the overlap is split in half) before the heads run once on the
    whole cell map. The default, 128-px tiles without overlap, is the size the perceiver was
    trained on: its features at a cell depend on how far the crop's border is (the training
    crops were all 128 px), and one pass over a 512-px image, whose cells mostly see no border,
    missed σ 25 noise on a photo that every 128-px tile of it called noisy (BENCHMARKS.md). A
    type is detected when its global probability
    is ≥ ``threshold``.
    """
    if not 0.0 < threshold < 1.0:
        raise RestoraError(f"threshold must be in (0, 1), got {threshold}")
    tile, overlap = tile // ALIGN * ALIGN, -(-overlap // ALIGN) * ALIGN
    if overlap < 0 or tile < 2 * ALIGN or tile - overlap < ALIGN:
        raise RestoraError(f"tile must be ≥ {2 * ALIGN} px and exceed the overlap by ≥ {ALIGN} "
                           f"px, got tile {tile}, overlap {overlap} (after rounding to {ALIGN})")
    img = as_image(img)
    model = load_model() if model is None else model
    was_training = model.training
    model.eval()
    try:
        out = outputs(model, img, tile, overlap)
    finally:
        model.train(was_training)
    type_p = torch.sigmoid(out.type_logits[0].float()).cpu().numpy()
    sev = out.severity[0].float().clamp(0.0, 1.2).cpu().numpy()
    dom = torch.softmax(out.domain_logits[0].float(), 0).cpu().numpy()
    q = float(torch.sigmoid(out.quality_logit[0].float()))
    found = [_detection(op, type_p[j], sev[j])
             for j, op in enumerate(OPS) if type_p[j] >= threshold]
    found.sort(key=lambda d: -d.prob)
    return Assessment(
        quality=q, tier=tier_of(q), types=found, clean=not found,
        domain=DOMAINS[int(dom.argmax())], domain_probs={d: float(p) for d, p in zip(DOMAINS, dom)},
        embedding=out.embedding[0].float().cpu().numpy(),
        prob_maps=torch.sigmoid(out.dense_logits[0].float()).cpu().numpy(),
        severity_maps=out.dense_severity[0].float().clamp(0.0, 1.2).cpu().numpy(),
        shape=(img.shape[0], img.shape[1]),
        probs={t: float(p) for t, p in zip(OPS + ("clean",), type_p)},
        severities={op: float(s) for op, s in zip(OPS, sev)}, threshold=threshold)


def _upsample(cells: np.ndarray, out_hw: tuple[int, int], full_hw: tuple[int, int]) -> np.ndarray:
    """A stride-8 cell map (h×w) resampled bilinearly onto an ``out_hw`` grid covering an image
    of ``full_hw`` pixels (cell centres at 8c + 4 px; edges held constant)."""
    (oh, ow), (H, W) = out_hw, full_hw
    h, w = cells.shape
    size = (max(ow, round(STRIDE * w * ow / W)), max(oh, round(STRIDE * h * oh / H)))
    return np.ascontiguousarray(
        cv2.resize(np.asarray(cells, np.float32), size, interpolation=cv2.INTER_LINEAR)[:oh, :ow])


# --------------------------------------------------------------------------------------------
# regions


def _working(img: np.ndarray) -> np.ndarray:
    H, W = img.shape[:2]
    s = min(1.0, WORK_SIDE / max(H, W))
    if s == 1.0:
        return img
    size = (max(1, round(W * s)), max(1, round(H * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _superpixels(img: np.ndarray) -> np.ndarray:
    """SLIC labels (H×W) of ``img``, about one per :data:`SUPERPIXEL_PX` of its pixels, computed
    on a copy at most :data:`SUPERPIXEL_SIDE` px long."""
    from skimage.segmentation import slic

    h, w = img.shape[:2]
    n = max(4, h * w // SUPERPIXEL_PX)
    f = min(1.0, SUPERPIXEL_SIDE / max(h, w))
    small = img if f == 1.0 else cv2.resize(
        img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    lab = slic(small, n_segments=n, compactness=10.0, start_label=0, channel_axis=-1)
    if f == 1.0:
        return lab
    # Labels a coarse copy loses leave gaps in the numbering; the superpixel means in regions()
    # count per label (bincount) and never divide by an empty one.
    return cv2.resize(lab.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)


def _borders(lab: np.ndarray) -> dict[int, dict[int, int]]:
    """Shared border length (4-neighbour pixel pairs) between every two touching labels."""
    a = np.concatenate([lab[:, :-1].ravel(), lab[:-1, :].ravel()])
    b = np.concatenate([lab[:, 1:].ravel(), lab[1:, :].ravel()])
    diff = a != b
    lo, hi = np.minimum(a[diff], b[diff]), np.maximum(a[diff], b[diff])
    pairs, counts = np.unique(np.stack([lo, hi], 1), axis=0, return_counts=True)
    adj: dict[int, dict[int, int]] = {}
    for (u, v), c in zip(pairs.tolist(), counts.tolist()):
        adj.setdefault(u, {})[v] = c
        adj.setdefault(v, {})[u] = c
    return adj


def _merge_small(lab: np.ndarray, codes: np.ndarray, min_px: float) -> np.ndarray:
    """Per-label signature codes after merging, smallest first, every component of fewer than
    ``min_px`` pixels into the neighbour it shares the longest border with (ties: the larger
    neighbour). ``lab`` holds labels 0..n−1, ``codes[k]`` the signature of label k."""
    n = len(codes)
    size = np.bincount(lab.ravel(), minlength=n).astype(np.int64)
    adj = _borders(lab)
    parent = np.arange(n)
    heap = [(int(size[k]), k) for k in range(n) if size[k] < min_px]
    heapq.heapify(heap)
    while heap:
        s, k = heapq.heappop(heap)
        if parent[k] != k or s != size[k]:
            continue
        nb = adj.get(k, {})
        if not nb:  # the only region left
            continue
        t = max(nb, key=lambda j: (nb[j], size[j], -j))
        parent[k], size[t] = t, size[t] + size[k]
        del adj[t][k]
        for j, c in nb.items():
            if j != t:
                del adj[j][k]
                adj[j][t] = adj[j].get(t, 0) + c
                adj[t][j] = adj[t].get(j, 0) + c
        del adj[k]
        if size[t] < min_px:
            heapq.heappush(heap, (int(size[t]), t))
    root = parent.copy()
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    return codes[root]


def _first(lab: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The value at the first pixel of each label 0..n−1 (labels are contiguous)."""
    return values.ravel()[np.unique(lab.ravel(), return_index=True)[1]]


def _components(codes: np.ndarray) -> np.ndarray:
    """4-connected components of equal codes, labelled 0..n−1."""
    from skimage.measure import label

    return label(codes, background=-1, connectivity=1) - 1


def _partition(probs: np.ndarray, threshold: float, min_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Label map (0..n−1) of the regions of per-pixel signatures of ``probs`` (types × h × w),
    small components merged, and the signature code of each region (bit j: type j)."""
    bits = (1 << np.arange(len(probs), dtype=np.int64))[:, None, None]
    codes = ((probs >= threshold) * bits).sum(0)
    lab = _components(codes)
    codes = _merge_small(lab, _first(lab, codes), min_px)[lab]
    lab = _components(codes)  # neighbours left with one signature become one region
    return lab, _first(lab, codes)


def regions(img: np.ndarray, assessment: Assessment | None = None, model: Perceiver | None = None,
            *, threshold: float = 0.5, min_area: float = 0.02,
            superpixels: bool = True) -> list[Region]:
    """Partition ``img`` into regions of one degradation signature; largest first.

    The masks are disjoint and cover every pixel. Each type's probability map is up-sampled to a
    copy of the image at most :data:`WORK_SIDE` px on the long side and, with ``superpixels``,
    averaged within SLIC superpixels so that region edges follow the image. A pixel's signature
    is the set of types with probability ≥ ``threshold``; a type the global head detects
    (probability ≥ ``threshold``) whose dense map reaches the threshold on less than 5 % of the
    image counts as present everywhere (global degradations reach the planner even when the
    dense map is weak). Connected areas of one signature become regions; those smaller than
    ``min_area`` (a fraction of the image) are merged, smallest first, into the neighbour they
    share the longest border with, and neighbours left with one signature are joined; a
    globally detected type that is then in no region (its fragments all merged away) is also
    made present everywhere. A region's severity for a type is its mean dense severity over its
    mean dense probability, clipped to [0, 1], or the global severity where the dense map is too
    weak to say (mean probability < 0.05, or a type made present everywhere); a type's ``prob``
    is its mean probability in the region (after the superpixel averaging). ``assessment``
    defaults to :func:`assess` of ``img`` with ``model``; regions are computed on a copy at most
    1024 px on the long side and their masks up-sampled (nearest) to the image's size.
    """
    if not 0.0 < threshold < 1.0:
        raise RestoraError(f"threshold must be in (0, 1), got {threshold}")
    if not 0.0 <= min_area < 1.0:
        raise RestoraError(f"min_area must be in [0, 1), got {min_area}")
    img = as_image(img)
    a = assess(img, model, threshold=threshold) if assessment is None else assessment
    H, W = img.shape[:2]
    if tuple(a.shape) != (H, W):
        raise RestoraError(f"the assessment is of a {a.shape[1]}×{a.shape[0]} image, "
                           f"not this {W}×{H} one")
    work = _working(img)
    h, w = work.shape[:2]
    n_ops = len(OPS)
    raw_probs = np.stack([_upsample(a.prob_maps[j], (h, w), (H, W)) for j in range(n_ops)])
    probs = raw_probs.copy()
    above = raw_probs >= threshold
    # Superpixel means are convex combinations: where every pixel has the same signature they
    # cannot change it, so the (costly) superpixels are only computed where they can matter.
    uniform = bool((above == above[:, :1, :1]).all())
    if superpixels and h * w >= 64 and not uniform:
        sp = _superpixels(work).ravel()
        n_sp = np.maximum(np.bincount(sp), 1)
        for p in probs:
            p[:] = (np.bincount(sp, weights=p.ravel()) / n_sp)[sp].reshape(h, w)
    detected = {j for j, op in enumerate(OPS) if a.probs.get(op, 0.0) >= threshold}
    everywhere = {j for j in detected
                  if float((raw_probs[j] >= threshold).mean()) < GLOBAL_ONLY_COVER}
    while True:
        for j in everywhere:
            probs[j] = a.probs[OPS[j]]
        lab, code_of = _partition(probs, threshold, min_area * h * w)
        lost = {j for j in detected if not (code_of >> j & 1).any()}
        if not lost:
            break
        everywhere |= lost  # scattered fragments all merged away: the type is everywhere
    n, flat = len(code_of), lab.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)

    def mean(m: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=m.ravel(), minlength=n) / count

    in_sig = (code_of[None, :] >> np.arange(n_ops)[:, None]) & 1 == 1  # types × regions
    mean_p = np.stack([mean(p) for p in probs])
    sev = {}
    for j in np.flatnonzero(in_sig.any(1)):
        if j not in everywhere:
            s_up = _upsample(a.severity_maps[j], (h, w), (H, W))
            sev[j] = (mean(raw_probs[j]), mean(s_up))
    rows = np.minimum(((np.arange(H) + 0.5) * h / H).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(W) + 0.5) * w / W).astype(np.intp), w - 1)
    full = lab.astype(np.int32)[rows][:, cols]
    out = []
    for k in range(n):
        found = []
        for j in np.flatnonzero(in_sig[:, k]):
            s = a.severities.get(OPS[j], 0.0)
            if j in sev and sev[j][0][k] >= MIN_PRESENCE:
                s = float(np.clip(sev[j][1][k] / sev[j][0][k], 0.0, 1.0))
            found.append(_detection(OPS[j], mean_p[j, k], s))
        found.sort(key=lambda d: -d.prob)
        agree = np.where(in_sig[:, k], mean_p[:, k], 1.0 - mean_p[:, k])
        mask = full == k
        ys, xs = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        out.append(Region(mask=mask, types=found, area=float(mask.sum()) / (H * W),
                          confidence=float(agree.min()),
                          bbox=(int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1)))
    out.sort(key=lambda r: (-r.area, r.bbox))
    return out


# --------------------------------------------------------------------------------------------
# pictures


_PALETTE = np.array([[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48],
                     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60],
                     [250, 190, 212], [0, 128, 128], [170, 110, 40], [255, 225, 25]],
                    np.float32) / 255.0


def _small(img: np.ndarray, max_side: int) -> np.ndarray:
    H, W = img.shape[:2]
    s = min(1.0, max_side / max(H, W))
    if s == 1.0:
        return img
    return cv2.resize(img, (max(1, round(W * s)), max(1, round(H * s))),
                      interpolation=cv2.INTER_AREA)


def render_map(img: np.ndarray, assessment: Assessment, op: str, *,
               max_side: int = 1024) -> np.ndarray:
    """The photo darkened to 40 % with the probability map of ``op`` over it in colour (dark →
    bright yellow as the probability rises to 1), at most ``max_side`` px on the long side:
    H'×W'×3 float32 in [0, 1]."""
    base = 0.4 * _small(as_image(img), max_side)
    p = _upsample(assessment.prob_maps[_op_index(op)], base.shape[:2], assessment.shape)
    a = 0.7 * p[..., None]
    return np.clip(base * (1 - a) + colorize(p) * a, 0.0, 1.0).astype(np.float32)


def render_regions(img: np.ndarray, regions: list[Region], *, max_side: int = 1024) -> np.ndarray:
    """Each region tinted a distinct colour, its boundary drawn in white and its number (1 =
    the first of ``regions``) written inside it; at most ``max_side`` px on the long side."""
    small = _small(as_image(img), max_side)
    h, w = small.shape[:2]
    H, W = regions[0].mask.shape if regions else (h, w)
    rows = np.minimum(((np.arange(h) + 0.5) * H / h).astype(np.intp), H - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * W / w).astype(np.intp), W - 1)
    lab = np.zeros((h, w), np.int32)
    for k, r in enumerate(regions):
        lab[r.mask[rows][:, cols]] = k
    out = 0.55 * small + 0.45 * _PALETTE[lab % len(_PALETTE)]
    edge = np.zeros((h, w), bool)
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    out[edge] = 1.0
    canvas = np.round(np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)  # what putText draws on
    scale = max(0.4, min(h, w) / 600)
    for k in range(len(regions)):
        m = (lab == k).astype(np.uint8)
        if not m.any():
            continue
        dist = cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        y, x = np.unravel_index(int(dist.argmax()), dist.shape)
        text, font = str(k + 1), cv2.FONT_HERSHEY_SIMPLEX
        (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
        org = (int(x) - tw // 2, int(y) + th // 2)
        cv2.putText(canvas, text, org, font, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, text, org, font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255.0
