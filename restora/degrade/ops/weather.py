"""Scene operators: haze, rain streaks, snow, raindrops on the lens, and clouds.

Each renders a physical layer over the clean image. Randomness (where the streaks, flakes and
drops fall) is fixed by ``seed``; a larger severity with the same seed keeps the same layer and
adds to it, so quality falls monotonically with severity.
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.degrade.fields import rng_for, smooth_field, smoothstep


def transmission(beta: float | np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Beer–Lambert transmission t = exp(−β·d); β per unit depth, scalar or per pixel."""
    return np.exp(-np.asarray(beta, dtype=np.float32) * depth).astype(np.float32)


def haze(img: np.ndarray, beta: float | np.ndarray, airlight: float | np.ndarray,
         depth: np.ndarray) -> np.ndarray:
    """Atmospheric scattering model (Koschmieder; RESIDE): I = J·t + A·(1 − t), t = exp(−β·d).

    ``airlight`` A is a grey level or an RGB triple; ``beta`` may be a map (spatially varying
    haze). The output is a convex combination of J and A, so no clipping is needed.
    """
    t = transmission(beta, depth)[..., None]
    a = np.asarray(airlight, dtype=np.float32).reshape(1, 1, -1)
    return (img * t + a * (1.0 - t)).astype(np.float32)


def _line_kernel(length: float, angle_deg: float, width: float) -> np.ndarray:
    """An anti-aliased streak of ``length`` px at ``angle_deg`` from vertical, brighter in the
    middle and fading at both ends (a falling drop over the exposure), peak 1."""
    size = int(np.ceil(length + 4 * width)) | 1
    sup = 4  # rendered 4× finer, then area-averaged: no staircase on slanted streaks
    big = np.zeros((size * sup, size * sup), np.float32)
    c = (size * sup - 1) / 2.0
    a = np.deg2rad(angle_deg)
    dx, dy = np.sin(a) * (length - 1) * sup / 2, np.cos(a) * (length - 1) * sup / 2
    for s in np.linspace(-1, 1, max(int(length * sup * 2), 2)):
        x, y = round(c + s * dx), round(c + s * dy)
        big[y, x] = max(big[y, x], 1.0 - 0.6 * s * s)
    big = cv2.GaussianBlur(big, (0, 0), sup * 0.35)
    k = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    if width > 1.0:
        k = cv2.GaussianBlur(k, (0, 0), (width - 1.0) / 2 + 1e-3)
    return k / k.max()


def rain(img: np.ndarray, density: float, length: float, width: float, angle: float,
         opacity: float, seed: int) -> np.ndarray:
    """Rain streaks in two depth layers, screen-blended (the Rain100L/H rendering model).

    ``density``: fraction of pixels that seed a streak; ``length``/``width`` in px for the near
    layer (the far layer is half as long and thinner); ``angle``: degrees from vertical, shared by
    all streaks up to ±2° (wind); ``opacity``: brightness of the streaks in [0, 1].
    """
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    for depth_i, (lf, wf, bf) in enumerate(((0.5, 0.6, 0.5), (1.0, 1.0, 1.0))):
        rng = rng_for(seed, depth_i)
        u = rng.random((h, w), dtype=np.float32)
        bright = rng.uniform(0.3, 1.0, (h, w)).astype(np.float32)
        jitter = rng.uniform(-2.0, 2.0)
        seeds = np.where(u < density * (1.5 if depth_i == 0 else 1.0), bright, 0.0)
        k = _line_kernel(max(length * lf, 2.0), angle + jitter, max(width * wf, 1.0))
        layer += bf * cv2.filter2D(seeds.astype(np.float32), -1, k,
                                   borderType=cv2.BORDER_REFLECT)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.6)  # streaks are slightly out of focus
    streaks = np.clip(layer * opacity, 0.0, 1.0)[..., None]
    return (1.0 - (1.0 - img) * (1.0 - streaks)).astype(np.float32)


