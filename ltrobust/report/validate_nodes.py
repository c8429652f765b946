"""A small declarative schema for JSON data: one node per kind of value, walked depth-first.

A node checks one value (its type, its range, the size of a list) and hands its children to their
nodes; an :class:`Obj` also runs its rules, functions that compare fields once their types are
known. The walk stops at the first problem and raises :class:`Invalid` with the value's JSON path
(``attacks.pgd20.summary.per_class[3].recall``) and a sentence (``must be a number in [0, 1],
got "0.5"``). Sizes and bounds that depend on the data (the number of classes, of samples) are
looked up by name in a context dict filled in before the walk.

Every number anywhere, typed or not, must be finite and fit a double: JSON has no NaN or
infinity (Python's json module reads them all the same), and formatting 10**400 overflows.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeGuard

from ltrobust.limits import MAX_INT

PathPart = str | int
Path = tuple[PathPart, ...]
#: a rule's finding: the path below the object it checks, and what is wrong there
Problem = tuple[Path, str]
Context = dict[str, Any]
Rule = Callable[[Mapping[str, Any], Context], Iterator[Problem]]


class Invalid(Exception):
    """The first problem found: where (a JSON path) and what."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{format_path(path)} {message}")
        self.path, self.message = path, message


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def format_path(path: Path) -> str:
    """``("attacks", "pgd20", "confusion", 2)`` -> ``attacks.pgd20.confusion[2]``; keys that are
    not plain names are quoted: ``extra_pred["pgd20@kappa=1"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "the report"


def brief(v: Any) -> str:
    """A value as a message shows it: one line, short, control characters escaped."""
    if isinstance(v, Mapping):
        return "an object"
    if isinstance(v, list | tuple):
        return "a list"
    if isinstance(v, str):
        return json.dumps(v[:40]) + ("..." if len(v) > 40 else "")
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int):
        if abs(v) < 10**20:
            return str(v)
        return f"an integer of about {int(v.bit_length() * 0.30103) + 1} digits"
    if isinstance(v, float):
        return json.dumps(v)  # NaN, Infinity, -Infinity as JSON readers write them
    return f"a {type(v).__name__}"


def is_number(v: object) -> TypeGuard[float]:
    """A finite int or float (not a bool) that a float can hold."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond the float range
        return False


def is_int(v: object) -> TypeGuard[int]:
    """An int (not a bool) of at most 2**53 in size."""
    return isinstance(v, int) and not isinstance(v, bool) and -MAX_INT <= v <= MAX_INT


class Node:
    """One kind of value; ``null`` allows JSON null."""

    null = False

    def describe(self, ctx: Context) -> str:
        raise NotImplementedError

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        raise NotImplementedError

    def walk(self, v: Any, path: Path, ctx: Context) -> None:
        if v is None:
            if not self.null:
                raise Invalid(path, self.expected(v, ctx))
            return
        self.check(v, path, ctx)

    def expected(self, v: Any, ctx: Context) -> str:
        return f"must be {self.describe(ctx)}{' or null' if self.null else ''}, got {brief(v)}"

    def or_null(self) -> Node:
        other = copy.copy(self)
        other.null = True
        return other


class Num(Node):
    """A finite number, within ``[lo, hi]`` (``lo`` excluded with ``above``)."""

    def __init__(
        self, lo: float | None = None, hi: float | None = None, *, above: bool = False
    ) -> None:
        self.lo, self.hi, self.above = lo, hi, above

    def describe(self, ctx: Context) -> str:
        if self.lo is not None and self.hi is not None:
            return f"a number in [{self.lo:g}, {self.hi:g}]"
        if self.lo is not None:
            return f"a number {'>' if self.above else '>='} {self.lo:g}"
        return "a finite number"

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        ok = is_number(v)
        if ok and self.lo is not None:
            ok = v > self.lo if self.above else v >= self.lo
        if ok and self.hi is not None:
            ok = v <= self.hi
        if not ok:
            raise Invalid(path, self.expected(v, ctx))


class Int(Node):
    """An integer >= ``lo``; below the context's ``below`` (a class index below ``C``), or
    equal to the context's ``equals`` (``what`` says what that is)."""

    def __init__(
        self,
        lo: int | None = 0,
        *,
        below: str | None = None,
        equals: str | None = None,
        what: str = "",
    ) -> None:
        self.lo, self.below, self.equals, self.what = lo, below, equals, what

    def describe(self, ctx: Context) -> str:
        if self.equals is not None and ctx.get(self.equals) is not None:
            return f"{ctx[self.equals]} ({self.what})"
        top = ctx.get(self.below) if self.below is not None else None
        if top is not None:
            return f"a class index in [0, {top - 1}]"
        return "an integer" + (f" >= {self.lo}" if self.lo is not None else "")

    def ok(self, v: Any, ctx: Context) -> bool:
        if not is_int(v) or (self.lo is not None and v < self.lo):
            return False
        top = ctx.get(self.below) if self.below is not None else None
        if top is not None and v >= top:
            return False
        want = ctx.get(self.equals) if self.equals is not None else None
        return want is None or v == want

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        if not self.ok(v, ctx):
            raise Invalid(path, self.expected(v, ctx))


