"""What a cell reads and writes, from its syntax tree (cached per source text)."""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import cast


@dataclass(frozen=True)
class CellNames:
    """Names a cell reads before writing them, and names it binds at top level."""

    reads: frozenset[str]
    writes: frozenset[str]
    parsed: bool = True


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_LOCAL_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _collect(tree: ast.AST) -> tuple[set[str], set[str]]:
    """One iterative pass (cheaper than NodeVisitor's dispatch: this runs on every cell).

    Bindings count only at top level; inside a def, class, lambda or comprehension they are
    local, but names read there still count as reads of the notebook's globals.
    """
    reads: set[str] = set()
    writes: set[str] = set()
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        if kind is ast.Name:  # `type(...) is` is faster than isinstance, but mypy does not narrow by it
            name = cast(ast.Name, node)
            if isinstance(name.ctx, ast.Load):
                reads.add(name.id)
            elif depth == 0:
                writes.add(name.id)
            continue
        inner = depth
        if isinstance(node, _SCOPES):
            if depth == 0:
                writes.add(node.name)
            inner = depth + 1
        elif isinstance(node, _LOCAL_SCOPES):
            inner = depth + 1
        elif kind is ast.Import or kind is ast.ImportFrom:
            if depth == 0:
                imported = cast("ast.Import | ast.ImportFrom", node).names
                writes.update(a.asname or a.name.split(".")[0] for a in imported if a.name != "*")
            continue
        elif kind is ast.Global:
            writes.update(cast(ast.Global, node).names)  # `global x` inside a def rebinds the notebook's x
            continue
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))
    return reads, writes


@functools.lru_cache(maxsize=512)
def analyse(source: str) -> CellNames:
    """Reads and writes of a cell's (already IPython-transformed) Python source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return CellNames(frozenset(), frozenset(), parsed=False)
    return analyse_tree(tree)


def analyse_tree(tree: ast.AST) -> CellNames:
    """Reads and writes of an already parsed cell (IPython hands its tree to AST transformers)."""
    reads, writes = _collect(tree)
    return CellNames(frozenset(reads), frozenset(writes))
