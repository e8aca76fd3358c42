"""Idempotent ingest of event logs into the DuckDB index.

New complete lines of every source of the event log (read through the backend's
`EventLog.read_new`) are parsed in bulk by Arrow's JSON reader and folded into the index by
set-based SQL, all in one transaction together with each source's new cursor (kept in
`idx.ingest_state`: column `file` is the source id, `offset` the backend's cursor; locally the
file name and a byte offset): a crash mid-ingest re-reads the same lines next time, and nothing
is doubled.

A line that cannot be typed (not JSON, a field of the wrong type, a time or number out of
range, a required field missing) is QUARANTINED: kept in `idx.quarantine` with its source,
line number, position (locally the byte offset) and the reason, counted per source, and skipped;
every other event of the same pass is ingested. One hand-edited or hostile line never stops the index.

Core events (runs, params, metrics, tags, artifacts) are handled in SQL; later features
register Python handlers for their own event types with `@handles(...)`, writing rows into
tables described by `TABLES` (both in `store/handlers.py`). Which events are core, and the
Arrow schema of their fields, come from the declarations in `mlnb/events.py`. Every line is
parsed with the core schema first, so a non-core event must not use a core field name with a
different type (`_core_fields` refuses such a declaration).
"""
from __future__ import annotations

import functools
import io
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson

from mlnb import events
from mlnb.store.backends.base import EventLog
from mlnb.store.checks import check_core, drop_rows, quarantine_rows, reason
from mlnb.store.handlers import ARROW_TYPES, HANDLERS, TABLES, Batch, handles  # noqa: F401  (handles: re-exported)

CORE_EVENTS = tuple(spec.name for spec in events.EVENT_TYPES.values() if spec.owner == "core")
_TS = 'make_timestamp(CAST({} * 1000000 AS BIGINT))'  # epoch seconds -> TIMESTAMP (UTC)
_SEVERITY = "(CASE {0} WHEN 'failed' THEN 4 WHEN 'killed' THEN 3 WHEN 'crashed' THEN 2 WHEN 'finished' THEN 1 ELSE 0 END)"
# A run's own end (written by its process, or its batch runner) outranks a `crashed` verdict that
# another process inferred from a dead pid: the inference can race the run's last write. Among
# own ends the more severe wins. Ends without the flag that say `crashed` came from that check.
_INFERRED = "coalesce({0}, {1} = 'crashed')"
_RANK = "({sev} + CASE WHEN {sev} > 0 AND NOT {inferred} THEN 10 ELSE 0 END)"


def _rank(status: str, inferred: str) -> str:
    return _RANK.format(sev=_SEVERITY.format(status), inferred=_INFERRED.format(inferred, status))


def _core_fields() -> list[events.Field]:
    """The fields of the core events, each name once, in declaration order.

    TypeError if two declarations give one name different types and one of them is core: every
    line is parsed with the core schema, so such an event would be quarantined, never ingested.
    """
    core: dict[str, events.Field] = {}
    for spec in events.EVENT_TYPES.values():
        if spec.owner == "core":
            for field in spec.fields:
                core.setdefault(field.name, field)
    for spec in events.EVENT_TYPES.values():
        for field in spec.fields:
            if field.name in core and core[field.name].type != field.type:
                raise TypeError(f"event {spec.name!r} declares {field.name!r} as {field.type}, but a core event "
                                f"declares it as {core[field.name].type}; use another field name")
    return list(core.values())


@functools.lru_cache(maxsize=1)
def _event_schema() -> Any:
    """The Arrow schema lines are parsed with: `e` and every core field, typed as declared."""
    import pyarrow as pa

    return pa.schema([("e", pa.string())] + [(f.name, _arrow_type(pa, f.type)) for f in _core_fields()])


def _arrow_type(pa: Any, field_type: str) -> Any:
    scalars = {events.TEXT: pa.string(), events.NUMBER: pa.float64(), events.INT: pa.int64(),
               events.BOOL: pa.bool_()}
    if field_type in scalars:
        return scalars[field_type]
    if field_type in events.ITEM_FIELDS:
        return pa.list_(pa.struct([(f.name, _arrow_type(pa, f.type)) for f in events.ITEM_FIELDS[field_type]]))
    raise TypeError(f"a core field cannot be of type {field_type!r} (ingest has no Arrow type for it)")


@dataclass
class IngestReport:
    """What one ingest pass did."""

    files: int = 0
    events: int = 0
    bad_lines: int = 0  # lines quarantined: not JSON, or values that cannot be typed
    unknown_events: int = 0


def load_features() -> None:
    """Let every feature register its tables and handlers (by name: the core imports no feature)."""
    import importlib

    importlib.import_module("mlnb.features").load()


