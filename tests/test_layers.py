"""The architecture holds: packages import one way (import-linter's contract in pyproject.toml),
no two modules import each other at module level, and no module grows past ~500 lines."""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess

import networkx as nx
import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "rnncirc"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_level_imports() -> nx.DiGraph:
    """Module -> rnncirc module it imports when it is itself imported (not inside a function:
    those are the lazy facade imports, which import-linter's contract lists)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        for node in ast.parse(path.read_text()).body:
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [t if t in modules else node.module for t in targets]
            for target in targets:
                if target.startswith("rnncirc") and target != name and target in modules:
                    graph.add_edge(name, target)
    return graph


def test_no_module_level_import_cycle():
    cycles = list(nx.simple_cycles(module_level_imports()))
    assert not cycles, cycles


def test_layers_contract_is_kept():
    linter = shutil.which("lint-imports")
    if linter is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    done = subprocess.run([linter], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_contract_catches_an_upward_import(tmp_path):
    linter = shutil.which("lint-imports")
    if linter is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    tree = tmp_path / "tree"
    shutil.copytree(PACKAGE, tree / "rnncirc")
    shutil.copy(PACKAGE.parent / "pyproject.toml", tree / "pyproject.toml")
    ops = tree / "rnncirc" / "ir" / "ops.py"
    ops.write_text(ops.read_text() + "\nfrom rnncirc.compiler import compile  # noqa\n")
    done = subprocess.run([linter], cwd=tree, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0 and "rnncirc.ir.ops -> rnncirc.compiler" in done.stdout


def test_modules_stay_small():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 520}
    assert not long, long
