"""Idempotent ingest of event logs into the DuckDB index.

New complete lines of every event file are parsed in bulk by Arrow's JSON reader and
folded into the index by set-based SQL, all in one transaction together with each file's
new byte offset: a crash mid-ingest re-reads the same lines next time, and nothing is
doubled. Lines that are not valid events (a torn write) are counted and skipped.

Core events (runs, params, metrics, tags, artifacts) are handled in SQL; later features
register Python handlers for their own event types with `@handles(...)`, writing rows into
tables described by `TABLES`. Every line is parsed with the core schema first, so a non-core
event must not use a core field name (see `_event_schema`) with a different type.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mlnb.store.events import EVENTS_DIRNAME, read_new_lines

CORE_EVENTS = ("run_start", "run_end", "params", "metrics", "tags", "artifact")
_TS = 'make_timestamp(CAST({} * 1000000 AS BIGINT))'  # epoch seconds -> TIMESTAMP (UTC)
_SEVERITY = "(CASE {0} WHEN 'failed' THEN 4 WHEN 'killed' THEN 3 WHEN 'crashed' THEN 2 WHEN 'finished' THEN 1 ELSE 0 END)"
_TIME_COLUMNS = {"start_time", "end_time", "ts", "created", "first_seen", "updated"}


def _event_schema() -> Any:
    import pyarrow as pa

    text, num, integer = pa.string(), pa.float64(), pa.int64()
    return pa.schema([
        ("e", text), ("run", text), ("t", num), ("exp", text), ("name", text), ("parent", text),
        ("user", text), ("host", text), ("pid", integer), ("pid_start", num), ("nb", text),
        ("git", text), ("status", text), ("path", text), ("hash", text), ("size", integer),
        ("media", text),
        ("p", pa.list_(pa.struct([("k", text), ("v", text), ("n", num)]))),
        ("m", pa.list_(pa.struct([("k", text), ("v", num), ("s", integer), ("x", text)]))),
        ("tags", pa.list_(pa.struct([("k", text), ("v", text)]))),
    ])


@dataclass(frozen=True)
class TableSpec:
    """How rows of one index table are written by Python handlers: appended, or upserted on `key`."""

    columns: tuple[str, ...]
    key: tuple[str, ...] = ()


TABLES: dict[str, TableSpec] = {
    "datasets": TableSpec(
        ("fingerprint", "schema_hash", "kind", "n_rows", "n_cols", "profile", "first_seen"),
        ("fingerprint",),
    ),
    "cells": TableSpec(
        ("run_id", "seq", "execution_count", "cell_id", "code", "code_hash", "start_time",
         "duration_s", "status", "details"),
        ("run_id", "seq"),
    ),
    "lineage": TableSpec(("run_id", "src_kind", "src_id", "dst_kind", "dst_id", "relation", "ts")),
    "model_versions": TableSpec(
        ("name", "version", "run_id", "artifact_hash", "artifact_path", "flavor", "size", "signature",
         "description", "tags", "data", "notebook_hash", "hidden_state", "status", "created", "user", "host",
         "mlnb_version"),
        ("name", "version"),
    ),
    "alias_history": TableSpec(("name", "alias", "from_version", "to_version", "user", "ts", "reason")),
}


@dataclass
class Batch:
    """Rows produced by Python event handlers, written in the same transaction as the rest."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    statements: list[tuple[str, list[Any]]] = field(default_factory=list)  # run after the rows, in order

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(table, []).append(row)

    def execute(self, sql: str, params: list[Any]) -> None:
        """A fixed, parameterized statement for events that update rows (rare: registry changes)."""
        self.statements.append((sql, params))


EventHandler = Callable[[Batch, dict[str, Any]], None]
HANDLERS: dict[str, EventHandler] = {}


def handles(event_type: str) -> Callable[[EventHandler], EventHandler]:
    """Register the function that turns one (non-core) event type into rows."""

    def register(func: EventHandler) -> EventHandler:
        HANDLERS[event_type] = func
        return func

    return register


@dataclass
class IngestReport:
    """What one ingest pass did."""

    files: int = 0
    events: int = 0
    bad_lines: int = 0
    unknown_events: int = 0


def event_files(store_root: Path) -> list[Path]:
    """All event files of the store, oldest name first."""
    folder = store_root / EVENTS_DIRNAME
    if not folder.is_dir():
        return []
    return sorted(folder / name for name in os.listdir(folder) if name.endswith(".jsonl"))


