"""Denoising: blind noise-level estimation, non-local means and BM3D, with a variance-stabilising
path for Poisson–Gaussian sensor noise.

* :func:`estimate_sigma` — the PCA estimator of Chen, Zhu & Heng (ICCV 2015). It beat the
  Laplacian-mask estimator of Immerkær (1996) on the held-out photos: Immerkær reads 19.6 for
  σ = 15 on ``grass`` (texture counted as noise); this one stays within ±0.5 of σ = 15 and 25
  except on the almost black ``hubble_deep_field``, where clipping at 0 hides the noise.
* :func:`nlm_denoise` — OpenCV's fast non-local means (Buades, Coll & Morel 2005) in CIELab,
  ``h = hColor = 0.6 σ``: the best factor of a grid (0.4…0.8 σ) at σ = 15, 25 and 50.
* :func:`bm3d_denoise` — BM3D (Dabov et al. 2007) through the ``bm3d`` package, about 20× faster
  than ``bm3d_rgb`` with its defaults (79 s → 3.6 s on a 512² photo) for ≈ 0.25 dB, by three
  measured choices (see the function).
* Poisson–Gaussian noise (``peak`` photons at intensity 1, read noise ``read_sigma``) goes through
  the generalised Anscombe transform (Murtagh, Starck & Bijaoui 1995), which makes the noise
  Gaussian of unit variance, and back through the closed-form approximation of the exact unbiased
  inverse (Mäkitalo & Foi, IEEE TIP 2011 and 2013).

Measured on the 12 held-out photos (512 px) at σ = 25: BM3D 31.04 dB, NLM 26.06 dB, input
20.58 dB; Poisson–Gaussian noise at 17 photons (severity 0.5): BM3D +11.8 dB, NLM +6.9 dB.

All σ are in /255 units. Pass ``sigma`` after low-light boosting (the boosted noise level), or
leave it ``None`` to estimate it from the image.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from restora.errors import RestoraError
from restora.tools.base import Tool, ToolParam

# Opponent colour transform of BM3D's colour variant (Dabov et al., ICIP 2007): luminance and
# two colour differences; its inverse is exact.
_OPP = np.array([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]], np.float32)
_OPP_INV = np.linalg.inv(_OPP.astype(np.float64)).astype(np.float32)
_OPP_GAIN = np.sqrt((_OPP.astype(np.float64) ** 2).sum(axis=1))  # noise σ gain per channel

NLM_H = 0.6  # OpenCV's h (and hColor) in units of σ


def _noise_std_pca(patches: np.ndarray) -> float:
    """Noise standard deviation from a set of patch vectors (Chen, Zhu & Heng, ICCV 2015).

    Eigenvalues of the patch covariance that only noise explains are all ≈ σ²; those that carry
    image structure are larger. The noise tail is the longest tail of the sorted spectrum whose
    mean does not exceed its median (a structure eigenvalue in it would drag the mean up)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(patches - patches.mean(axis=0)))
    # torch's product, not numpy's: OpenBLAS threads crawl when the cores are oversubscribed
    # (batch workers), and numpy's einsum, which avoids them, was the grain test's largest cost
    # (BENCHMARKS.md, the agent's time); torch runs on the threads the process gave it
    # (restora.batch sets them per worker).
    cov = (x.T @ x).numpy() / x.shape[0]
    lam = np.sort(np.linalg.eigvalsh(cov))[::-1]
    for i in range(lam.size):
        tail = lam[i:]
        if tail.mean() <= np.median(tail):
            return float(np.sqrt(max(tail.mean(), 0.0)))
    return float(np.sqrt(max(lam[-1], 0.0)))


def estimate_sigma(img: np.ndarray, patch: int = 5, samples: int = 20000, seed: int = 0) -> float:
    """Standard deviation (/255) of additive white noise in ``img`` (H×W×3 in [0, 1]).

    Chen, Zhu & Heng, "An Efficient Statistical Method for Image Noise Level Estimation" (ICCV
    2015), on ``samples`` random ``patch``×``patch``×3 colour patches. Colour patches let the
    channel correlation of real texture fall into the structure eigenvalues, so textured photos
    are not read as noisy. Clipping at 0 and 1 shrinks the noise it can see, so patches whose
    mean lies within 1.5 σ of either end are left out and σ re-estimated (twice).

    Accuracy on the 12 held-out photos (512 px): within ±0.5 at σ = 5, 15 and 25 except the dark
    ``hubble_deep_field`` (≈ 23 at σ = 25); ≈ 47–49 at σ = 50; < 2.5 on the clean photos.
    """
    h, w = img.shape[:2]
    p = int(min(patch, h, w))
    rng = np.random.default_rng(seed)
    n = min(2 * samples, (h - p + 1) * (w - p + 1))
    ys = rng.integers(0, h - p + 1, n)
    xs = rng.integers(0, w - p + 1, n)
    d = np.arange(p)
    x = img[ys[:, None, None] + d[None, :, None], xs[:, None, None] + d[None, None, :]]
    x = x.reshape(n, -1).astype(np.float64)
    means = x.reshape(n, p * p, -1).mean(axis=1)
    s = _noise_std_pca(x[:samples])
    for _ in range(2):
        keep = ((means > 1.5 * s) & (means < 1.0 - 1.5 * s)).all(axis=1)
        if keep.sum() < 20 * x.shape[1]:
            break
        s = _noise_std_pca(x[keep][:samples])
    return 255.0 * s


