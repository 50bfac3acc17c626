"""Low-light enhancement: denoise in the sensor domain, then brighten through an illumination map.

Follows LIME (Guo, Li & Ling, "LIME: Low-Light Image Enhancement via Illumination Map
Estimation", TIP 2017): the illumination T is the maximum over R, G, B, refined by a
structure-aware smoothing (here the guided filter of He et al. 2010, guided by T itself), and the
image is split as ``L = T · R``. LIME brightens T by a gamma and keeps R; here T is brightened by
the inverse of the exposure curve ``T ↦ (T / scale)^(1/γ)`` and the reflectance by the same power
``R^ρ`` (ρ = 1/γ by default: a camera or synthetic tone curve darkens every channel by the same
power, so the ratio R is darkened too; ρ = 1 is LIME's pure-illumination model). Working on the
smooth T keeps the brightening stable where the signal is near zero.

The shadows that the brightening lifts are noisy (Poisson–Gaussian sensor noise, few photons), so
the noise is removed first, where it is simplest: in the dark image, made homoscedastic by the
generalized Anscombe transform (Starck, Murtagh & Bijaoui 1998; algebraic inverse) and filtered
by BM3D (Dabov et al. 2007, in the opponent colour space, :func:`restora.tools.classical.denoise.
bm3d_luma_chroma`), or, by the fast tool, by non-local means (Buades, Coll & Morel 2005;
OpenCV's ``fastNlMeansDenoisingColored``). On the synthesiser's low light at the true
parameters, BM3D costs about 2.5× the time and gains 3–4 dB on the enhanced image (python -m
restora.bench.lowlight: training photos +3.21 dB, 28 of 30 crops; held-out +3.82, 30 of 30).
Where a camera's demosaicing correlated the noise (below), non-local means stays: BM3D at the
noise's σ lost 1.12 dB to it on the training photos (at twice the σ, 0.13), though it gained
0.98 on the held-out ones. The
sensor clips negative values, which lifts the black level by up to 0.4 σ_read; that bias is
undone by inverting the mean of a rectified Gaussian before brightening.

A camera's JPEG is not raw data: its tone curve (about a 2.2 power, sRGB) compresses the bright
end, so the noise variance no longer grows with the level and the photon fit fails (it reads
no signal-dependent noise at all), and demosaicing spreads each sample's noise over its
neighbours, which a 3×3 residual then under-reads. When the fit fails on the image as given, the
noise is fitted and removed in linear light instead (the image decoded by the 2.2 power, the
result encoded back), on the image halved by area averaging: the correlation of neighbouring
pixels is mostly gone there, and white noise's variance is exactly divided by 4 (the photon
count is scaled back accordingly). Such an image was also under-exposed in linear light, before
its encoding, which makes the exposure a plain gain on the encoded values: its brightening
undoes no tone exponent (γ = 1) unless one is given.
"""

from __future__ import annotations

import importlib.util
from functools import partial
from itertools import pairwise

import cv2
import numpy as np
from scipy.special import erf

from restora.degrade.camera import ENCODING_GAMMA
from restora.tools.base import Tool, ToolParam
from restora.tools.classical.dehaze import guided_filter


