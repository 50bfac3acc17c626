"""Fast tests of the restorer networks: blocks, conditioning, prompts and the U-Net itself
(tiny configs at 32 px on the CPU; every test well under a second)."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode
from torch.testing import assert_close
from torch.utils.flop_counter import FlopCounterMode

from restora.nets.blocks import (
    GatedDconvFFN,
    LayerNorm2d,
    NAFBlock,
    RestormerBlock,
    SimpleGate,
    TransposedAttention,
    make_block,
)
from restora.nets.conditioning import (
    Condition,
    EmbeddingModulation,
    MapEncoder,
    RegionPrior,
    SpatialModulation,
    mask_average_pool,
)
from restora.nets.prompts import (
    DomainAwarePrompt,
    GatedPromptFusion,
    PoolOut,
    PromptPool,
    QueryProjector,
)
from restora.nets.restorer import (
    ABLATIONS,
    CONFIGS,
    Restorer,
    RestorerConfig,
    config_dict,
    config_from_dict,
    restorer,
    restorer_config,
)

TINY = [name for name in CONFIGS if name.endswith("-tiny")]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and a busy machine stalls them."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module", autouse=True)
def warm():
    """Pay torch's one-time lazy imports (assert_close, the FLOP counter: about 0.7 s each here)
    once, in setup, so that the durations report measures the tests themselves."""
    assert_close(torch.zeros(1), torch.zeros(1))
    with FlopCounterMode(display=False):
        torch.zeros(1, 1) @ torch.zeros(1, 1)


# --------------------------------------------------------------------------------------------
# helpers


def quadrants(b: int, h: int, w: int) -> torch.Tensor:
    """B×H×W region ids 0..3: the four quadrants."""
    ys = (torch.arange(h) >= h // 2).long()[:, None]
    xs = (torch.arange(w) >= w // 2).long()[None, :]
    return (2 * ys + xs).expand(b, h, w).clone()


def make_cond(cfg: RestorerConfig, b: int, h: int, w: int, seed: int = 0) -> Condition:
    """A random condition for a B×3×H×W batch: maps at 1/8 resolution, quadrant regions."""
    g = torch.Generator().manual_seed(seed)
    return Condition(torch.randn(b, cfg.embed, generator=g),
                     torch.rand(b, cfg.n_maps, -(-h // 8), -(-w // 8), generator=g),
                     quadrants(b, h, w),
                     torch.rand(b, 3, generator=g).softmax(-1))


def image(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def conditioning_outputs(model: nn.Module) -> list[nn.Module]:
    """Every zero-initialised output projection of the conditioning paths."""
    out = []
    for m in model.modules():
        if isinstance(m, EmbeddingModulation):
            out += [m.scale, m.shift]
        elif isinstance(m, (SpatialModulation, RegionPrior, GatedPromptFusion)):
            out.append(m.out)
    return out


@torch.no_grad()
def perturb(model: Restorer, seed: int = 1, std: float = 0.2, blocks: bool = False) -> Restorer:
    """Randomise the ending conv and every conditioning output projection (and, with
    ``blocks``, the NAFNet residual scales), so that the condition reaches the output. The
    region prior's query and key projections are scaled up: at their initial size the attention
    is nearly uniform over pixels, which returns the global mean for any partition."""
    g = torch.Generator().manual_seed(seed)
    for lin in [model.ending, *conditioning_outputs(model)]:
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * std)
        lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * std)
    if model.region is not None:
        model.region.q.weight.mul_(10)
        model.region.kv.weight.mul_(10)
    if blocks:
        for m in model.modules():
            if isinstance(m, NAFBlock):
                m.beta.copy_(torch.randn(m.beta.shape, generator=g) * 0.3)
                m.gamma.copy_(torch.randn(m.gamma.shape, generator=g) * 0.3)
    return model.eval()


def randomise(*mods: nn.Module, seed: int = 2) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in mods:
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


class Softmaxes(TorchFunctionMode):
    """Records the shape of every tensor passed to a softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.softmax, torch.softmax, F.softmax):
            self.shapes.append(tuple(args[0].shape))
        return func(*args, **(kwargs or {}))


