import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

import restora.train.perceiver as tp
from restora.nets.perceiver import (
    CONFIGS,
    DOMAINS,
    OPS,
    TYPES,
    decode,
    perceiver,
    quality_from_psnr,
    tier_of,
)
from restora.train.perceiver import (
    PerceiverData,
    TrainConfig,
    card_path,
    dihedral,
    label_targets,
    load_perceiver,
    sha256_of,
    train,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine OpenMP threads
    waiting for a core slow every step many times over."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """Three synthetic 'photos' (smooth colour fields with edges), so tests need no image set."""
    d = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:120] / 96.0
    for i in range(3):
        base = np.stack([np.sin(3 * xx + i), np.cos(2 * yy - i), xx * yy], 2) * 0.4 + 0.5
        base[20 + 10 * i:60, 30:70] = rng.uniform(0, 1, 3)
        Image.fromarray(np.uint8(np.clip(base, 0, 1) * 255)).save(d / f"{i}.png")
    return d


@pytest.mark.parametrize("size", [(32, 32), (40, 72), (33, 47)])
def test_tiny_heads_have_the_documented_shapes(size):
    torch.manual_seed(0)
    m = perceiver("tiny").eval()
    h, w = size
    with torch.no_grad():
        out = m(torch.rand(2, 3, h, w))
    n, gh, gw = len(OPS), -(-h // 8), -(-w // 8)
    assert len(TYPES) == 16 and n == 15
    assert out.type_logits.shape == (2, 16)
    assert out.severity.shape == (2, n)
    assert out.dense_logits.shape == (2, n, gh, gw)
    assert out.dense_severity.shape == (2, n, gh, gw)
    assert out.domain_logits.shape == (2, len(DOMAINS))
    assert out.quality_logit.shape == (2,)
    assert out.embedding.shape == (2, CONFIGS["tiny"]["embed"])
    assert ((out.quality >= 0) & (out.quality <= 1)).all()
    assert m.compare(out.embedding[:1], out.embedding[1:]).shape == (1,)
    summary = decode(out)
    assert len(summary) == 2 and summary[0]["tier"] in ("terrible", "mediocre", "excellent")


def test_comparator_is_antisymmetric():
    torch.manual_seed(1)
    m = perceiver("tiny").eval()
    a, b = torch.randn(5, 16), torch.randn(5, 16)
    with torch.no_grad():
        ab, ba, aa = m.compare(a, b), m.compare(b, a), m.compare(a, a)
    assert torch.allclose(ab, -ba, atol=1e-6)
    assert torch.allclose(aa, torch.zeros(5), atol=1e-6)


def test_small_fits_the_weight_budget():
    n = sum(p.numel() for p in perceiver("small").parameters())
    assert 300_000 < n and n * 4 <= 5_000_000


def test_quality_mapping_and_tiers():
    assert quality_from_psnr(24.0) == pytest.approx(0.5)
    assert quality_from_psnr(torch.tensor(32.0)).item() > quality_from_psnr(28.0)
    assert tier_of(0.1) == "terrible" and tier_of(0.5) == "mediocre" and tier_of(0.9) == "excellent"


def test_data_is_deterministic_and_targets_match_labels(image_dir):
    paths = sorted(image_dir.glob("*.png"))
    data = PerceiverData(paths, crop=32, seed=3)
    for i in range(6):
        s1, s2 = data[i], data[i]
        for k in s1:
            assert np.array_equal(s1[k], s2[k]), k
        assert s1["a_image"].shape == (3, 32, 32) and s1["a_dense_mask"].shape == (15, 4, 4)
        _clean, _a, la, _b, _lb, _d = data.draw(i)
        t = label_targets(la, (32, 32))
        assert t["types"][15] == float(not la.steps)
        for st in la.steps:
            j = OPS.index(st.op)
            assert t["severity"][j] == pytest.approx(st.severity)
            assert t["dense_map"][j].mean() == pytest.approx(la.maps[st.op].mean(), abs=1e-5)


def _cfg(out, image_dir, **kw) -> TrainConfig:
    base = {"config": "tiny", "steps": 3, "batch": 2, "crop": 32, "workers": 0, "device": "cpu",
            "ckpt_every": 1, "val_pairs": 2, "log_every": 1, "out": str(out),
            "images": str(image_dir), "lr": 1e-3}
    return TrainConfig(**(base | kw))


def _losses(out) -> dict[int, float]:
    with open(out / "log.csv", newline="") as fh:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(fh)}


def test_train_resume_and_export(tmp_path, image_dir):
    full = tmp_path / "full"
    s = train(_cfg(full, image_dir), progress=False)
    assert s["step"] == 3 and (full / "ckpt.pt").exists()

    part = tmp_path / "part"
    s = train(_cfg(part, image_dir), stop_at=2, progress=False)
    assert s["step"] == 2 and torch.load(part / "ckpt.pt", weights_only=False)["step"] == 2
    assert not (part / "perceiver_tiny.safetensors").exists()
    s = train(_cfg(part, image_dir), progress=False)
    assert s["step"] == 3
    a, b = _losses(full), _losses(part)
    assert sorted(b) == [1, 2, 3]
    assert a[3] == b[3]  # the resumed step is bit-identical to the uninterrupted one

    w = full / "perceiver_tiny.safetensors"
    card = json.loads(card_path(w).read_text())
    assert card["sha256"] == sha256_of(w)
    assert card["training"]["steps"] == 3 and card["data"]["images"] == 3
    assert "val_f1" in card["validation"]
    m = load_perceiver(w)
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        ref = perceiver("tiny")
        ref.load_state_dict(torch.load(full / "ckpt.pt", weights_only=False)["model"])
        assert torch.allclose(m(x).type_logits, ref.eval()(x).type_logits, atol=1e-6)


@pytest.mark.slow
def test_loss_falls_over_a_few_hundred_steps(tmp_path, image_dir):
    out = tmp_path / "run"
    train(_cfg(out, image_dir, steps=300, batch=8, crop=48, ckpt_every=100, log_every=1, lr=3e-3,
               warmup=20, val_pairs=16), progress=False)
    loss = _losses(out)
    first = np.mean([loss[i] for i in range(1, 21)])
    last = np.mean([loss[i] for i in range(281, 301)])
    assert last < 0.8 * first, (first, last)


def test_echoed_run_resumes_mid_batch_identically(tmp_path, image_dir):
    full, part = tmp_path / "full", tmp_path / "part"
    train(_cfg(full, image_dir, steps=4, echo=3), progress=False)
    train(_cfg(part, image_dir, steps=4, echo=3), stop_at=2, progress=False)  # inside batch 0
    train(_cfg(part, image_dir, steps=4, echo=3), progress=False)
    a, b = _losses(full), _losses(part)
    assert a[3] == b[3] and a[4] == b[4]
    assert a[1] != a[2]  # the echo is a transformed view, not a repeat


def test_dihedral_moves_dense_targets_with_the_image():
    img = torch.zeros(1, 3, 16, 16)
    img[..., :8, 8:] = 1.0  # top-right quadrant
    dense = torch.zeros(1, 15, 2, 2)
    dense[..., 0, 1] = 1.0
    t = {"image": img, "dense_mask": dense, "dense_map": dense.clone(), "types": torch.ones(1, 16)}
    for k in range(8):
        o = dihedral(t, k)
        pooled = F.avg_pool2d(o["image"][:, :1], 8)
        assert torch.equal(pooled[0, 0], o["dense_mask"][0, 0]), k
        assert torch.equal(o["types"], t["types"])


def test_minutes_budget_fixes_the_step_count(tmp_path, image_dir, monkeypatch):
    monkeypatch.setattr(tp, "_CAL_SKIP", 1)
    monkeypatch.setattr(tp, "_CAL_STEPS", 2)
    monkeypatch.setattr(tp, "_RESERVE_S", 0.0)
    s = train(_cfg(tmp_path / "run", image_dir, minutes=0.05, ckpt_every=1000, val_pairs=2),
              progress=False)
    assert 3 < s["step"] < tp._UNCALIBRATED
    assert s["card"]["training"]["steps"] == s["step"]
