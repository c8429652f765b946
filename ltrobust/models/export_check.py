"""The allow-list a ``torch.export`` program's JSON (``models/*.json`` of a ``.pt2``) must pass
before ``torch.export.load`` reads it.

The deserializer evaluates symbolic sizes (``expr_str``) with ``sympy.sympify`` (Python
``eval``); ``ExportedProgram.module()`` ``exec``-s ``guards_code`` and the Python source FX
writes from node, input and parameter names and ``forward_arg_names``; node targets,
``as_operator`` arguments and ``source_fn_stack`` metadata are resolved by ``getattr`` on
``torch``/``operator``/``math`` and called at every forward; ``in_spec``/``out_spec`` may make
pytree import a module named in the file. :func:`check_program` parses each such field
(``ast.parse`` executes nothing) and accepts only what torch writes for a plain program.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ltrobust.errors import ModelLoadError

from .export_grammar import guard_ok, is_fqn, is_ident, is_name, sym_expr_ok

#: the symbolic-size operations the deserializer knows (its _SYM_OPS)
_SYM_OPS = frozenset(
    [f"_operator.{n}" for n in "eq ne le ge lt gt neg pos mul add sub floordiv mod pow truediv "
     "and_ or_ lshift rshift".split()]
    + ["math.trunc", "torch.sym_not", "torch.sym_int", "torch.sym_float", "torch.sym_ite",
       "torch.sym_max", "torch.sym_min", "torch._sym_sqrt"]
)  # fmt: skip
#: control flow and wrappers that only run the program's own subgraphs or allowed operators
_HIGHER_ORDER = frozenset(
    "cond while_loop map_impl scan associative_scan invoke_subgraph wrap_with_set_grad_enabled "
    "wrap_with_autocast auto_functionalized auto_functionalized_v2 with_effects out_dtype".split()
)
#: the string arguments of ATen/prims operators that are options (no paths, no messages
#: printed, no Python): an operator with any other string argument (aten::from_file's
#: filename, ...) is refused
_OPTION_ARGS = frozenset(
    "approximate assert_msg padding rounding_mode reduce interpolation indexing side equation "
    "mode norm ord p UPLO driver pad_mode padding_side activation algorithm".split()
)
_VERIFIERS = frozenset({"", "ATEN", "TRAINING"})
_META_KEYS = frozenset(
    "stack_trace nn_module_stack source_fn_stack torch_fn custom from_node".split()
)
_INPUT_KINDS = frozenset({"user_input", "parameter", "buffer", "tensor_constant", "token"})
_SPEC_TYPES = frozenset(
    "builtins.tuple builtins.list builtins.dict collections.OrderedDict".split()
)

EXPR = "an expression torch would evaluate"
CODE = "a name torch would write into the Python code it generates"
OP = "a call outside the allowed operators"
LOOKUP = "a name torch would import or look up"
INPUT = "an input ltrobust cannot feed"
VALUE = "a value of the wrong type"


@functools.lru_cache(maxsize=4096)
def _aten_ok(namespace: str, name: str, overload: str) -> bool:
    """A dispatcher operator of ATen or prims whose string arguments are all options."""
    try:
        torch._C._dispatch_find_schema_or_throw(
            f"{namespace}::{name}", "" if overload == "default" else overload
        )
    except RuntimeError:  # not an operator (TorchScript-only ones like aten::save included)
        return False
    op = getattr(getattr(getattr(torch.ops, namespace), name, None), overload, None)
    if not isinstance(op, torch._ops.OpOverload):
        return False
    return all(a.name in _OPTION_ARGS for a in op._schema.arguments if "str" in str(a.type))


def op_ok(target: Any) -> bool:
    """True for the call targets a plain program uses: ATen/prims operators, torch's control
    flow over the program's own subgraphs, and the symbolic-size operations."""
    if not isinstance(target, str):
        return False
    if target in _SYM_OPS:
        return True
    parts = target.split(".")
    if not all(is_ident(p) and not p.startswith("__") for p in parts):
        return False
    if len(parts) == 4 and parts[:3] == ["torch", "ops", "higher_order"]:
        return parts[3] in _HIGHER_ORDER
    if len(parts) == 5 and parts[:2] == ["torch", "ops"] and parts[2] in ("aten", "prims"):
        return _aten_ok(parts[2], parts[3], parts[4])
    return False


def _meta_target(target: str) -> bool:
    """A ``source_fn_stack`` target: torch resolves those under torch/operator/math by getattr,
    so they must be plain dotted names; others stay text."""
    parts = target.split(".")
    plain = all(is_ident(p) and not p.startswith("__") for p in parts)
    return plain or not target.startswith(("torch", "_operator", "math", "#"))


def metadata_ok(meta: Any) -> bool:
    """Node metadata: the keys torch reads, ``source_fn_stack`` targets plain names; stack
    traces, module stacks and JSON annotations are kept as text."""
    if not isinstance(meta, dict) or not set(meta) <= _META_KEYS:
        return False
    if not all(isinstance(v, str) for v in meta.values()):
        return False
    stack = meta.get("source_fn_stack")
    items = [item.split(",") for item in stack.split(";")] if stack else []
    return all(len(parts) == 2 and _meta_target(parts[1]) for parts in items)


