"""Idempotent ingest of event logs into the DuckDB index.

Each file's ingested byte offset is committed in the same transaction as the rows it
produced, so a crash mid-ingest re-reads the same lines next time and nothing is doubled.
Lines that are not valid JSON (a torn write) are counted and skipped, never fatal.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mlnb.store.events import EVENTS_DIRNAME, read_new_lines

# Columns written per table; names ending in these suffixes hold epoch seconds in events.
_TIME_COLUMNS = {"start_time", "end_time", "ts", "created", "first_seen"}


@dataclass(frozen=True)
class TableSpec:
    """How rows of one index table are written: appended, or upserted on `key` (last wins)."""

    columns: tuple[str, ...]
    key: tuple[str, ...] = ()


TABLES: dict[str, TableSpec] = {
    "params": TableSpec(("run_id", "key", "value", "value_num"), ("run_id", "key")),
    "metrics": TableSpec(("run_id", "key", "value", "step", "ts")),
    "tags": TableSpec(("run_id", "key", "value"), ("run_id", "key")),
    "artifacts": TableSpec(
        ("run_id", "path", "hash", "size", "media_type", "created"), ("run_id", "path")
    ),
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
}

RUN_START_COLUMNS = (
    "run_id", "experiment", "name", "status", "parent_run_id", "start_time", "user", "host",
    "pid", "pid_start", "notebook", "git_commit",
)


@dataclass
class Batch:
    """Rows gathered from a set of events, ready to be written in one transaction."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    run_starts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    run_ends: dict[str, tuple[str, float]] = field(default_factory=dict)
    experiments: dict[str, float] = field(default_factory=dict)
    unknown: int = 0

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(table, []).append(row)


EventHandler = Callable[[Batch, dict[str, Any]], None]
HANDLERS: dict[str, EventHandler] = {}


def handles(event_type: str) -> Callable[[EventHandler], EventHandler]:
    """Register the function that turns one event type into rows (later features add their own)."""

    def register(func: EventHandler) -> EventHandler:
        HANDLERS[event_type] = func
        return func

    return register


