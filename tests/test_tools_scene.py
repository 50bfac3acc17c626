"""Scene tools (dehaze, derain/desnow, low light, tone): each undoes its degradation on real photos.

Fast tier: 128 px crops of four scikit-image photos, parameters from the degradation label
through each tool's ``tune`` (the oracle setting), plus blind dehazing. The full-size numbers on
the 12 photos are measured separately (see the tools' docstrings and BENCHMARKS.md).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from restora.data import skimage_photos
from restora.degrade import degrade
from restora.errors import RestoraError
from restora.metrics import psnr, ssim
from restora.tools.classical import dehaze, derain, lowlight, tone
from restora.tools.classical.dehaze import guided_filter

SCENE_TOOLS = [*dehaze.TOOLS, *derain.TOOLS, *lowlight.TOOLS, *tone.TOOLS]
BY_NAME = {t.name: t for t in SCENE_TOOLS}
CROP_PHOTOS = ("astronaut", "chelsea", "coffee", "motorcycle_left")  # colour: saturation needs it


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    """128×128 centre crops of four photos (long side 256 px first)."""
    out = []
    for name, img in skimage_photos(max_side=256):
        if name in CROP_PHOTOS:
            h, w = img.shape[:2]
            y, x = (h - 128) // 2, (w - 128) // 2
            out.append(np.ascontiguousarray(img[y:y + 128, x:x + 128]))
    assert len(out) == len(CROP_PHOTOS)
    return out


def _gains(tool, recipe: str, crops, tuned: bool = True) -> tuple[float, float]:
    """Mean PSNR and SSIM gains of ``tool`` over the degraded crops."""
    dp, ds = [], []
    for i, clean in enumerate(crops):
        bad, label = degrade(clean, recipe, seed=i)
        step = label.steps[0]
        params = tool.for_degradation(step.op, step.params) if tuned else {}
        out = tool.apply(bad, params)
        assert out.shape == clean.shape and out.dtype == np.float32
        dp.append(psnr(out, clean) - psnr(bad, clean))
        ds.append(ssim(out, clean) - ssim(bad, clean))
    return float(np.mean(dp)), float(np.mean(ds))


@pytest.mark.parametrize("severity", [0.3, 0.6, 1.0])
def test_dehaze_raises_psnr_and_ssim(crops, severity):
    tool = BY_NAME["dehaze_dcp"]
    dp, ds = _gains(tool, f"haze={severity}", crops)
    assert dp > 1.0 and ds > 0.02, (dp, ds)


def test_dehaze_blind_raises_psnr_and_ssim(crops):
    dp, ds = _gains(BY_NAME["dehaze_dcp"], "haze=0.6", crops, tuned=False)
    assert dp > 1.0 and ds > 0.02, (dp, ds)


@pytest.mark.parametrize(("name", "recipe"), [
    ("derain_streaks", "rain=0.5"),
    ("desnow_flakes", "snow=0.5"),
    ("lowlight_lime", "low_light=0.5"),
    ("lowlight_lime_nlm", "low_light=0.5"),
    ("contrast_stretch", "contrast=0.6"),
    ("saturation_boost", "saturation=0.6"),
])
def test_tool_raises_psnr(crops, name, recipe):
    dp, _ = _gains(BY_NAME[name], recipe, crops)
    assert dp > 0.3, dp


def test_tone_tools_invert_known_losses(crops):
    """With the true factor, contrast and saturation losses are inverted up to rounding."""
    cases = (("contrast_stretch", "contrast=0.6"), ("saturation_boost", "saturation=0.6"))
    for name, recipe in cases:
        tool = BY_NAME[name]
        bad, label = degrade(crops[0], recipe, seed=0)
        step = label.steps[0]
        out = tool.apply(bad, tool.for_degradation(step.op, step.params))
        assert psnr(out, crops[0]) > 60.0


def test_guided_filter_keeps_a_step_edge_better_than_a_box_filter():
    rng = np.random.default_rng(0)
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    noisy = (step + rng.normal(0, 0.05, step.shape)).astype(np.float32)
    r = 4
    box = cv2.boxFilter(noisy, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)
    for guide in (noisy, np.repeat(noisy[..., None], 3, axis=2)):
        gf = guided_filter(guide, noisy, r, 1e-2)
        band = np.s_[:, 24:40]  # the edge and 8 px either side
        err_gf = float(np.mean((gf[band] - step[band]) ** 2))
        err_box = float(np.mean((box[band] - step[band]) ** 2))
        assert err_gf < 0.25 * err_box, (err_gf, err_box)
        # and it still smooths the flat parts
        assert gf[:, :20].std() < 0.5 * noisy[:, :20].std()


def test_guided_filter_colour_guide_matches_gray_guide_on_gray_images():
    rng = np.random.default_rng(1)
    g = rng.random((32, 40), dtype=np.float32)
    p = rng.random((32, 40), dtype=np.float32)
    gray = guided_filter(g, p, 3, 1e-2)
    # a gray colour guide g·(1, 1, 1)/√3 has the gray guide's variance along (1, 1, 1): same filter
    colour = guided_filter(np.repeat(g[..., None], 3, axis=2) / np.sqrt(3), p, 3, 1e-2)
    assert np.abs(gray - colour).max() < 1e-3


@pytest.mark.parametrize("tool", SCENE_TOOLS, ids=lambda t: t.name)
def test_parameter_ranges_are_checked(tool):
    for p in tool.params:
        with pytest.raises(RestoraError):
            tool.check({p.name: p.hi + abs(p.hi) + 1.0})
        with pytest.raises(RestoraError):
            tool.check({p.name: p.lo - abs(p.lo) - 1.0})
    with pytest.raises(RestoraError):
        tool.check({"no_such_parameter": 1.0})
    assert tool.cite and tool.treats and tool.cost > 0


@pytest.mark.parametrize("tool", SCENE_TOOLS, ids=lambda t: t.name)
def test_masked_apply_leaves_the_outside_untouched(crops, tool):
    op = tool.treats[0]
    bad, label = degrade(crops[1], f"{op}=0.6", seed=3)
    mask = np.zeros(bad.shape[:2], np.float32)
    mask[:, :48] = 1.0
    out = tool.apply(bad, tool.for_degradation(op, label.steps[0].params), mask)
    # beyond the 8 px feather: bit-identical
    assert np.array_equal(out[:, 48 + 9:], bad[:, 48 + 9:])
    assert not np.array_equal(out[:, :40], bad[:, :40])  # inside: restored


@pytest.mark.parametrize("tool", SCENE_TOOLS, ids=lambda t: t.name)
def test_tune_ignores_other_degradations(tool):
    assert tool.for_degradation("jpeg", {"quality": 20.0}) == {}
    assert tool.for_degradation("noise", {"sigma": 25.0}) == {}


@pytest.mark.parametrize("tool", SCENE_TOOLS, ids=lambda t: t.name)
def test_tools_survive_tiny_and_flat_images(tool):
    rng = np.random.default_rng(2)
    for img in (rng.random((3, 5, 3), dtype=np.float32), np.zeros((20, 20, 3), np.float32),
                np.ones((20, 20, 3), np.float32)):
        out = tool.apply(img)
        assert out.shape == img.shape and np.isfinite(out).all()


def test_dehazing_does_not_amplify_the_noise_of_the_input(photo):
    """Haze + white noise: dehazing a base smoother than the noise and adding the detail back
    beats amplifying everything by 1/t; on noise-free haze it changes almost nothing."""
    from restora.degrade import degrade
    from restora.metrics import psnr
    from restora.tools import get_tool

    t = get_tool("dehaze_dcp")
    clean = np.ascontiguousarray(photo[:128, :128])
    noisy, lab = degrade(clean, "haze=0.5,noise=0.4", seed=1)
    p = t.for_degradation("haze", next(s for s in lab.steps if s.op == "haze").params)
    assert psnr(t.apply(noisy, p), clean) > psnr(t.apply(noisy, {**p, "noise_k": 0.0}), clean) + 1
    hazy, lab = degrade(clean, "haze=0.5", seed=1)
    p = t.for_degradation("haze", lab.steps[0].params)
    assert abs(psnr(t.apply(hazy, p), clean) - psnr(t.apply(hazy, {**p, "noise_k": 0.0}), clean)) < 0.3


def test_lowlight_reads_a_cameras_encoded_noise_and_brightens_it_by_a_gain(photo):
    from restora.degrade import degrade
    from restora.degrade.camera import camera_capture
    from restora.metrics import psnr
    from restora.tools.classical.lowlight import enhance_lowlight, noise_model

    synthetic, _ = degrade(photo, "low_light=0.5", seed=2)
    assert noise_model(synthetic)[0] == "raw"
    dark = camera_capture(photo, exposure=0.125, photons=800.0, seed=2)
    kind, photons = noise_model(dark)
    assert kind == "encoded" and 10 < photons < 1e4
    assert noise_model(photo)[0] != "raw"  # a camera photo: encoded, if any noise is found
    out = enhance_lowlight(dark)  # γ = 1 (a gain), denoised in linear light
    # by non-local means: a camera's demosaicing correlated the noise (restora.bench.lowlight)
    assert np.array_equal(out, enhance_lowlight(dark, denoiser="nlm"))
    assert psnr(photo, out) > psnr(photo, dark) + 10
    assert psnr(photo, out) > psnr(photo, enhance_lowlight(dark, gamma=2.0)) + 3
    # no sensor noise found (a clean or denoised image): brightened, not posterised
    levels = len(np.unique(enhance_lowlight(photo * 0.2)))
    assert levels > 0.5 * len(np.unique(photo))


def test_a_dark_camera_photo_of_a_black_scene_is_not_taken_for_raw_noise(photo):
    """A night-sky frame (scikit-image's hubble photo, mostly black) taken by a camera at ×1/20:
    the photon fit alone holds on it as given (the clipping at black thins its darkest bins),
    but its noise does not grow with the level, so the tool treats it as encoded, and its
    black sky stays black instead of being lifted into coloured grain."""
    import skimage

    from restora._image import as_image
    from restora.data import resize_max
    from restora.degrade import degrade
    from restora.degrade.camera import camera_capture
    from restora.metrics import psnr
    from restora.tools.classical import lowlight

    sky = resize_max(as_image(skimage.data.hubble_deep_field()), 256)[:222, :256]
    dark = camera_capture(sky, exposure=0.05, photons=800.0, seed=1)
    assert lowlight.estimate_photons(dark) < lowlight.FIT_FAILS  # the fit alone: "raw"
    assert lowlight.noise_exponent(dark) < lowlight.RAW_EXPONENT
    assert lowlight.noise_model(dark)[0] == "encoded"
    out = lowlight.enhance_lowlight(dark)
    assert psnr(sky, out) > psnr(sky, dark) - 3
    assert np.median(out.max(axis=2)) < 0.1  # the sky is still black
    # noise added as given grows with the level
    synthetic, _ = degrade(photo, "low_light=0.5", seed=2)
    assert lowlight.noise_exponent(synthetic) > lowlight.RAW_EXPONENT


def test_a_regional_low_lights_noise_is_read_over_its_region(photo):
    """Half of a photo under the synthesiser's low light: read over its region, the noise is the
    sensor's as given ("raw") at about its true photon count, and the agent hands that reading
    to the brightening of the region."""
    from restora.agent.planner import scene_params
    from restora.degrade import degrade
    from restora.tools import get_tool
    from restora.tools.classical import lowlight

    tool = get_tool("lowlight_lime")
    for seed in range(3):
        dark, label = degrade(photo, "low_light=0.6@half", seed=seed)
        region = label.masks["low_light"] > 0.99
        truth = lowlight._tune("low_light", label.steps[0].params)["photons"]
        kind, photons = lowlight.noise_model(dark, region)
        assert kind == "raw" and truth / 2 < photons < truth * 2, (seed, kind, photons, truth)
        params = scene_params(tool, {"scale": 0.2}, dark, region.astype(np.float32))
        assert params["encoded"] == 0.0 and params["photons"] == pytest.approx(photons)
    # the reading decides the tone curve: a gain for an encoded image, γ 2 for noise as given
    out = tool.apply(dark, {**params, "denoise": 0.0})
    assert not np.array_equal(out, tool.apply(dark, {**params, "denoise": 0.0, "encoded": 1.0}))


def test_a_brightening_reads_the_noise_where_no_earlier_step_denoised_it(photo):
    """An earlier step (a noise region's denoising) smoothed a band of the dark half: given the
    image as captured, the brightening's reading leaves that band out and finds the sensor's
    noise as given ("raw") at about its true photon count."""
    import cv2

    from restora.agent import planner
    from restora.degrade import degrade
    from restora.tools import get_tool
    from restora.tools.classical import lowlight

    tool = get_tool("lowlight_lime")
    dark, label = degrade(photo, "low_light=0.6@half", seed=1)
    region = label.masks["low_light"] > 0.99
    truth = lowlight._tune("low_light", label.steps[0].params)["photons"]
    # every other band of 16 rows: half of the region, scattered over it
    band = (np.arange(region.shape[0]) // 16 % 2 == 0)[:, None] & region
    after = dark.copy()
    after[band] = cv2.GaussianBlur(dark, (0, 0), 3.0)[band]  # what a denoising left there
    mask = region.astype(np.float32)
    read = planner.scene_params(tool, {"scale": 0.2}, after, mask, src=dark)
    assert read["encoded"] == 0.0 and truth / 2 < read["photons"] < truth * 2, (read, truth)
    saved = planner.UNTOUCHED_NOISE_MODEL
    try:  # the switch off: the same call reads the mix, and misses
        planner.UNTOUCHED_NOISE_MODEL = False
        mixed = planner.scene_params(tool, {"scale": 0.2}, after, mask, src=dark)
    finally:
        planner.UNTOUCHED_NOISE_MODEL = saved
    assert not (mixed.get("encoded") == 0.0 and truth / 2 < mixed.get("photons", 0) < truth * 2), \
        (mixed, truth)


def test_lowlight_bm3d_beats_nlm_on_white_sensor_noise(crops):
    """The low-light tool's BM3D (in the Anscombe domain) against its fast NLM variant, both at
    the true parameters: BM3D is the default because it is this much better (the full study:
    python -m restora.bench.lowlight)."""
    bm3d = _gains(BY_NAME["lowlight_lime"], "low_light=0.6", crops)[0]
    nlm = _gains(BY_NAME["lowlight_lime_nlm"], "low_light=0.6", crops)[0]
    assert bm3d > nlm + 1.0, (bm3d, nlm)
    with pytest.raises(ValueError, match="unknown denoiser"):
        lowlight.vst_denoise(crops[0], 100.0, 1.0, method="wiener")


def test_airlight_estimators_give_an_rgb_in_range_and_the_quadtree_skips_a_white_object():
    from restora.tools.classical.dehaze import AIRLIGHT

    rng = np.random.default_rng(0)
    img = np.clip(0.3 + 0.15 * rng.standard_normal((256, 256, 3)), 0, 1).astype(np.float32)
    img[:128, :128] = 0.8  # a flat hazy sky at the airlight
    img[160:200, 160:220] = np.clip(0.9 + 0.1 * rng.standard_normal((40, 60, 3)), 0, 1)
    for name, fn in AIRLIGHT.items():
        a = np.asarray(fn(img))
        assert a.shape == (3,) and np.all((a >= 0) & (a <= 1)), name
    assert abs(float(np.mean(AIRLIGHT["quadtree"](img))) - 0.8) < 0.02
    assert float(np.mean(AIRLIGHT["he+floor"](img))) > 0.9  # the white object's brightest pixel


def test_the_shipped_airlight_is_the_mean_of_hes_and_the_quadtrees():
    from restora.tools.classical.dehaze import AIRLIGHT, shipped_airlight

    img = np.random.default_rng(1).random((96, 96, 3)).astype(np.float32)
    mean = 0.5 * (AIRLIGHT["he+floor"](img) + AIRLIGHT["quadtree"](img))
    assert np.allclose(shipped_airlight(img), mean)


def test_gray_if_colourless_grays_a_denoised_gray_scene_only(crops):
    """Colour sensor noise on a gray scene leaves, once denoised, a few per cent of chroma:
    gray_if_colourless (measured by restora.bench.lowlight, not used by the tool) makes such an
    image gray, and leaves a colour one alone."""
    from restora.bench.lowlight import chroma_ratio, gray_if_colourless
    from restora.tools.classical.lowlight import unclip_black, vst_denoise

    for clean in crops[:2]:
        for x, is_gray in ((np.repeat(clean.mean(2, keepdims=True), 3, 2), True), (clean, False)):
            dark, label = degrade(x, "low_light=0.5", seed=3)
            assert chroma_ratio(dark) > 0.05  # the sensor's noise is coloured
            kw = lowlight._tune("low_light", label.steps[0].params)
            den = unclip_black(vst_denoise(dark, kw["photons"], kw["read_sigma"]),
                               kw["read_sigma"] / 255.0)
            out = gray_if_colourless(den)
            if is_gray:
                assert np.array_equal(out[..., 0], out[..., 1])
                assert np.array_equal(out[..., 1], out[..., 2])
            else:
                assert out is den and chroma_ratio(out) > 0.05
