"""Which user SQL the read-only face runs: queries only, told apart by DuckDB's own parser.

The read-only connection already refuses writes to the index and file access outside DuckDB's
own folders, but DuckDB still lets `COPY ... TO` write into its temp folder, and `EXPORT`,
`ATTACH`, `INSTALL`, `LOAD`, `PRAGMA` or `SET` are not queries either. Only SELECT statements
(VALUES, FROM-first, DESCRIBE, SHOW and SUMMARIZE parse as SELECT) and a plain EXPLAIN of one
are let through.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlnb.errors import ReadOnlySQLError

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection, Statement

_EXPLAIN = re.compile(r"\s*EXPLAIN(\s+ANALY[SZ]E)?\s+", re.IGNORECASE)


def check_query(con: DuckDBPyConnection, query: str) -> None:
    """Raise ReadOnlySQLError unless every statement of `query` only reads."""
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReadOnlySQLError(f"SQL failed: {first}") from None
    for statement in statements:
        if not _reads_only(con, statement):
            kind = str(statement.type).rsplit(".", 1)[-1]
            raise ReadOnlySQLError(f"SQL failed: only queries are allowed here (SELECT, EXPLAIN), not {kind}; "
                                   "mlnb's SQL face is read-only")


def _reads_only(con: DuckDBPyConnection, statement: Statement) -> bool:
    import duckdb

    if statement.type == duckdb.StatementType.SELECT:
        return True
    if statement.type != duckdb.StatementType.EXPLAIN:
        return False
    # EXPLAIN ANALYZE runs the statement it explains: look at what is explained
    match = _EXPLAIN.match(statement.query)
    if match is None:
        return False
    inner = con.extract_statements(statement.query[match.end():])
    return len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT
