"""One self-contained HTML page: plotly.js inlined once, each figure's JSON in its own
``<script type="application/json" class="tb-figure">`` element, drawn by one small inline
script. No URL is fetched when the page opens (no CDN, no web font, no MathJax).

A figure that fails to draw shows its error in its own box instead of a blank space.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go

__all__ = ["Page", "figures_in", "fmt", "table"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2933;background:#f7f8fa}
header{background:#1f2933;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#cbd2d9;font-size:13px}
main{max-width:1200px;margin:0 auto;padding:12px 24px 40px}
section{background:#fff;border:1px solid #e4e7eb;border-radius:6px;margin:14px 0;padding:10px 16px}
h2{font-size:16px;margin:6px 0 8px}.fig{width:100%;min-height:120px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
td,th{padding:3px 10px;border-bottom:1px solid #eef0f2;text-align:left;overflow-wrap:anywhere}
td.n{text-align:right;font-variant-numeric:tabular-nums}.notes li{font-size:13px;color:#52606d}
.missing{color:#9b2c2c}.tb-error{color:#9b2c2c;font-family:monospace}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:8px 24px}
"""

_DRAW = """
(function(){var cfg={responsive:true,displaylogo:false,showLink:false,showSendToCloud:false};
document.querySelectorAll('script.tb-figure').forEach(function(s){var box=document.getElementById(s.dataset.target);
try{var f=JSON.parse(s.textContent);Plotly.newPlot(box,f.data,f.layout,cfg).then(function(){box.dataset.drawn='1';},
function(e){box.textContent='chart failed to render: '+e;box.className+=' tb-error';});}
catch(e){box.textContent='chart failed to render: '+e;box.className+=' tb-error';}});})();
"""


def _plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def fmt(v: Any, digits: int = 2) -> str:
    """A table cell: numbers with thousands separators, None as an en dash."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        if v != 0 and abs(v) < 0.01:
            return f"{v:.3g}"
        return f"{v:,.{digits}f}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={fmt(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(fmt(x) for x in v)
    return str(v)


def table(rows: Sequence[Sequence[Any]], head: Sequence[str] | None = None) -> str:
    """An HTML table; numeric cells right-aligned; every cell escaped."""
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
    for row in rows:
        cells = []
        for v in row:
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cells.append(f'<td class="n">{html.escape(fmt(v))}</td>' if num
                         else f"<td>{html.escape(fmt(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


_FIGURE_RE = re.compile(r'<script type="application/json" class="tb-figure" data-name="([^"]+)"[^>]*>(.*?)</script>',
                        re.S)


def _decoded(obj: Any) -> Any:
    """plotly's compact arrays (``{"dtype", "bdata"}``) as lists; everything else as is."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            if "shape" in obj:
                arr = arr.reshape([int(x) for x in str(obj["shape"]).split(",")])
            return arr.tolist()
        return {k: _decoded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decoded(v) for v in obj]
    return obj


def figures_in(page: str) -> dict[str, dict[str, Any]]:
    """The figures embedded in a page by :class:`Page`, by name, arrays decoded (for tests and
    tools that read a report back)."""
    return {name: _decoded(json.loads(text))
            for name, text in _FIGURE_RE.findall(page)}


def figure_json(fig: go.Figure) -> str:
    """The figure as JSON that is safe inside a ``<script>`` element."""
    text = fig.to_json(validate=False)
    return text.replace("<", "\\u003c")  # "<" appears only inside JSON strings


@dataclass
class Page:
    """Sections in order; :meth:`render` gives the whole document."""

    title: str
    subtitle: str = ""
    parts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    figures: int = 0

    def figure(self, name: str, title: str, fig: go.Figure, height: int = 380) -> None:
        """A section with one chart; ``name`` is the figure's id (``fig-<name>``)."""
        fig.update_layout(template="plotly_white", height=height,
                          margin={"l": 60, "r": 20, "t": 30, "b": 40},
                          legend={"orientation": "h", "y": 1.08, "x": 0})
        fig.layout.meta = {"name": name}
        box = f"fig-{name}"
        self.figures += 1
        self.parts.append(
            f'<section id="sec-{name}"><h2>{html.escape(title)}</h2><div class="fig" id="{box}"></div>'
            f'<script type="application/json" class="tb-figure" data-name="{name}" data-target="{box}">'
            f"{figure_json(fig)}</script></section>")

    def section(self, title: str, body_html: str) -> None:
        self.parts.append(f"<section><h2>{html.escape(title)}</h2>{body_html}</section>")

    def tables(self, title: str, blocks: Iterable[tuple[str, str]]) -> None:
        """Several small titled tables side by side."""
        inner = "".join(f"<div><h3 style='font-size:14px'>{html.escape(t)}</h3>{b}</div>" for t, b in blocks)
        self.section(title, f'<div class="grid">{inner}</div>')

    def note(self, text: str | None) -> None:
        if text:
            self.notes.append(text)

    def render(self) -> str:
        notes = ""
        if self.notes or self.missing:
            items = "".join(f'<li class="missing">{html.escape(m)}</li>' for m in self.missing)
            items += "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
            notes = f'<section class="notes" id="notes"><h2>About this page</h2><ul>{items}</ul></section>'
        meta = json.dumps({"figures": self.figures, "missing": self.missing}).replace("<", "\\u003c")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style>"
            f'<script type="application/json" id="tb-meta">{meta}</script></head><body>'
            f"<header><h1>{html.escape(self.title)}</h1><p>{html.escape(self.subtitle)}</p></header>"
            f"<main>{notes}{''.join(self.parts)}</main>"
            f'<script type="text/javascript">window.PlotlyConfig={{MathJaxConfig:"local"}};</script>'
            f'<script type="text/javascript" id="plotlyjs">{_plotlyjs()}</script>'
            f'<script type="text/javascript">{_DRAW}</script></body></html>\n'
        )
