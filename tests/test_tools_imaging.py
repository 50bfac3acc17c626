"""Classical imaging tools: denoise, deblur, deblock, upscale.

Fast tier: 128 px crops of four held-out photos. Each tool must raise the mean PSNR over its
degraded input; noise estimation is checked to ±2 (/255); parameters are range-checked; a masked
apply leaves everything beyond the feather untouched, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from restora.data import skimage_photos
from restora.degrade import degrade
from restora.errors import RestoraError
from restora.metrics import psnr
from restora.tools.classical import deblock, deblur, denoise, upscale

TOOLS = {t.name: t for m in (denoise, deblur, deblock, upscale) for t in m.TOOLS}
CROP = 128


def _crop(img: np.ndarray, y: float = 0.5, x: float = 0.5) -> np.ndarray:
    h, w = img.shape[:2]
    top, left = int((h - CROP) * y), int((w - CROP) * x)
    return np.ascontiguousarray(img[top:top + CROP, left:left + CROP])


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return dict(skimage_photos(256))


@pytest.fixture(scope="module")
def crops(photos) -> list[np.ndarray]:
    return [_crop(photos[n]) for n in ("astronaut", "chelsea", "coffee", "motorcycle_left")]


_GAINS: dict[tuple[str, str, bool], float] = {}


def _gain(tool_name: str, recipe: str, crops: list[np.ndarray], tuned: bool = True) -> float:
    """Mean PSNR gain (dB) of a tool over the degraded crops, parameters from the label (or
    none: blind). Memoised, as some tests compare tools."""
    key = (tool_name, recipe, tuned)
    if key not in _GAINS:
        _GAINS[key] = _measure_gain(TOOLS[tool_name], recipe, crops, tuned)
    return _GAINS[key]


def _measure_gain(tool, recipe: str, crops: list[np.ndarray], tuned: bool) -> float:
    gains = []
    for i, clean in enumerate(crops):
        bad, label = degrade(clean, recipe, seed=i)
        step = label.steps[0]
        params = tool.tune(step.op, step.params) if tuned else {}
        gains.append(psnr(tool.apply(bad, params), clean) - psnr(bad, clean))
    return float(np.mean(gains))


# ---------------------------------------------------------------------------------------------
# Each tool raises PSNR on its degradation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tool, recipe, min_gain", [
    ("nlm", "noise=25", 2.0),
    ("bm3d", "noise=25", 5.0),
    ("nlm", "poisson=0.5", 2.0),
    ("bm3d", "poisson=0.5", 5.0),
    ("wiener", "blur_motion=0.5", 3.0),
    ("richardson_lucy", "blur_motion=0.5", 3.0),
    ("wiener", "blur_defocus=0.5", 3.0),
    ("richardson_lucy", "blur_defocus=0.5", 3.0),
    ("deblock", "jpeg=20", 0.3),
    ("upscale_ibp", "low_res=2", 0.5),
    ("upscale_ibp", "low_res=4", 0.3),
])
def test_tool_raises_psnr(tool, recipe, min_gain, crops):
    assert _gain(tool, recipe, crops) > min_gain


def test_bm3d_beats_nlm(crops):
    assert _gain("bm3d", "noise=25", crops) > _gain("nlm", "noise=25", crops) + 1.0


@pytest.mark.parametrize("tool", ["wiener", "richardson_lucy"])
def test_defocus_with_estimated_kernel(tool, crops):
    assert _gain(tool, "blur_defocus=0.5", crops, tuned=False) > 3.0


def test_defocus_radius_estimate(crops):
    from restora.degrade.ops import blur_defocus

    for r in (2.0, 3.5, 5.0):
        est, confidence = deblur.estimate_defocus_radius(blur_defocus(crops[0], r))
        assert abs(est - r) <= 0.25 and confidence > 0.7


def test_blind_quality_and_scale(crops):
    from restora.degrade.ops import jpeg, low_res

    for q in (10, 20, 40):
        assert abs(deblock.estimate_quality(jpeg(crops[1], q)) - q) <= 2
    assert deblock.estimate_quality(crops[1]) == 100
    for s in (2, 4):
        assert upscale.estimate_scale(low_res(crops[1], s)) == s


# ---------------------------------------------------------------------------------------------
# Noise-level estimation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [15, 25])
@pytest.mark.parametrize("name, where", [
    ("chelsea", (0.5, 0.5)),  # fur and a smooth background
    ("coffee", (0.5, 0.9)),  # flat-ish: plain wall and saucer
    ("brick", (0.5, 0.5)),  # textured
    ("grass", (0.5, 0.5)),  # textured
])
def test_noise_estimate_within_2(sigma, name, where, photos):
    """Tolerance ±2 (/255) on 128 px crops (PCA estimator of Chen et al. 2015)."""
    noisy, _ = degrade(_crop(photos[name], *where), f"noise={sigma}", seed=3)
    assert abs(denoise.estimate_sigma(noisy) - sigma) <= 2.0


def test_noise_estimate_clean_is_small(crops):
    assert all(denoise.estimate_sigma(c) < 3.0 for c in crops)


# ---------------------------------------------------------------------------------------------
# Interface: parameters, tuning, masks
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tool, params", [
    ("bm3d", {"sigma": -1}),
    ("nlm", {"sigma": 300}),
    ("nlm", {"peak": 0.1}),
    ("wiener", {"radius": 100}),
    ("richardson_lucy", {"iterations": 0}),
    ("deblock", {"quality": 0}),
    ("upscale_ibp", {"scale": 0.5}),
    ("upscale_ibp", {"factor": 2}),
])
def test_parameter_ranges(tool, params, crops):
    with pytest.raises(RestoraError):
        TOOLS[tool].apply(crops[0], params)


def test_motion_needs_length_and_seed(crops):
    with pytest.raises(RestoraError):
        TOOLS["wiener"].apply(crops[0], {"length": 9})


def test_tune():
    assert TOOLS["bm3d"].tune("noise", {"sigma": 25.0, "seed": 1}) == {"sigma": 25.0}
    assert TOOLS["nlm"].tune("poisson", {"peak": 10.0, "read_sigma": 1.0, "seed": 1}) == {
        "peak": 10.0, "read_sigma": 1.0}
    assert TOOLS["wiener"].tune("blur_motion", {"length": 9.0, "seed": 4}) == {
        "length": 9.0, "seed": 4}
    assert TOOLS["richardson_lucy"].tune("blur_defocus", {"radius": 2.5}) == {"radius": 2.5}
    assert TOOLS["deblock"].tune("jpeg", {"quality": 20.0}) == {"quality": 20.0}
    assert TOOLS["upscale_ibp"].tune("low_res", {"scale": 4.0}) == {"scale": 4.0}
    for tool in TOOLS.values():
        assert tool.tune("haze", {"beta": 1.0, "airlight": 0.9}) == {}
        assert tool.cite and tool.cost > 0 and tool.treats


@pytest.mark.parametrize("tool, recipe", [
    ("nlm", "noise=25"), ("bm3d", "noise=25"), ("wiener", "blur_defocus=0.5"),
    ("richardson_lucy", "blur_motion=0.5"), ("deblock", "jpeg=20"), ("upscale_ibp", "low_res=2"),
])
def test_masked_apply_leaves_outside_untouched(tool, recipe, crops):
    img = crops[2][:96, :96]
    bad, label = degrade(img, recipe, seed=0)
    step = label.steps[0]
    mask = np.zeros(img.shape[:2], np.float32)
    mask[:, :40] = 1.0
    out = TOOLS[tool].apply(bad, TOOLS[tool].tune(step.op, step.params), mask)
    far = ndimage.distance_transform_edt(mask < 0.5) > 8.0
    assert np.array_equal(out[far], bad[far])
    assert not np.array_equal(out[:, :40], bad[:, :40])


def test_noise_covariance_by_torch_matches_the_plain_sum():
    # the PCA estimator's covariance comes from torch's product; the spectrum it reads must be
    # the one the plain sum over patches gives
    rng = np.random.default_rng(3)
    patches = rng.random((4000, 75)) + 0.1 * rng.standard_normal((4000, 75))
    x = patches - patches.mean(axis=0)
    lam = np.sort(np.linalg.eigvalsh(np.einsum("ni,nj->ij", x, x) / len(x)))[::-1]
    expected = next(float(np.sqrt(lam[i:].mean())) for i in range(lam.size)
                    if lam[i:].mean() <= np.median(lam[i:]))
    assert denoise._noise_std_pca(patches) == pytest.approx(expected, rel=1e-9)


def test_unclip_undoes_the_bias_clipped_noise_leaves_at_black_and_white():
    """Flat black, dark and white patches under σ 25 noise clipped at 0 and 1: their means (what
    a denoiser keeps) are lifted or lowered; unclip at that σ brings them back, and leaves the
    mid-tones as they are."""
    rng = np.random.default_rng(0)
    s = 25 / 255
    levels = np.array([0.0, 0.03, 0.5, 1.0], np.float32)
    noisy = np.clip(levels[:, None] + s * rng.standard_normal((4, 200_000)), 0, 1)
    means = noisy.mean(axis=1).astype(np.float32)
    assert means[0] > 0.035 and means[3] < 0.965  # the bias: ~0.4 σ
    back = denoise.unclip(means[:, None, None] * np.ones((1, 1, 3), np.float32), s)[:, 0, 0]
    assert np.abs(back - levels).max() < 0.004
    assert back[2] == pytest.approx(means[2], abs=1e-6)
    assert np.array_equal(denoise.unclip(means, 0.0), means)


def test_the_agents_noise_steps_leave_the_clipped_noises_bias():
    from restora.agent.planner import GRAIN_REGION, plan
    from restora.perceive import _detection

    class Reg:
        def __init__(self, types):
            self.mask, self.types, self.area, self.confidence = None, types, 1.0, 0.9

    det = _detection("noise", 0.9, 0.3)
    (step,) = plan([Reg([det])], tries=2)
    got = {t.name: p.get("clip_sigma") for t, p in step.tools}
    assert got == {"bm3d": 0.0, "nlm": None}  # planner.NOISE_UNCLIP; nlm never undoes it
    (grain,) = plan([Reg([])], add=[det], tries=2)
    assert grain.region == GRAIN_REGION and dict(grain.tools[0][1])["clip_sigma"] == 0.0


def test_unclip_study_prints_its_table_and_refuses_no_crops(capsys):
    from restora.bench import unclip as study

    photo = skimage_photos(128)[0][1]
    text = study.study([("p", photo)], 1, 0)
    assert text.startswith("1 crops, seed 0.") and "| 25 | bm3d |" in text and "| 50 | nlm |" in text
    assert study.main(["--crops", "0"]) == 2
    assert "--crops must be ≥ 1" in capsys.readouterr().err