def _noise_bins(img: np.ndarray, where: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per channel and per brightness bin (16 bins between the 2nd and 98th percentiles of a 7×7
    mean): the bin's mean level and its noise variance, from the MAD of a 3×3 high-pass
    residual (bins of fewer than 200 pixels are left out). ``where`` (bool, H×W): only the
    pixels of that region whose 7×7 window lies inside it."""
    if where is not None:
        inner = cv2.erode(np.asarray(where, np.uint8), np.ones((7, 7), np.uint8),
                          borderType=cv2.BORDER_CONSTANT, borderValue=1).ravel() > 0
    means, variances = [], []
    for c in range(img.shape[2]):
        x = img[..., c].astype(np.float32)
        resid = (x - cv2.blur(x, (3, 3), borderType=cv2.BORDER_REFLECT)).ravel()
        level = cv2.blur(x, (7, 7), borderType=cv2.BORDER_REFLECT).ravel()
        if where is not None:
            resid, level = resid[inner], level[inner]
            if level.size < 200:
                break
        edges = np.quantile(level, np.linspace(0.02, 0.98, 17))
        for lo, hi in pairwise(edges):
            sel = (level >= lo) & (level < hi)
            if sel.sum() < 200:
                continue
            r = resid[sel]
            mad = np.median(np.abs(r - np.median(r))) * 1.4826
            means.append(float(level[sel].mean()))
            variances.append(float(mad * mad * 9.0 / 8.0))
    return np.asarray(means), np.asarray(variances)


def estimate_photons(img: np.ndarray) -> float:
    """Photons at full scale of a Poisson–Gaussian image, from the slope of the local noise
    variance against the local mean (a robust version of Foi et al., "Practical Poissonian-
    Gaussian noise modeling and fitting for single-image raw-data", TIP 2008): a weighted line
    fit over :func:`_noise_bins`."""
    return _fit_photons(*_noise_bins(img))


def _fit_photons(means: np.ndarray, variances: np.ndarray) -> float:
    if len(means) < 3:
        return 1e4
    slope = np.polyfit(means, variances, 1)[0]
    return float(np.clip(1.0 / max(slope, 1e-6), 1.0, 1e5))


def noise_exponent(img: np.ndarray) -> float:
    """The power p of the noise variance against the level, var ∝ level^p (a line fit in
    log–log over :func:`_noise_bins`; nan with fewer than 3 bins). Noise added to the values
    as given grows with them (Poisson: p near 1, more where clipping at black thins the
    darkest bins); noise added in linear light and then tone-encoded by a 1/2.2 power shrinks
    with the encoded level (p ≤ 0 in theory: the curve's slope falls as the level rises)."""
    return _fit_exponent(*_noise_bins(img))


def _fit_exponent(means: np.ndarray, variances: np.ndarray) -> float:
    ok = (means > 0) & (variances > 0)
    if ok.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log(means[ok]), np.log(variances[ok]), 1)[0])


DENOISERS = ("bm3d", "nlm")


def vst_denoise(img: np.ndarray, photons: float, read_sigma: float,
                strength: float = 1.0, method: str = "bm3d") -> np.ndarray:
    """Poisson–Gaussian denoising of a dark image: generalized Anscombe transform to unit noise
    variance, a Gaussian denoiser (``method``: "bm3d" at σ = ``strength`` × the noise σ, or
    "nlm", non-local means at h = ``strength`` × the noise σ), algebraic inverse. ``photons``:
    photons at intensity 1; ``read_sigma`` in /255.

    (The noise tool's exact unbiased inverse, restora.tools.classical.denoise.bm3d_denoise with
    ``peak``, was measured in place of the algebraic one, BM3D both times: 1.9 dB lower on the
    training crops, 1.6 on the held-out ones; python -m restora.bench.lowlight.)"""
    read = read_sigma / 255.0 * photons  # read noise in photon units
    z = 2.0 * np.sqrt(np.maximum(img * photons + 0.375 + read * read, 0.0))
    top = 2.0 * np.sqrt(photons + 0.375 + read * read)
    if method == "bm3d":
        from restora.tools.classical.denoise import bm3d_opponent

        den = bm3d_opponent((z / top).astype(np.float32), strength / top) * top
    elif method == "nlm":
        # The denoiser takes 8 bits, spread over [0, the top of the scale]. (Spreading only the
        # range z spans, finer for a dark image, was tried in commit 487ecda and lowered the
        # oracle: restora bench spatial -m classical --photos 3, low light@half + noise@blob,
        # 20.39 → 20.05 dB. The scale is coarse only where the photon count is far too high for
        # the image, which noise_model now avoids.)
        gain = 255.0 / top  # unit noise in z → `gain` grey levels in uint8
        u8 = np.clip(z * gain, 0, 255).round().astype(np.uint8)
        h = float(strength * gain)
        den = cv2.fastNlMeansDenoisingColored(u8, None, h, h, 7, 21).astype(np.float32) / gain
    else:
        raise ValueError(f"unknown denoiser {method!r} (known: {', '.join(DENOISERS)})")
    return np.clip(((den / 2.0) ** 2 - 0.375 - read * read) / photons, 0.0, 1.0).astype(np.float32)


def unclip_black(img: np.ndarray, sigma: float) -> np.ndarray:
    """Undo the black-level lift of a sensor that clips read noise (σ in intensity) at 0: map the
    mean of a rectified Gaussian, m(μ) = μ·Φ(μ/σ) + σ·φ(μ/σ), back to μ (clipped at 0)."""
    if sigma <= 0:
        return img
    mu = np.linspace(-4.0 * sigma, 1.0, 4096)
    u = mu / sigma
    m = mu * 0.5 * (1.0 + erf(u / np.sqrt(2.0))) + sigma * np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi)
    return np.maximum(np.interp(img, m, mu), 0.0).astype(np.float32)


_HAS_BM3D = importlib.util.find_spec("bm3d") is not None
# Tool costs (× a bicubic resize, the scale of restora.tools.classical.denoise's): restora bench
# tools --repeat 3 gave lowlight_lime 1757×, lowlight_lime_nlm 551×, nlm 573× in one run,
# scaled here to nlm's 660.
COST_BM3D = 2020.0
COST_NLM = 635.0

