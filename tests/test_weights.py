"""The shipped perceiver weights: present, small, matching their card, free of denormals, and
seeing the obvious (heavy noise, heavy JPEG, low light) on a held-out photo."""

from __future__ import annotations

import json

import torch

from restora.data import skimage_photos
from restora.degrade import degrade
from restora.perceive import DEFAULT_WEIGHTS, assess, load_model
from restora.train.perceiver import card_path, sha256_of


def test_file_card_and_size():
    card = json.loads(card_path(DEFAULT_WEIGHTS).read_text())
    assert card["sha256"] == sha256_of(DEFAULT_WEIGHTS)
    assert DEFAULT_WEIGHTS.stat().st_size <= 5 * 2**20
    assert card["parameters"] == sum(p.numel() for p in load_model().parameters())
    for key in ("data", "training", "validation", "history"):
        assert key in card


def test_no_denormals():
    for name, t in load_model().state_dict().items():
        if t.is_floating_point():
            tiny = (t != 0) & (t.abs() < torch.finfo(torch.float32).tiny)
            assert not tiny.any(), name


def test_sees_heavy_noise_and_jpeg():
    torch.set_num_threads(1)
    img = dict(skimage_photos(256))["astronaut"]
    for recipe, op in (("noise=40", "noise"), ("jpeg=10", "jpeg"), ("low_light=0.9", "low_light")):
        a = assess(degrade(img, recipe, seed=0)[0])
        assert op in {d.op for d in a.types}, (recipe, a.to_dict()["types"])
