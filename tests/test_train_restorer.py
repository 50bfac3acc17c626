"""The restorer's training: data, sampler, loss plumbing, exact resumption, DDP equivalence,
export and loading (tiny configs at 32 px; the runs are marked slow)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from restora.nets.perceiver import OPS, perceiver
from restora.train.restorer import (
    RankBatches,
    RestorerData,
    TrainConfig,
    load_restorer,
    loss_terms,
    region_partition,
    total_loss,
    train,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A folder of six small clean photos."""
    import cv2

    from restora.data import skimage_photos

    d = tmp_path_factory.mktemp("photos")
    for name, img in skimage_photos(96)[:6]:
        cv2.imwrite(str(d / f"{name}.png"), cv2.cvtColor((img * 255).astype(np.uint8),
                                                         cv2.COLOR_RGB2BGR))
    return d


@pytest.fixture(scope="module")
def tiny_perceiver(tmp_path_factory) -> Path:
    """A random tiny perceiver (embedding 16, as the tiny restorers expect) as a weights file."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    m = perceiver("tiny")
    path = tmp_path_factory.mktemp("perc") / "perceiver_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(path),
              metadata={"config": "tiny"})
    return path


def _cfg(out: Path, photos: Path, perc: Path, **kw) -> TrainConfig:
    base = {"config": "nafnet-tiny", "steps": 6, "batch": 4, "crop": 32, "workers": 0, "ckpt_every": 3,
                "val_crops": 4, "log_every": 1, "warmup": 2, "out": str(out), "images": str(photos),
                "max_side": 96, "perceiver": str(perc)}
    return TrainConfig(**{**base, **kw})


def test_region_partition_groups_pixels_by_mask_sets():
    a = np.zeros((8, 8), np.float32)
    a[:, :4] = 1
    b = np.zeros((8, 8), np.float32)
    b[:4] = 1
    lab = region_partition([a, b], np.random.default_rng(0), max_regions=16, p_drop=0.0)
    assert len(np.unique(lab)) == 4
    assert len({lab[0, 0], lab[0, 7], lab[7, 0], lab[7, 7]}) == 4
    assert region_partition([a, b], np.random.default_rng(0), 16, p_drop=1.0).max() == 0
    assert region_partition([a, b], np.random.default_rng(0), 2, p_drop=0.0).max() == 1


def test_rank_batches_split_the_global_batch_without_repeats():
    one = list(RankBatches(3, 6, 8))
    two = [list(RankBatches(3, 6, 8, rank=r, world=2)) for r in range(2)]
    for s in range(3):
        assert two[0][s] + two[1][s] == one[s]
        assert not set(two[0][s]) & set(two[1][s])
    with pytest.raises(ValueError, match="multiple"):
        RankBatches(0, 1, 5, world=2)


def test_data_is_deterministic_and_labelled(photos):
    from restora.data import training_paths

    ds = RestorerData(training_paths([photos]), crop=32, seed=3, max_side=96)
    a, b = ds[11], ds[11]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["input"].shape == a["target"].shape == (3, 32, 32)
    assert a["regions"].shape == (32, 32) and a["regions"].dtype == np.int64
    assert a["types"].shape == (len(OPS) + 1,)
    for i in range(12):  # every sample is either clean or labelled with what degraded it
        s = ds[i]
        clean = s["types"][-1] == 1
        assert clean == (s["types"][:-1].sum() == 0)
        assert clean == np.array_equal(s["input"], s["target"])


def test_every_loss_term_is_finite_and_trains_the_model(photos, tiny_perceiver):
    from torch.utils.data import default_collate

    from restora.data import training_paths
    from restora.nets.restorer import restorer
    from restora.train.restorer import anchor_projection, frozen_perceiver

    torch.manual_seed(0)
    ds = RestorerData(training_paths([photos]), crop=32, seed=0, max_side=96)
    batch = {k: torch.as_tensor(v) for k, v in default_collate([ds[i] for i in range(4)]).items()}
    model = restorer("nafnet-tiny")
    perc = frozen_perceiver(tiny_perceiver)
    cfg = TrainConfig(w_quality=0.1, w_perceptual=0.1, w_clue=0.05)
    parts = loss_terms(model, perc, batch, cfg, anchor_projection(16, model.cfg.prompt_dim))
    assert {"rec", "contrast", "div_task", "bal_domain", "con_task", "align", "quality",
            "perceptual", "clue"} <= set(parts)
    loss = total_loss(parts, cfg)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.ending.weight.grad.abs().sum() > 0
    assert model.task_pool.keys.grad is not None
    assert all(p.grad is None for p in perc.parameters())


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_killed_and_resumed_run_reproduces_the_uninterrupted_one(tmp_path, photos,
                                                                  tiny_perceiver):
    whole = train(_cfg(tmp_path / "a", photos, tiny_perceiver), progress=False)
    cut = _cfg(tmp_path / "b", photos, tiny_perceiver)
    part = train(cut, stop_at=3, progress=False)
    assert part["step"] == 3 and "export" not in part
    rest = train(replace(cut), progress=False)
    assert rest["step"] == 6
    ra, rb = _rows(tmp_path / "a" / "log.csv"), _rows(tmp_path / "b" / "log.csv")
    assert [r["step"] for r in rb] == [r["step"] for r in ra]
    for x, y in zip(ra, rb, strict=True):
        assert float(x["loss"]) == pytest.approx(float(y["loss"]), rel=1e-5, abs=1e-7)
    wa = load_restorer(whole["export"]).state_dict()
    wb = load_restorer(rest["export"]).state_dict()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path, photos, tiny_perceiver):
    """20 steps of a 2-process gloo run and of one process on the same global batch end with
    the same weights (batch-level terms and condition mismatching off: they see each rank's
    half batch)."""
    common = ["--config", "nafnet-tiny", "--steps", "20", "--batch", "4", "--crop", "32",
              "--workers", "0", "--ckpt-every", "20", "--val-crops", "4", "--warmup", "2",
              "--images", str(photos), "--max-side", "96", "--perceiver", str(tiny_perceiver),
              "--w-contrast", "0", "--w-bal", "0", "--val-suite", "", "--p-mismatch", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RESTORA_DDP_BACKEND": "gloo",
           "PYTHONPATH": str(ROOT)}
    one = subprocess.run([sys.executable, "-m", "restora.train.restorer", *common,
                          "--out", str(tmp_path / "one")], env=env, capture_output=True,
                         text=True, timeout=600, check=False)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", "29617", "-m", "restora.train.restorer", *common,
                          "--out", str(tmp_path / "two")], env=env, capture_output=True,
                         text=True, timeout=600, check=False)
    assert two.returncode == 0, two.stderr[-2000:]
    w1 = load_restorer(tmp_path / "one" / "restorer_nafnet-tiny.safetensors").state_dict()
    w2 = load_restorer(tmp_path / "two" / "restorer_nafnet-tiny.safetensors").state_dict()
    moved = 0
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-4, atol=2e-5)
        moved += int(not torch.equal(w1[k], restorer_init()[k]))
    assert moved > 10  # the runs trained: most tensors left their initial values


def restorer_init() -> dict[str, torch.Tensor]:
    from restora.nets.restorer import restorer

    torch.manual_seed(0)
    return restorer("nafnet-tiny").state_dict()


def test_export_has_a_card_and_loads_verified(tmp_path, photos, tiny_perceiver):
    import json

    s = train(_cfg(tmp_path / "e", photos, tiny_perceiver, steps=2, ckpt_every=2,
                   val_suite="five-deg", val_suite_images=2), progress=False)
    path = Path(s["export"])
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["model"] == "restorer" and card["training"]["steps"] == 2
    assert card["sha256"] and card["bytes"] == path.stat().st_size
    val = card["validation"]
    assert {"val_psnr_in", "val_psnr", "val_gain", "val_suite_in", "val_suite"} <= set(val)
    assert {"val_suite:noise σ25", "val_suite:haze", "val_suite:low light"} <= set(val)
    assert val["val_suite_in"] < 40 and np.isfinite(val["val_suite"])
    model = load_restorer(path)
    assert not model.training
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(ValueError, match="sha256"):
        load_restorer(path)


def test_cli_rejects_unknown_config(tiny_perceiver):
    from restora.train.restorer import main

    with pytest.raises(ValueError, match="unknown restorer config"):
        main(["--config", "nafnet-huge", "--perceiver", str(tiny_perceiver)])


def test_mismatched_swaps_the_perceiver_outputs_of_some_samples():
    from restora.nets.conditioning import Condition
    from restora.train.restorer import mismatched

    n = 64
    emb = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 4)
    maps = emb[:, :, None, None].repeat(1, 1, 2, 2)
    reg = torch.zeros(n, 8, 8, dtype=torch.long)
    c = mismatched(Condition(emb, maps, reg), 0.25, torch.Generator().manual_seed(0))
    swapped = c.embedding[:, 0] != emb[:, 0]
    assert 5 <= int(swapped.sum()) <= 30
    assert torch.equal(c.embedding[swapped, 0], emb.roll(1, 0)[swapped, 0])
    assert torch.equal(c.maps[:, :, 0, 0], c.embedding)  # embedding and maps travel together
    assert c.regions is reg
    same = mismatched(Condition(emb, maps, reg), 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(same.embedding, emb)


def test_init_copies_weights_from_an_export_or_a_checkpoint(tmp_path, photos, tiny_perceiver):
    from restora.nets.restorer import restorer
    from restora.train.restorer import init_restorer

    s = train(_cfg(tmp_path / "i", photos, tiny_perceiver, steps=2, ckpt_every=2),
              progress=False)
    want = load_restorer(s["export"]).state_dict()
    for src in (s["export"], tmp_path / "i" / "ckpt.pt"):
        torch.manual_seed(5)
        m = restorer("nafnet-tiny")
        init_restorer(m, src)
        for k, v in m.state_dict().items():
            torch.testing.assert_close(v, want[k])
    with pytest.raises(FileNotFoundError):
        init_restorer(restorer("nafnet-tiny"), tmp_path / "missing.safetensors")
