"""The CLI end to end, in subprocesses: outputs, and the bad-input set (one line, exit 2,
nothing written or changed)."""

import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from restora.degrade import Label


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "restora.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture()
def work(tmp_path, small):
    Image.fromarray(np.round(small * 255).astype(np.uint8)).save(tmp_path / "in.png")
    return tmp_path


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_degrade_writes_image_and_label(work):
    r = run("degrade", "in.png", "out.png", "--recipe", "haze=0.6@blob,noise=25", "--seed", 3, cwd=work)
    assert r.returncode == 0, r.stderr
    lab = Label.load(work / "out.png.label.json")
    assert lab.types == ["haze", "noise"] and lab.seed == 3
    assert lab.steps[1].params["sigma"] == 25 and lab.steps[0].mask == "blob"
    assert lab.maps["haze"].shape == (96, 96) and "haze_t" in lab.extras
    d = json.loads((work / "out.png.label.json").read_text())
    assert d["recipe"] == "haze=0.6@blob,noise=sigma:25"
    first = (work / "out.png").read_bytes()
    r = run("degrade", "in.png", "out.png", "-r", "haze=0.6@blob,noise=25", "--seed", 3, "--force", cwd=work)
    assert r.returncode == 0 and (work / "out.png").read_bytes() == first  # reproducible


def test_metrics_full_and_no_reference(work):
    run("degrade", "in.png", "n.png", "-r", "noise=25", cwd=work)
    r = run("metrics", "in.png", "n.png", "--json", cwd=work)
    m = json.loads(r.stdout)
    assert r.returncode == 0 and set(m) == {"psnr", "psnr_y", "ssim", "ssim_y"}
    assert 19 < m["psnr"] < 22
    big = np.round(np.random.default_rng(0).random((200, 210, 3)) * 255).astype(np.uint8)
    Image.fromarray(big).save(work / "big.png")
    r = run("metrics", "big.png", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)) == {"niqe"}


@pytest.mark.parametrize("cmd", [[], ["degrade"], ["metrics"], ["gallery"], ["bench"]])
def test_help_has_examples(work, cmd):
    r = run(*cmd, "--help", cwd=work)
    assert r.returncode == 0 and "example" in r.stdout


def _bomb_png(path, w=100_000, h=100_000):
    """A valid-looking PNG whose header claims w×h pixels (10 GP) in a few bytes."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _prepare(work):
    (work / "empty.png").write_bytes(b"")
    (work / "text.png").write_text("hello, I am not a picture\n")
    (work / "trunc.png").write_bytes((work / "in.png").read_bytes()[:300])
    _bomb_png(work / "bomb.png")
    (work / "exists.png").write_bytes(b"precious user data")
    (work / "lab.png.label.json").write_text("{}")
    (work / "ro").mkdir()
    (work / "ro" / "keep.txt").write_text("x")
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(work / "other.png")


BAD = [
    (["degrade", "missing.png", "o.png", "-r", "noise"], "not found|does not exist|no such"),
    (["degrade", "empty.png", "o.png", "-r", "noise"], "empty"),
    (["degrade", "text.png", "o.png", "-r", "noise"], "not an image|cannot identify|not a"),
    (["degrade", "trunc.png", "o.png", "-r", "noise"], "truncated|corrupt|broken|cannot"),
    (["degrade", "bomb.png", "o.png", "-r", "noise"], "pixels"),
    (["degrade", "in.png", "o.png", "-r", "noise", "--max-pixels", "100"], "pixels"),
    (["degrade", "in.png", "o.png", "-r", "fog=0.3"], "unknown degradation"),
    (["degrade", "in.png", "o.png", "-r", "noise=999"], "out of range"),
    (["degrade", "in.png", "o.png", "-r", "haze=0.5@star"], "unknown mask"),
    (["degrade", "in.png", "o.png", "-r", ""], "empty"),
    (["degrade", "in.png", "exists.png", "-r", "noise"], "exists"),
    (["degrade", "in.png", "lab.png", "-r", "noise"], "exists"),
    (["degrade", "in.png", "in.png", "-r", "noise", "--force"], "is the input"),
    (["degrade", "in.png", "nofolder/o.png", "-r", "noise"], "does not exist"),
    (["degrade", "in.png", "o.xyz", "-r", "noise"], "extension|format"),
    (["degrade", "in.png", "o.png", "-r", "noise", "--seed", "abc"], "invalid int"),
    (["degrade", "ro", "o.png", "-r", "noise"], "directory|folder"),
    (["metrics", "in.png", "other.png"], "differ in size"),
    (["metrics", "in.png", "missing.png"], "not found|does not exist|no such"),
    (["metrics", "in.png", "in.png", "--crop-border", "-1"], "crop-border"),
    (["metrics", "in.png"], "192|small"),
    (["gallery", "--out", "g", "--size", "0"], "positive"),
    (["bench", "nosuch"], "unknown bench suite"),
    (["bench", "three-deg", "--method", "magic"], "unknown method"),
    (["bench", "three-deg", "--images", "nofolder"], "not found"),
    (["bench", "three-deg", "--images", "ro", "-m", "identity"], "no images"),
    (["bench", "three-deg", "--limit", "0"], "positive"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("args, msg", BAD, ids=[" ".join(a)[:40] for a, _ in BAD])
def test_bad_input_gives_one_line_and_writes_nothing(work, args, msg):
    _prepare(work)
    before = snapshot(work)
    r = run(*args, cwd=work)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("restora") and "Traceback" not in r.stderr
    import re

    assert re.search(msg, lines[0], re.IGNORECASE), lines[0]
    assert snapshot(work) == before