def ingest(con: Any, store_root: Path, only: Iterable[Path] | None = None) -> IngestReport:
    """Fold every event appended since the last ingest into the index, in one transaction."""
    done = {
        row[0]: row[1:]
        for row in con.execute(
            'SELECT file, "offset", lines, bad_lines, unknown_events FROM idx.ingest_state'
        ).fetchall()
    }
    report = IngestReport()
    all_lines: list[bytes] = []
    progress: list[list[Any]] = []
    for path in only if only is not None else event_files(store_root):
        offset, lines_before, bad_before, unknown_before = done.get(path.name, (0, 0, 0, 0))
        try:
            if path.stat().st_size <= offset:
                continue
            lines, new_offset = read_new_lines(path, offset)
        except FileNotFoundError:
            continue
        if lines:
            report.files += 1
            progress.append([path.name, new_offset, lines_before + len(lines), bad_before, unknown_before,
                             len(all_lines), len(all_lines) + len(lines)])
            all_lines.extend(lines)
    if not progress:
        return report
    table, bad_rows = _parse(all_lines)
    batch, unknown_rows = _python_events(table, all_lines)
    for entry in progress:
        start, end = entry[5], entry[6]
        entry[3] += sum(1 for i in bad_rows if start <= i < end)
        entry[4] += sum(1 for i in unknown_rows if start <= i < end)
    report.bad_lines, report.unknown_events = len(bad_rows), len(unknown_rows)
    report.events = len(all_lines) - len(bad_rows)
    _write(con, table, batch, [tuple(entry[:5]) for entry in progress])
    return report


def _parse(lines: list[bytes]) -> tuple[Any, set[int]]:
    """Arrow table of the events (column `i` = line index); indexes of lines that are not events."""
    import pyarrow as pa
    import pyarrow.json as pj

    options = pj.ParseOptions(explicit_schema=_event_schema(), unexpected_field_behavior="ignore")
    bad: set[int] = set()
    try:
        table = _read(lines, options)
        index = list(range(len(lines)))
    except pa.ArrowInvalid:  # a torn or hand-edited line: find it, parse the rest
        good = []
        for i, line in enumerate(lines):
            try:
                if not isinstance(orjson.loads(line), dict):
                    raise ValueError
                _read([line], options)
                good.append(i)
            except (ValueError, pa.ArrowInvalid):
                bad.add(i)
        table = _read([lines[i] for i in good], options) if good else _event_schema().empty_table()
        index = good
    return table.append_column("i", pa.array(index, pa.int64())), bad


def _read(lines: list[bytes], options: Any) -> Any:
    import pyarrow.json as pj

    data = b"\n".join(lines) + b"\n"
    block = max(1 << 20, max(len(line) for line in lines) + 2)
    return pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=block), parse_options=options)


def _python_events(table: Any, lines: list[bytes]) -> tuple[Batch, set[int]]:
    """Run registered handlers on non-core events; returns their rows and the unknown events."""
    batch, unknown = Batch(), set()
    kinds = table.column("e").to_pylist()
    rows = table.column("i").to_pylist()
    for kind, i in zip(kinds, rows):
        if kind in CORE_EVENTS:
            continue
        handler = HANDLERS.get(kind)
        if handler is None:
            unknown.add(i)
            continue
        try:
            handler(batch, orjson.loads(lines[i]))
        except (KeyError, TypeError, ValueError):
            unknown.add(i)
    return batch, unknown