# A photon fit at or above this many photons at full scale found no signal-dependent noise in
# the image as given (the synthetic low-light operator's fits lie between about 140 and 600).
FIT_FAILS = 1e4
# The photon fit can also hold on a dark camera photo (its darkest bins thinned by the clipping
# at black), which the gamma-2 brightening then turns into coloured grain (the camera suite's
# hubble photo at ×1/20: 20.43 dB in, 7.31 out). So the fit's "raw" needs the noise to grow
# with the level as well (noise_exponent ≥ RAW_EXPONENT; where it does not and the fit in
# linear light fails, "raw" stands). python -m restora.bench.noisemodel --images
# runs/wallpapers --crops 60 --seed 1 (BENCHMARKS.md): on the training photos the limits 0.5
# and 0.6 change the same 11 camera crops (+72.4 dB summed, each ≥ +3.2; 0.4 changes 10) and no
# synthetic one (whose exponents start at 0.61; at 0.65 one changes, −9.2); the higher is kept,
# since a real photograph is tone-encoded. Held-out (--seed 2): no synthetic crop changes, 15
# camera crops do, +123.6 dB summed, the worst −1.9.
RAW_EXPONENT = 0.6


def halved(img: np.ndarray) -> np.ndarray:
    """``img`` at half size by area averaging."""
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)


def _decoded(img: np.ndarray) -> np.ndarray:
    """Linear light from tone-encoded values (a denoiser may leave values a hair below 0)."""
    return np.power(np.maximum(img, 0.0), ENCODING_GAMMA, dtype=np.float32)


def noise_model(img: np.ndarray, where: np.ndarray | None = None) -> tuple[str, float]:
    """("raw", photons) when the photon fit holds on the image as given (linear data, as the
    synthesiser makes) and the noise grows with the level (:data:`RAW_EXPONENT`); ("encoded",
    photons in linear light) when either fails but the fit holds on the image decoded by the 2.2
    power and halved (÷ 4 back to full resolution: a camera's JPEG); else "raw" where the fit
    as given held, and ("none", the fit as given) where it fails both ways (no signal-dependent
    noise: denoised). ``where``: read over that region only (:func:`_noise_bins`): a regional
    low light's noise is in its region, and the rest of the image, clean or noisy otherwise,
    blurs the fit."""
    bins = _noise_bins(img, where)
    n = _fit_photons(*bins)
    if n < FIT_FAILS and not _fit_exponent(*bins) < RAW_EXPONENT:
        return "raw", n
    if min(img.shape[:2]) >= 16:
        half = None if where is None else halved(np.asarray(where, np.float32)) > 0.5
        lin = _fit_photons(*_noise_bins(halved(_decoded(img)), half)) / 4.0
        if lin * 4.0 < FIT_FAILS:
            return "encoded", lin
    return ("raw", n) if n < FIT_FAILS else ("none", n)


def _denoise_encoded(img: np.ndarray, photons: float, read_sigma: float,
                     strength: float, method: str) -> np.ndarray:
    """Sensor noise of a tone-encoded (camera) image, removed in linear light: decode, VST
    denoising at ``photons`` (linear light), encode."""
    lin = _decoded(img)
    den = unclip_black(vst_denoise(lin, photons, read_sigma, strength, method),
                       read_sigma / 255.0)
    return np.power(den, 1.0 / ENCODING_GAMMA, dtype=np.float32)


