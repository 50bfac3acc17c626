"""The degradation gallery: every operator at three severities, plus a masked example with its
ground-truth label map, on one photo, as an HTML page with PNG images beside it."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from tqdm import tqdm

from restora.degrade import OPERATORS, degrade
from restora.errors import RestoraError
from restora.io import save
from restora.report.colormap import colorize

SEVERITIES = (0.3, 0.6, 1.0)

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
table{border-collapse:collapse}td,th{padding:4px;text-align:center;font-size:13px;vertical-align:top}
img{width:256px;image-rendering:auto;display:block}code{font-size:12px;color:#555}
th{background:#eee}"""


def _fmt(params: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in params.items() if k != "seed")


def write_gallery(img: np.ndarray, out_dir: str | Path, *, seed: int = 0, overwrite: bool = False,
                  source: str = "photo", progress: bool = True) -> Path:
    """Render the gallery of ``img`` into ``out_dir``; returns the path of ``gallery.html``."""
    out = Path(out_dir)
    page = out / "gallery.html"
    if page.exists() and not overwrite:
        raise RestoraError(f"{page} exists (use --force to overwrite)")
    (out / "img").mkdir(parents=True, exist_ok=True)
    save(out / "img" / "clean.png", img, overwrite=True)
    rows = []
    for name, op in tqdm(OPERATORS.items(), desc="gallery", disable=not progress):
        cells = []
        for s in SEVERITIES:
            deg, label = degrade(img, f"{name}={s}", seed=seed)
            fn = f"{name}_{int(s * 100):03d}.png"
            save(out / "img" / fn, deg, overwrite=True)
            cells.append(f'<td><img src="img/{fn}" alt="{name} {s}"><code>s={s}: '
                         f"{html.escape(_fmt(label.steps[0].params))}</code></td>")
        deg, label = degrade(img, f"{name}=0.8@blob", seed=seed)
        save(out / "img" / f"{name}_blob.png", deg, overwrite=True)
        save(out / "img" / f"{name}_label.png", colorize(label.maps[name]), overwrite=True)
        cells.append(f'<td><img src="img/{name}_blob.png"><code>s=0.8 @blob</code></td>')
        cells.append(f'<td><img src="img/{name}_label.png"><code>label map (severity × mask)</code></td>')
        rows.append(f"<tr><th>{name}<br><code>{op.stage}, {html.escape(op.doc)}</code></th>"
                    + "".join(cells) + "</tr>")
    head = "".join(f"<th>severity {s}</th>" for s in SEVERITIES)
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>Restora degradation gallery"
            f"</title><style>{_CSS}</style></head><body><h1>Restora degradation gallery</h1>"
            f"<p>Source: {html.escape(source)}, seed {seed}. Regenerate: <code>restora gallery "
            f"--out {html.escape(str(out))} --seed {seed}</code></p>"
            f"<table><tr><th>operator</th>{head}<th>masked</th><th>ground truth</th></tr>"
            + "\n".join(rows) + "</table></body></html>")
    tmp = page.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(page)
    return page
