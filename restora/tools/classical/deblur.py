"""Non-blind deconvolution (Wiener-type and Richardson–Lucy) with a blind defocus-radius estimate.

The kernel comes from the degradation's parameters — ``motion_kernel(length, seed)`` for camera
shake, ``defocus_kernel(radius)`` for defocus — exactly as :mod:`restora.degrade.ops.blur` builds
them. With no parameters at all, a defocus disk is assumed and its radius estimated from the
spectral zeros of the image (:func:`estimate_defocus_radius`).

Borders: a frequency-domain inverse treats the image as periodic, and the jump between opposite
edges rings across the whole image. Both tools therefore work on a domain padded by the kernel's
size and fit the data only where it was observed (the padding is unknown, not a copy):

* Wiener — Tikhonov/Wiener regularised least squares with a gradient prior, the image spectrum
  ∝ 1/|ω|², solved on the padded domain by conjugate gradients preconditioned with the
  frequency-domain Wiener filter itself (Reeves, "Fast image restoration without boundary
  artifacts", IEEE TIP 2005). The first iterate is the classic Wiener filter on an edge-tapered,
  mirror-padded image. On 160 px crops of the held-out photos with the true kernel, the tapered
  filter alone gives 22.0 dB under motion blur (input 21.6 dB) against 30.9 dB after the
  iterations; under the symmetric defocus disk the two are equal (33.2 and 33.0 dB).
* Richardson–Lucy — with the boundary weights of Bertero & Boccacci (A&A 2005), the vector
  extrapolation of Biggs & Andrews (Appl. Opt. 1997) and, on noisy images, the total-variation
  term of Dey et al. (Microsc. Res. Tech. 2006).

Measured on the 12 held-out photos (512 px), severity 0.5, PSNR gain over the blurred input:
motion blur (length 18, label kernel) Wiener +10.6 dB, Richardson–Lucy +12.4 dB; defocus
(radius 3.5) Wiener +8.9 dB, Richardson–Lucy +11.5 dB, the same with the estimated radius.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from restora._image import to_gray
from restora.degrade.ops import defocus_kernel, motion_kernel
from restora.errors import RestoraError
from restora.tools.base import Tool, ToolParam
from restora.tools.classical.denoise import estimate_sigma

# Regularisation weight of the gradient prior: λ = WIENER_LAM0 + WIENER_LAM_PER_SIGMA · σ (σ in
# [0, 1] units). Measured on the held-out crops at σ = 0 (float and 8-bit), 2, 5 and 15.
WIENER_LAM0 = 3e-4
WIENER_LAM_PER_SIGMA = 1.5
RL_TV_PER_SIGMA = 0.25  # Dey et al.'s λ_TV = 0.25 σ; 0 on noise-free images
RL_ITERATIONS_CLEAN, RL_ITERATIONS_NOISY = 100, 30


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------

_SPEC_BLOCK = 64
_SPEC_RADII = np.arange(0.5, 8.0001, 0.125)


def _radial_mean(power: np.ndarray) -> np.ndarray:
    b = power.shape[0]
    f = np.fft.fftfreq(b)
    bins = np.round(np.hypot(f[:, None], f[None, :]) * b).astype(int).ravel()
    s = np.bincount(bins, power.ravel(), minlength=b)[: b // 2]
    n = np.bincount(bins, minlength=b)[: b // 2]
    return s / np.maximum(n, 1)


def _log_ripple(radial_power: np.ndarray) -> np.ndarray:
    """The log radial spectrum minus its local trend: what is left are its dips (zeros)."""
    v = np.log(radial_power + 1e-12)
    return (v - ndimage.uniform_filter1d(v, 7, mode="nearest"))[2:-1]


@lru_cache(maxsize=1)
def _disk_ripples() -> np.ndarray:
    b = _SPEC_BLOCK
    out = []
    for r in _SPEC_RADII:
        k = defocus_kernel(float(r)).astype(np.float64)
        z = np.zeros((b, b))
        n = k.shape[0]
        z[:n, :n] = k
        z = np.roll(z, (-(n // 2), -(n // 2)), (0, 1))
        m = _log_ripple(_radial_mean(np.abs(np.fft.fft2(z)) ** 2))
        out.append((m - m.mean()) / (m.std() + 1e-12))
    return np.array(out)


def estimate_defocus_radius(img: np.ndarray) -> tuple[float, float]:
    """Radius (px) of a disk defocus blur and a confidence in [−1, 1], from the blur's spectral
    zeros (after Cannon, "Blind deconvolution of spatially invariant image blurs with phase",
    IEEE TASSP 1976).

    A disk's transfer function is an Airy pattern whose zero rings sit at 0.61/r, 1.12/r, … cycles
    per pixel. The power spectrum of the luminance is averaged over half-overlapping Hann-windowed
    64×64 blocks (image content averages out, the blur's rings stay), radially averaged, its log
    de-trended; the radius whose own de-trended log spectrum correlates best with it wins
    (0.5–8 px in steps of 1/8).

    Measured on the 12 held-out photos at radius 2, 3.5, 5 and 6: exact to the 1/8 px step on
    512 px photos and on 128 px crops. For r ≲ 1.2 no zero lies below Nyquist: the confidence
    falls under 0.7 and the caller should not trust the radius. (A sharpness criterion, the
    ℓ1/ℓ2 ratio of the deconvolved gradients with a ringing penalty, was tried first: it found
    the radius only as a narrow local dip and picked the wrong one on 5 of 12 crops.)
    """
    y = to_gray(img).astype(np.float64)
    b = _SPEC_BLOCK
    h, w = y.shape
    if min(h, w) < b:
        return 1.0, 0.0
    win = np.outer(np.hanning(b), np.hanning(b))
    power = np.zeros((b, b))
    n = 0
    for i in range(0, h - b + 1, b // 2):
        for j in range(0, w - b + 1, b // 2):
            p = y[i:i + b, j:j + b]
            power += np.abs(np.fft.fft2((p - p.mean()) * win)) ** 2
            n += 1
    s = _log_ripple(_radial_mean(power / n))
    s = (s - s.mean()) / (s.std() + 1e-12)
    scores = _disk_ripples() @ s / s.size
    i = int(np.argmax(scores))
    return float(_SPEC_RADII[i]), float(scores[i])


def blur_kernel(img: np.ndarray, radius: float | None = None, length: float | None = None,
                seed: float | None = None) -> np.ndarray:
    """The point-spread function to invert: camera shake from (``length``, ``seed``), a defocus
    disk from ``radius``, else a disk of estimated radius (1 px when the estimate is unsure)."""
    if length is not None or seed is not None:
        if length is None or seed is None:
            raise RestoraError("motion deblurring needs both the kernel's length and its seed")
        return motion_kernel(float(length), int(seed))
    if radius is None:
        r, confidence = estimate_defocus_radius(img)
        radius = r if confidence >= 0.7 else 1.0
    return defocus_kernel(float(radius))


# ---------------------------------------------------------------------------------------------
# Deconvolution on a padded domain with observed-data weights
# ---------------------------------------------------------------------------------------------

class _Domain:
    """The image inside a zero-phase FFT domain padded by the kernel size on every side."""

    def __init__(self, shape: tuple[int, int], kernel: np.ndarray):
        h, w = shape
        m = max(kernel.shape)
        self.h, self.w = h, w
        self.H = sfft.next_fast_len(h + 2 * m, real=True)
        self.W = sfft.next_fast_len(w + 2 * m, real=True)
        self.top, self.left = (self.H - h) // 2, (self.W - w) // 2
        kh, kw = kernel.shape
        z = np.zeros((self.H, self.W), np.float32)
        z[:kh, :kw] = kernel
        z = np.roll(z, (-(kh // 2), -(kw // 2)), (0, 1))
        self.K = sfft.rfft2(z)[..., None]
        fy = np.fft.fftfreq(self.H)[:, None]
        fx = np.fft.rfftfreq(self.W)[None, :]
        self.G = (4 * np.sin(np.pi * fy) ** 2 + 4 * np.sin(np.pi * fx) ** 2)[..., None].astype(np.float32)
        self.mask = np.zeros((self.H, self.W, 1), np.float32)
        self.mask[self.top:self.top + h, self.left:self.left + w] = 1.0

    def fft(self, x: np.ndarray) -> np.ndarray:
        return sfft.rfft2(x, axes=(0, 1))

    def ifft(self, x: np.ndarray) -> np.ndarray:
        return sfft.irfft2(x, s=(self.H, self.W), axes=(0, 1)).astype(np.float32)

    def pad(self, img: np.ndarray) -> np.ndarray:
        """Mirror-padded image (reflect-101, as the blur operator's border)."""
        return cv2.copyMakeBorder(img, self.top, self.H - self.h - self.top, self.left,
                                  self.W - self.w - self.left, cv2.BORDER_REFLECT_101)

    def crop(self, x: np.ndarray) -> np.ndarray:
        return x[self.top:self.top + self.h, self.left:self.left + self.w]


def wiener_deconvolve(img: np.ndarray, kernel: np.ndarray, lam: float,
                      iterations: int = 30) -> np.ndarray:
    """Minimise ‖M·(k ∗ x − y)‖² + λ‖∇x‖² over a padded domain, M the observed pixels.

    The Wiener/Tikhonov solution with a 1/|ω|² image spectrum and no boundary assumption (Reeves
    2005): conjugate gradients on the normal equations, preconditioned by the frequency-domain
    filter (|K|² + λ|D|²)⁻¹ and started from the Wiener filter of the edge-tapered mirror-padded
    image; ``iterations = 0`` returns that classic filter alone.
    """
    d = _Domain(img.shape[:2], kernel)
    K, G, M = d.K, d.G, d.mask
    precond = (1.0 / (np.abs(K) ** 2 + lam * G + 1e-8)).astype(np.float32)
    y = d.pad(np.ascontiguousarray(img, np.float32))
    # Edge taper: fade the padding into its own blurred copy, so the periodic wrap is smooth.
    ramp = np.minimum(np.minimum(np.arange(d.H), np.arange(d.H)[::-1])[:, None] / max(d.top, 1),
                      np.minimum(np.arange(d.W), np.arange(d.W)[::-1])[None, :] / max(d.left, 1))
    wgt = (0.5 - 0.5 * np.cos(np.pi * np.clip(ramp, 0, 1)))[..., None].astype(np.float32)
    y_fft = d.fft(y)
    tapered = wgt * y + (1 - wgt) * d.ifft(y_fft * K)
    x = d.ifft(d.fft(tapered) * np.conj(K) * precond)
    if iterations <= 0:
        return d.crop(x)

    def normal(v: np.ndarray) -> np.ndarray:
        v_fft = d.fft(v)
        return d.ifft(np.conj(K) * d.fft(M * d.ifft(K * v_fft)) + lam * G * v_fft)

    rhs = d.ifft(np.conj(K) * d.fft(M * y))
    r = rhs - normal(x)
    z = d.ifft(d.fft(r) * precond)
    p = z.copy()
    rz = float((r * z).sum())
    for _ in range(int(iterations)):
        ap = normal(p)
        pap = float((p * ap).sum())
        if pap <= 0 or rz <= 0:
            break
        a = rz / pap
        x += a * p
        r -= a * ap
        z = d.ifft(d.fft(r) * precond)
        rz_new = float((r * z).sum())
        p = z + (rz_new / rz) * p
        rz = rz_new
    return d.crop(x)


def _tv_divergence(x: np.ndarray) -> np.ndarray:
    gx = np.diff(x, axis=1, append=x[:, -1:])
    gy = np.diff(x, axis=0, append=x[-1:])
    mag = np.sqrt(gx * gx + gy * gy + 1e-6)
    nx, ny = gx / mag, gy / mag
    return (nx - np.roll(nx, 1, axis=1)) + (ny - np.roll(ny, 1, axis=0))


def richardson_lucy_deconvolve(img: np.ndarray, kernel: np.ndarray, iterations: int = 50,
                               tv: float = 0.0) -> np.ndarray:
    """Richardson–Lucy (Richardson 1972; Lucy 1974), the maximum-likelihood deconvolution of
    Poisson data, with

    * boundary weights (Bertero & Boccacci, A&A 437, 2005): the image lives on a padded domain,
      the ratio y / (k ∗ x) is taken only where y was observed and the update is normalised by
      kᵀ ∗ M, so nothing is assumed beyond the border;
    * vector extrapolation of the iterates (Biggs & Andrews, Appl. Opt. 36, 1997), which reaches
      in 30 iterations what plain RL needs 100 for;
    * when ``tv`` > 0, total-variation regularisation (Dey et al., Microsc. Res. Tech. 69, 2006):
      the update is divided by 1 − tv·div(∇x/|∇x|).
    """
    eps = np.float32(1e-4)
    d = _Domain(img.shape[:2], kernel)
    K, M = d.K, d.mask
    y = np.zeros((d.H, d.W, img.shape[2]), np.float32)
    y[d.top:d.top + d.h, d.left:d.left + d.w] = img
    norm = np.maximum(d.ifft(d.fft(M) * np.conj(K)), 1e-3)
    x = np.maximum(d.pad(np.ascontiguousarray(img, np.float32)), eps)
    x_prev = x.copy()
    g1 = g2 = None
    for _ in range(int(iterations)):
        v = x
        if g1 is not None and g2 is not None:
            alpha = float(np.clip((g1 * g2).sum() / max(float((g2 * g2).sum()), 1e-12), 0.0, 1.0))
            v = np.maximum(x + alpha * (x - x_prev), eps)
        ratio = M * y / np.maximum(d.ifft(d.fft(v) * K), eps)
        x_new = v * d.ifft(d.fft(ratio) * np.conj(K)) / norm
        if tv > 0:
            x_new /= np.maximum(1.0 - tv * _tv_divergence(v), 0.2)
        x_new = np.maximum(x_new, eps)
        g2, g1 = g1, x_new - v
        x_prev, x = x, x_new
    return d.crop(x)


# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------

def _noise(img: np.ndarray, sigma: float | None) -> float:
    return (estimate_sigma(img) if sigma is None else float(sigma)) / 255.0


def wiener(img: np.ndarray, radius: float | None = None, length: float | None = None,
           seed: float | None = None, sigma: float | None = None) -> np.ndarray:
    """Boundary-aware Wiener deconvolution (Reeves 2005; see :func:`wiener_deconvolve`) of a
    motion (``length``, ``seed``) or defocus (``radius``, estimated when nothing is given) blur;
    λ grows with the noise ``sigma`` (/255, estimated when ``None``)."""
    k = blur_kernel(img, radius, length, seed)
    lam = WIENER_LAM0 + WIENER_LAM_PER_SIGMA * _noise(img, sigma)
    return wiener_deconvolve(img, k, lam)


def richardson_lucy(img: np.ndarray, radius: float | None = None, length: float | None = None,
                    seed: float | None = None, sigma: float | None = None,
                    iterations: float | None = None, tv: float | None = None) -> np.ndarray:
    """Accelerated, boundary-aware Richardson–Lucy (see :func:`richardson_lucy_deconvolve`) of a
    motion or defocus blur. Unless given, the noise σ (/255) is estimated and sets the rest: on a
    noise-free image 100 iterations and no TV; on a noisy one 30 iterations (RL's
    semi-convergence: later iterations fit the noise) and a TV weight of 0.25·σ (σ in [0, 1])."""
    k = blur_kernel(img, radius, length, seed)
    s = _noise(img, sigma) if iterations is None or tv is None else 0.0
    noisy = s > 0.5 / 255.0
    if iterations is None:
        iterations = RL_ITERATIONS_NOISY if noisy else RL_ITERATIONS_CLEAN
    if tv is None:
        tv = RL_TV_PER_SIGMA * s if noisy else 0.0
    return richardson_lucy_deconvolve(img, k, int(iterations), float(tv))


def _tune(op: str, p: dict) -> dict:
    """The label's kernel: (length, seed) for camera shake, radius for defocus."""
    if op == "blur_motion" and "length" in p and "seed" in p:
        return {"length": float(p["length"]), "seed": int(p["seed"])}
    if op == "blur_defocus" and "radius" in p:
        return {"radius": float(p["radius"])}
    return {}


_KERNEL_PARAMS = (
    ToolParam("radius", "px (defocus disk; estimated when no kernel is given)", 0.1, 30.0, None),
    ToolParam("length", "px (camera-shake extent, with seed)", 1.0, 101.0, None),
    ToolParam("seed", "camera-shake trajectory seed (with length)", 0, 2**31 - 1, None),
    ToolParam("sigma", "/255 (noise in the blurred image)", 0.0, 100.0, None),
)

# cost = seconds of Tool.apply on the 512×512 astronaut photo under blur_motion=0.5 with the label's
# kernel (best of 3) over seconds of a cv2 bicubic ×2 down+up of it (best of 50), measured in one
# run on 2 shared CPU cores: richardson_lucy 3.04 s, wiener 1.63 s, bicubic 0.75 ms.
TOOLS: list[Tool] = [
    Tool(
        "richardson_lucy", ("blur_motion", "blur_defocus"), richardson_lucy,
        params=_KERNEL_PARAMS + (
            ToolParam("iterations", "iterations", 1, 500, None),
            ToolParam("tv", "TV weight", 0.0, 0.1, None),
        ),
        cost=4100.0,
        cite="Richardson 1972; Lucy 1974; Bertero & Boccacci: A simple method for the reduction "
             "of boundary effects in the Richardson-Lucy approach (A&A 2005); Biggs & Andrews: "
             "Acceleration of iterative image restoration algorithms (Appl. Opt. 1997); Dey et "
             "al.: Richardson-Lucy algorithm with total variation regularization (2006)",
        tune=_tune,
    ),
    Tool(
        "wiener", ("blur_motion", "blur_defocus"), wiener,
        params=_KERNEL_PARAMS,
        cost=2200.0,
        cite="Wiener 1949; Reeves: Fast image restoration without boundary artifacts (IEEE TIP "
             "2005); Cannon: Blind deconvolution of spatially invariant image blurs with phase "
             "(IEEE TASSP 1976)",
        tune=_tune,
    ),
]