# --------------------------------------------------------------------------------------------
# blocks


def test_layernorm2d_normalises_every_pixel_over_channels():
    ln = LayerNorm2d(6)
    randomise(ln)
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.weight, ln.bias, ln.eps).permute(0, 3, 1, 2)
    assert_close(ln(x), ref)
    y = LayerNorm2d(6)(x)
    assert_close(y.mean(1), torch.zeros(2, 5, 7), atol=1e-5, rtol=0)
    assert_close(y.var(1, unbiased=False), torch.ones(2, 5, 7), atol=1e-4, rtol=0)


def test_simple_gate_multiplies_the_two_halves():
    x = torch.randn(2, 6, 3, 4)
    assert_close(SimpleGate()(x), x[:, :3] * x[:, 3:])


@pytest.mark.parametrize("size", [(32, 32), (7, 13)])
def test_nafblock_is_the_identity_until_its_scales_move(size):
    torch.manual_seed(0)
    blk = NAFBlock(8)
    x = torch.randn(2, 8, *size)
    assert_close(blk(x), x)
    with torch.no_grad():
        blk.beta.fill_(0.5)
        blk.gamma.fill_(0.5)
    y = blk(x)
    assert y.shape == x.shape
    assert (y - x).abs().mean() > 1e-3


@pytest.mark.parametrize("size", [(32, 32), (7, 13)])
def test_restormer_block_and_gdfn_keep_the_shape(size):
    torch.manual_seed(0)
    x = torch.randn(2, 8, *size)
    assert RestormerBlock(8, heads=2)(x).shape == x.shape
    assert GatedDconvFFN(8, expand=2.66)(x).shape == x.shape


def test_transposed_attention_map_is_channels_by_channels():
    torch.manual_seed(0)
    ta = TransposedAttention(8, heads=2)
    for h, w in [(16, 16), (32, 32), (9, 14)]:
        x = torch.randn(2, 8, h, w)
        with Softmaxes() as sm:
            y = ta(x)
        assert y.shape == x.shape
        assert sm.shapes == [(2, 2, 4, 4)]  # B × heads × C/heads × C/heads, whatever H×W


def test_transposed_attention_cost_is_linear_in_pixels():
    torch.manual_seed(0)
    ta = TransposedAttention(8, heads=2)
    flops = []
    for s in (32, 64):
        with FlopCounterMode(display=False) as fc:
            ta(torch.randn(1, 8, s, s))
        flops.append(fc.get_total_flops())
    assert flops[1] == pytest.approx(4 * flops[0], rel=1e-6)  # 4× pixels → 4× cost, not 16×


def test_make_block_kinds_and_unknown_backbone():
    assert isinstance(make_block("nafnet", 8), NAFBlock)
    blk = make_block("restormer", 8, heads=4)
    assert isinstance(blk, RestormerBlock) and blk.attn.heads == 4
    with pytest.raises(ValueError, match="nafnet, restormer"):
        make_block("unet", 8)


# --------------------------------------------------------------------------------------------
# conditioning


def test_embedding_modulation_identity_then_eq4():
    mod = EmbeddingModulation(5, 6)
    x, e = torch.randn(2, 6, 4, 3), torch.randn(2, 5)
    assert_close(mod(x, e), x)
    randomise(mod)
    scale = e @ mod.scale.weight.T + mod.scale.bias
    shift = e @ mod.shift.weight.T + mod.shift.bias
    assert_close(mod(x, e), x * (1 + scale[:, :, None, None]) + shift[:, :, None, None])


def test_map_encoder_keeps_the_maps_resolution():
    assert MapEncoder(30, hidden=12)(torch.rand(2, 30, 4, 5)).shape == (2, 12, 4, 5)