def param_number(value: Any) -> float | None:
    """The numeric reading of a param value, used for numeric filters (None if not a number)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) or value.strip().lower() in ("nan", "inf", "-inf") else None
    return None


def param_text(value: Any) -> str:
    """The text form of a param value as stored (Python's str, like a user would print it)."""
    return value if isinstance(value, str) else str(value)


@handles("run_start")
def _run_start(batch: Batch, ev: dict[str, Any]) -> None:
    experiment = ev.get("exp") or "Default"
    batch.run_starts[ev["run"]] = (
        ev["run"], experiment, ev.get("name"), "running", ev.get("parent"), ev["t"],
        ev.get("user"), ev.get("host"), ev.get("pid"), ev.get("pid_start"), ev.get("nb"),
        ev.get("git"),
    )
    first = batch.experiments.get(experiment)
    batch.experiments[experiment] = ev["t"] if first is None else min(first, ev["t"])


@handles("run_end")
def _run_end(batch: Batch, ev: dict[str, Any]) -> None:
    batch.run_ends[ev["run"]] = (ev["status"], ev["t"])


@handles("params")
def _params(batch: Batch, ev: dict[str, Any]) -> None:
    run = ev["run"]
    for key, value in ev["p"].items():
        batch.add("params", (run, key, param_text(value), param_number(value)))


@handles("metrics")
def _metrics(batch: Batch, ev: dict[str, Any]) -> None:
    run, ts = ev["run"], ev["t"]
    for key, value, step in ev["m"]:
        # non-finite floats travel as text ("nan", "inf") because JSON has no literal for them
        batch.add("metrics", (run, key, float(value), step, ts))


@handles("tags")
def _tags(batch: Batch, ev: dict[str, Any]) -> None:
    run = ev["run"]
    for key, value in ev["tags"].items():
        batch.add("tags", (run, key, value))


@handles("artifact")
def _artifact(batch: Batch, ev: dict[str, Any]) -> None:
    batch.add("artifacts", (ev["run"], ev["path"], ev["hash"], ev["size"], ev.get("media"), ev["t"]))


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
    """Read every event appended since the last ingest into the index, in one transaction."""
    done = {
        row[0]: (row[1], row[2], row[3], row[4])
        for row in con.execute(
            'SELECT file, "offset", lines, bad_lines, unknown_events FROM idx.ingest_state'
        ).fetchall()
    }
    report = IngestReport()
    batch = Batch()
    progress: list[tuple[str, int, int, int, int]] = []
    for path in only if only is not None else event_files(store_root):
        offset, lines_before, bad_before, unknown_before = done.get(path.name, (0, 0, 0, 0))
        try:
            if path.stat().st_size <= offset:
                continue
            lines, new_offset = read_new_lines(path, offset)
        except FileNotFoundError:
            continue
        if not lines:
            continue
        unknown_before_batch = batch.unknown
        bad = 0
        for line in lines:
            try:
                event = orjson.loads(line)
                handler = HANDLERS.get(event.get("e"))
            except (orjson.JSONDecodeError, AttributeError):
                bad += 1
                continue
            if handler is None:
                batch.unknown += 1
                continue
            try:
                handler(batch, event)
            except (KeyError, TypeError, ValueError):
                bad += 1
        unknown = batch.unknown - unknown_before_batch
        report.files += 1
        report.events += len(lines) - bad
        report.bad_lines += bad
        report.unknown_events += unknown
        progress.append(
            (path.name, new_offset, lines_before + len(lines), bad_before + bad, unknown_before + unknown)
        )
    if progress:
        _write(con, batch, progress)
    return report


def _write(con: Any, batch: Batch, progress: list[tuple[str, int, int, int, int]]) -> None:
    import pyarrow as pa

    con.execute("BEGIN")
    try:
        if batch.experiments:
            names, firsts = zip(*batch.experiments.items())
            _insert(con, pa, "experiments", ("name", "created"), [names, firsts],
                    conflict="(name) DO UPDATE SET created = least(excluded.created, experiments.created)")
        if batch.run_starts:
            columns = list(zip(*batch.run_starts.values()))
            updates = ", ".join(
                f'"{c}" = excluded."{c}"' for c in RUN_START_COLUMNS if c not in ("run_id", "status")
            )
            _insert(con, pa, "runs", RUN_START_COLUMNS, columns,
                    conflict=f"(run_id) DO UPDATE SET {updates}")
        if batch.run_ends:
            ids = list(batch.run_ends)
            statuses, ends = zip(*batch.run_ends.values())
            _insert(con, pa, "runs", ("run_id", "status", "end_time"), [ids, statuses, ends],
                    conflict="(run_id) DO UPDATE SET status = excluded.status, end_time = excluded.end_time")
        for table, rows in batch.rows.items():
            spec = TABLES[table]
            if spec.key:
                rows = list(_last_per_key(rows, [spec.columns.index(k) for k in spec.key]))
            columns = list(zip(*rows))
            conflict = None
            if spec.key:
                sets = ", ".join(f'"{c}" = excluded."{c}"' for c in spec.columns if c not in spec.key)
                conflict = f"({', '.join(spec.key)}) DO UPDATE SET {sets}"
            _insert(con, pa, table, spec.columns, columns, conflict=conflict)
            if table == "metrics":
                _update_latest(con, pa, rows)
        names, offsets, lines, bad, unknown = zip(*progress)
        _insert(con, pa, "ingest_state", ("file", "offset", "lines", "bad_lines", "unknown_events"),
                [names, offsets, lines, bad, unknown],
                conflict='(file) DO UPDATE SET "offset" = excluded."offset", lines = excluded.lines, '
                "bad_lines = excluded.bad_lines, unknown_events = excluded.unknown_events")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _last_per_key(rows: list[tuple[Any, ...]], key_idx: list[int]) -> Iterable[tuple[Any, ...]]:
    latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        latest[tuple(row[i] for i in key_idx)] = row
    return latest.values()


def _insert(con: Any, pa: Any, table: str, columns: Iterable[str], values: list[Any],
            conflict: str | None = None) -> None:
    columns = list(columns)
    arrays = {}
    for name, column in zip(columns, values):
        arrays[name] = pa.array(column, type=pa.float64()) if name in _TIME_COLUMNS else pa.array(column)
    con.register("_mlnb_batch", pa.table(arrays))
    select = ", ".join(
        f'make_timestamp(CAST("{c}" * 1000000 AS BIGINT))' if c in _TIME_COLUMNS else f'"{c}"'
        for c in columns
    )
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f"INSERT INTO idx.{table} ({quoted}) SELECT {select} FROM _mlnb_batch"
    if conflict:
        sql += f" ON CONFLICT {conflict}"
    con.execute(sql)
    con.unregister("_mlnb_batch")


def _update_latest(con: Any, pa: Any, rows: list[tuple[Any, ...]]) -> None:
    """Fold new metric points into metric_latest: the value at the highest step wins,
    and among equal steps the one logged last."""
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in rows:
        key = (row[0], row[1])
        seen = latest.get(key)
        if seen is None or row[3] >= seen[3]:
            latest[key] = row
    columns = list(zip(*latest.values()))
    _insert(con, pa, "metric_latest", TABLES["metrics"].columns, columns, conflict=(
        "(run_id, key) DO UPDATE SET "
        "value = CASE WHEN excluded.step >= metric_latest.step THEN excluded.value ELSE metric_latest.value END, "
        "ts = CASE WHEN excluded.step >= metric_latest.step THEN excluded.ts ELSE metric_latest.ts END, "
        "step = greatest(excluded.step, metric_latest.step)"
    ))
