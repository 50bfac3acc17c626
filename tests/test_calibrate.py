"""Threshold calibration: the F1-optimal cut, folded into the head biases."""

from __future__ import annotations

import numpy as np
import torch

from restora.nets.perceiver import OPS, perceiver
from restora.train.calibrate import best_offset, calibrate


def test_best_offset_finds_the_separating_cut():
    logits = np.array([-3.0, -2.5, -2.0, -1.0, -0.8, 0.5])
    target = np.array([0, 0, 0, 1, 1, 1])
    t, f1 = best_offset(logits, target)
    assert -2.0 < t < -1.0 and f1 == 1.0
    t0, f0 = best_offset(logits, np.zeros(6))
    assert t0 == 0.0 and np.isnan(f0)


def test_calibration_moves_the_threshold_to_zero():
    torch.manual_seed(0)
    m = perceiver("tiny")
    rng = np.random.default_rng(0)
    n = 400
    target = (rng.random((n, len(OPS))) < 0.3).astype(np.float32)
    logits = (target * 2 - 3 + 0.5 * rng.standard_normal(target.shape)).astype(np.float32)
    stats = {"global_logits": logits, "global_targets": target,
             "dense_logits": logits, "dense_targets": target}
    before = m.type_head.bias.detach().clone()
    report = calibrate(m, stats, min_precision=0.0)
    for j, op in enumerate(OPS):
        r = report[op]["global"]
        assert r["f1_calibrated"] >= r["f1_at_0.5"]
        shifted = logits[:, j] - r["logit_threshold"]
        pred, pos = shifted > 0, target[:, j] > 0.5
        f1 = 2 * (pred & pos).sum() / (pred.sum() + pos.sum())
        assert abs(f1 - r["f1_calibrated"]) < 1e-3
        assert abs(float(m.type_head.bias[j] - before[j]) + r["logit_threshold"]) < 1e-4


def test_precision_floor_raises_the_threshold():
    rng = np.random.default_rng(1)
    target = (rng.random(2000) < 0.3).astype(np.float32)
    logits = target * 1.5 + rng.standard_normal(2000)  # overlapping classes
    t0, _ = best_offset(logits, target, 0.0)
    t9, _ = best_offset(logits, target, 0.9)
    assert t9 > t0
    pred, pos = logits > t9, target > 0.5
    assert (pred & pos).sum() / pred.sum() >= 0.9