def test_spatial_modulation_identity_then_per_pixel_affine():
    mod = SpatialModulation(4, 3)
    x, enc = torch.randn(2, 3, 16, 24), torch.randn(2, 4, 2, 3)
    assert_close(mod(x, enc), x)
    randomise(mod)
    gb = F.interpolate(F.conv2d(enc, mod.out.weight, mod.out.bias), size=(16, 24),
                       mode="bilinear", align_corners=False)
    assert_close(mod(x, enc), x * (1 + gb[:, :3]) + gb[:, 3:])
    same = torch.randn(2, 4, 16, 24)  # maps already at the feature's resolution: no resize
    gb = F.conv2d(same, mod.out.weight, mod.out.bias)
    assert_close(mod(x, same), x * (1 + gb[:, :3]) + gb[:, 3:])


def test_mask_average_pool_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 9, 11)).astype(np.float32)
    labels = rng.choice([0, 1, 2, 4], size=(2, 9, 11))  # 3 and 5 stay empty
    means, counts = mask_average_pool(torch.from_numpy(x), torch.from_numpy(labels), 6)
    assert means.shape == (2, 6, 3) and counts.shape == (2, 6)
    for b in range(2):
        for i in range(6):
            sel = labels[b] == i
            assert counts[b, i].item() == sel.sum()
            want = x[b][:, sel].mean(1) if sel.any() else np.zeros(3, np.float32)
            np.testing.assert_allclose(means[b, i].numpy(), want, rtol=1e-5, atol=1e-6)
    assert (counts[:, [3, 5]] == 0).all()


def test_region_prior_is_the_identity_at_init():
    rp = RegionPrior(6, dim=4, max_regions=8)
    x = torch.randn(2, 6, 8, 8)
    assert_close(rp(x, quadrants(2, 8, 8)), x)


def test_region_prior_equals_attention_over_every_pixel():
    """The log-count trick is exact: ClearAIR Eq. 7–9 computed literally over the H·W tokens of
    the broadcast F_sem gives RegionPrior's output."""
    torch.manual_seed(0)
    c, d, h, w = 6, 4, 8, 8
    rp = RegionPrior(c, dim=d, max_regions=8).double()  # 5 of the 8 region slots stay empty
    randomise(rp)
    x = torch.randn(2, c, h, w, dtype=torch.float64)
    regions = torch.zeros(2, h, w, dtype=torch.long)
    regions[0, :2] = 1  # very unequal sizes: 48 / 16 / 0... pixels
    regions[0, 6:, 6:] = 2
    regions[1] = torch.randint(0, 3, (h, w), generator=torch.Generator().manual_seed(0))
    regions[1, 0, :3] = torch.tensor([0, 1, 2])
    f_sem = torch.empty_like(x)  # Eq. 6–7: each pixel carries its region's mean feature
    for b in range(2):
        for i in range(3):
            sel = regions[b] == i
            f_sem[b][:, sel] = x[b][:, sel].mean(1, keepdim=True)
    k, v = rp.kv(f_sem.flatten(2).transpose(1, 2)).chunk(2, -1)  # B×HW×d: one token per pixel
    q = rp.q(x).flatten(2).transpose(1, 2)
    attn = (q @ k.transpose(1, 2) / math.sqrt(d)).softmax(-1)  # Eq. 8, over all H·W pixels
    y = (attn @ v).transpose(1, 2).reshape(2, d, h, w)
    want = x + rp.out(y)  # Eq. 9
    got = rp(x, regions)
    assert_close(got, want)
    # and the test can tell: attention over the 3 region tokens without the count bias differs
    means = torch.stack([torch.stack([x[b][:, regions[b] == i].mean(1) for i in range(3)])
                         for b in range(2)])
    k3, v3 = rp.kv(means).chunk(2, -1)
    plain = ((q @ k3.transpose(1, 2) / math.sqrt(d)).softmax(-1) @ v3)
    plain = x + rp.out(plain.transpose(1, 2).reshape(2, d, h, w))
    assert (plain - got).abs().max() > 1e-3


