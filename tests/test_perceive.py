"""restora.perceive on tiny random perceivers: assessments, tiling, regions, pictures, and the
`restora assess` command (in process, with tiny weights exported like the shipped ones)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from restora import perceive
from restora.cli import main
from restora.degrade.operators import OPERATORS
from restora.errors import RestoraError
from restora.nets.perceiver import DOMAINS, OPS, STRIDE, TIERS, perceiver, tier_of


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return perceiver("tiny").eval()


@pytest.fixture(scope="module")
def coffee():
    import skimage.data

    from restora._image import as_image

    return np.ascontiguousarray(as_image(skimage.data.coffee())[:200, :264])


# --------------------------------------------------------------------------------------------
# assess


def test_assess_fields_and_shapes(tiny, small):
    a = perceive.assess(small, tiny, threshold=0.5)
    assert a.shape == (96, 96)
    assert a.prob_maps.shape == a.severity_maps.shape == (len(OPS), 12, 12)
    assert a.prob_maps.dtype == a.severity_maps.dtype == np.float32
    assert 0 <= a.prob_maps.min() and a.prob_maps.max() <= 1 and a.severity_maps.min() >= 0
    assert 0 <= a.quality <= 1 and a.tier in TIERS and a.tier == tier_of(a.quality)
    assert a.domain in DOMAINS and set(a.domain_probs) == set(DOMAINS)
    assert a.domain == max(a.domain_probs, key=a.domain_probs.get)
    assert abs(sum(a.domain_probs.values()) - 1) < 1e-5
    assert set(a.probs) == set(OPS) | {"clean"} and set(a.severities) == set(OPS)
    assert [d.op for d in a.types] == sorted((op for op in OPS if a.probs[op] >= 0.5),
                                             key=lambda op: -a.probs[op])
    assert a.clean == (not a.types)
    for d in a.types:
        prim = OPERATORS[d.op].primary
        assert (d.param, d.unit) == (prim.name, prim.unit)
        assert prim.valid[0] <= d.value <= prim.valid[1]
    assert a.embedding.ndim == 1
    m = a.map("haze")
    assert m.shape == (96, 96) and m.dtype == np.float32 and 0 <= m.min() <= m.max() <= 1
    d = a.to_dict()
    text = json.dumps(d)
    assert len(text) < 5000 and "embedding" not in d and d["shape"] == [96, 96]
    assert json.loads(text)["cells"] == [12, 12]


def test_assess_matches_the_model_and_takes_any_size(tiny, small):
    x = torch.from_numpy(small.transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        out = tiny(x)
    a = perceive.assess(small, tiny)
    assert a.quality == pytest.approx(float(out.quality[0]), abs=1e-6)
    np.testing.assert_allclose(a.prob_maps, torch.sigmoid(out.dense_logits[0]).numpy(), atol=1e-6)
    tiny.train()
    assert perceive.assess(small, tiny).quality == a.quality and tiny.training  # mode restored
    tiny.eval()
    odd = perceive.assess((small[:37, :50] * 255).astype(np.uint8), tiny)
    assert odd.shape == (37, 50) and odd.prob_maps.shape == (len(OPS), 5, 7)
    assert odd.map("noise").shape == (37, 50)


def test_assess_bad_options(tiny, small):
    for kw in ({"threshold": 0.0}, {"threshold": 1.0}, {"tile": 32}, {"tile": 96, "overlap": 96}):
        with pytest.raises(RestoraError):
            perceive.assess(small, tiny, **kw)
    with pytest.raises(RestoraError, match="unknown degradation"):
        perceive.assess(small, tiny).map("fog")


@pytest.mark.parametrize("n", [64, 96, 97, 200, 264, 270, 777, 1000])
@pytest.mark.parametrize("tile,overlap", [(96, 64), (128, 64), (768, 128)])
def test_tile_spans_partition_the_cells(n, tile, overlap):
    spans = perceive._spans(n, tile, overlap)
    cells = -(-n // STRIDE)
    assert spans[0][2] == 0 and spans[-1][3] == cells and spans[-1][1] == n
    for i, (start, stop, c0, c1) in enumerate(spans):
        assert start % perceive.ALIGN == 0 and stop - start <= max(n, tile + perceive.ALIGN - 1)
        assert start // STRIDE <= c0 < c1 <= -(-stop // STRIDE)
        if i:  # an inner edge: the core keeps half the overlap away from it
            assert c0 - start // STRIDE >= overlap // (2 * STRIDE) and spans[i - 1][3] == c0
        if i < len(spans) - 1:
            assert stop // STRIDE - c1 >= overlap // (2 * STRIDE)


class LocalFeatures(nn.Module):
    """A stand-in encoder whose cells see exactly their 3×3 cell neighbourhood (24 px), zero
    padded at the input's border like a convolution, followed by the tiny perceiver's heads:
    stitching is exact iff the tiles are placed right and keep only cores ≥ 1 cell from inner
    tile edges."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        c = net.features(torch.zeros(1, 3, 8, 8)).shape[1]
        self.proj = nn.Conv2d(6, c, 1)

    def features(self, x):
        cell = F.avg_pool2d(x, STRIDE, ceil_mode=True)
        near = F.avg_pool2d(cell, 3, stride=1, padding=1)
        return self.proj(torch.cat([cell, near], 1))

    def heads(self, f):
        return self.net.heads(f)


