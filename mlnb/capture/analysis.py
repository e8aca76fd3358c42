"""What a cell reads and writes, from its syntax tree (cached per source text)."""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class CellNames:
    """Names a cell reads before writing them, and names it binds at top level."""

    reads: frozenset[str]
    writes: frozenset[str]
    parsed: bool = True


class _Collector(ast.NodeVisitor):
    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.depth = 0  # > 0 inside a function, class, lambda or comprehension: bindings are local

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.reads.add(node.id)
        else:
            self._bind(node.id)

    def _bind(self, name: str) -> None:
        if self.depth == 0:
            self.writes.add(name)

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)  # names used inside still count as reads of globals
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._bind(node.name)
        self._nested(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bind(node.name)
        self._nested(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._nested(node)

    def visit_ListComp(self, node: ast.AST) -> None:
        self._nested(node)

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]

    def visit_Global(self, node: ast.Global) -> None:
        self.writes.update(node.names)  # `global x` inside a def rebinds the notebook's x

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self._bind(alias.asname or alias.name)


@functools.lru_cache(maxsize=512)
def analyse(source: str) -> CellNames:
    """Reads and writes of a cell's (already IPython-transformed) Python source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return CellNames(frozenset(), frozenset(), parsed=False)
    collector = _Collector()
    collector.visit(tree)
    return CellNames(frozenset(collector.reads), frozenset(collector.writes))
