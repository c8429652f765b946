"""Strings from a report shown as data: control characters made visible, and the escapes that
keep Markdown, HTML and matplotlib from interpreting them.

Everything in a report.json (class and group names, attack names, paths, warnings, messages) is
data that a user or a dataset chose. ``visible`` writes control characters (C0, DEL, C1, the
Unicode line separators and bidirectional overrides) as ``\\x1b``, ``\\n``, ``\\u202e`` so that
nothing can move the cursor, retitle a terminal or reorder text; the other helpers add the escapes
of one output format on top of that.
"""

from __future__ import annotations

import re
from html import escape as _html_escape

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: line separators and the bidirectional formatting characters ("Trojan Source")
_INVISIBLE = (
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)


def _code(cp: int) -> str:
    ch = chr(cp)
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


_VISIBLE = {cp: _code(cp) for cp in (*range(0x20), *range(0x7F, 0xA0), *_INVISIBLE)}

# Markdown (CommonMark and GitHub's dialect): backslash escapes for inline syntax (emphasis, code,
# links, tables, strikethrough, math, headings) and entities for what HTML would read. An
# underscore between two letters or digits cannot emphasise (step_size stays as it is).
_MARKDOWN = {
    **_VISIBLE,
    **{ord(ch): "\\" + ch for ch in "\\`*[]|~#$"},
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
}


def visible(text: object) -> str:
    """``str(text)`` with every control character written as an escape (``\\x1b``, ``\\n``)."""
    return str(text).translate(_VISIBLE)


_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")


def markdown_text(text: object) -> str:
    """``text`` for Markdown inline context (a table cell, a paragraph, a heading): shows
    literally, on one line, whatever characters it holds."""
    return _EDGE_UNDERSCORE.sub(r"\\_", str(text).translate(_MARKDOWN))


def html_text(text: object) -> str:
    """``text`` for HTML text or a quoted attribute value."""
    return _html_escape(visible(text))


def plot_text(text: object) -> str:
    """``text`` for a matplotlib label: visible control characters, no mathtext (``$``)."""
    return visible(text).replace("$", r"\$")


def is_control(ch: str) -> bool:
    """Whether ``ch`` is one of the characters :func:`visible` rewrites."""
    return ord(ch) in _VISIBLE
