"""The shape ARCHITECTURE.md promises, checked on the source itself.

import-linter (in `make test`) checks which layer may import which; these tests check what it
cannot: no import cycle anywhere (function-level imports included), no module-level registry
that code fills at run time, and every function-level import saying why it is there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pos_client", "cardread", "wire", "drivers", "sync", "headoffice", "hw_sim", "bench")
MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "register", "__setitem__"}


def _sources() -> list[tuple[str, Path, ast.Module]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            out.append((module, path, ast.parse(path.read_text(encoding="utf-8"))))
    return out


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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


def test_no_import_cycles_anywhere() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)  # type-only imports run nothing
    modules = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    # A package's __init__ importing its own submodules is not a cycle of behaviour: leave those edges out.
    cycles = [c for c in _cycles(graph, modules) if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert cycles == [], f"import cycles: {cycles}"


def test_no_module_level_registry_filled_at_run_time() -> None:
    """A module-level list/dict/set that any code appends to, registers into or assigns into is a
    hidden registry: extension points belong to the till object (`pos_client.till`)."""
    containers: dict[str, str] = {}
    for module, _path, tree in _sources():
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AnnAssign) and node.value is not None else []
            value = getattr(node, "value", None)
            mutable = isinstance(value, ast.List | ast.Dict | ast.Set) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                and value.func.id in {"list", "dict", "set", "defaultdict", "OrderedDict"})
            for target in targets:
                if mutable and isinstance(target, ast.Name):
                    containers[target.id] = module
    offenders = []
    for module, _path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                offenders.append(f"{module}: `global {', '.join(node.names)}`")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in containers):
                offenders.append(f"{module}:{node.lineno} {node.func.value.id}.{node.func.attr}(...)")
            if isinstance(node, ast.Assign | ast.AugAssign):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                            and target.value.id in containers and target.value.id.isupper()):
                        offenders.append(f"{module}:{node.lineno} {target.value.id}[...] = ...")
    assert offenders == []


def test_every_function_level_import_says_why() -> None:
    """Imports inside functions are for optional or heavy dependencies only, each with a comment."""
    missing = []
    for module, path, tree in _sources():
        lines = path.read_text(encoding="utf-8").splitlines()
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    line = lines[node.lineno - 1]
                    above = lines[node.lineno - 2] if node.lineno > 1 else ""
                    if "#" not in line and not above.strip().startswith("#"):
                        missing.append(f"{module}:{node.lineno} {line.strip()}")
    assert missing == []
