"""Every Redis script is a ``.lua`` file read by its package's loader: none is inline in Python, none is orphaned.

Why: a script inline in a module is hard to read and to lint, and a file nothing loads is dead code that still
looks maintained. ``cityops/lua/`` holds the console's and tools' scripts, ``streams/lua/`` the worker's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cityops.settings import REPO_ROOT

PACKAGES = ("cityops", "streams", "dashboard", "detectors", "fixtures", "tools")
LOADERS = {"cityops": REPO_ROOT / "cityops" / "lua", "streams": REPO_ROOT / "streams" / "lua"}
LUA_CALL = re.compile(r"redis\.p?call\s*\(")


def _python_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO_ROOT / pkg).rglob("*.py") if ".venv" not in p.parts)


def _sources_named(package: str) -> set[str]:
    """The names passed to ``source("…")`` in the package's modules (the loader of that package)."""
    names = set()
    for path in (REPO_ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "source"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                names.add(node.args[0].value)
    return names


def test_no_python_module_holds_a_redis_script_inline():
    inline = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and LUA_CALL.search(node.value):
                inline.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not inline, f"Redis scripts inline in Python (move them to a .lua file): {inline}"


@pytest.mark.parametrize("package", sorted(LOADERS))
def test_every_lua_file_is_loaded_and_every_loaded_name_exists(package):
    files = {p.stem for p in LOADERS[package].glob("*.lua")}
    named = _sources_named(package)
    assert named - files == set(), f"{package}: source() names with no .lua file"
    assert files - named == set(), f"{package}/lua: files nothing loads"
    loader = __import__(f"{package}.lua", fromlist=["source"]).source
    for name in files:
        text = loader(name)
        assert text.strip() and LUA_CALL.search(text), name
        assert not text.startswith("\n"), f"{name}.lua starts with a blank line"