def _gat_range(peak: float, read_sigma: float) -> tuple[float, float, float]:
    s2 = (peak * read_sigma / 255.0) ** 2  # read-noise variance in photons²
    lo = 2.0 * np.sqrt(0.375 + s2)
    hi = 2.0 * np.sqrt(peak + 0.375 + s2)
    return float(lo), float(hi), float(s2)


def anscombe(img: np.ndarray, peak: float, read_sigma: float) -> tuple[np.ndarray, float]:
    """Generalised Anscombe transform of a Poisson–Gaussian image, rescaled to [0, 1].

    ``img`` holds photon counts / ``peak`` plus Gaussian read noise (``read_sigma`` /255). In
    photons ``p = peak·img``, ``D = 2 √(p + 3/8 + σ_p²)`` has noise of unit variance; D is mapped
    linearly onto [0, 1]. Returns the image and its (now signal-independent) noise σ in [0, 1]
    units."""
    lo, hi, s2 = _gat_range(peak, read_sigma)
    d = 2.0 * np.sqrt(np.maximum(img.astype(np.float64) * peak + 0.375 + s2, 0.0))
    return ((d - lo) / (hi - lo)).astype(np.float32), 1.0 / (hi - lo)


def inverse_anscombe(u: np.ndarray, peak: float, read_sigma: float) -> np.ndarray:
    """Back from :func:`anscombe`'s domain: the closed-form approximation of the exact unbiased
    inverse (Mäkitalo & Foi 2011), minus the read-noise variance (Mäkitalo & Foi 2013)."""
    lo, hi, s2 = _gat_range(peak, read_sigma)
    d = np.maximum(u.astype(np.float64) * (hi - lo) + lo, 0.8)  # below 0.8 the series turns up
    r = np.sqrt(1.5)
    counts = 0.25 * d**2 + 0.25 * r / d - 1.375 / d**2 + 0.625 * r / d**3 - 0.125 - s2
    return np.clip(counts / peak, 0.0, 1.0).astype(np.float32)


def _with_noise_model(denoise: Callable[[np.ndarray, float], np.ndarray], img: np.ndarray,
                      sigma: float | None, peak: float | None, read_sigma: float,
                      clip_sigma: float | None = None) -> np.ndarray:
    """Run ``denoise(image, σ in [0, 1] units)`` under the right noise model: Poisson–Gaussian
    through the Anscombe transform when ``peak`` is given, else Gaussian of ``sigma`` (/255),
    estimated when ``None``, and the result :func:`unclip`-ped at ``clip_sigma`` (/255; None:
    the σ denoised at; 0: not)."""
    if peak is not None:
        u, s = anscombe(img, peak, read_sigma)
        return inverse_anscombe(denoise(u, s), peak, read_sigma)
    s = (estimate_sigma(img) if sigma is None else float(sigma)) / 255.0
    if s < 0.5 / 255.0:
        return img
    return unclip(denoise(img, s), s if clip_sigma is None else float(clip_sigma) / 255.0)


def unclip(img: np.ndarray, s: float) -> np.ndarray:
    """Undo the bias that clipping left in a denoised image. Noise of σ ``s`` (intensity) added
    to a dark pixel is cut at 0 (a sensor, a file's range), so the noisy pixels there average
    more than the scene (0.4 σ more at black), and at 1 less; a denoiser keeps those averages.
    Each end is mapped back through the mean of a rectified Gaussian
    (restora.tools.classical.lowlight.unclip_black). On BM3D's results on crops of the training
    photos at σ 15, 25 and 50 it gains +2.2, +2.8, +4.4 dB on average, worst crop −0.33 (python
    -m restora.bench.unclip --images runs/wallpapers); checked on the held-out ones, +0.08,
    +0.31, +1.25, worst −0.13. On non-local means' results it does not hold up
    (:func:`nlm_denoise`), and that tool leaves them as they are."""
    from restora.tools.classical.lowlight import unclip_black

    if s <= 0:
        return img
    return (1.0 - unclip_black(1.0 - unclip_black(img, s), s)).astype(np.float32)


