"""The restoration report: one self-contained HTML file that explains what
:func:`restora.agent.restore` did to one image.

It shows a before/after comparison slider, the degradation maps of the detected types over the
input and its regions, the detections, every step with the candidate tools tried (comparator
probability, quality before → after, verdict and reason) and a thumbnail of the image after each
kept step, the quality per round, why the loop stopped and where the time went. Images are inlined
(base64 PNG, or JPEG for a comparison image above 1 MP), at most 1600 px on the long side, so
the file can be mailed or archived alone: no external URL, no CDN, a few lines of plain
JavaScript for the slider. All text is escaped.
"""

from __future__ import annotations

import base64
import html
import io as _io
from pathlib import Path

import numpy as np
from PIL import Image

from restora import io
from restora._image import as_image
from restora.data import resize_max

COMPARE_SIDE = 1600  # long side of the comparison images, px
MAP_SIDE = 512  # long side of the degradation maps and the regions overlay, px
PNG_MAX_PIXELS = 1_000_000  # larger comparison images are inlined as JPEG (quality 95)
MIN_DISPLAY = 512  # smaller images are shown enlarged by a whole factor to about this size

_CSS = """body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1700px;padding:0 16px;
background:#fafafa;color:#222}h1{font-size:22px}h2{font-size:18px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;font-size:13px;text-align:left;
vertical-align:top;border-bottom:1px solid #ddd}th{background:#eee}td.n{text-align:right}
.cmp{position:relative;display:inline-block;max-width:100%;line-height:0;user-select:none}
.cmp img{display:block;width:100%;height:auto}.cmp img.zoom{image-rendering:pixelated}
.cmp img.before{position:absolute;top:0;left:0;width:100%;height:100%;clip-path:inset(0 50% 0 0)}
.cmp .bar{position:absolute;top:0;bottom:0;left:50%;width:2px;margin-left:-1px;background:#fff;
box-shadow:0 0 3px #000;pointer-events:none}
.cmp input{position:absolute;top:0;left:0;width:100%;height:100%;margin:0;opacity:0;
cursor:ew-resize}
.cmp .tag{position:absolute;top:6px;padding:2px 6px;font-size:12px;line-height:16px;
background:rgba(0,0,0,.55);color:#fff;pointer-events:none}
.maps{display:flex;flex-wrap:wrap;gap:12px}.maps figure{margin:0}
.maps img{width:320px;max-width:100%;height:auto}
figcaption{font-size:12px;color:#555}.kept{color:#176b2c;font-weight:600}
.rolled{color:#9b1c1c}.beaten{color:#8a6d00}.thumb{width:192px;height:auto}
.share{display:inline-block;height:10px;background:#4a7bd0;vertical-align:middle}
code{font-size:12px}"""

