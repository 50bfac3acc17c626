"""Benchmark suites of shared/PROTOCOLS.md: fixed, seeded lists of (clean image, recipe).

Each item names its *case* (the column a table groups by, e.g. "noise σ25" or "A: haze+noise")
and carries its own seed, so a suite is the same list on every run and machine. Datasets of the
papers cannot be downloaded here; every suite synthesises the same degradation on the clean set
(default: the scikit-image photographs, ≤ 512 px), and reports say so.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from restora.data import image_paths, resize_max, skimage_photos
from restora.errors import RestoraError


@dataclass(frozen=True)
class Item:
    suite: str
    case: str
    image: str
    recipe: str
    seed: int
    domain: str = "natural"


# case name → recipe; per suite.
L, H, R, S = "low_light=0.5", "haze=0.5", "rain=0.5", "snow=0.5"
SUITES: dict[str, dict[str, str]] = {
    "three-deg": {"noise σ15": "noise=15", "noise σ25": "noise=25", "noise σ50": "noise=50",
                  "haze": "haze=0.5", "rain": "rain=0.3"},
    "five-deg": {"noise σ25": "noise=25", "haze": "haze=0.5", "rain": "rain=0.3",
                 "motion blur": "blur_motion=0.5", "low light": "low_light=0.5"},
    "weather": {"snow": "snow=0.6", "rain+haze": "rain=0.5,haze=0.4", "raindrop": "raindrop=0.6"},
    "cdd11": {"L": L, "H": H, "R": R, "S": S, "L+H": f"{L},{H}", "L+R": f"{L},{R}",
              "L+S": f"{L},{S}", "H+R": f"{H},{R}", "H+S": f"{H},{S}", "L+H+R": f"{L},{H},{R}",
              "L+H+S": f"{L},{H},{S}"},
    "composite": {
        "A: noise+jpeg": "noise=0.5,jpeg=0.5", "A: defocus+jpeg": "blur_defocus=0.5,jpeg=0.5",
        "A: haze+noise": "haze=0.5,noise=0.5", "A: low_light+noise": "low_light=0.5,noise=0.3",
        "A: rain+haze": "rain=0.5,haze=0.5",
        "B: motion+noise": "blur_motion=0.5,noise=0.5", "B: low_res+noise": "low_res=0.5,noise=0.5",
        "B: low_res+jpeg": "low_res=0.5,jpeg=0.5", "B: haze+low_light": "haze=0.5,low_light=0.5",
        "B: snow+noise": "snow=0.5,noise=0.5",
        "C: haze+noise+jpeg": "haze=0.5,noise=0.5,jpeg=0.5",
        "C: low_light+blur+noise": "low_light=0.5,blur_defocus=0.5,noise=0.3",
        "C: rain+haze+noise": "rain=0.5,haze=0.5,noise=0.5",
        "C: low_res+noise+jpeg": "low_res=0.5,noise=0.5,jpeg=0.5",
        "C: defocus+haze+noise": "blur_defocus=0.5,haze=0.5,noise=0.5",
        "C: snow+haze+jpeg": "snow=0.5,haze=0.5,jpeg=0.5"},
    "spatial": {"haze@blob": "haze=0.7@blob", "noise@half": "noise=25@half",
                "rain@segment": "rain=0.6@segment", "haze@half+noise@blob": "haze=0.6@half,noise=20@blob",
                "defocus@blob+jpeg": "blur_defocus=0.5@blob,jpeg=0.5",
                "low_light@half+noise@blob": "low_light=0.5@half,noise=15@blob",
                "haze@blob+noise@half+jpeg@segment": "haze=0.6@blob,noise=25@half,jpeg=0.5@segment"},
    "severity": {"noise σ60": "noise=60", "noise σ100": "noise=100", "haze β1.1": "haze=beta:1.125",
                 "haze β1.75": "haze=beta:1.75", "haze β2.4": "haze=beta:2.375", "haze β3": "haze=beta:3",
                 "haze β4.5 (unseen)": "haze=beta:4.5",
                 "low light ×0.03": "low_light=scale:0.03;gamma:3.5", "jpeg q5": "jpeg=5"},
    # One case per classical tool's own degradation (the toolbox check of the tools issue).
    "toolbox": {"noise σ25": "noise=25", "poisson": "poisson=0.5", "motion blur": "blur_motion=0.5",
                "defocus": "blur_defocus=0.5", "jpeg q20": "jpeg=20", "low_res ×2": "low_res=2",
                "low_res ×4": "low_res=4", "haze": "haze=0.5", "rain": "rain=0.5", "snow": "snow=0.5",
                "low light": "low_light=0.5", "contrast": "contrast=0.6",
                "saturation": "saturation=0.6"},
    "unseen": {"raindrop": "raindrop=0.6", "contrast": "contrast=0.6", "saturation": "saturation=0.6"},
}
# Multi-domain (DATPRL-IR): natural, medical-like (grayscale, CT-like noise, MRI-like SR) and
# remote-sensing-like (SR, haze, cloud) stand-ins built from the same photographs.
MULTIDOMAIN = {"natural ×4 SR": ("low_res=4", "natural"), "natural derain": ("rain=0.5", "natural"),
               "medical CT noise": ("ct_noise=0.6", "medical"), "medical MRI ×2 SR": ("low_res=2", "medical"),
               "remote ×4 SR": ("low_res=4", "remote"), "remote haze": ("haze=0.5", "remote"),
               "remote cloud": ("cloud=0.5", "remote")}
# Camera-made noise and under-exposure (restora.degrade.camera: Bayer mosaic, Poisson-Gaussian
# noise in linear light, demosaicing, tone curve, JPEG q90), not in shared/PROTOCOLS.md: the
# stand-in for real noisy and low-light photographs (SIDD, DND, LOL), whose noise the
# synthesiser's per-pixel operators do not imitate. Photons are counted at full scale of a
# well-exposed frame; the reference is the clean photo (so the demosaicing's own error stays in).
CAMERA: dict[str, dict[str, float]] = {
    "noise, 100 photons": {"photons": 100.0},
    "noise, 25 photons": {"photons": 25.0},
    "noise, 8 photons": {"photons": 8.0},
    "dark ×1/8": {"exposure": 0.125, "photons": 800.0},
    "dark ×1/20": {"exposure": 0.05, "photons": 800.0},
}
CAMERA_PREFIX = "camera:"
NAMES = (*SUITES, "multidomain", "camera")


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode()) & 0x7FFFFFFF


def clean_set(folder: str | None = None, max_side: int = 512) -> list[tuple[str, np.ndarray]]:
    """The clean images: the scikit-image photographs, or every image of ``folder``."""
    if folder is None:
        return skimage_photos(max_side)
    from restora.io import read_image

    return [(p.name, resize_max(read_image(p), max_side)) for p in image_paths(folder)]


def items(suite: str, names: list[str]) -> list[Item]:
    """The fixed item list of ``suite`` for clean images called ``names``."""
    if suite == "multidomain":
        return [Item(suite, case, n, rec, _seed(suite, case, n), dom)
                for case, (rec, dom) in MULTIDOMAIN.items() for n in names]
    if suite == "camera":
        return [Item(suite, case, n, CAMERA_PREFIX + ",".join(f"{k}={v:g}" for k, v in p.items()),
                     _seed(suite, case, n))
                for case, p in CAMERA.items() for n in names]
    if suite not in SUITES:
        raise RestoraError(f"unknown suite '{suite}' (known: {', '.join(NAMES)})")
    return [Item(suite, case, n, rec, _seed(suite, case, n))
            for case, rec in SUITES[suite].items() for n in names]


def domain_view(img: np.ndarray, domain: str) -> np.ndarray:
    """The clean image as seen in ``domain``: medical-like slices are grayscale."""
    if domain == "medical":
        from restora._image import to_gray

        return np.repeat(to_gray(img)[..., None], 3, axis=2)
    return img


def render(ref: np.ndarray, it: Item):
    """(degraded image, restora.degrade Label) of item ``it`` on its clean image ``ref``. A
    camera item's label lists no operator (the camera pipeline is not one of them)."""
    from restora.degrade import degrade

    if it.recipe.startswith(CAMERA_PREFIX):
        from restora.degrade.camera import camera_capture

        params = dict(kv.split("=") for kv in it.recipe[len(CAMERA_PREFIX):].split(","))
        _, label = degrade(ref, [], seed=it.seed)
        return camera_capture(ref, seed=it.seed, **{k: float(v) for k, v in params.items()}), label
    return degrade(ref, it.recipe, seed=it.seed)
