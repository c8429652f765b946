"""One registry style for architectures, attacks and training methods: a declarative table.

Each :class:`Entry` maps a name (or a name pattern with one number, ``pgd{N}``) to a factory
(or none, for a table of data), a one-line description and its settings: the table's row type ``T`` (a typed spec such as the
attack table's :class:`~ltrobust.attacks.spec.AttackSpec` or the training methods'
:class:`~ltrobust.train.registry.MethodSpec`, or a mapping: fixed parameters). ``Registry[T]`` holds
rows of one type. A factory may be given as
``"module:attribute"`` and is imported on first use, so reading a table (for ``--help``, for
validating a name, for ``ltrobust attacks``) never loads torch. An unknown name raises
:class:`ConfigError` listing the valid ones.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ltrobust.errors import ConfigError

#: the number a pattern's ``{N}`` stands for: a positive integer of at most five digits
_NUMBER = r"([1-9]\d{0,4})"

#: a table's row type
T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One row of a registry table.

    Attributes:
        name: the name, or a pattern with one ``{N}`` (``pgd{N}``: pgd1 ... pgd99999).
        factory: a callable, or ``"module:attribute"`` imported by :meth:`load`; None for a
            table of data only (the protocols), whose rows nothing builds.
        description: one line for lists and ``--help``.
        settings: the entry's settings, as data (the table's row type; None for a table of
            names and factories only, the architectures).
        examples: names a pattern stands for in lists (``pgd20``, ``pgd100``).
        hidden: left out of lists (e.g. tiny models for tests).
    """

    name: str
    factory: Callable[..., Any] | str | None
    description: str
    settings: T = None  # type: ignore[assignment]
    examples: tuple[str, ...] = ()
    hidden: bool = False

    @property
    def is_pattern(self) -> bool:
        return "{N}" in self.name

    @property
    def label(self) -> str:
        """The name as users read it: ``pgdN`` for a pattern."""
        return self.name.replace("{N}", "N")

    def match(self, name: str) -> int | None:
        """For a pattern, the number in ``name`` if it matches (else None); for a plain
        name, 0 if equal."""
        if not self.is_pattern:
            return 0 if name == self.name else None
        head, tail = self.name.split("{N}")
        found = re.fullmatch(re.escape(head) + _NUMBER + re.escape(tail), name)
        return int(found.group(1)) if found else None

    def load(self) -> Callable[..., Any]:
        """The factory (importing ``module:attribute`` on first use)."""
        if callable(self.factory):
            return self.factory
        if self.factory is None:
            raise TypeError(f"{self.name!r} is a row of data: nothing builds it")
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """An ordered table of :class:`Entry` rows of one ``kind`` (``attack``, ``architecture``),
    whose settings are of type ``T``."""

    def __init__(self, kind: str, entries: Iterable[Entry[T]] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry[T]) -> Entry[T]:
        """Append ``entry``; a name already taken is a ``ValueError`` (a programming error)."""
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is already registered")
        self._entries[entry.name] = entry
        return entry

    def extended(self, *entries: Entry[T]) -> Registry[T]:
        """A copy of this registry with ``entries`` appended."""
        return Registry(self.kind, [*self._entries.values(), *entries])

    def entries(self, *, hidden: bool = False) -> list[Entry[T]]:
        """The rows in order (hidden ones only with ``hidden``)."""
        return [e for e in self._entries.values() if hidden or not e.hidden]

    def names(self, *, hidden: bool = False) -> list[str]:
        """Every name in order; a pattern contributes its examples."""
        out: list[str] = []
        for e in self.entries(hidden=hidden):
            out.extend(e.examples if e.is_pattern else (e.name,))
        return out

    def labels(self) -> list[str]:
        """Names and patterns as users read them (``pgdN``), hidden rows left out."""
        return [e.label for e in self.entries()]

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self.entries())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def find(self, name: str) -> tuple[Entry[T], int] | None:
        """The entry called ``name`` and its number (0 for a plain name), or None. Plain names
        win over patterns."""
        if name in self._entries:
            return self._entries[name], 0
        for entry in self._entries.values():
            number = entry.match(name) if entry.is_pattern else None
            if number is not None:
                return entry, number
        return None

    def lookup(self, name: str) -> tuple[Entry[T], int]:
        """Like :meth:`find`, but an unknown name raises :class:`ConfigError` listing the
        valid names."""
        found = self.find(name)
        if found is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {self.valid()}")
        return found

    def valid(self) -> str:
        """``"fgsm, pgd20, pgd100, ... (or pgdN / cwN for any N)"``: the names users can give."""
        text = ", ".join(self.names())
        patterns = [e.label for e in self.entries() if e.is_pattern]
        return text + (f" (or {' / '.join(patterns)} for any N)" if patterns else "")