def test_tiling_stitches_exactly(tiny):
    torch.manual_seed(1)
    stub = LocalFeatures(tiny).eval()
    img = np.random.default_rng(0).random((203, 270, 3)).astype(np.float32)
    whole = perceive.assess(img, stub, tile=1024)
    tiled = perceive.assess(img, stub, tile=96, overlap=64)
    np.testing.assert_allclose(tiled.prob_maps, whole.prob_maps, atol=1e-5)
    np.testing.assert_allclose(tiled.embedding, whole.embedding, atol=1e-5)
    edges = perceive.assess(img, stub, tile=96, overlap=0)  # cores up to the tile edges
    assert np.abs(edges.prob_maps - whole.prob_maps).max() > 1e-3  # ... so the check has teeth


def test_tiled_close_to_untiled(tiny, coffee):
    """The tiny perceiver, 24 tiles of 96 px against one pass. Tiles differ from the whole image
    only where their receptive field is cut (the stride-32 context branch reaches beyond the
    32 px margins). Over 6 seeds and 2 images (this crop, 203×270 noise) the largest
    differences were 1.1e-4 (global probabilities), 2.7e-4 (cell probabilities) and 7.4e-4
    (cell severities), against spreads of ~0.1 (probabilities across types) and ~0.05 (cells):
    the tolerances below allow 4–10× the measured error, ≤ 2 % of the spreads."""
    whole = perceive.assess(coffee, tiny, tile=1024)
    tiled = perceive.assess(coffee, tiny, tile=96, overlap=64)
    for k, p in whole.probs.items():
        assert tiled.probs[k] == pytest.approx(p, abs=1e-3)
    assert tiled.quality == pytest.approx(whole.quality, abs=1e-3)
    assert np.abs(tiled.prob_maps - whole.prob_maps).max() < 2e-3
    assert np.abs(tiled.severity_maps - whole.severity_maps).max() < 5e-3


# --------------------------------------------------------------------------------------------
# regions


