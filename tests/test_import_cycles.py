"""No import cycles among pyg_grapheme, lightning_modules and bench.

Every ``import`` statement counts, also those inside functions and under
``TYPE_CHECKING``: a cycle hidden from the interpreter still means that neither
module reads without the other. Importing a package's submodule depends on the
submodule, not on the package (whose ``__init__`` Python runs first anyway).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pyg_grapheme", "lightning_modules", "bench")

KNOWN_CYCLES: set[frozenset[str]] = set()


def module_files(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's ``__init__``) of every module of :data:`PACKAGES`."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def import_graph(modules: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """Module -> the modules of the same tree its ``import`` statements name."""
    graph = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                submodules = {f"{base}.{alias.name}" for alias in node.names} & modules.keys()
                # "from package import submodule" needs the submodule only.
                if len(submodules) < len(node.names):
                    targets.add(base)
                targets.update(submodules)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while not component or v not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.add(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_on_a_hand_built_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": set()}
    assert cycles(graph) == {frozenset("abc"), frozenset("de")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_import_graph_reads_relative_and_submodule_imports(tmp_path):
    package = tmp_path / "bench"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from bench import sub\n")
    (package / "sub" / "__init__.py").write_text("from . import leaf\n")
    (package / "sub" / "leaf.py").write_text("def f():\n    from ..sub import other\n")
    (package / "sub" / "other.py").write_text("from bench.sub.leaf import f\n")
    graph = import_graph(module_files(tmp_path))
    assert graph == {
        "bench": {"bench.sub"},
        "bench.sub": {"bench.sub.leaf"},
        "bench.sub.leaf": {"bench.sub.other"},
        "bench.sub.other": {"bench.sub.leaf"},
    }
    assert cycles(graph) == {frozenset({"bench.sub.leaf", "bench.sub.other"})}


def test_no_import_cycles():
    found = cycles(import_graph(module_files(ROOT)))
    assert found - KNOWN_CYCLES == set(), "new import cycles"
    assert KNOWN_CYCLES - found == set(), "a known cycle is gone: delete it from KNOWN_CYCLES"
