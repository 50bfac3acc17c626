"""`restora batch`: a folder in, a folder out, resumable, with a summary; a tiny random perceiver
(no trained weights), so the structure is tested, not the quality."""

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import tiny_model

import restora.perceive
from restora import io
from restora.cli import main
from restora.train.perceiver import TrainConfig, export_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def folders(tmp_path, monkeypatch, small):
    """IN holds a.png (8 bits), b.jpg, sub/c.png (16 bits); the CLI gets the tiny model."""
    model = tiny_model()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(restora.perceive, "load_model", lambda path=None: model)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    io.save(src / "a.png", small[:64, :64])
    io.save(src / "b.jpg", small[16:80, :96])
    io.save(src / "sub" / "c.png", small[:48, :72], bit_depth=16)
    return src, tmp_path / "out"


def summary(out):
    with open(out / "summary.csv", newline="") as fh:
        return {r["file"]: r for r in csv.DictReader(fh)}


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_batch_restores_a_folder_then_skips_it(folders, capsys):
    src, out = folders
    before = snapshot(src)
    assert main(["batch", str(src), str(out), "--no-memory", "--max-rounds", "2", "-q"]) == 0
    assert "3 restored, 0 skipped" in capsys.readouterr().out
    for name, depth, shape in (("a.png", 8, (64, 64)), ("b.jpg", 8, (64, 96)),
                               ("sub/c.png", 16, (48, 72))):
        f = io.load(out / name)
        assert f.bit_depth == depth and f.pixels.shape[:2] == shape
    rows = summary(out)
    assert sorted(rows) == ["a.png", "b.jpg", "sub/c.png"]
    for r in rows.values():
        assert r["status"] == "ok" and r["detail"]
        assert 0 <= float(r["quality_in"]) <= 1 and 0 <= float(r["quality_out"]) <= 1
        assert float(r["seconds"]) >= 0 and int(r["steps_kept"]) >= 0
    assert snapshot(src) == before  # the input folder is never written to
    written = snapshot(out)

    assert main(["batch", str(src), str(out), "--no-memory", "-q"]) == 0
    assert "0 restored, 3 skipped" in capsys.readouterr().out
    again = summary(out)
    assert {r["status"] for r in again.values()} == {"skipped"}
    assert [r["quality_out"] for r in again.values()] == [r["quality_out"] for r in rows.values()]
    assert {p: b for p, b in snapshot(out).items() if p.name != "summary.csv"} == \
        {p: b for p, b in written.items() if p.name != "summary.csv"}

    assert main(["batch", str(src), str(out), "--no-memory", "-q", "--force"]) == 0
    assert {r["status"] for r in summary(out).values()} == {"ok"}


def test_batch_corrupt_file_is_an_error_row(folders, capsys):
    src, out = folders
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    assert main(["batch", str(src), str(out), "--no-memory", "-q"]) == 1
    cap = capsys.readouterr()
    assert "bad.png" in cap.err and "3 restored" in cap.out and "1 failed" in cap.out
    rows = summary(out)
    assert rows["bad.png"]["status"] == "error" and "cannot read" in rows["bad.png"]["detail"]
    assert [rows[k]["status"] for k in ("a.png", "b.jpg", "sub/c.png")] == ["ok"] * 3
    assert not (out / "bad.png").exists()


def test_batch_ext_png(folders):
    src, out = folders
    assert main(["batch", str(src), str(out), "--no-memory", "-q", "--ext", "png"]) == 0
    assert io.load(out / "b.png").format == "PNG" and not (out / "b.jpg").exists()
    (src / "b.png").write_bytes((src / "a.png").read_bytes())
    assert main(["batch", str(src), str(out / "x"), "--ext", "png", "-q"]) == 2  # b.jpg, b.png


@pytest.mark.parametrize("args, message", [
    (["{in}", "{in}"], "is the input folder"),
    (["{in}", "{in}/sub/out"], "is inside the input folder"),
    (["{in}/sub", "{in}"], "contains the input folder"),
    (["{tmp}/empty", "{tmp}/o"], "no images"),
    (["{tmp}/missing", "{tmp}/o"], "not found"),
    (["{in}", "{tmp}/o", "--workers", "0"], "--workers must be ≥ 1"),
    (["{in}", "{tmp}/o", "--max-rounds", "0"], "--max-rounds must be ≥ 1"),
])
def test_batch_refusals(folders, capsys, args, message):
    src, _ = folders
    tmp = src.parent
    (tmp / "empty").mkdir()
    before = snapshot(src)
    argv = [a.format(**{"in": src, "tmp": tmp}) for a in args]
    assert main(["batch", *argv, "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert snapshot(src) == before and not (tmp / "o").exists()


def test_batch_resumes_after_a_kill(tmp_path, small):
    """Kill a batch (SIGKILL) once its first output exists, rerun it (two worker processes):
    every output decodes, no temporary file is left, the summary covers every image."""
    weights = tmp_path / "tiny.safetensors"
    export_model(tiny_model(), weights, TrainConfig(config="tiny"), val={}, wall_s=0.0,
                 n_images=0, source="test: random weights", hardware="cpu")
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(0)
    names = [f"img{i}.png" for i in range(8)]
    for i, name in enumerate(names):
        crop = small[4 * i:4 * i + 64, :96]
        io.save(src / name, np.clip(crop + rng.normal(0, 0.03, crop.shape), 0, 1))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "restora.cli", "batch", str(src), str(out), "--weights",
           str(weights), "--no-memory", "-q"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and any(p.suffix == ".png" and not p.name.startswith(".")
                                for p in out.iterdir()):
            break
        time.sleep(0.01)
    was_running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert was_running, "the batch ended before it could be killed"
    done = [p for p in out.iterdir() if p.suffix == ".png" and not p.name.startswith(".")]
    assert 1 <= len(done) < len(names)
    (out / f".{names[-1]}.deadbeef.tmp").write_bytes(b"partial")  # as a kill mid-write leaves

    r = subprocess.run([*cmd, "--workers", "2"], env=env, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    for name in names:
        assert io.load(out / name).pixels.shape == (64, 96, 3)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    rows = summary(out)
    assert sorted(rows) == names
    status = [rows[n]["status"] for n in names]
    assert set(status) <= {"ok", "skipped"} and status.count("skipped") == len(done)