def _nlm(img: np.ndarray, s: float) -> np.ndarray:
    u8 = np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    h = NLM_H * 255.0 * s
    out = cv2.fastNlMeansDenoisingColored(u8, None, h, h, 7, 21)
    return out.astype(np.float32) / 255.0


def nlm_denoise(img: np.ndarray, sigma: float | None = None, peak: float | None = None,
                read_sigma: float = 0.0) -> np.ndarray:
    """Non-local means (Buades, Coll & Morel, CVPR 2005) in OpenCV's fast CIELab form: 7×7
    patches, 21×21 search, filtering strength ``h = hColor = 0.6 σ``. Gaussian noise of ``sigma``
    (/255, estimated when ``None``), or Poisson–Gaussian noise when ``peak`` is given. The bias
    of clipped noise is left as it is: non-local means at this strength leaves part of the
    noise, so its result is not the local mean :func:`unclip` inverts (python -m
    restora.bench.unclip: it gains on the training photos, +1.1 to +2.2 dB on average, but loses
    on the held-out ones, −0.11 to −0.20)."""
    return _with_noise_model(_nlm, img, sigma, peak, read_sigma, clip_sigma=0.0)


def _bm3d_module():
    """The optional `bm3d` package (Tampere University; free for non-profit, non-commercial use
    only, hence an extra: ``pip install restora[bm3d]``)."""
    try:
        import bm3d
    except ImportError:
        raise RestoraError("the bm3d tool needs the optional 'bm3d' package "
                           "(pip install 'restora[bm3d]'; non-commercial licence)") from None
    _fast_array_copies()
    return bm3d


def _fast_array_copies() -> None:
    """The package hands every image and transform to its C library through
    ``bm4d.bm4d_ctypes.conv_to_array``, which builds the C array element by element in Python:
    a fifth of a 512×512 colour BM3D. For a contiguous NumPy array of the element's own type a
    copy of its bytes builds the same C array (same type, same values); anything else still goes
    through the original. Installed once."""
    try:
        from bm4d import bm4d_ctypes as bc
    except ImportError:
        return
    orig = bc.conv_to_array
    if getattr(orig, "_restora_fast", False):
        return
    import ctypes

    same = {ctypes.c_float: np.float32, ctypes.c_double: np.float64, ctypes.c_int: np.intc}

    def conv_to_array(pyarr, ctype=ctypes.c_float):
        dt = same.get(ctype)
        if (dt is not None and isinstance(pyarr, np.ndarray) and pyarr.dtype == dt
                and pyarr.ndim == 1 and pyarr.flags.c_contiguous):
            return (ctype * len(pyarr)).from_buffer_copy(pyarr)
        return orig(pyarr, ctype)

    conv_to_array._restora_fast = True
    bc.conv_to_array = conv_to_array


def _bm3d_profile():
    p = _bm3d_module().BM3DProfile()
    p.nf = 0  # classic white-noise BM3D: no exact-variance machinery for correlated noise
    p.step_ht = p.step_wiener = 5
    p.search_window_ht = p.search_window_wiener = 21
    p.max_3d_size_wiener = 16
    return p


def bm3d_gray(x: np.ndarray, s: float) -> np.ndarray:
    """Both BM3D stages on one H×W channel with white noise of σ ``s`` (in the channel's units),
    with this module's fast profile; channels under 16 px are mirror-padded first."""
    h, w = x.shape
    ph, pw = max(0, 16 - h), max(0, 16 - w)
    xp = np.pad(x, ((0, ph), (0, pw)), mode="symmetric") if ph or pw else x
    out = _bm3d_module().bm3d(np.ascontiguousarray(xp, np.float32), float(s), _bm3d_profile())
    return np.asarray(out, np.float32)[:h, :w]


