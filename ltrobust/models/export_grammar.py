"""The grammar of the strings a ``torch.export`` program's JSON hands to Python: symbolic-size
expressions (``expr_str``, read by ``sympy.sympify``, i.e. ``eval``), guards (``guards_code``,
``exec``-ed by ``ExportedProgram.module()``) and names written into generated code.

Each string is parsed with ``ast.parse`` (which executes nothing) and accepted only when every
node is one torch writes for a plain program: size symbols, numbers, arithmetic, comparisons,
the sympy classes of ``srepr`` and the math functions torch's printer uses
(:mod:`ltrobust.models.export_check` walks the JSON with these checks).
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Callable
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
_FQN = re.compile(r"^[A-Za-z0-9_]{1,200}(\.[A-Za-z0-9_]{1,200}){0,63}$")
#: torch's size-symbol names (torch.utils._sympy.symbol.prefix_str + a number)
_SYMBOL = re.compile(r"^[a-z]{1,8}(?:[01]_)?\d{1,9}$")
_NUMBER_TEXT = re.compile(
    r"^[+-]?(\d{1,40}\.?\d{0,40}|\.\d{1,40})(e[+-]?\d{1,4})?$|^[+-]?inf$|^nan$"
)
_BOOL = re.compile(r"^(True|False)$")
_MAX_EXPR = 20_000  # characters of one expression
_MAX_INT = 2**64

#: sympy classes ``srepr`` writes, and the functions torch's deserializer adds to sympify
_SYMPY_CALLS = frozenset(
    "Symbol Integer Float Rational Add Mul Pow Max Min Eq Ne Lt Le Gt Ge Equality Unequality "
    "StrictLessThan StrictGreaterThan LessThan GreaterThan And Or Not Abs FloorDiv "
    "ModularIndexing Where PythonMod Mod CleanDiv CeilToInt FloorToInt CeilDiv PowByNatural "
    "FloatPow FloatTrueDiv IntTrueDiv TruncToFloat TruncToInt RoundToInt RoundDecimal ToFloat "
    "Identity".split()
)
_POWERS = frozenset({"Pow", "PowByNatural", "FloatPow"})
_ATOMS = frozenset({"oo", "zoo", "nan", "true", "false"})
_ASSUMPTIONS = frozenset(
    "positive negative nonnegative nonpositive integer real finite infinite zero nonzero "
    "even odd rational commutative extended_real".split()
)
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr)
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)

#: what guards call (torch.utils._sympy.printers.PythonPrinter) and the source methods
_GUARD_BUILTINS = frozenset({"max", "min", "abs", "round", "float", "int"})
_GUARD_MODULES = {
    "math": frozenset("floor ceil trunc sqrt isnan cos cosh acos sin sinh asin tan tanh atan "
                      "log2".split()),
    "torch": frozenset({"sym_float", "sym_int", "_sym_sqrt", "sym_max", "sym_min"}),
}  # fmt: skip
_MATH_VALUES = frozenset({"inf", "nan", "pi", "e"})
_SOURCE_METHODS = frozenset({"size", "stride", "storage_offset", "numel", "dim"})


def is_name(value: Any) -> bool:
    return value is None or value == "" or is_ident(value)


def is_ident(value: Any) -> bool:
    return isinstance(value, str) and bool(_IDENT.match(value)) and not keyword.iskeyword(value)


def is_fqn(value: Any) -> bool:
    return value == "" or (isinstance(value, str) and bool(_FQN.match(value)))


def _parse(text: Any) -> ast.expr | None:
    if not isinstance(text, str) or len(text) > _MAX_EXPR:
        return None
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _int(node: ast.expr, limit: int = _MAX_INT) -> bool:
    """An integer literal (optionally signed) of magnitude below ``limit``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    value = node.value if isinstance(node, ast.Constant) else None
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < limit