def illumination(img: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """LIME's illumination map: max over R, G, B, refined by a self-guided filter."""
    t = img.max(axis=2)
    return np.maximum(guided_filter(t, t, radius, eps), 1e-4).astype(np.float32)


def enhance_lowlight(img: np.ndarray, scale: float | None = None, gamma: float | None = None,
                     rho: float | None = None, photons: float | None = None,
                     read_sigma: float = 1.0, denoise: float = 1.0, radius: int = 8,
                     eps: float = 1e-3, denoiser: str = "auto",
                     recompose: int = 0, encoded: float | None = None) -> np.ndarray:
    """Brighten an under-exposed image (LIME-style, see the module docstring).

    ``scale``: the exposure the image was taken at (a white surface reads ``scale``); None sets it
    to the 99.5th percentile of the illumination. ``gamma``: the tone exponent to undo; None:
    1 for a tone-encoded camera image (:func:`noise_model` "encoded": the exposure fell on the
    linear light before the encoding, which turns it into a plain gain on the encoded values),
    else 2.
    ``rho``: exponent on the reflectance (None: 1/gamma). ``photons`` at full scale (None:
    estimated; where the fit finds no signal-dependent noise, :func:`noise_model` "none", the
    image is not denoised) and ``read_sigma`` (/255) set the denoiser; ``denoise`` scales its
    strength (0: off); ``denoiser`` is :func:`vst_denoise`'s method, or "auto": BM3D where the
    noise is white (the fit holds as given), non-local means where a camera's demosaicing
    correlated it ("encoded"), each the better there on the training photos (module docstring);
    non-local means everywhere without the optional ``bm3d`` package.
    ``encoded`` (with ``photons``): 1 where that count is of a tone-encoded image's linear
    light (:func:`noise_model` "encoded"), 0 where it is of the values as given (the default
    when only ``photons`` is given); the agent reads both over a region's own pixels.
    ``radius`` (px) and ``eps`` (intensity²) refine the illumination map.
    ``recompose`` (px, 0: off; measured, not on by default: python -m restora.bench.lowlight):
    LIME's recombination, R·T + R_d·(1 − T) with T the brightened illumination, where R_d is the
    reflectance smoothed by a guided filter of that radius under T: where the result stays
    dark, the colour is mostly noise lifted by the brightening.
    """
    x = img.astype(np.float32)
    if photons is not None:
        kind, n = ("encoded" if encoded is not None and encoded >= 0.5 else "raw"), float(photons)
    elif gamma is None or denoise > 0:
        kind, n = noise_model(x)
    else:  # neither the tone exponent nor the denoiser needs the noise model
        kind, n = "none", FIT_FAILS
    if gamma is None:
        gamma = 1.0 if kind == "encoded" else 2.0
    if denoiser == "auto":
        denoiser = "nlm" if kind == "encoded" or not _HAS_BM3D else "bm3d"
    if denoise > 0 and kind != "none":  # "none": no sensor noise found (denoised already)
        if kind == "encoded":
            x = _denoise_encoded(x, n, read_sigma, denoise, denoiser)
        else:
            x = vst_denoise(x, n, read_sigma, denoise, denoiser)
            x = unclip_black(x, read_sigma / 255.0)
    t = illumination(x, radius, eps)
    if scale is None:
        scale = max(float(np.percentile(t, 99.5)), 1e-3)
    inv = 1.0 / gamma
    rho = inv if rho is None else rho
    lifted = np.minimum(t / np.float32(scale), 1.0) ** np.float32(inv)
    reflect = np.maximum(x / t[..., None], 0.0) ** np.float32(rho)
    if recompose > 0:
        w = lifted[..., None]
        reflect = reflect * w + guided_filter(lifted, reflect, int(recompose), 1e-2) * (1.0 - w)
    return np.clip(lifted[..., None] * reflect, 0.0, 1.0).astype(np.float32)


def _tune(op: str, p: dict) -> dict:
    """Low light: the true exposure scale and gamma; photons at full scale = peak × scale; the
    read noise as given."""
    if op != "low_light":
        return {}
    out: dict = {}
    if "scale" in p:
        out["scale"] = float(np.clip(p["scale"], 0.005, 1.0))
    if "gamma" in p:
        out["gamma"] = float(np.clip(p["gamma"], 1.0, 5.0))
    if "peak" in p and "scale" in p:
        out["photons"] = float(np.clip(p["peak"] * p["scale"], 1.0, 1e5))
    if "read_sigma" in p:
        out["read_sigma"] = float(np.clip(p["read_sigma"], 0.0, 20.0))
    return out


_PARAMS = (
    ToolParam("scale", "exposure factor", 0.005, 1.0, None),
    ToolParam("gamma", "tone exponent", 1.0, 5.0, None),
    ToolParam("rho", "reflectance exponent", 0.1, 1.0, None),
    ToolParam("photons", "photons at full scale", 1.0, 1e5, None),
    ToolParam("read_sigma", "/255", 0.0, 20.0, 1.0),
    ToolParam("denoise", "× noise σ", 0.0, 3.0, 1.0),
    ToolParam("radius", "px", 1, 64, 8),
    ToolParam("eps", "intensity²", 1e-6, 1.0, 1e-3),
    ToolParam("encoded", "1: photons of a tone-encoded image's linear light", 0.0, 1.0, None),
)
_CITE = ("Guo, Li, Ling: LIME: Low-Light Image Enhancement via Illumination Map Estimation "
         "(TIP 2017); Starck, Murtagh, Bijaoui: Image Processing and Data Analysis: The "
         "Multiscale Approach (1998, generalized Anscombe); ")

TOOLS: list[Tool] = [
    Tool(
        "lowlight_lime", ("low_light",), enhance_lowlight, params=_PARAMS,
        cost=COST_BM3D, requires=("bm3d",),
        cite=_CITE + "Dabov, Foi, Katkovnik, Egiazarian: Image denoising by sparse 3-D "
                     "transform-domain collaborative filtering (TIP 2007)",
        tune=_tune,
    ),
    Tool(
        "lowlight_lime_nlm", ("low_light",), partial(enhance_lowlight, denoiser="nlm"),
        params=_PARAMS,
        cost=COST_NLM,
        cite=_CITE + "Buades, Coll, Morel: A non-local algorithm for image denoising (CVPR 2005)",
        tune=_tune,
    ),
]