def snow(img: np.ndarray, density: float, size: float, angle: float, opacity: float,
         seed: int) -> np.ndarray:
    """Falling snow in three depth layers (Snow100K-like): far small sharp flakes, mid flakes,
    near large defocused flakes, each smeared along the fall direction and alpha-blended over the
    scene (partial occlusion).

    ``density``: flakes per 10 000 px in total; ``size``: radius of a near flake in px (flake
    radii are log-normally spread within each layer); ``angle``: fall direction in degrees from
    vertical; ``opacity``: peak opacity of a flake.
    """
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    # (share of the flakes, size relative to a near flake, brightness): far, middle, near.
    layers = ((0.6, 0.3, 0.75), (0.3, 0.55, 0.85), (0.1, 1.0, 0.8))
    for i, (share, rel, bright) in enumerate(layers):
        rng = rng_for(seed, 10 + i)
        n_max = int(np.ceil(h * w / 10_000.0 * 40.0 * share))
        xs, ys = rng.uniform(0, w - 1, n_max), rng.uniform(0, h - 1, n_max)
        radii = size * rel * rng.lognormal(0.0, 0.35, n_max)
        tone = rng.uniform(0.7, 1.0, n_max) * bright
        n = round(h * w / 10_000.0 * density * share)
        # Flakes are soft discs: Gaussian splats, grouped by radius (0.5 px bins) for speed.
        bins = np.maximum(np.round(radii[:n] * 2.0) / 2.0, 0.5)
        canvas = np.zeros((h, w), np.float32)
        for rb in np.unique(bins):
            sel = bins == rb
            imp = np.zeros((h, w), np.float32)
            np.add.at(imp, (np.round(ys[:n][sel]).astype(int), np.round(xs[:n][sel]).astype(int)),
                      tone[:n][sel])
            sg = max(float(rb) / 1.5, 0.45)
            canvas += cv2.GaussianBlur(imp, (0, 0), sg) * np.float32(2 * np.pi * sg * sg)
        k = _line_kernel(max(1.0, size * rel * 1.5), angle, 1.0)
        canvas = cv2.filter2D(canvas, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)
        canvas *= float(k.sum()) ** 0.5  # keep flakes bright after smearing
        alpha = 1.0 - (1.0 - alpha) * (1.0 - np.clip(canvas, 0, 1))
    a = (np.clip(alpha * opacity, 0.0, 1.0))[..., None]
    white = np.float32(0.97)
    return (img * (1.0 - a) + white * a).astype(np.float32)


def raindrop(img: np.ndarray, density: float, radius: float, blur: float, seed: int) -> np.ndarray:
    """Water drops on the lens or windscreen (RainDrop-like): each drop is a small convex lens that
    shows an inverted, minified and defocused view of the scene around it, with a darker rim and
    a soft edge.

    ``density``: drops per 100 000 px; ``radius``: typical drop radius in px (log-normal spread,
    slightly taller than wide); ``blur``: defocus of the scene seen through a drop, in px.
    """
    h, w = img.shape[:2]
    rng = rng_for(seed, 20)
    n_max = int(np.ceil(h * w / 100_000.0 * 60.0))
    cx, cy = rng.uniform(0, w, n_max), rng.uniform(0, h, n_max)
    rs = radius * rng.lognormal(0.0, 0.3, n_max)
    elong = rng.uniform(1.0, 1.3, n_max)
    n = round(h * w / 100_000.0 * density)
    map_x, map_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    shade = np.ones((h, w), np.float32)
    mask = np.zeros((h, w), np.float32)
    for x0, y0, r, e in zip(cx[:n], cy[:n], rs[:n], elong[:n]):
        rx, ry = r, r * e
        x1, x2 = int(max(0, x0 - rx - 1)), int(min(w, x0 + rx + 2))
        y1, y2 = int(max(0, y0 - ry - 1)), int(min(h, y0 + ry + 2))
        if x1 >= x2 or y1 >= y2:
            continue
        gx, gy = np.meshgrid(np.arange(x1, x2, dtype=np.float32), np.arange(y1, y2, dtype=np.float32))
        vx, vy = (gx - x0) / rx, (gy - y0) / ry
        rr = vx * vx + vy * vy
        inside = rr < 1.0
        # Lens: inverted and minified view of a wider area around the drop, shifted upward.
        map_x[y1:y2, x1:x2][inside] = (x0 - 2.5 * (gx - x0))[inside]
        map_y[y1:y2, x1:x2][inside] = (y0 - 2.5 * (gy - y0) - 0.8 * ry)[inside]
        height = np.sqrt(np.clip(1.0 - rr, 0.0, 1.0))
        rim = 0.7 + 0.3 * np.sqrt(height)
        spec = 0.25 * np.exp(-(((vx + 0.35) ** 2 + (vy + 0.45) ** 2) / 0.02))
        shade[y1:y2, x1:x2][inside] = (rim + spec)[inside]
        mask[y1:y2, x1:x2] = np.maximum(mask[y1:y2, x1:x2], smoothstep((1.0 - rr) / 0.25))
    if blur > 0:
        seen = cv2.GaussianBlur(img, (0, 0), blur, borderType=cv2.BORDER_REFLECT_101)
    else:
        seen = img
    refr = cv2.remap(seen, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    refr = np.clip(refr * shade[..., None], 0.0, 1.0)
    m = mask[..., None]
    return (img * (1.0 - m) + refr * m).astype(np.float32)


def cloud(img: np.ndarray, coverage: float, thickness: float, seed: int) -> np.ndarray:
    """Thick cloud over a remote-sensing tile: a fractal low-frequency white layer with soft
    edges. ``coverage``: fraction of the tile under cloud; ``thickness``: opacity at the core."""
    h, w = img.shape[:2]
    f = smooth_field((h, w), max(min(h, w) / 2.5, 8.0), seed, octaves=5, persistence=0.55)
    thr = np.quantile(f, 1.0 - coverage) if coverage < 1 else f.min() - 1
    a = smoothstep((f - thr) / 0.15) * np.float32(thickness)
    tint = (0.88 + 0.1 * f)[..., None]
    a = a[..., None]
    return np.clip(img * (1.0 - a) + tint * a, 0.0, 1.0).astype(np.float32)
