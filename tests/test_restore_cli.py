"""`restora restore` and the HTML report, with a tiny random perceiver (no trained weights): the
structure of what is written and the refusals, not the quality of the restoration."""

import json
import re

import numpy as np
import pytest
from conftest import tiny_model

import restora.agent
import restora.perceive
from restora import io
from restora.agent import restore
from restora.agent.loop import Result
from restora.agent.trace import Attempt, StepRecord, Trace
from restora.cli import main
from restora.errors import RestoraError
from restora.report.restore_report import final_quality, render_report, steps_kept, write_report

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture()
def env(tmp_path, monkeypatch, model, small):
    """A 16-bit PNG input in tmp_path; the CLI gets the tiny model; no user cache touched."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(restora.perceive, "load_model", lambda path=None: model)
    io.save(tmp_path / "in.png", small[:64, :80], bit_depth=16)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_report_is_self_contained(tmp_path, model, small):
    img = small[:64, :96]
    res = restore(img, model=model, memory=False, max_rounds=2)
    page = write_report(res, tmp_path / "r.html", before=img, source_name="a <b>.png")
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"""(src|href)=["'](?!data:)""", text)  # every image inlined
    assert 'type="range"' in text and 'id="split"' in text and "<script>" in text
    assert res.trace.stop_reason and res.trace.stop_reason in text
    assert "a &lt;b&gt;.png" in text and "a <b>.png" not in text
    # before, after, one map per detected type, the regions overlay
    n_types = len(res.trace.detections["types"])
    assert text.count("data:image/") >= 2 + n_types + 1
    for op in ("perceive", "plan", "tools", "judge", "total"):
        assert f"<td>{op}</td>" in text
    with pytest.raises(RestoraError, match="already exists"):
        write_report(res, page, before=img, source_name="x")
    write_report(res, page, before=img, source_name="x", overwrite=True)


def test_report_shows_steps_thumbnails_and_escapes(tmp_path, small):
    img = small[:48, :48]
    tr = Trace({"quality": 0.4, "tier": "mediocre", "domain": "natural",
                "types": [{"op": "noise", "prob": 0.9, "severity": 0.5, "param": "sigma",
                           "value": 27.5, "unit": "/255"}]},
               [{"area": 1.0, "confidence": 0.8, "bbox": [0, 0, 48, 48], "clean": False,
                 "types": [{"op": "noise", "prob": 0.9, "severity": 0.5, "param": "sigma",
                            "value": 27.5, "unit": "/255"}]}],
               stop_reason="stop <now> & then", seconds={"perceive": 0.1, "tools": 0.3,
                                                         "judge": 0.2, "total": 0.7})
    step = StepRecord(1, "noise", 0, 1.0, 0.9, "sigma 27.5 /255", kept="nlm",
                      thumbnail=np.full((24, 24, 3), 0.5, np.float32))
    step.attempts = [Attempt("nlm", {"h": 0.1}, 0.8, 0.4, 0.6, 0.9, 0.01, "kept", "", 0.05),
                     Attempt("bm3d", {"sigma": 27.5}, 0.3, 0.4, 0.45, 0.9, 0.01, "rolled back",
                             "comparator: <30%> likely better", 0.2)]
    tr.steps.append(step)
    tr.rounds.append({"round": 1, "steps": 1, "kept": 1, "quality": 0.6})
    res = Result(np.clip(img * 1.1, 0, 1), tr, None, [])
    text = write_report(res, tmp_path / "r.html", before=img, source_name="p.png").read_text()
    assert "stop &lt;now&gt; &amp; then" in text and "<now>" not in text
    assert "comparator: &lt;30%&gt; likely better" in text
    assert "kept nlm" in text and "rolled back" in text and "0.40 → 0.60" in text
    assert 'alt="after step 1"' in text
    assert "0.40 → 0.60" in text and "<td>0.60</td>" in text  # quality per round
    assert final_quality(tr) == 0.6 and steps_kept(tr) == 1

    tr.final_p_better = 0.3  # the loop's final check returned the input
    for st in tr.steps:
        st.undone = bool(st.kept)
    text = render_report(res, before=img, source_name="p.png")
    assert "the input was returned" in text and "0 of 1 step in the result" in text
    assert final_quality(tr) == 0.4 and steps_kept(tr) == 0

    from restora.agent.planner import VEIL_REGION

    tr.steps.append(StepRecord(1, "haze", VEIL_REGION, 1.0, 0.1, "beta 1.5 per unit depth"))
    assert "haze on the whole image (the dark channel shows a veil)" in \
        render_report(res, before=img, source_name="p.png")
    assert "haze on the whole image (veil test)" in tr.summary()


