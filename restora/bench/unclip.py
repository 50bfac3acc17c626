"""The noise tools' undoing of clipped noise (restora.tools.classical.denoise.unclip), measured.

    python -m restora.bench.unclip --images runs/wallpapers --crops 30 --seed 1   # choose
    python -m restora.bench.unclip --crops 30 --seed 2                            # check

On random crops of clean photos (128–384 px, restora.train.comparator's crops), the
synthesiser's Gaussian noise (clipped at 0 and 1, as a sensor or a file clips it) at σ 15, 25
and 50, denoised at the true σ by BM3D and by non-local means, each as it was and with the
clipping's bias undone at that σ (restora.tools.classical.denoise.unclip; BM3D's default, not
non-local means'). Printed per σ and denoiser: the
mean PSNR (dB) of the noisy crops and of both results, the mean and worst gain of the undoing,
and on how many crops it gains.
"""

from __future__ import annotations

import sys

import numpy as np

SIGMAS = (15, 25, 50)


def study(photos: list, crops: int, seed: int) -> str:
    """Markdown table of the undoing on ``crops`` crops of ``photos`` (name, image) pairs."""
    from tqdm import tqdm

    from restora.degrade import degrade
    from restora.metrics import psnr
    from restora.tools.classical.denoise import bm3d_denoise, nlm_denoise, unclip
    from restora.train.comparator import _crop

    tools = {"bm3d": lambda y, s: bm3d_denoise(y, sigma=s, clip_sigma=0.0),
             "nlm": lambda y, s: nlm_denoise(y, sigma=s)}
    rng = np.random.default_rng(seed)
    rows = {(s, t): [] for s in SIGMAS for t in tools}  # (input, as it was, undone)
    for _ in tqdm(range(crops), desc="crops"):
        clean = _crop(rng, photos[int(rng.integers(len(photos)))][1])
        for s in SIGMAS:
            noisy, _ = degrade(clean, f"noise={s}", seed=int(rng.integers(0, 2**31 - 1)))
            for name, fn in tools.items():
                den = fn(noisy, s)
                rows[s, name].append((psnr(clean, noisy), psnr(clean, den),
                                      psnr(clean, unclip(den, s / 255.0))))
    lines = [f"{crops} crops, seed {seed}.", "",
             "| σ | denoiser | noisy | as it was | clipping undone | gain: mean | worst | crops gaining |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for (s, name), r in rows.items():
        a = np.asarray(r)
        g = a[:, 2] - a[:, 1]
        lines.append(f"| {s} | {name} | {a[:, 0].mean():.2f} | {a[:, 1].mean():.2f} | "
                     f"{a[:, 2].mean():.2f} | {g.mean():+.2f} | {g.min():+.2f} | "
                     f"{int((g > 0).sum())} of {len(g)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from restora.bench.study_cli import crop_study

    def run(photos, crops, seed, images) -> str:
        where = f"the {len(photos)} photos of {images}" if images else \
            f"the {len(photos)} held-out scikit-image photos"
        return f"{where}: " + study(photos, crops, seed)

    return crop_study(argv, "python -m restora.bench.unclip", __doc__, run)


if __name__ == "__main__":
    sys.exit(main())