_JS = """(function(){var s=document.getElementById('split'),b=document.getElementById('before'),
l=document.getElementById('bar');if(!s||!b||!l){return;}
function u(){var v=Number(s.value);b.style.clipPath='inset(0 '+(100-v)+'% 0 0)';l.style.left=v+'%';}
s.addEventListener('input',u);u();})();"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _uri(img: np.ndarray, max_side: int, jpeg_above: int | None = None) -> str:
    """``img`` (float RGB in [0, 1]) at most ``max_side`` px long as a data: URI (PNG, or JPEG
    when it has more than ``jpeg_above`` pixels)."""
    small = resize_max(as_image(img), max_side)
    q = np.round(small * 255.0).astype(np.uint8)
    buf = _io.BytesIO()
    if jpeg_above is not None and q.shape[0] * q.shape[1] > jpeg_above:
        Image.fromarray(q).save(buf, format="JPEG", quality=95)
        mime = "image/jpeg"
    else:
        Image.fromarray(q).save(buf, format="PNG", optimize=False)
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _num(v: object, fmt: str = ".2f") -> str:
    try:
        return format(float(v), fmt)
    except (TypeError, ValueError):
        return _e(v)


def _params(params: dict) -> str:
    return ", ".join(f"{k}={_num(v, '.3g')}" for k, v in params.items())


def _table(head: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are already-escaped HTML."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _slider(before: np.ndarray, after: np.ndarray) -> str:
    small_b = resize_max(as_image(before), COMPARE_SIDE)
    h, w = small_b.shape[:2]
    small_a = resize_max(as_image(after), COMPARE_SIDE)  # the same resampling as before
    if small_a.shape[:2] != (h, w):
        import cv2

        small_a = cv2.resize(small_a, (w, h), interpolation=cv2.INTER_AREA)
    zoom = max(1, MIN_DISPLAY // max(h, w))  # small images shown enlarged, pixels sharp
    cls = ' class="zoom"' if zoom > 1 else ""
    return (f'<div class="cmp" id="compare" style="width:{w * zoom}px">'
            f'<img{cls} src="{_uri(small_a, COMPARE_SIDE, PNG_MAX_PIXELS)}" width="{w}" '
            f'height="{h}" alt="after">'
            f'<img class="before{" zoom" if zoom > 1 else ""}" id="before" '
            f'src="{_uri(small_b, COMPARE_SIDE, PNG_MAX_PIXELS)}" width="{w}" height="{h}" '
            f'alt="before">'
            f'<div class="bar" id="bar"></div>'
            f'<span class="tag" style="left:6px">before</span>'
            f'<span class="tag" style="right:6px">after</span>'
            f'<input type="range" id="split" min="0" max="100" step="0.1" value="50" '
            f'aria-label="before / after split"></div>')


def _estimate(t: dict) -> str:
    return f"{_e(t.get('param', ''))} {_num(t.get('value', ''), '.3g')} {_e(t.get('unit', ''))}"


def _detections(trace, result, before: np.ndarray) -> str:
    det = trace.detections
    types = det.get("types", [])
    rows = [[_e(t["op"]), _num(t["prob"]), _num(t.get("severity", "")), _estimate(t)]
            for t in types]
    head = (f"<p>Quality of the input {_num(det.get('quality', ''))} "
            f"({_e(det.get('tier', ''))}), domain {_e(det.get('domain', ''))}.</p>")
    out = [head]
    out.append(_table(["type", "probability", "severity", "estimate"], rows) if rows
               else "<p>Nothing detected: the input looks clean.</p>")
    figs = []
    if result.assessment is not None:
        from restora.perceive import render_map, render_regions

        for t in types:
            pic = render_map(before, result.assessment, t["op"], max_side=MAP_SIDE)
            figs.append(f'<figure><img src="{_uri(pic, MAP_SIDE)}" alt="{_e(t["op"])} map">'
                        f"<figcaption>{_e(t['op'])} (p {_num(t['prob'])})</figcaption></figure>")
        if result.regions:
            pic = render_regions(before, result.regions, max_side=MAP_SIDE)
            figs.append(f'<figure><img src="{_uri(pic, MAP_SIDE)}" alt="regions">'
                        "<figcaption>regions (numbered as below)</figcaption></figure>")
    if figs:
        out.append('<div class="maps">' + "".join(figs) + "</div>")
    if trace.regions:
        rows = [[str(k), _num(100 * r.get("area", 0), ".1f") + " %", _num(r.get("confidence", "")),
                 _e(", ".join(f"{t['op']} ({t.get('param', '')} {float(t.get('value', 0)):.3g})"
                              for t in r.get("types", [])) or "clean")]
                for k, r in enumerate(trace.regions, 1)]
        out.append(_table(["region", "area", "confidence", "degradations"], rows))
    return "\n".join(out)


def _verdict(v: str) -> str:
    cls = {"kept": "kept", "rolled back": "rolled", "beaten": "beaten"}.get(v, "")
    return f'<span class="{cls}">{_e(v)}</span>'


def _steps(trace) -> str:
    if not trace.steps:
        return "<p>No step was planned.</p>"
    out = []
    for i, s in enumerate(trace.steps, 1):
        what = f'<span class="rolled">kept {_e(s.kept)}, undone by the final check</span>' \
            if s.kept and getattr(s, "undone", False) else \
            f'<span class="kept">kept {_e(s.kept)}</span>' if s.kept else \
            f'<span class="rolled">not tried: {_e(s.vetoed)}</span>' if getattr(s, "vetoed", "") \
            else '<span class="rolled">rolled back</span>'
        where = "the whole image (the dark channel shows a veil)" if s.region < 0 else \
            f"region {s.region + 1}" + (f" of round {s.round}'s partition" if s.round > 1 else "")
        out.append(f"<h3>Step {i} (round {s.round}): {_e(s.op)} on {where} "
                   f"({_num(100 * s.area, '.0f')} % of the image, p {_num(s.prob)}, estimated "
                   f"{_e(s.estimate)}): {what}</h3>")
        rows = [[_e(a.tool), _e(_params(a.params)), _num(a.p_better),
                 "–" if getattr(a, "score", None) is None else _num(a.score),
                 f"{_num(a.quality_before)} → {_num(a.quality_after)}", _num(a.structure),
                 _num(a.chroma_shift, ".3f"), _verdict(a.verdict), _e(a.reason or ""),
                 _num(a.seconds, ".2f")] for a in s.attempts]
        if not s.attempts:
            continue
        out.append(_table(["tool", "parameters", "p_better", "learned score",
                           "quality before → after",
                           "structure", "chroma shift", "verdict", "reason", "s"], rows))
        if s.thumbnail is not None:
            out.append(f'<figure><img class="thumb" src="{_uri(s.thumbnail, 192)}" '
                       f'alt="after step {i}"><figcaption>after step {i}</figcaption></figure>')
    return "\n".join(out)


def _rounds(trace) -> str:
    rows = [["input", "", "", _num(trace.detections.get("quality", ""))]]
    rows += [[_e(r.get("round", "")), _e(r.get("steps", "")), _e(r.get("kept", "")),
              _num(r.get("quality", ""))] for r in trace.rounds]
    out = _table(["round", "steps", "kept", "quality"], rows)
    p = getattr(trace, "final_p_better", None)
    if p is not None:
        base = getattr(trace, "final_base", "the input")
        verdict = f"{base} was returned" if reverted(trace) else "the result was kept"
        out += (f"<p>Final check of the whole image: the comparator gives the result "
                f"{_num(100 * p, '.0f')} % probability of being better than {_e(base)}; "
                f"{_e(verdict)}.</p>")
    return out


def _times(trace) -> str:
    sec = dict(trace.seconds)
    total = float(sec.get("total", 0.0)) or 1e-9
    parts = [(k, float(sec.get(k, 0.0))) for k in ("perceive", "plan", "tools", "judge")]
    parts.append(("other", max(0.0, total - sum(v for _, v in parts))))
    rows = [[_e(k), _num(v, ".2f") + " s", _num(100 * v / total, ".0f") + " %",
             f'<span class="share" style="width:{max(1, round(200 * v / total))}px"></span>']
            for k, v in parts]
    rows.append(["total", _num(sec.get("total", 0.0), ".2f") + " s", "100 %", ""])
    return _table(["stage", "time", "share", ""], rows)


def reverted(trace) -> bool:
    """The loop's final whole-image check undid kept steps (it returned the input, or the
    result of the leading steps the re-perception was sure of)."""
    p = getattr(trace, "final_p_better", None)
    return p is not None and p < 0.5


def final_quality(trace) -> float | None:
    """The quality of the returned image: that after the last round, the input's when nothing
    ran, or that of what the final check returned instead (the input, or the result of the
    steps the re-perception was sure of)."""
    q_in = trace.detections.get("quality")
    if reverted(trace):
        q = getattr(trace, "returned_quality", None)
        return q_in if q is None else q
    return q_in if not trace.rounds else trace.rounds[-1]["quality"]


def steps_kept(trace) -> int:
    """Steps whose result is in the returned image."""
    return sum(1 for s in trace.steps if s.kept and not getattr(s, "undone", False))


def render_report(result, *, before: np.ndarray, source_name: str) -> str:
    """The report's HTML text (see the module docstring). ``before`` is the input image
    (float32 RGB in [0, 1]), ``result`` what :func:`restora.agent.restore` returned for it."""
    trace = result.trace
    q_in, q_out, kept = trace.detections.get("quality"), final_quality(trace), steps_kept(trace)
    memory = ", ".join(f"{k} → {v}" for k, v in (trace.memory_used or {}).items())
    name = _e(source_name)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Restora report: {name}</title><style>{_CSS}</style></head><body>"
        f"<h1>Restora restoration report: {name}</h1>"
        f"<p>{kept} of {len(trace.steps)} step{'s' if len(trace.steps) != 1 else ''} in the "
        f"result; quality {_num(q_in)} → {_num(q_out)}. <b>Stopped:</b> <span id='stop'>"
        f"{_e(trace.stop_reason)}</span> ({_num(trace.seconds.get('total', 0.0))} s).</p>"
        f"<p>Signature <code>{_e(trace.signature)}</code>"
        + (f"; experience memory suggested {_e(memory)}" if memory else "") + ".</p>"
        "<h2>Before / after</h2><p>Drag across the image (or use the arrow keys) to move the "
        "split.</p>" + _slider(before, result.image)
        + "<h2>What was detected</h2>" + _detections(trace, result, before)
        + "<h2>Steps</h2>" + _steps(trace)
        + "<h2>Quality per round</h2>" + _rounds(trace)
        + f"<h2>Stop reason</h2><p>{_e(trace.stop_reason)}</p>"
        + "<h2>Time</h2>" + _times(trace)
        + f"<script>{_JS}</script></body></html>")


def write_report(result, path: str | Path, *, before: np.ndarray, source_name: str,
                 overwrite: bool = False) -> Path:
    """Write the report of ``result`` (restora.agent.Result) for the input image ``before`` to
    ``path``, atomically; an existing file is kept unless ``overwrite`` (RestoraError)."""
    p = Path(path)
    io.check_destination(p, overwrite)
    text = render_report(result, before=before, source_name=source_name)
    io.write_bytes(p, text.encode("utf-8"), overwrite)
    return p
