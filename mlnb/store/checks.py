"""What an event's values must be to fit the index, and the quarantine for lines that do not.

Ingest never fails on a line it cannot type: such a line (not a JSON object, a field of the
wrong type, a time or number out of range, a required field missing) is kept in
`idx.quarantine` with its file, line number, byte offset, the reason and the raw text, and
skipped. Core events are checked in one SQL query over the parsed batch; handler events are
checked in Python, row by row, against their table's column kinds (`check_value`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pyarrow as pa  # no type information: its values are Any to mypy
    from duckdb import DuckDBPyConnection

T_MIN, T_MAX = -62135596800.0, 253402300799.0  # event times: years 1 to 9999, in epoch seconds
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1
MAX_QUARANTINED_BYTES = 65536  # the raw text kept per quarantined line


class BadEvent(ValueError):
    """An event whose values cannot be typed into the index; its message is the reason."""


def check_value(value: Any, kind: str, field: str, required: bool = False) -> Any:
    """`value` if it fits a column of `kind` (text, int32, int64, float, time, json), else BadEvent."""
    if value is None:
        if required:
            raise BadEvent(f'no "{field}"')
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("text", "json"):
        ok = isinstance(value, str)
    elif kind in ("int32", "int64"):
        ok = isinstance(value, int) and not isinstance(value, bool) \
            and abs(value) <= (INT32_MAX if kind == "int32" else INT64_MAX)
    elif kind == "time":
        ok = number and T_MIN <= value <= T_MAX
    else:  # float
        ok = number and (isinstance(value, float) or abs(value) < 2**1023)
    if not ok:
        raise BadEvent(f'"{field}" is not {_KIND_WORDS[kind]}: {str(value)[:40]!r}')
    return value


_KIND_WORDS = {"text": "text", "json": "JSON text", "int32": "a 32-bit integer", "int64": "a 64-bit integer",
               "time": "a time in epoch seconds (years 1-9999)", "float": "a number"}


def reason(exc: BaseException) -> str:
    """The first line of an error, as a quarantine reason."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, orjson.JSONDecodeError):
        text = f"not valid JSON: {text}"
    return text[:300]


# Core events whose values parse but do not fit the index: each WHEN gives the reason.
_CORE_CHECK = f"""
SELECT i, CASE
    WHEN e IS NULL THEN 'not an event: no "e" (event type)'
    WHEN run IS NULL THEN 'no "run" id'
    WHEN t IS NOT NULL AND NOT (t BETWEEN {T_MIN} AND {T_MAX})
        THEN '"t" is not a time in epoch seconds (years 1-9999)'
    WHEN e = 'run_start' AND pid IS NOT NULL AND NOT (pid BETWEEN 0 AND {INT32_MAX}) THEN '"pid" is out of range'
    WHEN e = 'run_end' AND status IS NULL THEN 'no "status"'
    WHEN e = 'params' AND (p IS NULL OR len(list_filter(p, lambda x: x IS NULL OR x.k IS NULL)) > 0)
        THEN 'a param without a key'
    WHEN e = 'metrics' AND (m IS NULL OR len(list_filter(m, lambda x: x IS NULL OR x.k IS NULL
            OR (x.x IS NOT NULL AND TRY_CAST(x.x AS DOUBLE) IS NULL))) > 0)
        THEN 'a metric point without a key, or with a value that is not a number'
    WHEN e = 'tags' AND (tags IS NULL OR len(list_filter(tags, lambda x: x IS NULL OR x.k IS NULL)) > 0)
        THEN 'a tag without a key'
    WHEN e = 'artifact' AND path IS NULL THEN 'no "path"'
    END AS reason
FROM _ev WHERE (e IS NULL OR list_contains(?, e)) AND reason IS NOT NULL
"""


def check_core(con: DuckDBPyConnection, table: pa.Table, core_events: tuple[str, ...]) -> dict[int, str]:
    """Core events (and lines without an event type) that parsed but cannot be typed into the index,
    with the reason. Their values are checked here, in one query, rather than per event in Python."""
    if not table.num_rows:
        return {}
    con.register("_ev", table)
    try:
        return dict(con.execute(_CORE_CHECK, [list(core_events)]).fetchall())
    finally:
        con.unregister("_ev")


def drop_rows(table: pa.Table, rows: dict[int, str]) -> pa.Table:
    """`table` without the events (column `i`) in `rows`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return table.filter(pc.invert(pc.is_in(table.column("i"), value_set=pa.array(list(rows), pa.int64()))))


def quarantine_rows(lines: list[bytes], bad: dict[int, str], progress: list[list[Any]],
                    done: dict[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """(source, line number, position, reason, raw text) for every quarantined line.

    `progress` holds [source, ..., first line index, end line index, LogBatch] per source read;
    `done` the source's cursor and line count before this pass. The position is the backend's
    (locally the line's byte offset), else the line's 0-based number in its source.
    """
    out = []
    for entry in progress:
        name, start, end, batch = entry[0], entry[5], entry[6], entry[7]
        if not any(start <= i < end for i in bad):
            continue
        lines_before = (done.get(name) or (0, 0))[1]
        positions = batch.positions(lines_before)
        for i in range(start, end):
            if i in bad:
                raw = lines[i][:MAX_QUARANTINED_BYTES].decode("utf-8", "replace")
                out.append((name, lines_before + i - start + 1, positions[i - start], bad[i], raw))
    return out
