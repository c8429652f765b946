"""Self-contained HTML report: one file, inline CSS, plots as base64 PNG data URIs, no
scripts and no external requests (it opens offline, from a mail attachment or a CI artefact).

Every text is escaped, control characters written visibly (:func:`ltrobust.report.text.html_text`).
"""

from __future__ import annotations

import base64
from pathlib import Path

from ltrobust.fileio import atomic_write_text
from ltrobust.report.blocks import (
    Block,
    Bullets,
    Cards,
    Cell,
    Details,
    Document,
    Figure,
    Heading,
    Para,
    Table,
)
from ltrobust.report.document import build_document
from ltrobust.report.schema import AuditReport
from ltrobust.report.text import html_text

CSS = """
:root{--fg:#1d2230;--muted:#5b6475;--line:#dde1e8;--bg:#fff;--soft:#f5f7fa;--good:#1a7f37;
--warn:#9a6700;--bad:#cf222e}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:34px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:22px 0 8px}
.subtitle{color:var(--muted);margin:0 0 14px}
nav{font-size:13px;margin:0 0 18px}
nav a{color:#0b57d0;text-decoration:none;margin-right:14px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 4px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:170px;background:var(--soft)}
.card .label{color:var(--muted);font-size:12px}
.card .value{font-size:24px;font-weight:600}
.card .detail{color:var(--muted);font-size:12px}
table{border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
th{background:var(--soft);font-weight:600}
th:first-child,td:first-child{text-align:left}
td .sub{display:block;color:var(--muted);font-size:11px}
td.strong{font-weight:700}
td.text,th.text{text-align:left;max-width:520px}
details{margin:6px 0 10px}
summary{cursor:pointer;color:var(--muted)}
td.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;text-align:left;word-break:break-all}
table.kv td{text-align:left}
.caption{color:var(--muted);font-size:12px;margin:2px 0 12px;max-width:1000px}
td.verdict-reliable,td.good{color:var(--good);font-weight:700}
td.verdict-suspect{color:var(--warn);font-weight:700}
td.verdict-inflated,td.verdict-degenerate,td.bad{color:var(--bad);font-weight:700}
p.note{background:#fff8e6;border-left:4px solid #d4a72c;padding:8px 12px;margin:8px 0}
ul.warn{color:var(--warn)}
img{max-width:100%;height:auto;display:block;margin:8px 0}
footer{color:var(--muted);font-size:12px;margin-top:40px}
"""


def _cell(c: Cell, tag: str = "td") -> str:
    cls = f' class="{html_text(c.css)}"' if c.css else ""
    sub = f'<span class="sub">{html_text(c.sub)}</span>' if c.sub else ""
    return f"<{tag}{cls}>{html_text(c.text)}{sub}</{tag}>"


def _table(t: Table) -> str:
    kv = all(not h for h in t.header)
    text_cols = {i for i, c in enumerate(t.rows[0] if t.rows else []) if c.css == "text"}
    ths = "".join(
        f'<th class="text">{html_text(h)}</th>' if i in text_cols else f"<th>{html_text(h)}</th>"
        for i, h in enumerate(t.header)
    )
    head = "" if kv else f"<thead><tr>{ths}</tr></thead>"
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in t.rows)
    cap = f'<p class="caption">{html_text(t.caption)}</p>' if t.caption else ""
    open_tag = '<table class="kv">' if kv else "<table>"
    return f"{open_tag}{head}<tbody>{body}</tbody></table>{cap}"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _block(b: Block) -> str:
    if isinstance(b, Heading):
        return f'<h{b.level} id="{html_text(b.anchor)}">{html_text(b.text)}</h{b.level}>'
    if isinstance(b, Para):
        cls = f' class="{html_text(b.css)}"' if b.css else ""
        return f"<p{cls}>{html_text(b.text)}</p>"
    if isinstance(b, Bullets):
        cls = f' class="{html_text(b.css)}"' if b.css else ""
        return f"<ul{cls}>" + "".join(f"<li>{html_text(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Cards):
        cards = "".join(
            f'<div class="card"><div class="label">{html_text(lab)}</div>'
            f'<div class="value">{html_text(val)}</div><div class="detail">{html_text(det)}</div></div>'
            for lab, val, det in b.items
        )
        return f'<div class="cards">{cards}</div>'
    if isinstance(b, Figure):
        return f'<img src="{data_uri(b.png)}" alt="{html_text(b.alt)}">'
    if isinstance(b, Details):
        inner = "".join(_block(sub) for sub in b.blocks)
        return f"<details><summary>{html_text(b.summary)}</summary>{inner}</details>"
    return _table(b)


def render_html(doc: Document) -> str:
    """The whole page as one string."""
    nav = " ".join(
        f'<a href="#{html_text(b.anchor)}">{html_text(b.text)}</a>'
        for b in doc.blocks
        if isinstance(b, Heading) and b.level == 2
    )
    body = "\n".join(_block(b) for b in doc.blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html_text(doc.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{html_text(doc.title)}</h1>\n<p class="subtitle">{html_text(doc.subtitle)}</p>\n'
        f"<nav>{nav}</nav>\n{body}\n"
        "<footer>Rendered by ltrobust from report.json alone (no model, no GPU).</footer>\n"
        "</main>\n</body>\n</html>\n"
    )


def report_html(report: AuditReport, plots: dict[str, bytes] | None = None) -> str:
    from ltrobust.report.plots import all_plots

    plots = all_plots(report) if plots is None else plots
    return render_html(build_document(report, plots))


def write_html(
    report: AuditReport, path: str | Path, plots: dict[str, bytes] | None = None
) -> Path:
    """Write the self-contained HTML report atomically."""
    atomic_write_text(path, report_html(report, plots))
    return Path(path)
