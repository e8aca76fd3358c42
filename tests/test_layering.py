"""The layering of the package, checked on its source (see "Layering" in the README):

(a) SQL against the index lives only in query modules: `.execute(` / `.executemany(` / `.sql(`
    calls, `store.index()` / `store.read_only()` connections, `import duckdb` and SQL text occur only
    in the store core (`mlnb/store/`), in `*/queries.py` and `*/tables.py` (exceptions would be
    listed, with their reason, in `ALLOWED_SQL`: there are none);
(b) the store core imports no feature or face, at module level or inside a function; features
    reach it only through `mlnb.features`, which ingest loads by name;
(c) the faces (widgets, server extension, CLI) run no SQL at all, not even in a module named
    queries.py: they call the features' query functions and the view-models.

Every module of mlnb is parsed (nothing is imported), so the test also covers code paths that
no other test runs. A violation is reported as file:line with what was found.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import mlnb

PACKAGE = Path(mlnb.__file__).resolve().parent

# Where SQL against the index may be written, besides the store core and every queries.py / tables.py.
# Keep it short; each entry says why and until when.
ALLOWED_SQL: dict[str, str] = {}
# The read-only SQL face for text the user wrote (`mlnb sql`, `%%mlnb_sql`, `mlnb.sql`): a call of
# `queries.sql(...)` / `api.sql(...)` whose query is not a SQL literal written here.
USER_SQL_RECEIVERS = frozenset({"queries", "api"})
FACES = ("widgets/", "server/", "cli/")
STORE_CORE = "store/"
# Feature and face packages (and modules) the store core must not import.
NOT_FOR_THE_CORE = (
    "mlnb.api", "mlnb.batch", "mlnb.capture", "mlnb.cli", "mlnb.comparison", "mlnb.evaluation", "mlnb.features",
    "mlnb.flavors", "mlnb.model_cache", "mlnb.model_registry", "mlnb.model_trust", "mlnb.monitoring", "mlnb.project",
    "mlnb.server", "mlnb.tracking", "mlnb.views", "mlnb.widgets",
)
# The one documented way the core reaches the features: ingest loads this module by name.
CORE_LOADS_BY_NAME = frozenset({"mlnb.features"})
# Imports of features by the core allowed for now: file -> modules, with the reason.
CORE_PENDING: dict[str, frozenset[str]] = {}

# SQL text: statements and references to index tables. Keywords in capitals, as this code base writes SQL.
SQL_TEXT = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:CREATE|DROP|ALTER)\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW|INDEX|SEQUENCE)\b|\bidx\.[a-z_]+"
)
# Examples shown to people (`mlnb sql "SELECT ..."` in help and hints) are not SQL this module runs.
USER_EXAMPLE = re.compile(r"mlnb[ .]sql\b")
CONNECTION_CALLS = frozenset({"execute", "executemany", "sql"})
CONNECTION_OPENERS = frozenset({"index", "read_only"})


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _sql_allowed(rel: str) -> bool:
    if rel.startswith(FACES):
        return False
    return (rel.startswith(STORE_CORE) or rel.rsplit("/", 1)[-1] in ("queries.py", "tables.py")
            or any(rel == key or (key.endswith("/") and rel.startswith(key)) for key in ALLOWED_SQL))


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _texts(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal outside docstrings; an f-string as one text with `?` for its fields."""
    skip = _docstrings(tree)
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "?" for v in node.values)
            continue  # its parts are not texts of their own
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value
        todo.extend(ast.iter_child_nodes(node))


def _is_sql(text: str) -> bool:
    return bool(SQL_TEXT.search(text)) and not USER_EXAMPLE.search(text)


