"""The package's shape (docs/ARCHITECTURE.md): layers, no import circles, no private imports
across modules, size limits, and what importing a layer loads."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "ltrobust"
#: modules every layer may use
BASE = {
    "ltrobust", "errors", "fileio", "values", "settings", "registry", "lazy", "limits", "readlog",
}  # fmt: skip
#: top-level packages, the layers each may import (besides BASE and itself)
LAYERS = {
    "runtime": set(),
    "metrics": set(),
    "data": set(),
    "attacks": set(),
    "models": set(),
    "report": {"metrics"},
    "audit": {"runtime", "metrics", "data", "attacks", "models", "report"},
    "train": {"runtime", "metrics", "data", "attacks", "models"},
    "bench": {"runtime", "metrics", "data", "attacks", "models", "report", "audit", "train"},
}
LAYERS["cli"] = set(LAYERS)  # the command line sits on top of everything
LAYERS["__main__"] = {"cli"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
#: a ``"module:attribute"`` string, imported on first use (a registry row's factory)
LAZY_IMPORT = re.compile(r"^ltrobust(\.\w+)+:\w+$")


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _resolve(target: str, mods: dict[str, Path]) -> str | None:
    while target and target not in mods:
        target = target.rpartition(".")[0]
    return target or None


def import_edges() -> dict[str, set[str]]:
    """Module -> modules it imports (every import statement: lazy and TYPE_CHECKING too; a
    ``"ltrobust.x.y:attr"`` string literal counts as an import of ``ltrobust.x.y``)."""
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [*subs, base]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if LAZY_IMPORT.match(node.value):
                    targets = [node.value.partition(":")[0]]
            for t in targets:
                found = _resolve(t, mods) if t.startswith("ltrobust") else None
                if found and found != name and not (found == "ltrobust" and name != "ltrobust"):
                    edges[name].add(found)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ltrobust"


def test_no_import_circle():
    assert cycles(import_edges()) == []


def test_a_cycle_is_found():
    """The checker itself finds a circle (so the test above can fail)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_import_only_downwards():
    bad = []
    for module, targets in import_edges().items():
        here = layer(module)
        if here in BASE:
            allowed = BASE
        else:
            allowed = BASE | LAYERS[here] | {here}
        bad += [f"{module} -> {t}" for t in sorted(targets) if layer(t) not in allowed]
    assert bad == []


def test_commands_import_no_other_command():
    """Each command module of the CLI stands alone: what commands share lives in cli/shared.py,
    cli/tables.py, cli/common.py and cli/options.py, never in another command."""
    commands = {f"ltrobust.cli.{c}" for c in ("attacks", "audit", "bench", "compare",
                "datasets", "gate", "inspect", "report", "schema", "sweep", "train")}  # fmt: skip
    edges = import_edges()
    bad = [f"{m} -> {t}" for m in sorted(commands) for t in sorted(edges[m] & commands)]
    assert bad == []


def test_no_module_imports_a_private_name_of_another():
    bad = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ltrobust"):
                bad += [
                    f"{name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert bad == []


def test_module_and_function_sizes():
    long_modules, long_functions = [], []
    for name, path in modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name} ({size})")
    assert long_modules == [] and long_functions == []


def _loaded(code: str) -> list[str]:
    """The ltrobust modules and whether torch is loaded after running ``code``."""
    script = code + "\nimport sys\nprint(sorted(sys.modules))\n"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return list(eval(out.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own output


@pytest.mark.parametrize(
    ("code", "forbidden"),
    [
        ("import ltrobust.audit\nltrobust.audit.audit", "ltrobust.train"),
        ("import ltrobust.train\nltrobust.train.train", "ltrobust.audit"),
    ],
)
def test_audit_and_train_load_each_other_never(code, forbidden):
    loaded = _loaded(code)
    assert "torch" in loaded  # the code really loaded the feature
    assert [m for m in loaded if m == forbidden or m.startswith(forbidden + ".")] == []


def test_the_cli_and_its_help_load_no_torch():
    code = (
        "from ltrobust.cli.main import app\n"
        "for args in (['audit', '--help'], ['train', '--help'], ['bench', '--help'], "
        "['inspect', '--help'], "
        "['attacks']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (args, e.code)\n"
    )
    assert "torch" not in _loaded(code)
