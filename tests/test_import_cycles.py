"""No import cycles in the package: every module of mlnb is parsed and its imports of other mlnb
modules followed; a loop of imports fails the test and is printed, file -> file with line numbers.

What counts as an import: every `import` / `from ... import` statement, at module level AND inside
functions. A function-local import avoids an import-time cycle, but the two modules still depend on
each other, which is what the layering forbids. Imports under `if TYPE_CHECKING:` do not count: they
never run and only give a type checker names (`mlnb/__init__.py` names every public module this way).
`from pkg import name` is an import of the module `pkg.name` when that module exists, else of `pkg`.
Importing a module also runs its parent packages' `__init__`; that implicit step is not an edge.
"""
from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import mlnb

# Cycles allowed for now: the modules of one cycle, with the reason. Keep it short, and empty.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}  # none: a new entry needs a reason

Graph = dict[str, dict[str, int]]  # module -> {imported module: line of the first such import}


def _modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package) for every .py file under `root` (the package dir)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, however deeply nested, except the bodies of `if TYPE_CHECKING:`."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        children = list(ast.iter_child_nodes(node))
        if _is_type_checking(node):
            children = list(node.orelse)
        todo.extend(children)
    return found


def _known(name: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    """The module `name` names, or the closest package above it that is one of ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path, package: str) -> Graph:
    """Which modules of `package` (found under `root`) each of its modules imports."""
    modules = _modules(root, package)
    graph: Graph = {}
    for name, (path, is_package) in modules.items():
        here = name if is_package else name.rpartition(".")[0]
        edges = graph.setdefault(name, {})
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [_known(alias.name, modules) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: `from . import x`, `from ..store import y`
                    parent = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*parent, *([node.module] if node.module else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _known(base, modules)
                           for alias in node.names]
            for target in targets:
                if target is not None and target != name:
                    edges.setdefault(target, node.lineno)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def describe(graph: Graph, group: list[str]) -> str:
    """One loop through the group, as `a.py:12 -> b.py:30 -> a.py` (the shortest from its first member)."""
    members, first = set(group), group[0]
    came_from: dict[str, str] = {}
    queue = deque([first])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child == first:
                path = [node]
                while path[-1] != first:
                    path.append(came_from[path[-1]])
                path.reverse()
                hops = [f"{m} (line {graph[m][n]})" for m, n in zip(path, [*path[1:], first])]
                return " -> ".join([*hops, first]) + f"   [all of: {', '.join(group)}]"
            if child in members and child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no loop found in {group}")  # cannot happen for a strongly connected group


def test_mlnb_has_no_import_cycles() -> None:
    root = Path(mlnb.__file__).parent
    graph = import_graph(root, "mlnb")
    assert "mlnb.store.ingest" in graph and graph["mlnb.store.ingest"], "the walker found no imports"
    found = cycles(graph)
    unexpected = [describe(graph, group) for group in found if frozenset(group) not in ALLOWED_CYCLES]
    assert not unexpected, "import cycles in mlnb:\n" + "\n".join(unexpected)
    stale = [sorted(entry) for entry in ALLOWED_CYCLES if sorted(entry) not in found]
    assert not stale, f"these allowed cycles are gone; delete them from ALLOWED_CYCLES: {stale}"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, source in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)
    return root


def test_the_walker_finds_a_cycle_through_a_function_local_import(tmp_path: Path) -> None:
    # Given a.py importing b at the top, and b importing a inside a function (relative import)
    root = _package(tmp_path, {
        "a.py": "from pkg.b import helper\n",
        "b.py": "def helper():\n    from . import a\n    return a\n",
        "c.py": "import pkg.a\n",
    })
    # When the graph is walked, Then the loop a -> b -> a is found, with its lines, and c is not in it
    graph = import_graph(root, "pkg")
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert describe(graph, ["pkg.a", "pkg.b"]).startswith("pkg.a (line 1) -> pkg.b (line 2) -> pkg.a")


def test_the_walker_ignores_type_checking_imports_and_follows_subpackages(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import b\n",
        "sub/__init__.py": "",
        "sub/b.py": "from ..a import x\n",
        "sub/c.py": "from pkg.sub import b\nimport pkg.sub.d\n",
        "sub/d.py": "def f():\n    from pkg.sub import c\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.a"] == {}
    assert graph["pkg.sub.b"] == {"pkg.a": 1}
    assert cycles(graph) == [["pkg.sub.c", "pkg.sub.d"]]