def test_region_prior_resizes_regions_nearest():
    rp = RegionPrior(4, dim=4, max_regions=4)
    randomise(rp)
    x = torch.randn(1, 4, 16, 16)
    low = quadrants(1, 4, 4)
    full = low.repeat_interleave(4, 1).repeat_interleave(4, 2)
    assert_close(rp(x, low), rp(x, full))


def test_condition_to_keeps_fields_and_nones():
    c = Condition(torch.randn(1, 4), torch.rand(1, 2, 3, 3))
    moved = c.to("cpu")
    assert moved.regions is None and moved.domain is None
    assert torch.equal(moved.embedding, c.embedding) and torch.equal(moved.maps, c.maps)
    full = make_cond(CONFIGS["nafnet-tiny"], 1, 8, 8).to(torch.device("cpu"))
    assert full.regions.dtype == torch.int64 and full.domain.shape == (1, 3)


# --------------------------------------------------------------------------------------------
# prompts


def test_prompt_pool_retrieves_top_k_and_composes_with_softmax():
    torch.manual_seed(0)
    pool = PromptPool(size=7, key_dim=5, tokens=2, dim=4, top_k=3, temperature=0.1)
    q = torch.randn(4, 5)
    out = pool(q)
    assert isinstance(out, PoolOut)
    assert out.prompt.shape == (4, 2, 4) and out.sims.shape == (4, 7) and out.topk.shape == (4, 3)
    keys, vals = pool.keys.detach().numpy(), pool.values.detach().numpy()
    qn = q.numpy() / np.linalg.norm(q.numpy(), axis=1, keepdims=True)
    sims = qn @ (keys / np.linalg.norm(keys, axis=1, keepdims=True)).T
    np.testing.assert_allclose(out.sims.detach().numpy(), sims, rtol=1e-5, atol=1e-6)
    for b in range(4):
        idx = out.topk[b].numpy()
        assert set(idx) == set(np.argsort(-sims[b])[:3])
        top = sims[b, idx]
        wgt = np.exp(top / 0.1) / np.exp(top / 0.1).sum()
        want = np.einsum("k,ktd->td", wgt, vals[idx])
        np.testing.assert_allclose(out.prompt[b].detach().numpy(), want, rtol=1e-5, atol=1e-6)
    assert out.query is q and out.keys is pool.keys and out.values is pool.values


def test_prompt_pool_gradients_reach_only_the_selected_prompts():
    torch.manual_seed(0)
    pool = PromptPool(size=7, key_dim=5, tokens=2, dim=4, top_k=2, temperature=0.5)
    q = torch.randn(1, 5, requires_grad=True)
    out = pool(q)
    (out.prompt * torch.randn(out.prompt.shape)).sum().backward()
    chosen = set(out.topk[0].tolist())
    for i in range(7):
        v_grad = pool.values.grad[i].abs().sum().item()
        k_grad = pool.keys.grad[i].abs().sum().item()
        if i in chosen:
            assert v_grad > 0 and k_grad > 0
        else:
            assert v_grad == 0 and k_grad == 0
    assert q.grad.abs().sum() > 0


@pytest.mark.parametrize("k", [0, 8])
def test_prompt_pool_rejects_top_k_outside_the_pool(k):
    with pytest.raises(ValueError, match="top_k"):
        PromptPool(size=7, key_dim=5, tokens=2, dim=4, top_k=k)


def test_query_projector_gives_one_query_per_image_at_any_size():
    qp = QueryProjector(8, 5, hidden=6)
    assert qp(torch.randn(3, 8, 4, 4)).shape == (3, 5)
    assert qp(torch.randn(3, 8, 9, 13)).shape == (3, 5)


def test_domain_aware_prompt_is_task_plus_cross_attention():
    torch.manual_seed(0)
    dap = DomainAwarePrompt(4)
    task, dom = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    attn = (dap.q(task) @ dap.k(dom).transpose(1, 2) / 2.0).softmax(-1)
    assert_close(dap(task, dom), task + attn @ dap.v(dom))


