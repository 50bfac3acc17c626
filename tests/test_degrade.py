import itertools

import numpy as np
import pytest

from restora.degrade import OPERATORS, degrade, masks, parse
from restora.degrade.sample import EXCLUSIVE, random_recipe
from restora.errors import RestoraError

ALL = list(OPERATORS)


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.mark.parametrize("name", ALL)
def test_same_recipe_and_seed_is_bit_identical(small, name):
    for recipe in (f"{name}=0.7", f"{name}=0.5@blob"):
        a, la = degrade(small, recipe, seed=11)
        b, lb = degrade(small, recipe, seed=11)
        assert a.dtype == np.float32 and a.shape == small.shape
        assert np.array_equal(a, b)
        assert la.to_dict() == lb.to_dict()
        assert la.arrays().keys() == lb.arrays().keys()
        for k, v in la.arrays().items():
            assert np.array_equal(v, lb.arrays()[k]), k
    c, _ = degrade(small, f"{name}=0.7", seed=12)
    if OPERATORS[name].stochastic:
        assert not np.array_equal(c, degrade(small, f"{name}=0.7", seed=11)[0])


@pytest.mark.parametrize("name", ALL)
def test_psnr_falls_strictly_with_severity(photo, name):
    values = [psnr(degrade(photo, f"{name}={s / 10:.1f}", seed=5)[0], photo) for s in range(1, 11)]
    assert all(a > b for a, b in itertools.pairwise(values)), [round(v, 2) for v in values]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", masks.KINDS)
def test_masked_label_equals_mask_and_outside_is_unchanged(photo, name, kind):
    small = photo
    out, label = degrade(small, f"{name}=0.8@{kind}", seed=3)
    step = label.steps[0]
    m = masks.make(kind, small.shape[:2], step.mask_seed, image=small)
    assert np.array_equal(label.masks[name], m)
    assert np.allclose(label.maps[name], np.float32(0.8) * m)
    outside = m == 0
    assert outside.any() and (m == 1).any()
    assert np.array_equal(out[outside], small[outside])
    assert not np.array_equal(out[m == 1], small[m == 1])


@pytest.mark.parametrize("recipe", ["haze=0.7", "haze=beta:2.2;airlight:0.8@blob", "haze=1.0@half"])
def test_haze_follows_the_scattering_model_exactly(photo, recipe):
    out, label = degrade(photo, recipe, seed=2)
    t = label.extras["haze_t"][..., None]
    a = float(label.extras["haze_airlight"])
    assert t.min() < 0.9
    np.testing.assert_allclose(out, photo * t + a * (1 - t), rtol=0, atol=1e-6)
    p = label.steps[0].params
    assert 0.7 <= p["airlight"] <= 1.0 and 0.5 <= p["beta"] <= 3.0


def test_explicit_parameters_and_protocol_ranges(small):
    _, lab = degrade(small, "noise=25", seed=0)
    assert lab.steps[0].params["sigma"] == 25 and abs(lab.steps[0].severity - 20 / 45) < 1e-9
    _, lab = degrade(small, "noise=100", seed=0)  # an unseen level: severity beyond 1
    assert lab.steps[0].severity > 1
    for name, key, lo, hi in [("noise", "sigma", 5, 50), ("jpeg", "quality", 60, 8),
                              ("blur_motion", "length", 5, 31), ("blur_defocus", "radius", 1, 6),
                              ("haze", "beta", 0.5, 3.0), ("low_res", "scale", 1, 4),
                              ("poisson", "peak", 60, 5), ("low_light", "scale", 0.5, 0.05)]:
        p = OPERATORS[name].by_name[key]
        assert np.isclose(p.at(0.0), lo) and np.isclose(p.at(1.0), hi)
    _, lab = degrade(small, "low_res=4", seed=0)
    assert lab.steps[0].params["scale"] == 4 and lab.steps[0].severity == 1


def test_noise_has_the_requested_sigma(photo):
    flat = np.full((256, 256, 3), 0.5, np.float32)
    out, _ = degrade(flat, "noise=25", seed=0)
    assert abs((out - flat).std() * 255 - 25) < 0.3


def test_composition_follows_the_physical_order(small):
    a, la = degrade(small, "jpeg=30,noise=20,haze=0.5", seed=4)
    b, _ = degrade(small, "haze=0.5,noise=20,jpeg=30", seed=4)
    assert np.array_equal(a, b)
    assert la.types == ["haze", "noise", "jpeg"]
    # Each operator draws from its own stream: adding one leaves the others' draws unchanged.
    _, lc = degrade(small, "haze=0.5,jpeg=30", seed=4)
    assert lc.steps[0].params == la.steps[0].params


@pytest.mark.parametrize("bad, msg", [
    ("", "empty"), ("fog=0.5", "unknown degradation"), ("noise=abc", "not a number"),
    ("noise=300", "out of range"), ("jpeg=quality:0", "out of range"), ("noise=0.5@circle", "unknown mask"),
    ("noise,noise", "twice"), ("haze=depth:3", "no parameter"), ("noise=0.5@blob:2", "coverage"),
    ("noise=sigma:nan", "finite"), ("haze=0.5=3", "not a number"), ("Noise=3", "cannot read"), ("noise=s:1.5", "severity"),
    ("noise=0.5;sigma:20", "both"),
])
def test_recipe_errors_are_clear(bad, msg):
    with pytest.raises(RestoraError, match=msg) as e:
        parse(bad)
    assert "\n" not in str(e.value)


def test_recipe_round_trip():
    items = parse("rain=angle:15;0.8@half:0.5,noise=25,jpeg")
    assert [str(i) for i in items] == ["rain=0.8;angle:15@half:0.5", "noise=sigma:25", "jpeg"]
    assert parse(",".join(map(str, items))) == items


def test_random_recipes_are_seeded_and_physically_consistent():
    r1 = [random_recipe(np.random.default_rng(i)) for i in range(200)]
    r2 = [random_recipe(np.random.default_rng(i)) for i in range(200)]
    assert r1 == r2
    counts = {len(r) for r in r1}
    assert counts == {0, 1, 2, 3}
    for r in r1:
        names = {i.name for i in r}
        assert all(len(names & g) <= 1 for g in EXCLUSIVE)
    assert any(i.mask for r in r1 for i in r)
