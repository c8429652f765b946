"""Markdown report. Plots are PNG files in a folder beside it: ``report.md`` links
``report_plots/recall.png`` etc. (relative links, so the pair can be moved together).

Every text is data (class, group and attack names, paths, warnings): it is escaped for Markdown
and HTML and its control characters are written visibly (:mod:`ltrobust.report.text`), so a
name such as ``<script>`` or ``*x* | y`` shows literally and keeps its table cell.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from ltrobust.fileio import atomic_path, atomic_write_text
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
from ltrobust.report.text import markdown_text as _esc


def plots_dir_for(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(f"{p.stem}_plots")


def _cell(c: Cell) -> str:
    text = (
        f"**{_esc(c.text)}**"
        if c.css in ("strong", "bad") or (c.css or "").startswith("verdict-")
        else _esc(c.text)
    )
    return f"{text} ({_esc(c.sub)})" if c.sub else text


def _table(t: Table) -> list[str]:
    lines = ["| " + " | ".join(_esc(h) or " " for h in t.header) + " |"]
    lines.append("|" + "|".join([":--"] + ["--:"] * (len(t.header) - 1)) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"*{_esc(t.caption)}*"]
    return lines


def render_markdown(doc: Document, plots_folder: str) -> str:
    """Markdown text; figures link ``plots_folder/<name>.png``."""
    out = [f"# {_esc(doc.title)}", "", _esc(doc.subtitle), ""]
    for b in doc.blocks:
        out += _block(b, plots_folder) + [""]
    return "\n".join(out).rstrip() + "\n"


def _block(b: Block, folder: str) -> list[str]:
    if isinstance(b, Heading):
        return ["#" * b.level + " " + _esc(b.text)]
    if isinstance(b, Para):
        return [("> " if b.css else "") + _esc(b.text)]
    if isinstance(b, Bullets):
        return [f"- {_esc(item)}" for item in b.items]
    if isinstance(b, Cards):
        return [
            f"- **{_esc(label)}: {_esc(value)}** {_esc(detail)}".rstrip()
            for label, value, detail in b.items
        ]
    if isinstance(b, Figure):
        return [f"![{_esc(b.alt)}]({quote(folder)}/{quote(b.name)}.png)"]
    if isinstance(b, Details):
        inner = [line for sub in b.blocks for line in [*_block(sub, folder), ""]]
        return [f"<details><summary>{html_text(b.summary)}</summary>", "", *inner, "</details>"]
    return _table(b)


def write_markdown(
    report: AuditReport, path: str | Path, plots: dict[str, bytes] | None = None
) -> list[Path]:
    """Write ``path`` and its PNG plots (each file atomically, the Markdown last).

    Returns the files written.
    """
    from ltrobust.report.plots import all_plots

    plots = all_plots(report) if plots is None else plots
    target = Path(path)
    folder = plots_dir_for(target)
    written = []
    for name, png in plots.items():
        with atomic_path(folder / f"{name}.png") as tmp:
            tmp.write_bytes(png)
        written.append(folder / f"{name}.png")
    text = render_markdown(build_document(report, plots), folder.name)
    atomic_write_text(target, text)
    return [*written, target]