def test_gated_prompt_fusion_identity_gate_and_eq3():
    torch.manual_seed(0)
    fuse = GatedPromptFusion(6, dim=5, attn_dim=4)
    x, p = torch.randn(2, 6, 5, 7), torch.randn(2, 3, 5)
    y = fuse(x, p)
    assert y.shape == x.shape
    assert_close(y, x)
    assert torch.sigmoid(fuse.gate).item() == 0.5
    randomise(fuse.out)
    with torch.no_grad():
        fuse.gate.fill_(0.7)
    a = torch.sigmoid(torch.tensor(0.7))
    q = fuse.q(a * x).flatten(2).transpose(1, 2)
    k, v = fuse.k((1 - a) * p), fuse.v((1 - a) * p)
    y = ((q @ k.transpose(1, 2)) / 2.0).softmax(-1) @ v
    assert_close(fuse(x, p), x + fuse.out(y.transpose(1, 2).reshape(2, 4, 5, 7)))
    with torch.no_grad():
        fuse.gate.fill_(40.0)  # α → 1: the prompt is scaled away
    assert_close(fuse(x, p), fuse(x, torch.randn(2, 3, 5)))
    with torch.no_grad():
        fuse.gate.fill_(-40.0)  # α → 0: every pixel sends the same query
    delta = fuse(x, p) - x
    assert_close(delta, delta[:, :, :1, :1].expand_as(delta))
    for g in (-1e3, -3.0, 0.0, 3.0, 1e3):
        with torch.no_grad():
            fuse.gate.fill_(g)
        assert 0.0 <= torch.sigmoid(fuse.gate).item() <= 1.0
    fuse.gate.data.fill_(0.3)
    fuse(x, p).sum().backward()
    assert fuse.gate.grad is not None and fuse.gate.grad.abs() > 0


# --------------------------------------------------------------------------------------------
# the restorer


@pytest.mark.parametrize("ablation", list(ABLATIONS))
@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_config_and_ablation_builds(name, ablation):
    cfg = restorer_config(name, ablation)
    model = Restorer(cfg)
    assert cfg.conditioned == (ablation != "none")
    assert (model.map_encoder is not None) == cfg.spatial
    assert (model.region is not None) == cfg.regions
    assert hasattr(model, "task_pool") == cfg.prompts
    levels = [*model.encoders, model.middle, *model.decoders]
    assert all((lv.emb is not None) == cfg.embed_mod for lv in levels)
    assert all((lv.spatial is not None) == cfg.spatial for lv in levels)
    assert all(lv.prompt is None for lv in model.encoders)
    assert all((lv.prompt is not None) == cfg.prompts for lv in [model.middle, *model.decoders])