def ingest(con: Any, log: EventLog, only: Collection[str] | None = None) -> IngestReport:
    """Fold every event appended to `log` since the last ingest into the index, in one transaction.

    With `only`, just those sources of the log are read (e.g. this process's own).
    """
    load_features()
    done = {
        row[0]: row[1:]
        for row in con.execute(
            'SELECT file, "offset", lines, bad_lines, unknown_events FROM idx.ingest_state'
        ).fetchall()
    }
    report = IngestReport()
    all_lines: list[bytes] = []
    progress: list[list[Any]] = []
    cursors = {source: state[0] for source, state in done.items()}
    for new in log.read_new(cursors, only):
        cursor, lines_before, bad_before, unknown_before = done.get(new.source, (None, 0, 0, 0))
        lines = new.lines
        if lines:
            report.files += 1
        elif new.cursor == cursor:
            continue  # nothing new, not even a cursor to keep
        progress.append([new.source, new.cursor, lines_before + len(lines), bad_before, unknown_before,
                         len(all_lines), len(all_lines) + len(lines), new])
        all_lines.extend(lines)
    if not progress:
        return report
    table, bad_rows = _parse(all_lines)
    core_bad = check_core(con, table, CORE_EVENTS)
    if core_bad:
        bad_rows.update(core_bad)
        table = drop_rows(table, core_bad)
    batch, unknown_rows = _python_events(table, all_lines, bad_rows)
    try:
        _write(con, table, batch, _state_rows(progress, bad_rows, unknown_rows),
               quarantine_rows(all_lines, bad_rows, progress, done))
    except Exception as exc:
        # Every check above passed, yet the index refused the batch: a value no check knows
        # about. Find the events it refuses (by halving), quarantine them, write the rest.
        refused = _refused_events(con, table, batch, exc)
        bad_rows.update(refused)
        table, batch = drop_rows(table, refused), batch.only(lambda i: i not in refused)
        _write(con, table, batch, _state_rows(progress, bad_rows, unknown_rows),
               quarantine_rows(all_lines, bad_rows, progress, done))
    report.bad_lines, report.unknown_events = len(bad_rows), len(unknown_rows)
    report.events = len(all_lines) - len(bad_rows)
    return report


def _state_rows(progress: list[list[Any]], bad: dict[int, str], unknown: set[int]) -> list[tuple[Any, ...]]:
    """(file, offset, lines, bad_lines, unknown_events) of each file read, for idx.ingest_state."""
    out = []
    for name, offset, lines, bad_before, unknown_before, start, end, _batch in progress:
        out.append((name, offset, lines, bad_before + sum(1 for i in bad if start <= i < end),
                    unknown_before + sum(1 for i in unknown if start <= i < end)))
    return out


def _refused_events(con: Any, table: Any, batch: Batch, error: Exception) -> dict[int, str]:
    """The events the index refuses on their own (each found in a few trial writes), with why.

    Re-raises `error` if it is not a database or Arrow error, or if no single event is to blame.
    """
    import duckdb
    import pyarrow as pa

    if not isinstance(error, (duckdb.Error, pa.ArrowException)):
        raise error
    found: dict[int, str] = {}

    def probe(events: list[int]) -> None:
        keep = set(events)
        subset = drop_rows(table, {i: "" for i in table.column("i").to_pylist() if i not in keep})
        con.execute("BEGIN")
        try:
            _apply(con, subset, batch.only(keep.__contains__))
            return
        except (duckdb.Error, pa.ArrowException) as exc:
            if len(events) == 1:
                found[events[0]] = f"the index refused it: {reason(exc)}"
                return
        finally:
            con.execute("ROLLBACK")
        middle = len(events) // 2
        probe(events[:middle])
        probe(events[middle:])

    probe(sorted(set(table.column("i").to_pylist()) | {o for origins in batch.row_origins.values() for o in origins}
                 | set(batch.statement_origins)))
    if not found:
        raise error
    return found


def _parse(lines: list[bytes]) -> tuple[Any, dict[int, str]]:
    """Arrow table of the events (column `i` = line index); lines that are not events, with why."""
    import pyarrow as pa
    import pyarrow.json as pj

    options = pj.ParseOptions(explicit_schema=_event_schema(), unexpected_field_behavior="ignore")
    # Only objects go to Arrow: a top-level `null` line crashed pyarrow's reader (pyarrow 26, a
    # segfault after a few reads), and no other top-level value is an event anyway.
    bad = {i: "not a JSON object" for i, line in enumerate(lines) if line.lstrip()[:1] != b"{"}
    index = [i for i in range(len(lines)) if i not in bad] if bad else list(range(len(lines)))
    parts = _read_parts(lines, index, options, bad) if index else []
    if not parts:
        return _event_schema().empty_table().append_column("i", pa.array([], pa.int64())), bad
    tables = [table.append_column("i", pa.array(index, pa.int64())) for table, index in parts]
    return (tables[0] if len(tables) == 1 else pa.concat_tables(tables)), bad