def sql_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every place the module talks SQL to the index or writes SQL text."""
    found = [(line, f"SQL text {text.strip()[:60]!r}") for line, text in _texts(tree) if _is_sql(text)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr, receiver = node.func.attr, node.func.value
            if attr in CONNECTION_CALLS:
                if attr == "sql" and isinstance(receiver, ast.Name) and receiver.id in USER_SQL_RECEIVERS:
                    continue  # the user's own SQL handed to the read-only face (a literal is caught above)
                found.append((node.lineno, f".{attr}(...) call"))
            elif attr in CONNECTION_OPENERS and not node.args:  # store.index(), not list.index(x)
                found.append((node.lineno, f".{attr}() index connection"))
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "duckdb" for a in node.names):
            found.append((node.lineno, "import duckdb"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "duckdb":
            found.append((node.lineno, "from duckdb import"))
    return sorted(found)


def imported_modules(tree: ast.AST, rel: str) -> list[tuple[int, str]]:
    """(line, module) for every import anywhere in the module, and every import of a module by name."""
    package = "mlnb." + ".".join(Path(rel).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package upwards
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                found.append((node.lineno, f"by name {node.args[0].value}"))
    return found


def core_violations(tree: ast.AST, rel: str) -> list[tuple[int, str]]:
    out = []
    for line, name in imported_modules(tree, rel):
        by_name = name.startswith("by name ")
        module = name.removeprefix("by name ")
        if by_name and module in CORE_LOADS_BY_NAME:
            continue
        hit = next((f for f in NOT_FOR_THE_CORE if module == f or module.startswith(f + ".")), None)
        if hit and hit not in CORE_PENDING.get(rel, ()):
            out.append((line, f"imports {module}"))
    return out


def _report(problems: dict[str, list[tuple[int, str]]]) -> str:
    return "\n".join(f"mlnb/{rel}:{line}: {what}" for rel, found in problems.items() for line, what in found)


def test_sql_against_the_index_lives_only_in_query_modules() -> None:
    problems = {rel: found for rel, tree in _modules() if not _sql_allowed(rel) and (found := sql_uses(tree))}
    assert not problems, ("SQL outside the store core and the query modules (move it into a queries.py "
                          "function that takes the store and returns a DataFrame or plain records):\n"
                          + _report(problems))


def test_the_store_core_imports_no_feature() -> None:
    core = [(rel, tree) for rel, tree in _modules() if rel.startswith(STORE_CORE)]
    assert len(core) > 5, "the store core was not found"
    problems = {rel: found for rel, tree in core if (found := core_violations(tree, rel))}
    assert not problems, ("the store core imports a feature (list the feature in mlnb/features.py instead, "
                          "and let it register its tables and handlers):\n" + _report(problems))


def test_faces_run_no_sql() -> None:
    faces = [(rel, tree) for rel, tree in _modules() if rel.startswith(FACES)]
    assert {rel.split("/")[0] for rel, _ in faces} == {"widgets", "server", "cli"}
    problems = {rel: found for rel, tree in faces if (found := sql_uses(tree))}
    assert not problems, ("a face (widget, server handler, CLI command) runs SQL; call a query function "
                          "or a view-model (mlnb.views) instead:\n" + _report(problems))


# The checks themselves must be able to fail: each rule is shown a small module that breaks it.

def test_the_checks_see_what_they_look_for() -> None:
    bad_query = ast.parse('def f(store):\n    with store.index() as con:\n'
                          '        return con.execute(f"SELECT a FROM idx.{T} WHERE x = ?", [1]).df()\n')
    assert sorted((line, what.split()[0]) for line, what in sql_uses(bad_query)) == [
        (2, ".index()"), (3, ".execute(...)"), (3, "SQL")]
    fine = ast.parse('"""Docs: SELECT a FROM runs."""\ndef f(store, q):\n    """SELECT b FROM c"""\n'
                     '    hint = \'run: mlnb sql "SELECT * FROM runs"\'\n'
                     '    return queries.sql(store, q), [3, 2].index(2), hint\n')
    assert sql_uses(fine) == []
    assert sql_uses(ast.parse("import duckdb")) == [(1, "import duckdb")]
    core = ast.parse("import importlib\nfrom mlnb.store import queries\n"
                     "def f():\n    from mlnb import model_registry\n    from ..capture import tables\n"
                     "    importlib.import_module('mlnb.features')\n    importlib.import_module('mlnb.views.runs')\n")
    assert core_violations(core, "store/ingest.py") == [
        (4, "imports mlnb.model_registry"), (5, "imports mlnb.capture.tables"), (7, "imports mlnb.views.runs")]
    assert _sql_allowed("store/ingest.py") and _sql_allowed("batch/queries.py") and _sql_allowed("model_registry/queries.py")
    assert not _sql_allowed("cli/queries.py") and not _sql_allowed("comparison/lineage_graph.py")


def test_capture_declares_its_own_tables_and_handlers() -> None:
    """Ingest finds capture's tables and handlers through `mlnb.features`, declared by capture itself."""
    import pytest

    from mlnb import features
    from mlnb.store import handlers

    features.load()
    for event, table in (("cell", "cells"), ("dataset", "datasets"), ("lineage", "lineage")):
        assert handlers.HANDLERS[event].__module__ == "mlnb.capture.tables"
        assert table in handlers.TABLES
    spec = handlers.TABLES["cells"]
    assert handlers.register_table("cells", spec) is spec  # declaring the same again is harmless
    with pytest.raises(ValueError, match="declared twice"):
        handlers.register_table("cells", handlers.TableSpec(spec.columns[:2], spec.types[:2]))
    assert handlers.TABLES["cells"] is spec
