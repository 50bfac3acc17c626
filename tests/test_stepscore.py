"""The learned step score: its boosted trees, its features, its place in the judge."""

import json

import numpy as np
import pytest

from restora.agent import judge as J
from restora.agent import stepscore as S


def _step(op="haze", p=0.9, delta=1.0, **physics):
    probs = {"haze": 0.8, "noise": 0.1, "clean": 0.05}
    ph = dict.fromkeys(S.PHYSICS, 0.0)
    ph.update(physics)
    return {"op": op, "delta": delta, "p_better": p, "quality_before": 0.3,
            "quality_after": 0.5, "probs_before": probs, "probs_after": dict(probs, haze=0.2),
            "sev_before": {"haze": 0.5}, "sev_after": {"haze": 0.1}, "structure": 0.9,
            "chroma_shift": 0.01, "fidelity_ok": True, "fidelity_why": "", "physics": ph}


def test_boosted_trees_learn_a_weighted_rule_and_survive_json():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    y = ((x[:, 0] > 0.3) ^ (x[:, 1] > 0)).astype(float)  # an interaction a line cannot draw
    w = rng.uniform(0.1, 5.0, 600)
    m = S.fit(x[:400], y[:400], w[:400], trees=120, depth=3, lr=0.2)
    p = S.predict(m, x[400:])
    assert ((p >= 0.5) == (y[400:] > 0)).mean() > 0.9
    again = json.loads(json.dumps(m))
    assert np.allclose(S.predict(again, x[400:]), p)


def test_features_have_their_names_and_read_the_pixel_measures():
    f = S.features(_step(luma_change=-0.2))
    assert f.shape == (len(S.feature_names()),)
    assert f[S.feature_names().index("luma_change")] == pytest.approx(-0.2)
    assert f[S.feature_names().index("group=veil")] == 1.0


def test_physics_sees_a_darkening_and_a_denoising():
    rng = np.random.default_rng(1)
    clean = np.full((64, 64, 3), 0.6, np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    ph = J.physics(noisy, clean)
    assert ph["noise_before"] > 15 > ph["noise_after"]
    assert ph["fine_ratio"] < -3
    dark = J.physics(clean, clean * 0.5)
    assert dark["luma_change"] == pytest.approx(-0.3, abs=1e-3)
    half = np.zeros((64, 64), np.float32)
    half[:, :32] = 1
    assert J.physics(clean, clean, half)["area"] == pytest.approx(0.5)


def test_the_learned_score_replaces_the_comparator_margin_only():
    ev = J.StepEvidence(**{k: v for k, v in _step(p=0.95).items()
                           if k in J.StepEvidence.__dataclass_fields__})
    assert J.decide(ev)[0]  # the comparator alone keeps it
    ok, why, _ = J.decide(ev, learned=0.2)
    assert not ok and "learned step score" in why
    assert J.decide(ev, learned=0.7)[0]
    bad = J.StepEvidence(**{**ev.__dict__, "fidelity_ok": False, "fidelity_why": "drift"})
    assert J.decide(bad, learned=0.99) == (False, "drift", False)  # the guard still rules


def test_the_step_judge_trainer_writes_a_model(tmp_path):
    from restora.train import step_judge

    rng = np.random.default_rng(2)
    steps = []
    for _ in range(80):
        dark = float(rng.uniform(-0.3, 0.3))
        steps.append(_step(p=float(rng.uniform(0.5, 1)), delta=3.0 if dark > 0 else -3.0,
                           luma_change=dark))
    cache = tmp_path / "steps.json"
    cache.write_text(json.dumps({"seed": 0, "where": "test", "steps": steps}))
    out = tmp_path / "judge.json"
    assert step_judge.main([str(cache), "--val", str(cache), "--out", str(out), "--folds", "2",
                            "--trees", "10,30", "--lr", "0.3"]) == 0
    m = json.loads(out.read_text())
    assert m["card"]["trees"] in (10, 30) and m["features"] == S.feature_names()
    assert S.score(_step(luma_change=0.2), m) > 0.5 > S.score(_step(luma_change=-0.2), m)
    with pytest.raises(Exception, match="exists"):
        step_judge.main([str(cache), "--out", str(out)])


def test_in_loop_draws_record_the_loops_own_candidates_with_pixel_measures(photo):
    from restora.agent import judge as J
    from restora.bench import judge as B
    from restora.perceive import load_model

    m = load_model()
    photos = [np.ascontiguousarray(photo[:256, :256])]
    was = J.USE_LEARNED
    steps = B.draw_loop_steps(photos, 3, m, seed=5, progress=False)
    assert len(steps) == 3 and J.USE_LEARNED == was  # the switch is put back after the draw
    for s in steps:
        assert np.isfinite(s["delta"]) and s["tool"] and set(s["physics"]) == set(S.PHYSICS)
        assert np.isfinite(S.features(s)).all()


def test_the_environment_chooses_the_step_judge_weights(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, len(S.feature_names())))
    m = S.fit(x, (x[:, 0] > 0).astype(float), np.ones(50), trees=5)
    path = tmp_path / "w.json"
    path.write_text(json.dumps(m))
    img = np.full((32, 32, 3), 0.5, np.float32)
    ev = J.StepEvidence(**{k: v for k, v in _step().items()
                           if k in J.StepEvidence.__dataclass_fields__})
    monkeypatch.setenv("RESTORA_STEP_JUDGE", "off")
    assert J.learned_score(ev, img, img) is None
    monkeypatch.setenv("RESTORA_STEP_JUDGE", str(path))
    assert 0 < J.learned_score(ev, img, img) < 1
    monkeypatch.setenv("RESTORA_STEP_JUDGE", "on")  # the shipped weights
    assert 0 < J.learned_score(ev, img, img) < 1
    monkeypatch.setenv("RESTORA_STEP_JUDGE", str(tmp_path / "missing.json"))
    with pytest.raises(Exception, match="no step judge weights"):
        J.learned_score(ev, img, img)
