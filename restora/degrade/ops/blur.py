"""Blur operators: camera-shake motion blur and defocus blur.

Kernels are built by pure functions so a label can be re-rendered and a deblurring tool can be
given the true kernel.
"""

from __future__ import annotations

import cv2
import numpy as np


def motion_kernel(length: float, seed: int, size: int | None = None) -> np.ndarray:
    """A camera-shake kernel from a random trajectory (after Boracchi & Foi, 2012).

    The trajectory is a random walk with inertia, seeded, then scaled so that its extent is
    ``length`` pixels; it is splatted with bilinear weights and normalised to sum 1. The same seed
    gives the same shape at every length, so a longer blur is the same shake, stronger.
    """
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    steps = 64
    vel = np.exp(1j * rng.uniform(0, 2 * np.pi))
    pts = np.zeros(steps, dtype=np.complex128)
    for i in range(1, steps):
        turn = rng.normal(0.0, 0.25) + 1j * rng.normal(0.0, 0.25)
        vel = 0.85 * vel + 0.15 * (vel / abs(vel) + turn)
        pts[i] = pts[i - 1] + vel / max(abs(vel), 1e-9)
    pts -= pts.mean()
    extent = max(np.ptp(pts.real), np.ptp(pts.imag), 1e-9)
    pts *= (length - 1) / extent
    size = size or int(np.ceil(length)) | 1
    size = max(size, 3)
    k = np.zeros((size, size), dtype=np.float64)
    c = (size - 1) / 2.0
    sub = np.linspace(0, steps - 1, steps * 8)
    xs = np.interp(sub, np.arange(steps), pts.real) + c
    ys = np.interp(sub, np.arange(steps), pts.imag) + c
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = np.clip(x0 + dx, 0, size - 1), np.clip(y0 + dy, 0, size - 1)
        np.add.at(k, (yi, xi), w)
    return (k / k.sum()).astype(np.float32)


def defocus_kernel(radius: float, kind: str = "disk") -> np.ndarray:
    """Defocus point-spread function: an anti-aliased disk of ``radius`` px (thin-lens model) or
    a Gaussian of standard deviation ``radius``/2 (``kind="gaussian"``). Sums to 1."""
    if kind == "gaussian":
        s = max(radius / 2.0, 1e-3)
        half = int(np.ceil(3 * s))
        x = np.arange(-half, half + 1)
        g = np.exp(-(x**2) / (2 * s * s))
        k = np.outer(g, g)
    else:
        half = int(np.ceil(radius)) + 1
        sup = 8  # supersampling for the anti-aliased edge
        x = (np.arange(-half * sup, (half + 1) * sup) + 0.5) / sup - 0.5
        xx, yy = np.meshgrid(x, x)
        inside = (xx**2 + yy**2 <= radius**2).astype(np.float64)
        n = 2 * half + 1
        k = inside.reshape(n, sup, n, sup).mean(axis=(1, 3))
    return (k / k.sum()).astype(np.float32)


def convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel with ``kernel`` (true convolution, reflected borders)."""
    k = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)
    out = cv2.filter2D(np.ascontiguousarray(img, dtype=np.float32), -1, k,
                       borderType=cv2.BORDER_REFLECT_101)
    return np.clip(out, 0.0, 1.0)


def blur_motion(img: np.ndarray, length: float, seed: int) -> np.ndarray:
    """Motion blur by a random camera-trajectory kernel of extent ``length`` px."""
    return convolve(img, motion_kernel(length, seed))


def blur_defocus(img: np.ndarray, radius: float, kind: str = "disk") -> np.ndarray:
    """Defocus blur by a disk (or Gaussian) PSF of ``radius`` px."""
    return convolve(img, defocus_kernel(radius, kind))