def _read_parts(lines: list[bytes], index: list[int], options: Any, bad: dict[int, str]) -> list[tuple[Any, list[int]]]:
    """Parse lines `index` in one go; if one is not an event, halve until it is found (a few
    parses per bad line, not one per line). Returns (table, line indexes) parts, in order."""
    import pyarrow as pa

    try:
        table = _read([lines[i] for i in index], options)
        if table.num_rows == len(index):
            return [(table, index)]
        why = "not a JSON object"  # an empty line gives no row at all
    except pa.ArrowInvalid as exc:  # a torn, hand-edited or wrong-typed line
        why = reason(exc)
    if len(index) == 1:
        bad[index[0]] = why
        return []
    middle = len(index) // 2
    return _read_parts(lines, index[:middle], options, bad) + _read_parts(lines, index[middle:], options, bad)


def _read(lines: list[bytes], options: Any) -> Any:
    import pyarrow.json as pj

    data = b"\n".join(lines) + b"\n"
    block = max(1 << 20, max(len(line) for line in lines) + 2)
    return pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=block), parse_options=options)


def _python_events(table: Any, lines: list[bytes], bad: dict[int, str]) -> tuple[Batch, set[int]]:
    """Run registered handlers on non-core events; returns their rows and the unknown events.

    An event its handler cannot type is added to `bad` (quarantined) with the reason.
    """
    batch, unknown = Batch(), set()
    kinds = table.column("e").to_pylist()
    rows = table.column("i").to_pylist()
    for kind, i in zip(kinds, rows):
        if kind in CORE_EVENTS:
            continue
        handler = HANDLERS.get(kind)
        if handler is None:
            unknown.add(i)  # a newer mlnb's event: counted, re-read after an upgrade
            continue
        batch.origin = i
        mark = batch.mark()
        try:
            handler(batch, orjson.loads(lines[i]))
        except KeyError as exc:
            bad[i] = f"no {str(exc)[:60]} field"
            batch.truncate(mark)  # nothing of a half-handled event
        except (TypeError, ValueError) as exc:  # BadEvent, or not JSON orjson can read (NaN)
            bad[i] = reason(exc)
            batch.truncate(mark)
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
    # An own end beats an inferred `crashed` (see _RANK), whatever order they are read in.
    """INSERT INTO idx.runs (run_id, status, end_time, end_inferred)
       SELECT run, status, {t}, {inferred} FROM _ev WHERE e = 'run_end'
       QUALIFY row_number() OVER (PARTITION BY run ORDER BY {rank_new} DESC, i DESC) = 1
       ON CONFLICT (run_id) DO UPDATE SET
           status = CASE WHEN {rank_excluded} >= {rank_existing} THEN excluded.status ELSE runs.status END,
           end_time = CASE WHEN {rank_excluded} >= {rank_existing} THEN excluded.end_time ELSE runs.end_time END,
           end_inferred = CASE WHEN {rank_excluded} >= {rank_existing} THEN excluded.end_inferred
                               ELSE runs.end_inferred END
    """.format(t=_TS.format("t"), inferred=_INFERRED.format("inferred", "status"),
               rank_new=_rank("status", "inferred"), rank_excluded=_rank("excluded.status", "excluded.end_inferred"),
               rank_existing=_rank("runs.status", "runs.end_inferred")),
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


def _apply(con: Any, table: Any, batch: Batch) -> None:
    """Fold the events into the index tables (inside the caller's transaction)."""
    import pyarrow as pa

    con.register("_ev", table)
    try:
        for statement in _CORE_SQL:
            con.execute(statement)
    finally:
        con.unregister("_ev")
    for name, rows in batch.rows.items():
        if rows:
            _write_rows(con, pa, name, rows)
    for sql, params in batch.statements:
        con.execute(sql, params)


def _write(con: Any, table: Any, batch: Batch, progress: list[tuple[Any, ...]],
           quarantine: list[tuple[Any, ...]]) -> None:
    import pyarrow as pa

    con.execute("BEGIN")
    try:
        _apply(con, table, batch)
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
        if quarantine:
            files, line_numbers, offsets, reasons, raws = zip(*quarantine)
            con.register("_bad", pa.table({"file": files, "line": line_numbers, "offset": offsets,
                                           "reason": reasons, "raw": raws}))
            con.execute('INSERT INTO idx.quarantine SELECT * FROM _bad ON CONFLICT (file, "offset") DO NOTHING')
            con.unregister("_bad")
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
    arrays = {c: pa.array(v, type=getattr(pa, ARROW_TYPES[kind])())
              for c, kind, v in zip(spec.columns, spec.types, columns)}
    con.register("_rows", pa.table(arrays))
    select = ", ".join(_TS.format(f'"{c}"') if kind == "time" else f'"{c}"'
                       for c, kind in zip(spec.columns, spec.types))
    sql = f"INSERT INTO idx.{name} ({', '.join(spec.columns)}) SELECT {select} FROM _rows"
    if spec.key:
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in spec.columns if c not in spec.key)
        sql += f" ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {sets}"
    con.execute(sql)
    con.unregister("_rows")