def _exponent(node: ast.expr) -> bool:
    """A small literal exponent (``2``, ``Integer(-1)``, ``Rational(1, 2)``): sizes never need
    more, and a large one would make sympy compute a huge number."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        arity = {"Integer": 1, "Rational": 2}.get(node.func.id)
        return len(node.args) == arity and all(_int(a, 65) for a in node.args)
    return _int(node, 65)


def _arith(node: ast.expr, leaf: Callable[[ast.expr], bool]) -> bool:
    """Numbers, arithmetic (small powers only), comparisons and logic over what ``leaf``
    accepts."""
    if isinstance(node, ast.Constant):
        value = node.value
        return isinstance(value, (bool, float)) or _int(node)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)) and _arith(node.operand, leaf)
    if isinstance(node, ast.BoolOp):
        return all(_arith(v, leaf) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return _arith(node.left, leaf) and _exponent(node.right)
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, _BINOPS) and _arith(node.left, leaf) and _arith(node.right, leaf)
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        ops_ok = all(isinstance(op, _COMPARE) for op in node.ops)
        return ops_ok and all(_arith(v, leaf) for v in operands)
    return leaf(node)


def _text(node: ast.expr, pattern: re.Pattern[str]) -> bool:
    """A literal (a string, or a number or bool as written) that ``pattern`` matches."""
    return isinstance(node, ast.Constant) and bool(pattern.match(str(node.value)))


def _sym_call(node: ast.Call) -> bool:
    """A call of an allowed sympy class with the arguments ``srepr`` writes."""
    func = node.func.id if isinstance(node.func, ast.Name) else ""
    args, kws = node.args, node.keywords
    if func == "Symbol":
        flags = all(k.arg in _ASSUMPTIONS and _text(k.value, _BOOL) for k in kws)
        return flags and len(args) == 1 and _text(args[0], _SYMBOL)
    if func == "Float":
        precision = all(k.arg == "precision" and _int(k.value, 1024) for k in kws)
        return precision and len(args) == 1 and _text(args[0], _NUMBER_TEXT)
    if kws or func not in _SYMPY_CALLS:
        return False
    if func in ("Integer", "Rational"):
        return len(args) == (1 if func == "Integer" else 2) and all(_int(a) for a in args)
    if func in _POWERS:
        return len(args) == 2 and _arith(args[0], _sym_leaf) and _exponent(args[1])
    return all(_arith(a, _sym_leaf) for a in args)


def _sym_leaf(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return bool(_SYMBOL.match(node.id)) or node.id in _ATOMS
    return isinstance(node, ast.Call) and _sym_call(node)


def sym_expr_ok(text: Any) -> bool:
    """True if ``sympy.sympify(text)`` would only build a symbolic size expression: torch's
    size symbols, numbers, arithmetic, comparisons and the sympy classes torch writes."""
    node = _parse(text)
    return node is not None and _arith(node, _sym_leaf)


def _source(node: ast.expr) -> bool:
    """An input of the program as guards name it: ``L['x']``, ``L['args'][0]``."""
    if isinstance(node, ast.Name):
        return node.id == "L"
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        key_ok = is_ident(node.slice.value) or _int(node.slice)
        return key_ok and _source(node.value)
    return False


def _guard_call(node: ast.Call) -> bool:
    """``max(...)``, ``math.floor(...)``, ``torch.sym_float(...)``, ``L['x'].size()``."""
    func = node.func
    if node.keywords:
        return False
    if isinstance(func, ast.Name):
        return func.id in _GUARD_BUILTINS and all(_arith(a, _guard_leaf) for a in node.args)
    if not isinstance(func, ast.Attribute):
        return False
    if isinstance(func.value, ast.Name) and func.value.id in _GUARD_MODULES:
        allowed = func.attr in _GUARD_MODULES[func.value.id]
        return allowed and all(_arith(a, _guard_leaf) for a in node.args)
    return func.attr in _SOURCE_METHODS and not node.args and _source(func.value)


def _guard_leaf(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        value = node.value
        return isinstance(value, ast.Name) and value.id == "math" and node.attr in _MATH_VALUES
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):
        return _int(node.slice) and _guard_call(node.value)
    if isinstance(node, ast.Call):
        return _guard_call(node)
    return _source(node)


def guard_ok(text: Any) -> bool:
    """True if ``text`` is a shape guard torch may paste into the code it executes: sizes of
    the inputs, numbers, arithmetic, comparisons and the math functions torch prints."""
    node = _parse(text)
    return node is not None and _arith(node, _guard_leaf)