class Str(Node):
    """A string, one of ``choices`` if given."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def describe(self, ctx: Context) -> str:
        return "one of " + ", ".join(map(json.dumps, self.choices)) if self.choices else "a string"

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        if not isinstance(v, str) or (self.choices and v not in self.choices):
            raise Invalid(path, self.expected(v, ctx))


class Bool(Node):
    def describe(self, ctx: Context) -> str:
        return "true or false"

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        if not isinstance(v, bool):
            raise Invalid(path, self.expected(v, ctx))


class AnyJSON(Node):
    """Any JSON value (free-form settings, provenance), with finite numbers only."""

    null = True

    def describe(self, ctx: Context) -> str:
        return "JSON data"

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        stack: list[tuple[Any, Path]] = [(v, path)]
        while stack:
            x, where = stack.pop()
            if isinstance(x, Mapping):
                for k in reversed(list(x)):
                    if not isinstance(k, str):
                        raise Invalid(where, f"has a key that is not a string: {brief(k)}")
                    stack.append((x[k], (*where, k)))
            elif isinstance(x, list | tuple):
                stack.extend((x[i], (*where, i)) for i in reversed(range(len(x))))
            elif isinstance(x, int | float) and not isinstance(x, bool) and not is_number(x):
                raise Invalid(where, f"must be a finite number, got {brief(x)}")
            elif x is not None and not isinstance(x, str | int | float):
                raise Invalid(where, f"must be JSON data, got {brief(x)}")


class ListOf(Node):
    """A list of ``item``; ``size`` names the context entry its length must equal."""

    def __init__(
        self, item: Node, *, size: str | None = None, what: str = "", unique: bool = False
    ) -> None:
        self.item, self.size, self.what, self.unique = item, size, what, unique

    def describe(self, ctx: Context) -> str:
        return "a list"

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        if not isinstance(v, list | tuple):
            raise Invalid(path, self.expected(v, ctx))
        want = ctx.get(self.size) if self.size is not None else None
        if want is not None and len(v) != want:
            raise Invalid(path, f"must have {want} entries ({self.what}), got {len(v)}")
        if not self._fast_ok(v, ctx):
            for i, x in enumerate(v):
                self.item.walk(x, (*path, i), ctx)
        if self.unique and len(set(v)) != len(v):
            seen: set[Any] = set()
            for i, x in enumerate(v):
                if x in seen:
                    raise Invalid((*path, i), f"repeats {brief(x)}: entries must be unique")
                seen.add(x)

    def _fast_ok(self, v: Sequence[Any], ctx: Context) -> bool:
        """Long per-sample lists (class indices, flags): one pass over plain values, no calls."""
        item = self.item
        if isinstance(item, Bool):
            return all(type(x) is bool for x in v)
        if not isinstance(item, Int) or item.equals is not None or not v:
            return False
        if not all(type(x) is int for x in v):
            return False
        return item.ok(min(v), ctx) and item.ok(max(v), ctx)


class MapOf(Node):
    """An object with any keys and values of one kind; ``key_field`` names a field of each value
    that must repeat its key."""

    def __init__(self, value: Node, *, key_field: str | None = None) -> None:
        self.value, self.key_field = value, key_field

    def describe(self, ctx: Context) -> str:
        return "an object"

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        if not isinstance(v, Mapping):
            raise Invalid(path, self.expected(v, ctx))
        for k, x in v.items():
            if not isinstance(k, str):
                raise Invalid(path, f"has a key that is not a string: {brief(k)}")
            self.value.walk(x, (*path, k), ctx)
            if self.key_field is not None and x is not None and x[self.key_field] != k:
                where = (*path, k, self.key_field)
                raise Invalid(where, f"must be its key {brief(k)}, got {brief(x[self.key_field])}")


ANY = AnyJSON()


class Obj(Node):
    """An object with known ``fields`` (in document order). ``optional``: True (all), or the
    names that may be missing. ``closed``: other keys are refused, else checked as JSON data.
    ``rules`` run once every field has its type."""

    def __init__(
        self,
        fields: dict[str, Node],
        *,
        optional: bool | frozenset[str] = False,
        closed: bool = True,
        rules: tuple[Rule, ...] = (),
    ) -> None:
        self.fields, self.closed, self.rules = fields, closed, rules
        self.optional = frozenset(fields) if optional is True else optional or frozenset()

    def describe(self, ctx: Context) -> str:
        return "an object"

    def with_fields(self, **fields: Node) -> Obj:
        other = copy.copy(self)
        other.fields = {**self.fields, **fields}
        return other

    def check(self, v: Any, path: Path, ctx: Context) -> None:
        if not isinstance(v, Mapping):
            raise Invalid(path, self.expected(v, ctx))
        for name, node in self.fields.items():
            if name in v:
                node.walk(v[name], (*path, name), ctx)
            elif name not in self.optional:
                raise Invalid((*path, name), "is missing")
        for k in v:
            if not isinstance(k, str):
                raise Invalid(path, f"has a key that is not a string: {brief(k)}")
            if k in self.fields:
                continue
            if self.closed:
                raise Invalid((*path, k), f"is not a field here ({', '.join(self.fields)})")
            ANY.walk(v[k], (*path, k), ctx)
        for rule in self.rules:
            for where, message in rule(v, ctx):
                raise Invalid((*path, *where), message)
