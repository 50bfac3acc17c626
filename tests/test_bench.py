import numpy as np
import pytest

from restora.bench import runner, suites
from restora.errors import RestoraError


def test_suites_are_fixed_and_cover_the_protocols():
    names = [n for n, _ in suites.skimage_photos(64)]
    for suite in suites.NAMES:
        a, b = suites.items(suite, names), suites.items(suite, names)
        assert a == b and len(a) >= len(names)
        assert len({(i.case, i.image) for i in a}) == len(a)
    groups = {i.case[0] for i in suites.items("composite", names)}
    assert groups == {"A", "B", "C"}
    with pytest.raises(RestoraError, match="unknown suite"):
        suites.items("four-deg", names)


def _quality(records):
    return [(r.case, r.image, r.method, r.psnr_in, r.psnr, r.ssim, r.niqe) for r in records]


def test_runner_is_deterministic_and_writes_outputs(tmp_path, photo):
    from PIL import Image

    folder = tmp_path / "clean"
    folder.mkdir()
    Image.fromarray(np.round(photo * 255).astype(np.uint8)).save(folder / "a.png")
    r1 = runner.run("toolbox", ["identity", "classical", "nlm"], images=str(folder), limit=3,
                    progress=False)
    r2 = runner.run("toolbox", ["identity", "classical", "nlm"], images=str(folder), limit=3,
                    progress=False)
    # the same up to rounding: BM3D's threaded sums may round differently between runs, which
    # moves NIQE (computed on the output) by ~1e-8 relative on a loaded machine
    q1, q2 = _quality(r1), _quality(r2)
    assert [q[:3] for q in q1] == [q[:3] for q in q2] and len(r1) == 9
    assert np.allclose([q[3:] for q in q1], [q[3:] for q in q2], rtol=1e-6, atol=0)
    by = {(r.case, r.method): r for r in r1}
    assert by[("noise σ25", "classical")].psnr > by[("noise σ25", "nlm")].psnr > by[("noise σ25", "identity")].psnr
    assert by[("motion blur", "nlm")].psnr == by[("motion blur", "identity")].psnr  # not its job
    paths = runner.write(r1, tmp_path / "out")
    assert [p.name for p in paths] == list(runner.OUTPUTS) and all(p.stat().st_size > 0 for p in paths)
    table = (tmp_path / "out" / "table.md").read_text()
    assert "**average**" in table and "classical" in table
    with pytest.raises(RestoraError, match="exists"):
        runner.write(r1, tmp_path / "out")


def test_tools_needing_a_missing_extra_step_aside(monkeypatch):
    import importlib.util

    from restora.tools import LEARNED, candidates

    def classical(op: str) -> list[str]:
        return [t.name for t in candidates(op) if t.name not in LEARNED]

    assert classical("noise")[0] == "bm3d"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "bm3d" else real(m, *a))
    assert classical("noise") == ["nlm"]
    assert classical("jpeg") == []


def test_classical_baselines_never_use_the_learned_network(monkeypatch):
    """The oracle baselines stay classical when the network is installed (it comes first among
    the candidates)."""
    from restora.bench import methods
    from restora.tools import LEARNED

    for op in ("noise", "haze", "jpeg", "low_light"):
        assert methods._classical(op) and not {t.name for t in methods._classical(op)} & LEARNED


def test_table_gives_the_composite_groups_their_mean_rows():
    def rec(case, image, psnr):
        return runner.Record("composite", case, image, "", "agent", 10.0, 0.5, psnr, 0.6, 5.0,
                             1.0, 10.0)

    records = [rec("A: x", "p", 20.0), rec("A: y", "p", 24.0), rec("B: z", "p", 30.0)]
    text = runner.table(records)
    assert "| **group A** | 10.00 / 0.500 | 22.00 / 0.600 |" in text
    assert "| **group B** | 10.00 / 0.500 | 30.00 / 0.600 |" in text
    assert "| **average** | 10.00 / 0.500 | 24.67 / 0.600 |" in text
    assert "**group" not in runner.table([rec("noise σ25", "p", 20.0)])


def test_table_counts_the_items_whose_untouched_pixels_stay_clean():
    def rec(image, clean_db):
        return runner.Record("spatial", "haze@blob", image, "", "agent", 10.0, 0.5, 20.0, 0.6,
                             5.0, 1.0, 10.0, clean_db)

    text = runner.table([rec("a", float("inf")), rec("b", 45.0), rec("c", 30.0),
                         rec("d", float("nan"))])
    assert "| untouched pixels: items ≥ 40 dB (min) |  | 2 of 3 (30.00) |" in text
    assert "untouched" not in runner.table([rec("d", float("nan"))])


