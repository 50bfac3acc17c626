"""The restore report in a real headless Chromium: it loads with no console errors and its
slider works. Skipped where no Chromium is installed (Debian: apt install chromium)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from restora.agent import restore
from restora.report.restore_report import write_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")


def _chromium(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--disable-extensions", "--enable-logging=stderr",
                           "--v=0", *extra, url],
                          check=False, capture_output=True, text=True, timeout=120)


def test_report_opens_without_console_errors(tmp_path):
    import skimage.data
    from conftest import tiny_model  # the suite's rigged tiny perceiver

    from restora._image import as_image

    img = as_image(skimage.data.astronaut()[::8, ::8])
    res = restore(img, model=tiny_model(), memory=False, max_rounds=1)
    page = write_report(res, tmp_path / "r.html", before=img, source_name="astronaut.png")
    # a probe appended after the page's own script: moves the slider and reports the clip width
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>const s=document.querySelector('input[type=range]');"
        "s.value=25;s.dispatchEvent(new Event('input'));"
        "console.log('PROBE_OK '+s.value);</script></body>"), encoding="utf-8")
    run = _chromium(probe.as_uri(), "--dump-dom")
    logs = run.stderr
    console = [ln for ln in logs.splitlines() if "CONSOLE" in ln]
    errors = [ln for ln in console if "PROBE_OK" not in ln]
    assert "PROBE_OK 25" in logs, logs[-2000:]
    assert not errors, errors
    assert "<html" in run.stdout.lower()
