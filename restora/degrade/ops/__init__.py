"""Pure, deterministic degradation operators with explicit physical parameters."""

from restora.degrade.ops.blur import (
                                      blur_defocus,
                                      blur_motion,
                                      convolve,
                                      defocus_kernel,
                                      motion_kernel,
)
from restora.degrade.ops.codec import jpeg, low_res
from restora.degrade.ops.noise import ct_noise, gaussian_noise, poisson_gaussian
from restora.degrade.ops.tone import contrast, low_light, saturation
from restora.degrade.ops.weather import cloud, haze, rain, raindrop, snow, transmission

__all__ = [
    "blur_defocus", "blur_motion", "cloud", "contrast", "convolve", "ct_noise", "defocus_kernel",
    "gaussian_noise", "haze", "jpeg", "low_light", "low_res", "motion_kernel", "poisson_gaussian",
    "rain", "raindrop", "saturation", "snow", "transmission",
]