def fake(shape, maps=None, probs=None, sev=None, dense_sev=None):
    """An Assessment of an image of ``shape`` with chosen cell maps {op: h×w} and global
    probabilities {op: p} (everything else 0.02)."""
    h, w = -(-shape[0] // STRIDE), -(-shape[1] // STRIDE)
    pm = np.full((len(OPS), h, w), 0.02, np.float32)
    for op, m in (maps or {}).items():
        pm[OPS.index(op)] = m
    sm = np.zeros_like(pm)
    for op, m in (dense_sev or {}).items():
        sm[OPS.index(op)] = m
    p = {op: 0.02 for op in OPS} | {"clean": 0.5} | (probs or {})
    return perceive.Assessment(
        quality=0.5, tier="mediocre", types=[], clean=True, domain="natural",
        domain_probs={d: 1 / 3 for d in DOMAINS}, embedding=np.zeros(4, np.float32),
        prob_maps=pm, severity_maps=sm, shape=shape, probs=p,
        severities={op: 0.3 for op in OPS} | (sev or {}))


def check_partition(regs, shape):
    total = np.zeros(shape, np.int32)
    for r in regs:
        assert r.mask.shape == shape and r.mask.dtype == bool
        total += r.mask
        y0, x0, y1, x1 = r.bbox
        assert r.mask[y0:y1, x0:x1].sum() == r.mask.sum() > 0
        assert r.area == pytest.approx(r.mask.mean())
        assert 0 <= r.confidence <= 1
        assert len({d.op for d in r.types}) == len(r.types)
    assert (total == 1).all()  # disjoint, and every pixel in one region
    assert [r.area for r in regs] == sorted((r.area for r in regs), reverse=True)
    assert sum(r.area for r in regs) == pytest.approx(1.0)


def ops_of(r):
    return {d.op for d in r.types}


def test_regions_partition_the_image(tiny, photo):
    check_partition(perceive.regions(photo, model=tiny), (256, 256))
    h, w = 32, 32
    yy, xx = np.mgrid[:h, :w]
    a = fake((256, 256), maps={"haze": np.where(xx < 16, 0.9, 0.05),
                               "noise": np.where((yy - 16) ** 2 + (xx - 20) ** 2 < 64, 0.9, 0.1),
                               "rain": np.random.default_rng(0).random((h, w))})
    for sp in (True, False):
        regs = perceive.regions(photo, a, superpixels=sp, min_area=0.02)
        check_partition(regs, (256, 256))
        assert all(r.area >= 0.02 for r in regs)
        assert len({frozenset(ops_of(r)) for r in regs}) >= 3
    regs = perceive.regions(photo, a, superpixels=False, min_area=0.0)
    check_partition(regs, (256, 256))
    assert min(r.area for r in regs) < 0.02  # the random rain map leaves fragments unmerged
    with pytest.raises(RestoraError):
        perceive.regions(photo[:128], a)


def test_small_fragments_merge_into_their_neighbour(photo):
    """Haze on the left half; a 2×2-cell noise patch (about 1.4 % of the image) inside the clean
    right half: kept at min_area 1 %, merged into the clean region at 2 %."""
    img = photo[:128, :128]
    haze = np.zeros((16, 16), np.float32)
    haze[:, :8] = 0.9
    noise = np.zeros((16, 16), np.float32)
    noise[6:8, 11:13] = 0.9
    a = fake((128, 128), maps={"haze": haze, "noise": noise})
    kept = perceive.regions(img, a, superpixels=False, min_area=0.01)
    check_partition(kept, (128, 128))
    assert [ops_of(r) for r in kept] == [{"haze"}, set(), {"noise"}]
    assert 0.01 < kept[2].area < 0.02
    merged = perceive.regions(img, a, superpixels=False, min_area=0.02)
    check_partition(merged, (128, 128))
    assert [ops_of(r) for r in merged] == [{"haze"}, set()]
    assert merged[1].mask[kept[2].mask].all()  # the patch went to the clean region
    assert merged[0].area == pytest.approx(0.5, abs=0.02)


def test_merge_goes_to_the_longest_border():
    lab = np.zeros((10, 10), np.int64)
    lab[:, 6:] = 1
    lab[3:6, 4:7] = 2  # borders: 7 pixel pairs with label 0, 5 with label 1
    codes = np.array([1, 2, 4])
    assert perceive._merge_small(lab, codes, 10).tolist() == [1, 2, 1]
    assert perceive._merge_small(lab, codes, 5).tolist() == [1, 2, 4]


def test_global_only_detection_is_present_everywhere(photo):
    img = photo[:128, :128]
    noise = np.zeros((16, 16), np.float32)
    noise[:, :8] = 0.9
    weak_haze = np.full((16, 16), 0.1, np.float32)
    a = fake((128, 128), maps={"noise": noise, "haze": weak_haze},
             probs={"haze": 0.8, "noise": 0.9}, sev={"haze": 0.7})
    regs = perceive.regions(img, a, superpixels=False)
    check_partition(regs, (128, 128))
    assert len(regs) == 2 and all("haze" in ops_of(r) for r in regs)
    for r in regs:
        d = next(d for d in r.types if d.op == "haze")
        assert d.severity == pytest.approx(0.7) and d.prob == pytest.approx(0.8)
        assert d.value == pytest.approx(OPERATORS["haze"].primary.at(0.7))
    # A dense map that covers a quarter of the image keeps the type local.
    local = weak_haze.copy()
    local[:4] = 0.9
    regs = perceive.regions(img, fake((128, 128), maps={"noise": noise, "haze": local},
                                      probs={"haze": 0.8, "noise": 0.9}), superpixels=False)
    assert any("haze" not in ops_of(r) for r in regs) and any("haze" in ops_of(r) for r in regs)
    # Scattered specks (> 5 % in all, each far below min_area) merge away: then everywhere.
    specks = np.full((16, 16), 0.05, np.float32)
    specks[::4, ::4] = 0.9
    regs = perceive.regions(img, fake((128, 128), maps={"haze": specks}, probs={"haze": 0.8}),
                            superpixels=False)
    assert [ops_of(r) for r in regs] == [{"haze"}]


def test_region_severity_from_the_dense_maps(photo):
    """Dense severity = 0.6 × presence on the left, 0.2 × presence on the right: each region
    reads its own severity back (blended only within a cell of the border)."""
    img = photo[:128, :128]
    noise = np.full((16, 16), 0.9, np.float32)
    sev_map = noise * np.where(np.arange(16) < 8, 0.6, 0.2)[None, :]
    blur = np.zeros((16, 16), np.float32)
    blur[:, :8] = 0.9
    a = fake((128, 128), maps={"noise": noise, "blur_motion": blur},
             dense_sev={"noise": sev_map}, probs={"noise": 0.9})
    regs = perceive.regions(img, a, superpixels=False)
    left = next(r for r in regs if "blur_motion" in ops_of(r))
    right = next(r for r in regs if "blur_motion" not in ops_of(r))
    s_left = next(d for d in left.types if d.op == "noise").severity
    s_right = next(d for d in right.types if d.op == "noise").severity
    assert s_left == pytest.approx(0.6, abs=0.03) and s_right == pytest.approx(0.2, abs=0.03)
    d = next(d for d in right.types if d.op == "noise")
    assert d.value == pytest.approx(OPERATORS["noise"].primary.at(d.severity))
    assert json.dumps([r.to_dict() for r in regs])


def test_pictures(tiny, small):
    a = perceive.assess(small, tiny)
    regs = perceive.regions(small, a)
    for pic in (perceive.render_map(small, a, "noise", max_side=64),
                perceive.render_regions(small, regs, max_side=64)):
        assert pic.shape == (64, 64, 3) and pic.dtype == np.float32
        assert 0 <= pic.min() and pic.max() <= 1
    assert perceive.render_map(small, a, "noise").shape == (96, 96, 3)


# --------------------------------------------------------------------------------------------
# weights and the command line


@pytest.fixture(scope="module")
def weights(tmp_path_factory, tiny):
    from restora.train.perceiver import TrainConfig, export_model

    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    export_model(tiny, path, TrainConfig(config="tiny"), val={}, wall_s=0.0, n_images=0,
                 source="test", hardware="cpu")
    return path


def test_load_model(weights, tmp_path, monkeypatch):
    m = perceive.load_model(weights)
    assert m is perceive.load_model(str(weights)) and not m.training
    monkeypatch.setattr(perceive, "DEFAULT_WEIGHTS", tmp_path / "none.safetensors")
    with pytest.raises(RestoraError, match="not found"):
        perceive.load_model()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(RestoraError, match="cannot load"):
        perceive.load_model(bad)


@pytest.fixture()
def work(tmp_path, small):
    Image.fromarray(np.round(small * 255).astype(np.uint8)).save(tmp_path / "in.png")
    return tmp_path


def run(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_table_and_json(work, weights, capsys):
    rc, out, err = run(capsys, "assess", work / "in.png", "--weights", weights)
    assert rc == 0, err
    assert "96×96" in out and "quality" in out and "regions:" in out
    assert any(t in out for t in TIERS)
    rc, out, err = run(capsys, "assess", work / "in.png", "--weights", weights, "--json",
                       "--threshold", "0.6")
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) == {"image", "assessment", "regions", "maps"}
    assert doc["assessment"]["threshold"] == 0.6 and doc["maps"] == []
    assert all(t["prob"] >= 0.6 for t in doc["assessment"]["types"])
    assert sum(r["area"] for r in doc["regions"]) == pytest.approx(1.0)


def test_cli_maps(work, weights, capsys):
    rc, out, err = run(capsys, "assess", work / "in.png", "--weights", weights, "--json",
                       "--maps", work / "maps")
    assert rc == 0, err
    doc = json.loads(out)
    a = perceive.assess(np.asarray(Image.open(work / "in.png")), perceive.load_model(weights))
    seen = {t["op"] for t in doc["assessment"]["types"]}
    seen |= {t["op"] for r in doc["regions"] for t in r["types"]}
    want = {op for j, op in enumerate(OPS) if op in seen or a.prob_maps[j].max() >= 0.3}
    names = sorted(p.name for p in (work / "maps").iterdir())
    assert names == sorted([f"in_{op}.png" for op in want] + ["in_regions.png"])
    assert sorted(doc["maps"]) == sorted(str(work / "maps" / n) for n in names)
    assert Image.open(work / "maps" / "in_regions.png").size == (96, 96)
    before = snapshot(work)
    rc, out, err = run(capsys, "assess", work / "in.png", "--weights", weights,
                       "--maps", work / "maps")
    assert rc == 2 and "already exists" in err and err.count("\n") == 1
    assert snapshot(work) == before
    rc, out, err = run(capsys, "assess", work / "in.png", "--weights", weights,
                       "--maps", work / "maps", "--force")
    assert rc == 0, err


@pytest.mark.parametrize("case", ["missing image", "corrupt image", "missing weights",
                                  "corrupt weights", "tampered weights", "threshold 0",
                                  "threshold 1.5", "maps is a file", "maps parent missing"])
def test_cli_bad_input(work, weights, capsys, case):
    (work / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (work / "file").write_text("x")
    tampered = work / "t.safetensors"
    tampered.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    (work / "t.json").write_bytes(weights.with_suffix(".json").read_bytes())
    args = {"missing image": ["nope.png"], "corrupt image": [work / "junk.png"],
            "missing weights": ["--weights", work / "none.safetensors"],
            "corrupt weights": ["--weights", work / "junk.png"],
            "tampered weights": ["--weights", tampered],
            "threshold 0": ["--threshold", "0"], "threshold 1.5": ["--threshold", "1.5"],
            "maps is a file": ["--maps", work / "file"],
            "maps parent missing": ["--maps", work / "a" / "b"]}[case]
    if not str(args[0]).endswith(".png"):
        args = [work / "in.png", *args]
    if "weights" not in case:
        args += ["--weights", weights]
    before = snapshot(work)
    extra = [] if "maps" in case else ["--maps", work / "maps"]
    rc, out, err = run(capsys, "assess", *args, *extra)
    assert rc == 2 and err.startswith("restora: error:") and err.count("\n") == 1, err
    assert out == "" and snapshot(work) == before and not (work / "maps").exists()


def test_uniform_signature_skips_the_superpixels(monkeypatch):
    """Where every pixel has the same signature the superpixels cannot change the partition, so
    they are not computed (they are the costliest part of regions())."""
    from conftest import tiny_model

    import restora.perceive as P

    def boom(_):
        raise AssertionError("superpixels computed for a uniform signature")

    monkeypatch.setattr(P, "_superpixels", boom)
    img = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    regs = P.regions(img, model=tiny_model())
    assert len(regs) == 1 and regs[0].area == 1.0
