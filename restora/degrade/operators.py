"""The table of degradation operators: parameters, severity mapping, physical order.

One row per operator of shared/PROTOCOLS.md. Severity s ∈ (0, 1] maps each *driven* parameter
from its mild value (s → 0) to its heaviest (s = 1); *nuisance* parameters (angles, airlight,
the noise seed) are drawn by a seeded generator and do not depend on s, so with one seed a
higher severity is the same degradation, stronger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from restora.degrade import ops
from restora.degrade.fields import synthetic_depth
from restora.errors import RestoraError, lookup

# Physical order of composition: scene → optics → resolution → sensor → compression.
STAGES = ("scene", "optics", "resolution", "sensor", "compression")


@dataclass(frozen=True)
class Param:
    """One physical parameter. Driven by severity when ``mild``/``heavy`` are set (log-linear
    when ``log``), otherwise drawn uniformly from ``draw``. ``valid`` bounds explicit values."""

    name: str
    unit: str
    valid: tuple[float, float]
    mild: float | None = None
    heavy: float | None = None
    log: bool = False
    draw: tuple[float, float] | None = None
    integer: bool = False

    def at(self, s: float) -> float:
        assert self.mild is not None and self.heavy is not None
        if self.log:
            v = float(np.exp(np.log(self.mild) + s * (np.log(self.heavy) - np.log(self.mild))))
        else:
            v = self.mild + s * (self.heavy - self.mild)
        return float(round(v)) if self.integer else v

    def severity_of(self, v: float) -> float:
        assert self.mild is not None and self.heavy is not None
        if self.log:
            return float((np.log(v) - np.log(self.mild)) / (np.log(self.heavy) - np.log(self.mild)))
        return float((v - self.mild) / (self.heavy - self.mild))


Render = Callable[[np.ndarray, dict, "np.ndarray | None"], tuple[np.ndarray, dict]]


@dataclass(frozen=True)
class Operator:
    """A degradation: its parameters, where it sits in the physical order, how it renders."""

    name: str
    stage: str
    params: tuple[Param, ...]
    render: Render
    stochastic: bool = True
    domain: str = "natural"
    doc: str = ""
    by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})

    @property
    def primary(self) -> Param:
        """The parameter a bare number in a recipe sets (the first driven one)."""
        return next(p for p in self.params if p.mild is not None)

    @property
    def order(self) -> tuple[int, int]:
        return STAGES.index(self.stage), list(OPERATORS).index(self.name)

    def params_for(self, severity: float, rng: np.random.Generator,
                   explicit: dict[str, float] | None = None) -> dict[str, float]:
        """All parameters for ``severity``; nuisance ones drawn from ``rng``; ``explicit`` wins."""
        out: dict[str, float] = {}
        for p in self.params:
            if p.mild is not None:
                out[p.name] = p.at(severity)
            else:
                lo, hi = p.draw or p.valid
                v = float(rng.uniform(lo, hi))
                out[p.name] = float(round(v)) if p.integer else v
        if self.stochastic:
            out["seed"] = int(rng.integers(0, 2**31 - 1))
        for k, v in (explicit or {}).items():
            out[k] = self.check(k, v)
        return out

    def check(self, key: str, value: float) -> float:
        """Validate an explicit parameter value; RestoraError names the valid range."""
        if key == "seed" and self.stochastic:
            return int(value)
        if key not in self.by_name:
            known = ", ".join(self.by_name) + (", seed" if self.stochastic else "")
            raise RestoraError(f"{self.name} has no parameter '{key}' (known: {known})")
        p = self.by_name[key]
        lo, hi = p.valid
        if not lo <= value <= hi:
            raise RestoraError(f"{self.name} {key}={value:g} is out of range [{lo:g}, {hi:g}] {p.unit}")
        return float(round(value)) if p.integer else float(value)

    def severity_of(self, params: dict[str, float]) -> float:
        """Severity implied by the primary parameter (may exceed 1 for unseen, heavier levels)."""
        return self.primary.severity_of(params[self.primary.name])


def _blend(fn: Callable[..., np.ndarray]) -> Render:
    """Render = fn on the whole image, blended in through the mask (out = M·op + (1 − M)·img)."""

    def render(img: np.ndarray, p: dict, mask: np.ndarray | None) -> tuple[np.ndarray, dict]:
        out = fn(img, **p)
        if mask is None:
            return out, {}
        m = mask[..., None]
        return (m * out + (1.0 - m) * img).astype(np.float32), {}

    return render


def _render_haze(img: np.ndarray, p: dict, mask: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """Spatial haze varies β (density of the medium) rather than blending two images."""
    depth = synthetic_depth(img.shape[:2], p["seed"])
    beta = p["beta"] if mask is None else p["beta"] * mask
    out = ops.haze(img, beta, p["airlight"], depth)
    t = ops.transmission(beta, depth)
    return out, {"haze_t": t, "haze_airlight": np.float32(p["airlight"])}


def _noise(img, sigma, seed):
    return ops.gaussian_noise(img, sigma, seed)


def _poisson(img, peak, read_sigma, seed):
    return ops.poisson_gaussian(img, peak, read_sigma, seed)


def _rain(img, density, length, width, angle, opacity, seed):
    return ops.rain(img, density, length, width, angle, opacity, seed)


def _defocus(img, radius):
    return ops.blur_defocus(img, radius)


_OPS = [
    Operator("haze", "scene", (
        Param("beta", "per unit depth", (0.0, 10.0), 0.5, 3.0),
        Param("airlight", "intensity", (0.0, 1.0), draw=(0.7, 1.0)),
    ), _render_haze, doc="atmospheric scattering I = J·t + A·(1−t), t = exp(−β·d)"),
    Operator("cloud", "scene", (
        Param("coverage", "fraction", (0.0, 1.0), 0.15, 0.75),
        Param("thickness", "opacity", (0.0, 1.0), 0.5, 0.95),
    ), _blend(ops.cloud), domain="remote", doc="thick low-frequency cloud layer (remote sensing)"),
    Operator("rain", "scene", (
        Param("density", "streak seeds per px", (0.0, 0.2), 0.001, 0.008, log=True),
        Param("length", "px", (1.0, 200.0), 10.0, 35.0),
        Param("width", "px", (1.0, 6.0), 1.0, 1.6),
        Param("opacity", "intensity", (0.0, 1.0), 0.35, 0.65),
        Param("angle", "degrees from vertical", (-60.0, 60.0), draw=(-25.0, 25.0)),
    ), _blend(_rain), doc="two-layer streaks, screen-blended"),
    Operator("snow", "scene", (
        Param("density", "flakes per 10 000 px", (0.0, 40.0), 3.0, 35.0, log=True),
        Param("size", "px (near-flake radius)", (0.5, 30.0), 2.0, 4.0),
        Param("opacity", "intensity", (0.0, 1.0), 0.6, 0.95),
        Param("angle", "degrees from vertical", (-60.0, 60.0), draw=(-20.0, 20.0)),
    ), _blend(ops.snow), doc="three layers of flakes with motion, partial occlusion"),
    Operator("raindrop", "scene", (
        Param("density", "drops per 100 000 px", (0.0, 60.0), 3.0, 20.0, log=True),
        Param("radius", "px", (1.0, 80.0), 6.0, 14.0),
        Param("blur", "px", (0.0, 20.0), 2.0, 5.0),
    ), _blend(ops.raindrop), doc="refractive, defocused drops on the lens"),
    Operator("low_light", "scene", (
        Param("scale", "exposure factor", (0.005, 1.0), 0.5, 0.05, log=True),
        Param("gamma", "tone exponent", (1.0, 5.0), 1.5, 3.5),
        Param("peak", "photons at full scale", (10.0, 1e5), draw=(300.0, 3000.0)),
        Param("read_sigma", "/255", (0.0, 20.0), draw=(0.5, 2.0)),
    ), _blend(ops.low_light), doc="exposure × gamma darkening + Poisson–Gaussian noise"),
    Operator("contrast", "scene", (
        Param("factor", "contrast kept", (0.0, 1.0), 0.85, 0.3),
    ), _blend(ops.contrast), stochastic=False, doc="pull towards the mean luminance"),
    Operator("saturation", "scene", (
        Param("factor", "colour kept", (0.0, 1.0), 0.8, 0.0),
    ), _blend(ops.saturation), stochastic=False, doc="blend towards grayscale"),
    Operator("blur_motion", "optics", (
        Param("length", "px", (1.0, 101.0), 5.0, 31.0),
    ), _blend(ops.blur_motion), doc="random camera-trajectory kernel"),
    Operator("blur_defocus", "optics", (
        Param("radius", "px", (0.1, 30.0), 1.0, 6.0),
    ), _blend(_defocus), stochastic=False, doc="anti-aliased disk PSF"),
    Operator("low_res", "resolution", (
        Param("scale", "down-sampling factor", (1.0, 16.0), 1.0, 4.0),
    ), _blend(ops.low_res), stochastic=False, doc="bicubic down ×scale, back up to size"),
    Operator("noise", "sensor", (
        Param("sigma", "/255", (0.0, 255.0), 5.0, 50.0),
    ), _blend(_noise), doc="additive white Gaussian noise, per channel"),
    Operator("poisson", "sensor", (
        Param("peak", "photons at intensity 1", (0.5, 1e5), 60.0, 5.0, log=True),
        Param("read_sigma", "/255", (0.0, 20.0), draw=(0.5, 2.0)),
    ), _blend(_poisson), doc="Poisson–Gaussian sensor noise"),
    Operator("ct_noise", "sensor", (
        Param("dose", "photons at intensity 1", (1.0, 1e6), 400.0, 20.0, log=True),
    ), _blend(ops.ct_noise), domain="medical", doc="low-dose CT-like Poisson noise (gray)"),
    Operator("jpeg", "compression", (
        Param("quality", "libjpeg quality", (1.0, 100.0), 60.0, 8.0, integer=True),
    ), _blend(ops.jpeg), stochastic=False, doc="JPEG re-encode"),
]

OPERATORS: dict[str, Operator] = {op.name: op for op in _OPS}


def get(name: str) -> Operator:
    """The operator called ``name``; RestoraError lists the known ones otherwise."""
    return lookup(OPERATORS, name, "degradation")