def test_restore_cli_writes_image_json_report(env, capsys):
    rc = main(["restore", "in.png", "-o", "out.png", "--json", "t.json", "--report", "r.html",
               "--no-memory", "--max-rounds", "2"])
    assert rc == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "stopped:" in out and "wrote out.png" in out
    src, res = io.load(env / "in.png"), io.load(env / "out.png")
    assert res.bit_depth == 16 and res.pixels.shape == src.pixels.shape == (64, 80, 3)
    doc = json.loads((env / "t.json").read_text())
    assert doc["stop_reason"] and doc["input"] == "in.png" and isinstance(doc["steps"], list)
    assert {"detections", "rounds", "seconds"} <= set(doc)
    assert (env / "r.html").read_text().count('id="split"') == 1


def test_restore_cli_quiet_and_jpeg(env, capsys):
    assert main(["restore", "in.png", "-o", "out.jpg", "--no-memory", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    f = io.load(env / "out.jpg")
    assert f.format == "JPEG" and f.bit_depth == 8 and f.pixels.shape == (64, 80, 3)


def _no_restore(*a, **k):
    raise AssertionError("restore ran although the options were refused")


@pytest.mark.parametrize("args, message", [
    (["-o", "out.png", "--max-rounds", "0"], "--max-rounds must be ≥ 1"),
    (["-o", "out.png", "--tries", "0"], "--tries must be ≥ 1"),
    (["-o", "in.png"], "is the input"),
    (["-o", "./in.png", "--force"], "is the input"),
    (["-o", "out.png", "--json", "in.png", "--force"], "is the input"),
    (["-o", "out.png", "--report", "out.png"], "named for two outputs"),
    (["-o", "nowhere/out.png"], "does not exist"),
    (["-o", "out.xyz"], "unknown extension"),
    (["-o", "exists.png"], "already exists"),
    (["-o", "out.png", "--report", "exists.html"], "already exists"),
])
def test_restore_cli_refuses_before_working(env, monkeypatch, capsys, args, message):
    (env / "exists.png").write_bytes(b"keep")
    (env / "exists.html").write_bytes(b"keep")
    monkeypatch.setattr(restora.agent, "restore", _no_restore)
    before = (env / "in.png").read_bytes()
    assert main(["restore", "in.png", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert (env / "in.png").read_bytes() == before
    assert (env / "exists.png").read_bytes() == b"keep"
    assert not (env / "out.png").exists()


def test_restore_cli_force_overwrites_outputs(env, capsys):
    (env / "out.png").write_bytes(b"old")
    assert main(["restore", "in.png", "-o", "out.png", "--no-memory", "-q"]) == 2
    assert (env / "out.png").read_bytes() == b"old"
    assert main(["restore", "in.png", "-o", "out.png", "--no-memory", "-q", "--force"]) == 0
    assert io.load(env / "out.png").bit_depth == 16


def test_restore_cli_bad_input(env, capsys):
    (env / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert main(["restore", "bad.png", "-o", "out.png"]) == 2
    assert "cannot read bad.png" in capsys.readouterr().err
    assert not (env / "out.png").exists()


@pytest.mark.parametrize("cmd", ["restore", "batch"])
def test_help_has_examples(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0 and "examples:" in capsys.readouterr().out
