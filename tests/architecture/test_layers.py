"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml) pass, and
no module takes part in an import circle.

import-linter checks packages against each other; a circle between two modules of one package
(matching -> collection_matching -> matching) is invisible to it, so the second test walks the
module graph itself (grimp, the graph import-linter is built on). Imports made only for type
hints do not count; a module importing its own package's ``__init__`` (a blueprint, a facade)
does not either, because the package's ``__init__`` importing its children is how Flask
registers routes.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_layer_contracts_hold():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    run = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def _module_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("app", cache_dir=None, exclude_type_checking_imports=True)
    return {module: {imported for imported in graph.find_modules_directly_imported_by(module)
                     if not module.startswith(imported + ".")}
            for module in graph.modules}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [["a", "b", "c"]]


def test_no_module_is_in_an_import_circle():
    graph = _module_graph()
    circles = _circles(graph)
    lines = []
    for circle in circles:
        members = set(circle)
        lines.append(" / ".join(circle))
        lines += [f"    {m} -> {i}" for m in circle for i in sorted(graph[m] & members)]
    if circles:
        pytest.fail("import circles:\n" + "\n".join(lines))
