"""Rain, snow and raindrops checked against statistics of real ones: rain streaks share one
direction (wind) with high coherence, snowflakes span a wide range of sizes with many small ones,
and drops on the lens come in the requested number with a spread of sizes."""

import numpy as np
import pytest
from scipy import ndimage

from restora.degrade import degrade

FLAT = np.full((256, 256, 3), 0.35, np.float32)


def _orientation(layer):
    gy, gx = np.gradient(ndimage.gaussian_filter(layer.astype(np.float64), 1.0))
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    theta_grad = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))
    coherence = np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy)
    # Streaks run perpendicular to the dominant gradient; angle measured from vertical.
    return ((-theta_grad + 90) % 180) - 90, coherence


@pytest.mark.parametrize("angle", [-20.0, 0.0, 15.0])
def test_rain_streaks_share_the_labelled_angle(angle):
    out, _ = degrade(FLAT, f"rain=0.6;angle:{angle}", seed=1)
    est, coherence = _orientation((out - FLAT).mean(axis=2))
    assert abs(est - angle) < 4.0, (est, angle)
    assert coherence > 0.5


def test_snowflake_sizes_spread_widely():
    out, _ = degrade(FLAT, "snow=0.8", seed=2)
    lab, n = ndimage.label((out - FLAT).mean(axis=2) > 0.08)
    areas = np.bincount(lab.ravel())[1:]
    assert n > 50
    assert np.percentile(areas, 90) >= 4 * np.percentile(areas, 10)
    assert np.median(areas) < 30  # most flakes are small and far away


def test_raindrop_count_and_sizes():
    rng = np.random.default_rng(0)  # a textured scene: a drop's inverted view differs everywhere
    big = ndimage.gaussian_filter(rng.random((512, 512, 3)), (6, 6, 0)).astype(np.float32)
    big = (big - big.min()) / (big.max() - big.min())
    out, _ = degrade(big, "raindrop=density:10;radius:10", seed=3)
    lab, n = ndimage.label(np.abs(out - big).max(axis=2) > 0.02)
    areas = np.bincount(lab.ravel())[1:]
    n = int((areas >= 20).sum())  # ignore slivers of soft drop edges
    expected = 10 * 512 * 512 / 100_000
    assert 0.5 * expected <= n <= 1.2 * expected  # overlapping drops merge
    assert areas.max() > 2 * np.median(areas[areas >= 20])