def test_camera_capture_is_seeded_correlated_noise_that_a_per_pixel_estimator_misses(photo):
    from restora.degrade.camera import camera_capture
    from restora.tools.classical.denoise import estimate_sigma

    a = camera_capture(photo, photons=25.0, seed=3)
    assert a.shape == photo.shape and a.dtype == np.float32
    assert np.array_equal(a, camera_capture(photo, photons=25.0, seed=3))
    assert not np.array_equal(a, camera_capture(photo, photons=25.0, seed=4))
    noise = float(np.std(a - photo)) * 255
    assert noise > 8  # plainly visible...
    assert estimate_sigma(a) < noise / 3  # ...yet mostly invisible to a white-noise estimator
    dark = camera_capture(photo, exposure=0.05, photons=800.0, seed=3)
    assert dark.mean() < 0.5 * photo.mean()
    odd = camera_capture(photo[:63, :61], seed=1)  # odd sizes: padded for the mosaic, cropped back
    assert odd.shape == (63, 61, 3)
    with pytest.raises(ValueError):
        camera_capture(photo[..., 0])


def test_camera_suite_renders_its_items_through_the_runner(tmp_path, photo):
    from PIL import Image

    folder = tmp_path / "clean"
    folder.mkdir()
    Image.fromarray(np.round(photo * 255).astype(np.uint8)).save(folder / "a.png")
    recs = runner.run("camera", ["identity"], images=str(folder), progress=False)
    assert [r.case for r in recs] == list(suites.CAMERA)
    by = {r.case: r.psnr_in for r in recs}
    assert by["noise, 100 photons"] > by["noise, 25 photons"] > by["noise, 8 photons"]
    assert by["dark ×1/20"] < by["dark ×1/8"] < by["noise, 100 photons"]


def test_grain_study_prints_its_two_tables(photo):
    from restora.bench.grain import CONDITIONS, FACTORS, LIMITS, study

    out = study([("a", photo[:128, :128]), ("b", photo[128:, 128:])], every=1, progress=False)
    assert out.count("\n| ") >= len(LIMITS) + 1 + 4
    assert all(c in out for c in CONDITIONS) and "**3, 0.75**" in out
    assert f"k = {FACTORS[-1]:g}" in out and "| camera 8 |" in out


def test_airlight_study_prints_every_estimator_and_the_true_airlight(photo):
    from restora.bench.airlight import study
    from restora.tools.classical.dehaze import AIRLIGHT, AIRLIGHT_METHOD

    out = study([("a", photo[:96, :96]), ("b", photo[96:192, 96:192])], progress=False)
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and "---" not in ln]
    assert len(rows) == 1 + 1 + len(AIRLIGHT) + 1  # head, hazy input, estimators, true A
    assert f"| **{AIRLIGHT_METHOD}** |" in out and "| true A |" in out
    hazy = float(rows[1].split("|")[-2])
    true = float(rows[-1].split("|")[-2])
    assert true > hazy  # dehazing with the true airlight and β helps


def test_spread_study_counts_each_group_and_marks_the_shipped_limit(photo):
    from restora.agent.planner import NOISE_SPREAD
    from restora.bench import suites
    from restora.bench.spread import LIMITS, _cases, study

    cases = _cases(["a"])
    n_part = sum(g == "in a part" for g, _ in cases)
    assert n_part == sum("noise" in r for r in suites.SUITES["spatial"].values())
    assert {it.suite for g, it in cases if g == "everywhere"} == {"composite", "three-deg", "camera"}
    out = study([("a", photo[:128, :128])], progress=False)
    assert f"| in a part | {n_part} |" in out
    n_none = sum(g == "none" for g, _ in cases)
    assert n_none == sum("noise" not in r for k in ("composite", "three-deg")
                         for r in suites.SUITES[k].values())
    assert f"| none | {n_none} |" in out and f"| everywhere | {len(cases) - n_part - n_none} |" in out
    assert "| clean | 1 |" in out and f"| **{NOISE_SPREAD:g}** |" in out
    assert out.count("\n| ") >= 4 + len({*LIMITS, NOISE_SPREAD}) + 1
