"""Speed, size and memory of the all-in-one restorer on this machine.

    python -m restora.bench.net_speed [--weights FILE] [--threads 2] [--big]

Reports, for a 512×512 photo (the astronaut): the median time of the restorer's forward pass
alone and of the whole blind path (:func:`restora.tools.learned.restore_net`: perceiver in 128-px
tiles, condition, restorer), each with denormal flushing on and off; the same for a reference
stack (eight 3×3 convolutions of 16 channels with ReLU at full resolution), timed in the same run,
and every time as a ratio to it (these machines are noisy; ratios travel better than seconds);
parameters, multiply-accumulates (torch's FLOP counter ÷ 2) and the process's peak resident
memory. ``--big`` also restores a 6000×4000 image in tiles in a child process and reports its
time and peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch


def _median(fn, repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def reference_stack() -> torch.nn.Module:
    layers: list[torch.nn.Module] = [torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU()]
    for _ in range(6):
        layers += [torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU()]
    layers.append(torch.nn.Conv2d(16, 3, 3, padding=1))
    return torch.nn.Sequential(*layers).eval()


def _photo(side: int = 512) -> np.ndarray:
    import cv2
    from skimage import data

    img = data.astronaut().astype(np.float32) / 255
    return cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)


def measure(weights: str | None = None, threads: int = 2, repeat: int = 5) -> dict:
    from restora.degrade import degrade
    from restora.tools.learned import condition_for, load_default, restore_net

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    model = load_default(weights)
    img = degrade(_photo(), "noise=25", seed=0)[0]
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    cond = condition_for(img, model)
    ref = reference_stack()
    res: dict = {"threads": threads, "side": 512,
                 "parameters": sum(p.numel() for p in model.parameters())}
    with torch.inference_mode():
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            model(x, cond)
        res["gmacs"] = fc.get_total_flops() / 2e9
        with FlopCounterMode(display=False) as fc:
            ref(x)
        res["ref_gmacs"] = fc.get_total_flops() / 2e9
        for flush in (True, False):
            torch.set_flush_denormal(flush)
            tag = "flush" if flush else "no_flush"
            res[f"ref_s_{tag}"] = _median(lambda: ref(x), repeat)
            res[f"net_s_{tag}"] = _median(lambda: model(x, cond), repeat)
            res[f"full_s_{tag}"] = _median(lambda: restore_net(img, model), max(2, repeat // 2))
    torch.set_flush_denormal(True)
    torch.set_num_threads(prev)
    for tag in ("flush", "no_flush"):
        res[f"net_ratio_{tag}"] = res[f"net_s_{tag}"] / res[f"ref_s_{tag}"]
        res[f"full_ratio_{tag}"] = res[f"full_s_{tag}"] / res[f"ref_s_{tag}"]
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


_BIG = """
import resource, sys, time, numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))
from restora.tools.learned import restore_net, load_default
m = load_default(sys.argv[2] or None)
rng = np.random.default_rng(0)
img = np.clip(rng.normal(0.5, 0.1, (4000, 6000, 3)), 0, 1).astype(np.float32)
t = time.perf_counter(); out = restore_net(img, m); t = time.perf_counter() - t
print(t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def big(weights: str | None, threads: int) -> dict:
    """6000×4000 in a child process: seconds and peak resident memory (MB) of the whole
    process."""
    r = subprocess.run([sys.executable, "-c", _BIG, str(threads), weights or ""],
                       capture_output=True, text=True, check=True)
    t, mb = map(float, r.stdout.split())
    return {"big_s": t, "big_peak_rss_mb": mb}


def table(res: dict) -> str:
    rows = ["| what | flush denormals | no flushing |", "|---|---:|---:|"]
    rows.append(f"| reference stack (8 convs, 16 ch), s | {res['ref_s_flush']:.3f} | "
                f"{res['ref_s_no_flush']:.3f} |")
    rows.append(f"| restorer forward, s | {res['net_s_flush']:.3f} | {res['net_s_no_flush']:.3f} |")
    rows.append(f"| restorer ÷ reference | {res['net_ratio_flush']:.1f}× | "
                f"{res['net_ratio_no_flush']:.1f}× |")
    rows.append(f"| blind path (perceiver + condition + restorer), s | {res['full_s_flush']:.3f} "
                f"| {res['full_s_no_flush']:.3f} |")
    rows.append(f"| blind path ÷ reference | {res['full_ratio_flush']:.1f}× | "
                f"{res['full_ratio_no_flush']:.1f}× |")
    out = "\n".join(rows)
    out += (f"\n\nParameters {res['parameters']:,}; {res['gmacs']:.2f} GMACs per 512×512 pass "
            f"(reference {res['ref_gmacs']:.2f}); peak resident memory of the process "
            f"{res['peak_rss_mb']:.0f} MB; {res['threads']} threads.")
    if "big_s" in res:
        out += (f" 6000×4000 in 512-px tiles: {res['big_s']:.0f} s, peak resident memory "
                f"{res['big_peak_rss_mb']:.0f} MB.")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m restora.bench.net_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--big", action="store_true")
    p.add_argument("--json", default=None, help="also write the raw numbers here")
    a = p.parse_args(argv)
    from restora.bench.machine import describe

    res = measure(a.weights, a.threads, a.repeat)
    if a.big:
        res |= big(a.weights, a.threads)
    print(f"Machine: {describe()}.\n")
    print(table(res))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    from restora.errors import run_main

    raise SystemExit(run_main(main))
