"""The packages' import graph, read from the source with ``ast`` (nothing is imported): no cycle between modules,
and ``cityops`` (the shared core: settings, keys, contracts, the bus, the read API) imports none of the
packages built on it.

Every import counts, at any depth (inside functions and ``if TYPE_CHECKING:`` too), relative ones resolved:
a function-level import that closes a cycle still makes the two modules impossible to change apart.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cityops", "streams", "dashboard", "detectors", "fixtures", "doors", "notify")
#: What ``cityops`` must not import: the processes and data built on top of it.
ABOVE_CITYOPS = ("fixtures", "streams", "dashboard", "detectors")


def module_files() -> dict[str, Path]:
    """Dotted module name → its file, for every ``.py`` file of the packages."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(module: str, path: Path, modules: set[str] | dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module imported, line) of every import in ``module`` that names one of ``modules``.

    ``from X import Y`` imports ``X.Y`` when that is a module, else ``X`` (Y is a name defined in X). A package's
    parents are not counted: importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too, but a package that
    re-exports its modules would otherwise be in a cycle with each of them.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                if f"{prefix}.{alias.name}" in modules:
                    yield f"{prefix}.{alias.name}", node.lineno
                elif prefix in modules:
                    yield prefix, node.lineno


def import_graph() -> dict[str, dict[str, int]]:
    """Module → {module of the packages it imports: the line of its first import}."""
    files = module_files()
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        for target, line in imports_of(module, path, files):
            if target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, …, a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = [root]
        stack: list[Iterator[str]] = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, {}))))
    return None


def _describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    files = module_files()
    return "\n".join(f"  {a} ({files[a].relative_to(REPO_ROOT)}:{graph[a][b]}) → {b}"
                     for a, b in zip(cycle, cycle[1:], strict=False))


def test_the_graph_is_read_from_every_package() -> None:
    graph = import_graph()
    assert {m.split(".")[0] for m in graph} == set(PACKAGES)
    assert "streams.app" in graph["streams.agents.cases"]  # a plain top-level import
    assert "cityops.bus.security" in graph["cityops.bus.topics"]


def test_relative_and_function_level_imports_are_edges(tmp_path: Path) -> None:
    pkg = tmp_path / "cityops" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n    from .. import other\n    import cityops.sub.c\n")
    modules = {"cityops", "cityops.sub", "cityops.sub.a", "cityops.sub.b", "cityops.sub.c", "cityops.other"}
    assert set(imports_of("cityops.sub.a", pkg / "a.py", modules)) == {
        ("cityops.sub.b", 2), ("cityops.other", 3), ("cityops.sub.c", 4)}
    assert set(imports_of("cityops.sub", pkg / "__init__.py", modules)) == {("cityops.sub.a", 1)}


def test_find_cycle_reports_the_path() -> None:
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {}}) is None
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 3}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle:\n" + _describe(cycle, graph)


@pytest.mark.parametrize("above", ABOVE_CITYOPS)
def test_cityops_imports_nothing_built_on_it(above: str) -> None:
    graph = import_graph()
    files = module_files()
    wrong = [f"{files[m].relative_to(REPO_ROOT)}:{line} imports {target}"
             for m, edges in sorted(graph.items()) if m == "cityops" or m.startswith("cityops.")
             for target, line in sorted(edges.items()) if target == above or target.startswith(above + ".")]
    assert not wrong, f"cityops must not import {above}:\n  " + "\n  ".join(wrong)
