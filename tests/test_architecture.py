"""The package's shape (docs/architecture.md): no import cycles, small functions in the plan and SQL
layers, SQL stages that do not import each other, builders that never see an engine."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "kaireon_sql"
LAYERS = ("plan", "sql")
MAX_FUNCTION_LINES = 40
SQL_SHARED = {"common", "features", "pairs", "walk"}  # sql/ modules every stage may import (helpers, not stages)
# Imports inside functions that are there for start-up time, not to dodge a cycle: the CLI loads a
# subcommand's dependencies (dbt, numpy, scipy, matplotlib) only when that subcommand runs.
LAZY_IMPORTS_ALLOWED = {"cli.py", "uplift/cli.py", "experiments/readout.py"}
# Packages whose functions never import (where an import inside a function would only dodge a cycle).
STRICT_PACKAGES = {"plan", "sql", "dialect", "formula", "config", "compiler.py"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, node: ast.AST) -> list[str]:
    """Modules of this package an import statement loads."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        source = _resolve(module, node)
        subs = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES]
        # `from pkg import submodule` loads the submodule; the package is only named
        names = subs + ([source] if len(subs) < len(node.names) else [])
    return [n for n in names if n in MODULES]


def _top_level_imports(tree: ast.Module):
    """Imports that run when the module loads (module body, incl. if/try blocks), not inside functions."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue  # never runs
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
        elif isinstance(node, ast.ClassDef):
            stack.extend(node.body)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges = {t for node in _top_level_imports(tree) for t in _targets(name, node)}
        graph[name] = edges - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _layer_files():
    return [p for layer in LAYERS for p in sorted((PACKAGE / layer).rglob("*.py"))]


def _small_function_files():
    """The plan and SQL layers, and the dialect package and compiler, which they lean on."""
    return _layer_files() + sorted((PACKAGE / "dialect").rglob("*.py")) + [PACKAGE / "compiler.py"]


def test_layers_exist():
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").exists(), layer
    assert len(_layer_files()) > 10


@pytest.mark.parametrize("path", _small_function_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_functions_are_small_in_plan_and_sql(path):
    long = [f"{f.name} ({f.end_lineno - f.lineno + 1} lines, line {f.lineno})" for f in _functions(path)
            if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.relative_to(REPO)}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


def test_no_imports_inside_functions():
    """None in the compiler's layers; elsewhere only a deliberate lazy import, marked `# lazy: <why>`."""
    offenders = []
    for name, path in MODULES.items():
        rel = str(path.relative_to(PACKAGE))
        if rel in LAZY_IMPORTS_ALLOWED:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        strict = rel.split("/")[0] in STRICT_PACKAGES
        for f in _functions(path):
            for node in ast.walk(f):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    if strict or "# lazy: " not in lines[node.lineno - 1]:
                        offenders.append(f"{rel}:{node.lineno} in {f.name}")
    assert not offenders, "imports inside functions: " + ", ".join(offenders)


def test_sql_stages_do_not_import_each_other():
    graph = _graph()
    stages = {m for m in MODULES if m.startswith("kaireon_sql.sql.")}
    bad = [f"{m} -> {t}" for m in stages for t in graph[m]
           if t in stages and t.rsplit(".", 1)[1] not in SQL_SHARED]
    assert not bad, "sql stage modules import sibling stages: " + ", ".join(sorted(bad))


def test_plan_does_not_import_sql():
    graph = _graph()
    bad = [f"{m} -> {t}" for m in graph if m.startswith("kaireon_sql.plan")
           for t in graph[m] if t.startswith("kaireon_sql.sql")]
    assert not bad, "the plan layer imports SQL builders: " + ", ".join(sorted(bad))


def test_builders_never_see_an_engine():
    """Trees are engine-neutral: no plan or SQL module names the Engine type or the engine table."""
    bad = []
    for path in _layer_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and any(a.name in {"Engine", "ENGINES", "engine"} for a in node.names):
                bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "engine":
                bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno} (.engine)")
    assert not bad, "engine-specific choices in the plan/sql layers: " + ", ".join(bad)