@pytest.mark.parametrize("size", [(32, 32), (37, 45)])
@pytest.mark.parametrize("ablation", list(ABLATIONS))
@pytest.mark.parametrize("name", TINY)
def test_tiny_forward_keeps_the_shape(name, ablation, size):
    torch.manual_seed(0)
    model = restorer(name, ablation).eval()
    cfg = model.cfg
    x = image(2, *size)
    cond = make_cond(cfg, 2, *size) if ablation != "none" else None
    with torch.no_grad():
        out = model(x, cond)
    assert out.image.shape == x.shape and out.image.dtype == torch.float32
    assert torch.isfinite(out.image).all()
    assert model.multiple == 4
    assert len(out.features) == len(cfg.dec)
    padded = [-(-s // 4) * 4 for s in size]
    for i, f in enumerate(out.features):  # deepest first
        scale = 2 ** (len(cfg.dec) - 1 - i)
        assert f.shape == (2, cfg.width * scale, padded[0] // scale, padded[1] // scale)
    if cfg.prompts:
        assert out.task.topk.shape == (2, cfg.task_k)
        assert out.domain.topk.shape == (2, cfg.domain_k)
        assert out.task.prompt.shape == (2, cfg.prompt_tokens, cfg.prompt_dim)
    else:
        assert out.task is None and out.domain is None


@pytest.mark.parametrize("ablation", [a for a in ABLATIONS if a != "none"])
@pytest.mark.parametrize("name", TINY)
def test_conditioned_restorer_needs_a_condition(name, ablation):
    model = restorer(name, ablation)
    with pytest.raises(ValueError, match="Condition"):
        model(image(1, 32, 32))


@pytest.mark.parametrize("ablation", list(ABLATIONS))
@pytest.mark.parametrize("name", TINY)
def test_fresh_restorer_is_the_identity(name, ablation):
    torch.manual_seed(0)
    model = restorer(name, ablation)
    for size in [(32, 32), (37, 45)]:
        x = image(2, *size)
        cond = make_cond(model.cfg, 2, *size) if ablation != "none" else None
        with torch.no_grad():
            assert_close(model(x, cond).image, x)


@pytest.mark.parametrize("name", TINY)
def test_fresh_conditioning_leaves_the_plain_backbone(name):
    """With only the ending conv trained, a full model computes exactly its backbone: every
    conditioning path starts as the identity."""
    torch.manual_seed(0)
    full = restorer(name, "full")
    with torch.no_grad():
        nn.init.normal_(full.ending.weight, std=0.2)
        nn.init.normal_(full.ending.bias, std=0.2)
    plain = restorer(name, "none")
    missing, unexpected = plain.load_state_dict(full.state_dict(), strict=False)
    assert not missing and unexpected
    x = image(2, 37, 45)
    with torch.no_grad():
        want = plain(x).image
        assert (want - x).abs().mean() > 1e-3
        for seed in (0, 1):
            assert_close(full.eval()(x, make_cond(full.cfg, 2, 37, 45, seed)).image, want)


# which condition fields each ablation reads
READS = {"none": set(), "embed": {"embedding"}, "embed+maps": {"embedding", "maps"},
         "embed+maps+prompts": {"embedding", "maps"}, "full": {"embedding", "maps", "regions"}}


@pytest.mark.parametrize("ablation", list(ABLATIONS))
@pytest.mark.parametrize("name", TINY)
def test_output_depends_on_exactly_the_enabled_condition_fields(name, ablation):
    torch.manual_seed(0)
    model = perturb(restorer(name, ablation))
    x = image(2, 32, 32)
    cond = make_cond(model.cfg, 2, 32, 32)
    halves = torch.zeros(2, 32, 32, dtype=torch.long)
    halves[:, :, 16:] = 1
    changed = {"embedding": replace(cond, embedding=torch.randn(cond.embedding.shape)),
               "maps": replace(cond, maps=torch.rand(cond.maps.shape)),
               "regions": replace(cond, regions=halves)}
    with torch.no_grad():
        base = model(x, cond).image
        assert (base - x).abs().mean() > 1e-3
        for field, c2 in changed.items():
            diff = (model(x, c2).image - base).abs().max().item()
            if field in READS[ablation]:
                assert diff > 1e-3, field
            else:
                assert diff == 0.0, field
        if ablation == "none":
            assert torch.equal(model(x, None).image, base)


@pytest.mark.parametrize("name", TINY)
def test_spatial_modulation_is_local(name):
    """Changing the dense maps in one corner cell changes the output in that corner, and far less
    elsewhere (64×64 input, 8×8 maps)."""
    torch.manual_seed(0)
    model = perturb(restorer(name, "full"), blocks=True)
    x = image(1, 64, 64)
    cond = make_cond(model.cfg, 1, 64, 64)
    maps = cond.maps.clone()
    maps[:, :, 0, 0] += 1.0
    with torch.no_grad():
        d = (model(x, replace(cond, maps=maps)).image - model(x, cond).image).abs().amax(1)[0]
    near, far = d[:16, :16].mean().item(), d[32:, 32:].mean().item()
    assert near > 1e-2
    assert far < 0.05 * near


@pytest.mark.parametrize("name", TINY)
def test_region_ids_are_only_labels(name):
    """Renaming the regions leaves the output alone; only the partition matters."""
    torch.manual_seed(0)
    model = perturb(restorer(name, "full"))
    x = image(2, 37, 45)
    cond = make_cond(model.cfg, 2, 37, 45)
    renamed = torch.tensor([5, 2, 7, 0])[cond.regions]
    with torch.no_grad():
        assert_close(model(x, replace(cond, regions=renamed)).image, model(x, cond).image)


@pytest.mark.parametrize("name", TINY)
def test_batch_items_are_independent(name):
    torch.manual_seed(0)
    model = perturb(restorer(name, "full"), blocks=True)
    x = image(2, 32, 32)
    cond = make_cond(model.cfg, 2, 32, 32)
    with torch.no_grad():
        both = model(x, cond).image
        for i in range(2):
            one = Condition(*(t[i:i + 1] for t in (cond.embedding, cond.maps, cond.regions,
                                                   cond.domain)))
            assert_close(model(x[i:i + 1], one).image, both[i:i + 1], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", TINY)
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = perturb(restorer(name, "full"), blocks=True).train()
    x = image(2, 32, 32)
    out = model(x, make_cond(model.cfg, 2, 32, 32))
    (out.image - x).pow(2).mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    for lin in conditioning_outputs(model):
        assert lin.weight.grad.abs().sum() > 0


def test_parameter_counts():
    small = restorer("nafnet-small", "full")
    assert sum(p.numel() for p in small.parameters()) < 2_000_000
    assert sum(p.numel() * p.element_size() for p in small.parameters()) <= 8_000_000
    for name in TINY:
        for ablation in ABLATIONS:
            assert sum(p.numel() for p in restorer(name, ablation).parameters()) < 150_000


def test_configs_are_the_advertised_ones():
    assert set(CONFIGS) == {f"{bb}-{s}" for bb in ("nafnet", "restormer")
                            for s in ("tiny", "small", "base")}
    for name, cfg in CONFIGS.items():
        assert cfg.backbone == name.split("-")[0]
        assert len(cfg.enc) == len(cfg.dec)
        assert cfg.width * 2 ** len(cfg.enc) % cfg.heads[len(cfg.enc)] == 0
    assert set(ABLATIONS) == set(READS)


@pytest.mark.parametrize("ablation", list(ABLATIONS))
@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_dict_round_trip(name, ablation):
    cfg = restorer_config(name, ablation)
    d = config_dict(cfg)
    assert all(not isinstance(v, tuple) for v in d.values())
    assert config_from_dict(d) == cfg
    assert config_from_dict(json.loads(json.dumps(d))) == cfg


def test_restorer_config_unknown_names_and_overrides():
    with pytest.raises(ValueError) as e:
        restorer_config("nafnet-huge")
    assert all(name in str(e.value) for name in CONFIGS)
    with pytest.raises(ValueError) as e:
        restorer_config("nafnet-tiny", "maps-only")
    assert all(name in str(e.value) for name in ABLATIONS)
    cfg = restorer_config("nafnet-tiny", "none", regions=True, width=12)
    assert cfg.regions and not (cfg.embed_mod or cfg.spatial or cfg.prompts)
    assert cfg.width == 12 and CONFIGS["nafnet-tiny"].width == 8
    assert restorer_config("restormer-small", "full") == CONFIGS["restormer-small"]


def test_restorer_rejects_inconsistent_configs():
    with pytest.raises(ValueError, match="enc and dec"):
        Restorer(RestorerConfig(enc=(1, 1), dec=(1,)))
    with pytest.raises(ValueError, match="heads"):
        Restorer(RestorerConfig(backbone="restormer", enc=(1, 1), dec=(1, 1), heads=(1, 1)))
    with pytest.raises(ValueError, match="unknown backbone"):
        Restorer(RestorerConfig(backbone="swin"))


@pytest.mark.parametrize("name", TINY)
def test_same_seed_same_model(name):
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = perturb(restorer(name, "full"), blocks=True)
        x = image(2, 37, 45)
        with torch.no_grad():
            outs.append(model(x, make_cond(model.cfg, 2, 37, 45)).image)
    assert torch.equal(outs[0], outs[1])
