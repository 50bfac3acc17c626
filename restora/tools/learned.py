"""The learned all-in-one restorer as a tool: one network for every degradation, conditioned on
the perceiver's view of the image (its embedding, its dense maps and a region partition).

:func:`restore_net` runs the whole path on an H×W×3 image of any size:

1. the perceiver in 128-px tiles over the whole image (:func:`restora.perceive.outputs`, as the
   restorer saw it in training: 128-px crops);
2. the condition: the global embedding, the dense maps (type probabilities, then severities, at
   1/8 resolution) and regions — cells grouped by which types reach probability 0.5, as the
   training regions grouped pixels by which degradation masks cover them;
3. the restorer in overlapping tiles (origins on the 8-px cell grid, so each tile reads exactly
   its own cells of the maps), blended with linear ramps across the overlaps: bounded memory on
   any size, no seams.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from restora._image import as_image
from restora.tools.base import Tool, ToolParam

if TYPE_CHECKING:  # torch is imported when the network first runs, not with restora.tools
    import torch

    from restora.nets.conditioning import Condition
    from restora.nets.restorer import Restorer

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "restorer_nafnet-small.safetensors"
TILE, OVERLAP, CELL = 512, 32, 8


@lru_cache(maxsize=2)
def _load(path: str) -> Restorer:
    import torch

    from restora.train.restorer import load_restorer

    torch.set_flush_denormal(True)  # denormal weights would slow CPU inference many times over
    return load_restorer(path)


def load_default(path: str | Path | None = None) -> Restorer:
    """The shipped restorer (or the one at ``path``), loaded once, sha256-checked, eval mode."""
    from restora.errors import RestoraError

    p = Path(path) if path else DEFAULT_WEIGHTS
    if not p.is_file():
        raise RestoraError(f"no restorer weights at {p}")
    return _load(str(p))


def region_cells(probs: torch.Tensor, max_regions: int, threshold: float = 0.5) -> torch.Tensor:
    """1×h×w region ids from 1×K×h×w type probabilities: cells grouped by the set of types at or
    above ``threshold`` (ids in increasing order of the sets' bit codes; sets beyond
    ``max_regions`` share the last id)."""
    import torch

    bits = (probs[0] >= threshold).to(torch.int64)
    code = (bits << torch.arange(bits.shape[0], device=bits.device)[:, None, None]).sum(0)
    _, inv = torch.unique(code, return_inverse=True)
    return inv.clamp_max(max_regions - 1)[None]


def condition_for(img: np.ndarray, model: Restorer, perceiver=None) -> Condition:
    """The restorer's condition for a whole image (1×… tensors on the CPU). ``perceiver``
    defaults to the shipped one, which the shipped restorer was trained with (whichever
    perceiver the rest of the program uses)."""
    import torch

    from restora.errors import RestoraError
    from restora.nets.conditioning import Condition
    from restora.perceive import DEFAULT_WEIGHTS as PERCEIVER
    from restora.perceive import _load_cached, outputs

    if perceiver is None:
        perceiver = _load_cached(str(PERCEIVER.resolve()))
    out = outputs(perceiver.eval(), img)
    if out.embedding.shape[1] != model.cfg.embed:
        raise RestoraError(f"the restorer expects a {model.cfg.embed}-d perceiver embedding, "
                           f"this perceiver gives {out.embedding.shape[1]}")
    probs = torch.sigmoid(out.dense_logits).float()
    maps = torch.cat([probs, out.dense_severity.float()], 1)
    regions = region_cells(probs, model.cfg.max_regions) if model.cfg.regions else None
    return Condition(out.embedding.float(), maps, regions, out.domain_logits.softmax(-1).float())


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    if n <= tile:
        return [0]
    step = (tile - overlap) // CELL * CELL
    s = list(range(0, n - tile, step))
    last = (n - tile) // CELL * CELL
    if last > s[-1]:
        s.append(last)
    return s


def _ramp(n: int, lo: bool, hi: bool, overlap: int) -> np.ndarray:
    w = np.ones(n, np.float32)
    r = np.linspace(0, 1, overlap + 2, dtype=np.float32)[1:-1]
    if lo:
        w[:overlap] = r
    if hi:
        w[-overlap:] = r[::-1]
    return w


def restore_net(img: np.ndarray, model: Restorer | None = None, perceiver=None, *,
                tile: int = TILE, overlap: int = OVERLAP, strength: float = 1.0) -> np.ndarray:
    """Restore ``img`` (float32 RGB in [0, 1], any size) with the all-in-one network; ``strength``
    ∈ [0, 1] blends the result with the input."""
    import torch

    from restora.nets.conditioning import Condition
    img = as_image(img)
    model = model if model is not None else load_default()
    dev = next(model.parameters()).device
    cond = condition_for(img, model, perceiver).to(dev)
    H, W = img.shape[:2]
    tile = max(64, tile // CELL * CELL)
    overlap = min(overlap // CELL * CELL, tile // 2)
    acc = np.zeros((H, W, 3), np.float32)
    wsum = np.zeros((H, W, 1), np.float32)
    ys, xs = _starts(H, tile, overlap), _starts(W, tile, overlap)

    def tile_regions(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor | None:
        """The tile's own cells of the region map, at pixel resolution (nearest); tile origins
        are on the cell grid, so this is exact without a whole-image pixel map."""
        if cond.regions is None:
            return None
        cells = cond.regions[:, y0 // CELL:-(-y1 // CELL), x0 // CELL:-(-x1 // CELL)]
        return cells.repeat_interleave(CELL, 1).repeat_interleave(CELL, 2)[:, :y1 - y0, :x1 - x0]
    with torch.inference_mode():
        for y0 in ys:
            for x0 in xs:
                y1, x1 = min(H, y0 + tile), min(W, x0 + tile)
                x = torch.from_numpy(np.ascontiguousarray(img[y0:y1, x0:x1].transpose(2, 0, 1)))
                x = x.to(dev)
                c = Condition(cond.embedding,
                              cond.maps[..., y0 // CELL:-(-y1 // CELL), x0 // CELL:-(-x1 // CELL)],
                              tile_regions(y0, y1, x0, x1),
                              cond.domain)
                out = model(x[None], c).image[0].clamp(0, 1).float().cpu().numpy()
                out = out.transpose(1, 2, 0)
                wy = _ramp(y1 - y0, y0 > 0, y1 < H, overlap) if len(ys) > 1 else np.ones(y1 - y0)
                wx = _ramp(x1 - x0, x0 > 0, x1 < W, overlap) if len(xs) > 1 else np.ones(x1 - x0)
                wgt = (wy[:, None] * wx[None, :]).astype(np.float32)[..., None]
                acc[y0:y1, x0:x1] += out * wgt
                wsum[y0:y1, x0:x1] += wgt
    out = acc / np.maximum(wsum, 1e-8)
    if strength < 1.0:
        out = img + np.float32(strength) * (out - img)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _net_fn(img: np.ndarray, strength: float = 1.0) -> np.ndarray:
    return restore_net(img, strength=strength)


def _all_ops() -> tuple[str, ...]:
    from restora.degrade.operators import OPERATORS  # the perceiver's OPS, without torch

    return tuple(OPERATORS)


TOOLS: list[Tool] = []
if DEFAULT_WEIGHTS.is_file():
    TOOLS.append(Tool(
        name="allinone_net", treats=_all_ops(), fn=_net_fn,
        params=(ToolParam("strength", "blend with the input", 0.0, 1.0, 1.0),),
        cost=600.0, cite="Restora's all-in-one restorer (ClearAIR, Perceive-IR, DATPRL-IR ideas)"))
