"""The grain test of restora.agent.planner (camera noise the perceiver does not see), measured.

    python -m restora.bench.grain --images runs/wallpapers            # choose (training photos)
    python -m restora.bench.grain                                      # check (held-out photos)

Each photo (at most 512 px) is seen clean, through the camera pipeline of
restora.degrade.camera at 400, 100, 25 and 8 photons, with white Gaussian noise (σ 10 and 25, which
the perceiver sees) and clean but JPEG-compressed (quality 75). Printed: the share of photos the
grain test flags, for the shipped limits and a grid around them, with the median estimates; then,
on the flagged camera photos (every ``--every``-th photo, BM3D being slow), the mean PSNR after
BM3D at k × the halved image's estimate, for the shipped factor and its neighbours.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

CONDITIONS = ("clean", "camera 400", "camera 100", "camera 25", "camera 8", "white σ10",
              "white σ25", "clean, JPEG q75")
LIMITS = ((2.5, 0.5), (2.5, 0.75), (3.0, 0.5), (3.0, 0.75), (3.0, 1.0), (3.5, 0.75), (4.0, 0.75))
FACTORS = (3.0, 4.0, 5.0, 6.0, 7.0)


def _render(x: np.ndarray, cond: str, seed: int) -> np.ndarray:
    from restora.degrade.camera import camera_capture

    if cond == "clean":
        return x
    if cond.startswith("camera"):
        return camera_capture(x, photons=float(cond.split()[1]), seed=seed)
    if cond.startswith("white"):
        rng = np.random.default_rng(seed)
        sigma = float(cond.split("σ")[1])
        return np.clip(x + rng.normal(0.0, sigma / 255.0, x.shape), 0, 1).astype(np.float32)
    _ok, buf = cv2.imencode(".jpg", (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, 75])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0


def study(photos: list[tuple[str, np.ndarray]], every: int = 4, progress: bool = True) -> str:
    from tqdm import tqdm

    from restora.agent.planner import GRAIN_FACTOR, GRAIN_MIN, GRAIN_RATIO, grain, grain_shows
    from restora.metrics import psnr
    from restora.tools.classical.denoise import bm3d_denoise

    est: dict[str, list[tuple[float, float]]] = {c: [] for c in CONDITIONS}
    gains: dict[str, list[list[float]]] = {c: [] for c in CONDITIONS if c.startswith("camera")}
    for i, (_, x) in enumerate(tqdm(photos, desc="grain", disable=not progress)):
        for c in CONDITIONS:
            y = _render(x, c, seed=i)
            full, half = grain(y)
            est[c].append((full, half))
            if c in gains and i % every == 0 and grain_shows(full, half):
                gains[c].append([psnr(x, y)] + [psnr(x, bm3d_denoise(y, sigma=k * half, clip_sigma=0.0))
                                                for k in FACTORS])
    lines = [(f"{len(photos)} photos. Share flagged by the grain test (σ of the halved image ≥ m "
             "and σ of the image ≤ r × that), the shipped limits "
             f"(m = {GRAIN_MIN:g}, r = {GRAIN_RATIO:g}) in bold:"), "",
             "| m, r | " + " | ".join(CONDITIONS) + " |", "|---|" + "---:|" * len(CONDITIONS)]
    for m, r in LIMITS:
        name = f"{m:g}, {r:g}"
        if (m, r) == (GRAIN_MIN, GRAIN_RATIO):
            name = f"**{name}**"
        cells = [f"{np.mean([h >= m and f <= r * h for f, h in est[c]]):.0%}" for c in CONDITIONS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| median σ (image / halved) | " + " | ".join(
        f"{np.median([f for f, _ in est[c]]):.1f} / {np.median([h for _, h in est[c]]):.1f}"
        for c in CONDITIONS) + " |")
    lines += ["", (f"Flagged camera photos (every {every}th photo): mean PSNR (dB) of the input and "
              f"after BM3D at k × the halved image's σ (shipped k = {GRAIN_FACTOR:g}):"), "",
              "| photos | n | input | " + " | ".join(f"k = {k:g}" for k in FACTORS) + " |",
              "|---|---:|---:|" + "---:|" * len(FACTORS)]
    for c, rows in gains.items():
        if rows:
            mean = np.mean(rows, axis=0)
            lines.append(f"| {c} | {len(rows)} | " + " | ".join(f"{v:.2f}" for v in mean) + " |")
        else:
            lines.append(f"| {c} | 0 |" + " |" * (len(FACTORS) + 1))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from restora.bench.study_cli import photo_study

    def configure(p) -> None:
        p.add_argument("--every", type=int, default=4,
                       help="BM3D factor table on every N-th photo")

    def run(photos, a) -> str:
        from restora.errors import RestoraError

        if a.every < 1:
            raise RestoraError(f"--every must be ≥ 1, got {a.every}")
        return study([(n, x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]) for n, x in photos],
                     a.every)

    return photo_study(argv, "python -m restora.bench.grain", __doc__, run, configure)


if __name__ == "__main__":
    sys.exit(main())
