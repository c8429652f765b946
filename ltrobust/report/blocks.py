"""Neutral building blocks of a rendered report (cells, headings, tables, figures) and the
number formats shared by the Markdown and HTML renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cell:
    """A table cell: ``text``, optional secondary ``sub`` (an interval) and a CSS class."""

    text: str
    sub: str | None = None
    css: str | None = None


@dataclass
class Heading:
    text: str
    anchor: str
    level: int = 2


@dataclass
class Para:
    text: str
    css: str | None = None  # note | warn


@dataclass
class Bullets:
    items: list[str]
    css: str | None = None


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    caption: str | None = None


@dataclass
class Figure:
    name: str
    png: bytes
    alt: str


@dataclass
class Cards:
    items: list[tuple[str, str, str]]  # label, value, detail


@dataclass
class Details:
    """Folded content (HTML/Markdown ``<details>``)."""

    summary: str
    blocks: list[Table | Para]


Block = Heading | Para | Bullets | Table | Figure | Cards | Details


@dataclass
class Document:
    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)


def pct(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{100 * v:.{digits}f}"


def ci(lo: float | None, hi: float | None) -> str | None:
    return None if lo is None or hi is None else f"{100 * lo:.1f}–{100 * hi:.1f}"


def frac(v: Any) -> str:
    """Numbers as people write budgets: 8/255 when a multiple of 1/255, else 4 digits."""
    if not isinstance(v, float | int) or isinstance(v, bool):
        return str(v)
    short = f"{v:.4g}"
    k = round(v * 255) if 0 < v < 1 else 0  # (1e308 * 255 would overflow)
    if 0 < k < 255 and abs(k / 255 - v) < 1e-9 and abs(float(short) - v) > 1e-9:
        return f"{k}/255"
    return short


def num(v: Any) -> str:
    """A check's value or threshold, an imbalance ratio: 4 significant digits for floats."""
    return "—" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