# Set-based SQL for the core events; `_ev` is the Arrow table of parsed events.
_CORE_SQL = (
    """INSERT INTO idx.experiments
       SELECT coalesce(exp, 'Default'), {t} FROM _ev WHERE e = 'run_start' GROUP BY 1
       ON CONFLICT (name) DO UPDATE SET created = least(excluded.created, experiments.created)""".format(
        t=_TS.format("min(t)")),
    """INSERT INTO idx.runs (run_id, experiment, name, status, parent_run_id, start_time, "user", host,
           pid, pid_start, notebook, git_commit)
       SELECT run, coalesce(exp, 'Default'), name, 'running', parent, {t}, "user", host, pid, pid_start, nb, git
       FROM _ev WHERE e = 'run_start' QUALIFY row_number() OVER (PARTITION BY run ORDER BY i DESC) = 1
       ON CONFLICT (run_id) DO UPDATE SET experiment = excluded.experiment, name = excluded.name,
           parent_run_id = excluded.parent_run_id, start_time = excluded.start_time, "user" = excluded."user",
           host = excluded.host, pid = excluded.pid, pid_start = excluded.pid_start,
           notebook = excluded.notebook, git_commit = excluded.git_commit""".format(t=_TS.format("t")),
    # An end may be ingested before its start (different files): upsert keeps both halves.
    # Two processes may end the same run (a batch kernel and its runner): the more severe
    # verdict wins whatever order the files are read in.
    """INSERT INTO idx.runs (run_id, status, end_time)
       SELECT run, status, {t} FROM _ev WHERE e = 'run_end'
       QUALIFY row_number() OVER (PARTITION BY run ORDER BY {sev_new} DESC, i DESC) = 1
       ON CONFLICT (run_id) DO UPDATE SET
           status = CASE WHEN {sev_excluded} >= {sev_existing} THEN excluded.status ELSE runs.status END,
           end_time = CASE WHEN {sev_excluded} >= {sev_existing} THEN excluded.end_time ELSE runs.end_time END
    """.format(t=_TS.format("t"), sev_new=_SEVERITY.format("status"), sev_excluded=_SEVERITY.format("excluded.status"),
               sev_existing=_SEVERITY.format("runs.status")),
    """INSERT INTO idx.params
       SELECT run, u.k, u.v, u.n FROM (SELECT run, i, unnest(p) AS u FROM _ev WHERE e = 'params')
       QUALIFY row_number() OVER (PARTITION BY run, u.k ORDER BY i DESC) = 1
       ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, value_num = excluded.value_num""",
    """CREATE TEMP TABLE _points AS
       SELECT run, u.k AS key, coalesce(u.v, CAST(u.x AS DOUBLE)) AS value, u.s AS step, t, i
       FROM (SELECT run, t, i, unnest(m) AS u FROM _ev WHERE e = 'metrics')""",
    "INSERT INTO idx.metrics SELECT run, key, value, step, {t} FROM _points".format(t=_TS.format("t")),
    # The latest value of a metric is the one at the highest step; among equal steps, the last logged.
    """INSERT INTO idx.metric_latest
       SELECT run, key, value, step, {t} FROM _points
       QUALIFY row_number() OVER (PARTITION BY run, key ORDER BY step DESC, i DESC) = 1
       ON CONFLICT (run_id, key) DO UPDATE SET
           value = CASE WHEN excluded.step >= metric_latest.step THEN excluded.value ELSE metric_latest.value END,
           ts = CASE WHEN excluded.step >= metric_latest.step THEN excluded.ts ELSE metric_latest.ts END,
           step = greatest(excluded.step, metric_latest.step)""".format(t=_TS.format("t")),
    "DROP TABLE _points",
    """INSERT INTO idx.tags
       SELECT run, u.k, u.v FROM (SELECT run, i, unnest(tags) AS u FROM _ev WHERE e = 'tags')
       QUALIFY row_number() OVER (PARTITION BY run, u.k ORDER BY i DESC) = 1
       ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value""",
    """INSERT INTO idx.artifacts
       SELECT run, path, hash, size, media, {t} FROM _ev WHERE e = 'artifact'
       QUALIFY row_number() OVER (PARTITION BY run, path ORDER BY i DESC) = 1
       ON CONFLICT (run_id, path) DO UPDATE SET hash = excluded.hash, size = excluded.size,
           media_type = excluded.media_type, created = excluded.created""".format(t=_TS.format("t")),
)


def _write(con: Any, table: Any, batch: Batch, progress: list[tuple[Any, ...]]) -> None:
    import pyarrow as pa

    con.execute("BEGIN")
    try:
        con.register("_ev", table)
        for statement in _CORE_SQL:
            con.execute(statement)
        con.unregister("_ev")
        for name, rows in batch.rows.items():
            _write_rows(con, pa, name, rows)
        for sql, params in batch.statements:
            con.execute(sql, params)
        names, offsets, lines, bad, unknown = zip(*progress)
        state = pa.table({"file": names, "offset": offsets, "lines": lines, "bad_lines": bad,
                          "unknown_events": unknown})
        con.register("_state", state)
        con.execute(
            'INSERT INTO idx.ingest_state SELECT * FROM _state ON CONFLICT (file) DO UPDATE SET '
            '"offset" = excluded."offset", lines = excluded.lines, bad_lines = excluded.bad_lines, '
            "unknown_events = excluded.unknown_events"
        )
        con.unregister("_state")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _write_rows(con: Any, pa: Any, name: str, rows: list[tuple[Any, ...]]) -> None:
    spec = TABLES[name]
    if spec.key:  # last one wins within the batch, as across batches
        key_idx = [spec.columns.index(k) for k in spec.key]
        rows = list({tuple(row[i] for i in key_idx): row for row in rows}.values())
    columns = list(zip(*rows))
    arrays = {
        c: pa.array(v, type=pa.float64()) if c in _TIME_COLUMNS else pa.array(v)
        for c, v in zip(spec.columns, columns)
    }
    con.register("_rows", pa.table(arrays))
    select = ", ".join(_TS.format(f'"{c}"') if c in _TIME_COLUMNS else f'"{c}"' for c in spec.columns)
    sql = f"INSERT INTO idx.{name} ({', '.join(spec.columns)}) SELECT {select} FROM _rows"
    if spec.key:
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in spec.columns if c not in spec.key)
        sql += f" ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {sets}"
    con.execute(sql)
    con.unregister("_rows")

from mlnb.store import records as _records  # noqa: E402,F401  (registers the capture handlers)
