"""The seam between ingest and the features that own event types: `@handles(...)` registers the
function that turns one event type into rows of tables described by `TABLES`, collected in a
`Batch` that ingest writes in its transaction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlnb.store.checks import check_value


@dataclass(frozen=True)
class TableSpec:
    """How rows of one index table are written by Python handlers: appended, or upserted on `key`.

    `types` gives each column's kind (see `check_value`): rows are checked before they are
    added, so an event with a wrong-typed value is quarantined instead of failing the ingest.
    """

    columns: tuple[str, ...]
    types: tuple[str, ...]
    key: tuple[str, ...] = ()

    def check(self, row: tuple[Any, ...]) -> None:
        for column, kind, value in zip(self.columns, self.types, row, strict=True):
            check_value(value, kind, column, required=column in self.key)


# The index tables Python handlers write, filled by the features (`register_table`) when
# `mlnb.features` loads them.
TABLES: dict[str, TableSpec] = {}


def register_table(name: str, spec: TableSpec) -> TableSpec:
    """Declare how handlers write rows of `idx.<name>` (the table itself comes from a migration)."""
    known = TABLES.setdefault(name, spec)
    if known != spec:
        raise ValueError(f"index table {name!r} is declared twice, differently")
    return spec


ARROW_TYPES = {"text": "string", "json": "string", "int32": "int32", "int64": "int64", "float": "float64",
                "time": "float64"}


@dataclass
class Batch:
    """Rows produced by Python event handlers, written in the same transaction as the rest."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    statements: list[tuple[str, list[Any]]] = field(default_factory=list)  # run after the rows, in order
    origin: int = -1  # the line index of the event being handled
    row_origins: dict[str, list[int]] = field(default_factory=dict)
    statement_origins: list[int] = field(default_factory=list)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        """Add a row, after checking its values fit the table (BadEvent if not)."""
        TABLES[table].check(row)
        self.rows.setdefault(table, []).append(row)
        self.row_origins.setdefault(table, []).append(self.origin)

    def execute(self, sql: str, params: list[Any]) -> None:
        """A fixed, parameterized statement for events that update rows (rare: registry changes)."""
        self.statements.append((sql, params))
        self.statement_origins.append(self.origin)

    def mark(self) -> tuple[dict[str, int], int]:
        return {table: len(rows) for table, rows in self.rows.items()}, len(self.statements)

    def truncate(self, mark: tuple[dict[str, int], int]) -> None:
        """Forget what was added since `mark`."""
        sizes, statements = mark
        for table in self.rows:
            del self.rows[table][sizes.get(table, 0):]
            del self.row_origins[table][sizes.get(table, 0):]
        del self.statements[statements:]
        del self.statement_origins[statements:]

    def only(self, keep: Callable[[int], bool]) -> "Batch":
        """The rows and statements of the events (line indexes) that `keep` accepts."""
        out = Batch()
        for table, rows in self.rows.items():
            for row, origin in zip(rows, self.row_origins[table]):
                if keep(origin):
                    out.origin = origin
                    out.rows.setdefault(table, []).append(row)
                    out.row_origins.setdefault(table, []).append(origin)
        for statement, origin in zip(self.statements, self.statement_origins):
            if keep(origin):
                out.statements.append(statement)
                out.statement_origins.append(origin)
        return out


EventHandler = Callable[[Batch, dict[str, Any]], None]
HANDLERS: dict[str, EventHandler] = {}


def handles(event_type: str) -> Callable[[EventHandler], EventHandler]:
    """Register the function that turns one (non-core) event type into rows."""

    def register(func: EventHandler) -> EventHandler:
        HANDLERS[event_type] = func
        return func

    return register