def _spec_node(spec: Any, names: bool, depth: int = 0) -> bool:
    if not isinstance(spec, dict) or set(spec) != {"type", "context", "children_spec"}:
        return False
    kind, context, children = spec["type"], spec["context"], spec["children_spec"]
    if not isinstance(children, list) or depth > 32:
        return False
    if kind is None:
        return context is None and not children
    if kind not in _SPEC_TYPES or not isinstance(context, str):
        return False
    keys = json.loads(context)
    if kind in ("builtins.tuple", "builtins.list"):
        keys_ok = keys is None
    else:  # dict keys: input keys become argument names in the generated code
        keys_ok = isinstance(keys, list) and all(
            is_ident(k) if names else isinstance(k, str) for k in keys
        )
    return keys_ok and all(_spec_node(c, names, depth + 1) for c in children)


def treespec_ok(text: Any, names: bool) -> bool:
    """A pytree spec of tuples, lists and dicts only (no enum, namedtuple or defaultdict
    context, which torch resolves by importing a module named in the file)."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
        return isinstance(data, list) and data[:1] == [1] and _spec_node(data[1], names)
    except (ValueError, IndexError, RecursionError):
        return False


def _bound(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _hint_ok(hint: Any) -> bool:
    """A size hint: ``{"as_int": 4}``, ``{"as_float": ...}`` (JSON writes inf as a string)."""
    kind, value = next(iter(hint.items())) if isinstance(hint, dict) and len(hint) == 1 else ("", 0)
    floats = (int, float) if value not in ("Infinity", "-Infinity", "NaN") else str
    return hint is None or isinstance(value, {"as_int": int, "as_float": floats}.get(kind, bool))


def _input_spec_ok(spec: Any) -> bool:
    """Parameters, buffers, constants and tensor user inputs: no constant or custom-object
    inputs (a string input would be pasted into the guard code torch executes)."""
    if not isinstance(spec, dict) or not set(spec) <= _INPUT_KINDS:
        return False
    if "user_input" not in spec:
        return True
    arg = spec["user_input"].get("arg") if isinstance(spec["user_input"], dict) else None
    return isinstance(arg, dict) and set(arg) == {"as_tensor"}


def _graph_input_ok(arg: Any) -> bool:
    """No string inputs: torch pastes a string input's value into its guard code."""
    return not isinstance(arg, dict) or not set(arg) & {"as_string", "as_strings"}


_Rule = tuple[str, Callable[[Any], bool]]
_FQNS = "parameter_name buffer_name tensor_constant_name custom_obj_name fqn class_fqn".split()
#: what each key of the JSON may hold (keys not named here hold numbers or inert text)
_RULES: dict[str, _Rule] = {
    "expr_str": (EXPR, sym_expr_ok),
    "guards_code": (EXPR, guard_ok),
    "target": (OP, op_ok),
    "as_operator": (OP, op_ok),
    **dict.fromkeys(["name", "as_name", "user_input_name"], (CODE, is_name)),
    "forward_arg_names": (CODE, lambda v: v is None or is_ident(v)),
    **dict.fromkeys(_FQNS, (CODE, is_fqn)),
    "in_spec": (LOOKUP, lambda v: treespec_ok(v, names=True)),
    "out_spec": (LOOKUP, lambda v: treespec_ok(v, names=False)),
    "verifiers": (LOOKUP, lambda v: v in _VERIFIERS),
    "metadata": (LOOKUP, metadata_ok),
    "input_specs": (INPUT, _input_spec_ok),
    "inputs": (INPUT, _graph_input_ok),
    **dict.fromkeys(["min_val", "max_val"], (VALUE, _bound)),
    "hint": (VALUE, _hint_ok),
}
#: checked as a whole, the walk does not go inside
_OPAQUE = frozenset({"metadata", "hint"})
#: maps whose keys torch reads as node names, or as expressions (range constraints)
_VALUES = "tensor_values sym_int_values sym_bool_values sym_float_values custom_obj_values"
_KEYED = {**dict.fromkeys(_VALUES.split(), "name"), "range_constraints": "expr_str"}


def _entries(node: Any, where: str, key: str) -> Iterator[tuple[str, str, Any]]:
    """``(json path, key, value)`` of every leaf and list item of ``node``, and of every object
    under a key with a rule (so that an object where torch expects a string is seen)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _entries(item, f"{where}[{i}]", key)
        return
    if not isinstance(node, dict) or key in _RULES:
        yield where, key, node
    if isinstance(node, dict) and key not in _OPAQUE:
        for k, value in node.items():
            if key in _KEYED:
                yield f"{where}.{k}", _KEYED[key], k
            yield from _entries(value, f"{where}.{k}" if where else str(k), str(k))


def _allowed(key: str, value: Any) -> bool:
    rule = _RULES.get(key)
    return rule is None or rule[1](value)


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


def check_program(path: Path, member: str, data: bytes) -> None:
    """Raise :class:`ModelLoadError` unless every field of the program JSON ``member`` of
    the archive ``path`` that torch evaluates, executes or looks up is on the allow-list."""
    try:
        program = json.loads(data)
    except (ValueError, RecursionError):
        program = None
    if not isinstance(program, dict):
        raise ModelLoadError(f"cannot read torch.export archive {path}: {member} is not a program")
    try:
        refused = next((e for e in _entries(program, "", "") if not _allowed(*e[1:])), None)
    except RecursionError:
        refused = ("", "", "(nested too deeply)")
    if refused is not None:
        where, key, value = refused
        what = _RULES[key][0] if key in _RULES else "a structure torch would walk"
        shown = _short(value if isinstance(value, str) else json.dumps(value), 80)
        raise ModelLoadError(
            f"{path}: refused, the torch.export archive holds {what}: {shown!r} "
            f"in {member}:{_short(where, 120)}"
        )