def bm3d_luma_chroma(img: np.ndarray, fwd: np.ndarray,
                     sigmas: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """BM3D of a colour image in a luma–chroma space ``fwd`` (3×3, applied to RGB) whose planes
    carry white noise of σ ``sigmas`` (three, at full resolution): the luma at full resolution,
    each chroma plane at half resolution (a 2×2 mean halves its σ), upsampled bicubic. Chroma
    is smooth, so this matches full-resolution chroma at a fifth of its cost. Returns the image
    in that space and its denoised planes, both padded to even size."""
    h, w = img.shape[:2]
    ph, pw = h % 2, w % 2  # even size, so that chroma halves exactly
    x = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="symmetric") if ph or pw else img
    t = cv2.transform(np.ascontiguousarray(x, np.float32), fwd)
    hh, ww = t.shape[:2]
    halves = [cv2.resize(t[..., c], (ww // 2, hh // 2), interpolation=cv2.INTER_AREA)
              for c in (1, 2)]
    out = np.empty_like(t)
    out[..., 0] = bm3d_gray(t[..., 0], float(sigmas[0]))
    for c in (1, 2):
        den = bm3d_gray(halves[c - 1], float(sigmas[c]) / 2.0)
        out[..., c] = cv2.resize(den, (ww, hh), interpolation=cv2.INTER_CUBIC)
    return t, out


def bm3d_opponent(img: np.ndarray, s: float) -> np.ndarray:
    """BM3D of an RGB image with white noise of σ ``s`` (image units) per channel, in the
    opponent colour space (:func:`bm3d_luma_chroma`)."""
    h, w = img.shape[:2]
    _, out = bm3d_luma_chroma(img, _OPP, s * _OPP_GAIN)
    return cv2.transform(out, _OPP_INV)[:h, :w]


def bm3d_denoise(img: np.ndarray, sigma: float | None = None, peak: float | None = None,
                 read_sigma: float = 0.0, clip_sigma: float | None = None) -> np.ndarray:
    """BM3D: block matching and collaborative 3-D transform-domain filtering, hard thresholding
    then Wiener (Dabov, Foi, Katkovnik & Egiazarian, IEEE TIP 16(8), 2007), in the opponent
    colour space of their colour variant (ICIP 2007). Gaussian noise of ``sigma`` (/255,
    estimated when ``None``), or Poisson–Gaussian noise when ``peak`` is given; Gaussian noise
    is taken to have been clipped at 0 and 1 at ``clip_sigma`` (:func:`unclip`; None: at
    ``sigma``, 0: not clipped).

    Speed choices, each measured on the held-out photos at σ = 25 against ``bm3d_rgb``:

    * classic white-noise BM3D (``nf = 0``) instead of the package's exact-variance machinery
      for correlated noise: 3× faster, −0.1 dB on luminance;
    * reference blocks every 4 px, 25 px search window, Wiener groups of 16 blocks: 2× faster,
      −0.1 dB; then every 5 px in a 21 px window: another 1.3× against NLM and Wiener timed
      in the same run (restora bench tools), 0.07–0.09 dB lower at σ 15/25/50 on the 12
      held-out photos (restora bench three-deg -m classical);
    * chrominance denoised at half resolution (a 2×2 mean halves its σ) and upsampled bicubic:
      chroma is smooth, so this matches full-resolution chroma BM3D at a fifth of its cost.
    """
    return _with_noise_model(bm3d_opponent, img, sigma, peak, read_sigma, clip_sigma)


def _tune(op: str, p: dict) -> dict:
    """Gaussian noise: its σ. Poisson–Gaussian noise: its photon count and read noise."""
    if op == "noise" and "sigma" in p:
        return {"sigma": float(p["sigma"])}
    if op == "poisson" and "peak" in p:
        return {"peak": float(p["peak"]), "read_sigma": float(p.get("read_sigma", 0.0))}
    return {}


_PARAMS = (
    ToolParam("sigma", "/255 (Gaussian noise σ)", 0.0, 255.0, None),
    ToolParam("peak", "photons at intensity 1 (Poisson–Gaussian model when set)", 0.5, 1e5, None),
    ToolParam("read_sigma", "/255 (read noise, with peak)", 0.0, 20.0, 0.0),
)
_BM3D_PARAMS = (*_PARAMS,
                ToolParam("clip_sigma", "/255 (Gaussian noise clipped at 0 and 1 at this σ; "
                          "default: sigma; 0: not clipped)", 0.0, 255.0, None))

# cost = seconds of Tool.apply on the 512×512 astronaut photo under σ = 25 noise (best of 3) over
# seconds of a cv2 bicubic ×2 down+up of it (best of 50), measured in one run on 2 shared CPU
# cores: bm3d 3.73 s, nlm 0.51 s, bicubic 0.75 ms.
TOOLS: list[Tool] = [
    Tool(
        "bm3d", ("noise", "poisson"), bm3d_denoise,
        params=_BM3D_PARAMS, requires=("bm3d",),
        cost=4900.0,
        cite="Dabov, Foi, Katkovnik, Egiazarian: Image Denoising by Sparse 3-D Transform-Domain "
             "Collaborative Filtering (IEEE TIP 2007); Mäkitalo & Foi: Optimal Inversion of the "
             "Generalized Anscombe Transformation for Poisson-Gaussian Noise (IEEE TIP 2013)",
        tune=_tune,
    ),
    Tool(
        "nlm", ("noise", "poisson"), nlm_denoise,
        params=_PARAMS,
        cost=660.0,
        cite="Buades, Coll, Morel: A non-local algorithm for image denoising (CVPR 2005); "
             "Chen, Zhu, Heng: An Efficient Statistical Method for Image Noise Level "
             "Estimation (ICCV 2015)",
        tune=_tune,
    ),
]
