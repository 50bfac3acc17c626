"""restora.metrics: PSNR/SSIM vs scikit-image, metadata, NIQE behaviour and its shipped model."""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from restora.errors import RestoraError
from restora.metrics import METRICS, MetricInfo, compute, niqe, noref, psnr, ssim

PHOTOS = ["astronaut", "chelsea", "coffee", "camera"]
COLOUR_PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]


@cache
def photo(name: str) -> np.ndarray:
    """A scikit-image photo as float32 H×W×3 in [0, 1] (gray ones replicated)."""
    a = getattr(data, name)()
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return a[..., :3].astype(np.float32) / 255.0


def degrade(img: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        out = img + rng.normal(0.0, 20 / 255, img.shape)
    elif kind == "blur":
        out = gaussian_filter(img, (1.5, 1.5, 0))
    else:  # blur, then mild noise and a colour shift
        out = gaussian_filter(img, (0.8, 0.8, 0)) + rng.normal(0.0, 5 / 255, img.shape) + 0.02
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def reference_arrays(a, b, y_channel, crop):
    """The 0–255 float64 arrays the field's convention measures (Y: MATLAB rgb2ycbcr luma)."""
    x, y = a.astype(np.float64) * 255, b.astype(np.float64) * 255
    if y_channel:
        w = np.array([65.481, 128.553, 24.966]) / 255
        x, y = x @ w + 16, y @ w + 16
    if crop:
        x, y = x[crop:-crop, crop:-crop], y[crop:-crop, crop:-crop]
    return x, y


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("kind", ["noise", "blur", "mixed"])
def test_psnr_ssim_match_scikit_image(name, kind):
    gt = photo(name)
    out = degrade(gt, kind)
    for y_channel in (False, True):
        for crop in (0, 4):
            x, y = reference_arrays(out, gt, y_channel, crop)
            want_psnr = peak_signal_noise_ratio(y, x, data_range=255)
            want_ssim = structural_similarity(
                y,
                x,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=255,
                channel_axis=None if y_channel else -1,
            )
            got_psnr = psnr(out, gt, y_channel=y_channel, crop_border=crop)
            got_ssim = ssim(out, gt, y_channel=y_channel, crop_border=crop)
            assert got_psnr == pytest.approx(want_psnr, abs=1e-4), (y_channel, crop)
            assert got_ssim == pytest.approx(want_ssim, abs=1e-4), (y_channel, crop)


def test_identical_images():
    img = photo("chelsea")
    assert psnr(img, img) == math.inf
    assert psnr(img, img.copy(), y_channel=True, crop_border=4) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, img, y_channel=True) == pytest.approx(1.0)


def test_uint8_input_follows_image_contract():
    gt = photo("coffee")
    out = degrade(gt, "noise")
    as_u8 = (out * 255).round().astype(np.uint8)
    assert psnr(as_u8, gt) == pytest.approx(psnr(as_u8.astype(np.float32) / 255, gt))


@pytest.mark.parametrize("fn", [psnr, ssim])
def test_shape_mismatch_raises(fn):
    a = photo("astronaut")
    with pytest.raises(RestoraError, match="differ in size"):
        fn(a, a[:-1])


def test_bad_crop_border_raises():
    a = photo("astronaut")[:20, :20]
    with pytest.raises(RestoraError):
        psnr(a, a, crop_border=10)
    with pytest.raises(RestoraError):
        ssim(a, a, crop_border=-1)


def test_metadata():
    assert set(METRICS) == {"psnr", "psnr_y", "ssim", "ssim_y", "niqe"}
    for name, info in METRICS.items():
        assert isinstance(info, MetricInfo) and info.name == name and callable(info.fn)
        assert info.range[0] < info.range[1]
    for name in ("psnr", "psnr_y", "ssim", "ssim_y"):
        assert METRICS[name].kind == "full-reference" and METRICS[name].higher_is_better
    assert METRICS["psnr"].unit == "dB"
    assert METRICS["niqe"].kind == "no-reference" and not METRICS["niqe"].higher_is_better
    with pytest.raises(AttributeError):
        METRICS["psnr"].higher_is_better = False  # frozen


def test_metadata_direction_agrees_with_values():
    gt = photo("astronaut")
    mild, strong = degrade(gt, "blur"), gaussian_filter(gt, (3, 3, 0))
    for name in ("psnr", "psnr_y", "ssim", "ssim_y"):
        better = compute(name, mild, gt) > compute(name, strong, gt)
        assert better == METRICS[name].higher_is_better, name


def test_compute():
    gt = photo("chelsea")
    out = degrade(gt, "noise")
    assert compute("psnr_y", out, gt) == psnr(out, gt, y_channel=True)
    assert compute("ssim", out, gt, crop_border=4) == ssim(out, gt, crop_border=4)
    assert compute("niqe", out, gt) == niqe(out)  # the reference is ignored for NR metrics
    with pytest.raises(RestoraError, match="known: niqe, psnr, psnr_y, ssim, ssim_y"):
        compute("lpips", out, gt)
    with pytest.raises(RestoraError, match="needs a reference"):
        compute("ssim", out)
    with pytest.raises(RestoraError, match="takes no option"):
        compute("niqe", out, crop_border=4)


@pytest.mark.parametrize("name", COLOUR_PHOTOS)
def test_niqe_prefers_clean_photos(name):
    clean = photo(name)
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 25 / 255, clean.shape), 0, 1)
    blurred = gaussian_filter(clean, (3, 3, 0))
    score = niqe(clean)
    assert 0 < score < niqe(noisy.astype(np.float32))
    assert score < niqe(blurred)


def test_niqe_too_small_raises():
    img = photo("astronaut")
    with pytest.raises(RestoraError, match="at least 192"):
        niqe(img[:191, :300])
    with pytest.raises(RestoraError, match="at least 192"):
        niqe(img[:300, :150])
    assert math.isfinite(niqe(img[:192, :192]))


def test_niqe_flat_image_raises():
    with pytest.raises(RestoraError, match="flat"):
        niqe(np.full((256, 256, 3), 0.5, np.float32))


def test_shipped_niqe_model_and_card():
    npz = noref.MODEL_PATH
    card = json.loads(npz.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    assert npz.stat().st_size < 100_000 and npz.with_suffix(".json").stat().st_size < 100_000
    assert card["n_images"] >= 10 and card["n_patches"] > noref.N_FEATURES
    for key, value in noref.RECIPE.items():
        assert card["params"][key] == pytest.approx(value)
    assert not any("skimage" in s or "scikit" in s for s in card["sources"])  # held-out test set
    mu, cov = noref._pristine()
    assert mu.shape == (36,) and cov.shape == (36, 36)
    assert np.allclose(cov, cov.T) and np.all(np.isfinite(cov))
