"""The MLflow side of the benchmark, run by the `.venv-mlflow` interpreter, one phase per process.

Usage: python _mlflow_side.py <phase> <workdir> '<json args>'. Tracking URI
`sqlite:///<workdir>/mlflow.db`; artifacts under `<workdir>/mlruns` (the process runs in workdir).
"""
from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import mlflow
from _workload import (
    EXPERIMENT,
    FILTER_METRIC,
    MLFLOW_FILTER,
    MLFLOW_ORDER,
    STEP_METRIC,
    repeated,
    run_metrics,
    run_params,
    side_main,
    step_value,
    timed,
)
from mlflow.tracking import MlflowClient

# Tables that a run with params, metrics and tags writes rows to (checked in `_template_rows`).
RUN_TABLES = ("runs", "params", "metrics", "latest_metrics", "tags")
CLONE_SPACING_MS = 50  # start time gap between populated runs


def _db_path(workdir: Path) -> Path:
    return workdir / "mlflow.db"


def _connect(workdir: Path) -> None:
    """Point MLflow at this work dir's SQLite store and select the experiment (creating the
    schema and the experiment on first use), outside any timing."""
    mlflow.set_tracking_uri(f"sqlite:///{_db_path(workdir)}")
    mlflow.set_experiment(EXPERIMENT)


def _log_run(index: int) -> str:
    """Scenario (a)'s unit of work: one run logging 10 params and 5 metrics, one call each."""
    with mlflow.start_run() as run:
        for key, value in run_params(index).items():
            mlflow.log_param(key, value)
        for key, value in run_metrics(index).items():
            mlflow.log_metric(key, value)
    return run.info.run_id


def log_runs(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Log `runs` runs; with `first_query`, then time the first search_runs() for comparison."""
    _connect(workdir)
    seconds, _ = timed(lambda: [_log_run(i) for i in range(args["runs"])])
    out: dict[str, Any] = {"seconds": seconds, "runs": args["runs"]}
    if args.get("first_query"):
        out["first_query_s"], frame = timed(lambda: mlflow.search_runs(experiment_names=[EXPERIMENT]))
        out["first_query_rows"] = len(frame)
    return out


def log_steps(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (b): one run, one log_metric call per step, timed through the run's end."""
    _connect(workdir)

    def run_steps() -> str:
        with mlflow.start_run() as run:
            for step in range(args["steps"]):
                mlflow.log_metric(STEP_METRIC, step_value(step), step=step)
        return run.info.run_id

    seconds, run_id = timed(run_steps)
    return {"seconds": seconds, "steps": args["steps"], "run_id": run_id}


def populate(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (c) setup: run 0 is logged through MLflow's API; runs 1..n-1 copy the rows
    it wrote (same tables, columns and tags) with their own ids, names, times and values."""
    _connect(workdir)
    template_id = _log_run(0)
    new_runs = [(i, uuid.uuid4().hex) for i in range(1, args["runs"])]
    with sqlite3.connect(_db_path(workdir)) as con:
        template = _template_rows(con, template_id)
        for table, (columns, rows) in template.items():
            clones = [
                _clone_row(table, dict(zip(columns, row, strict=True)), template_id, run_id, i)
                for i, run_id in new_runs
                for row in rows
            ]
            placeholders = ", ".join("?" * len(columns))
            con.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                [tuple(clone[c] for c in columns) for clone in clones],
            )
        total = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    return {"runs": total, "template_tables": {t: len(rows) for t, (_, rows) in template.items()}}


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in con.execute(f"PRAGMA table_info({table})")]


def _template_rows(con: sqlite3.Connection, run_id: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row the template run wrote, per table; fails if MLflow wrote to a table we do not clone."""
    out = {}
    tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        columns = _columns(con, table)
        if "run_uuid" not in columns:
            continue
        rows = con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", [run_id]).fetchall()
        if rows and table not in RUN_TABLES:
            raise RuntimeError(f"MLflow wrote run rows to table {table!r}, which populate() does not clone")
        if rows:
            out[table] = (columns, rows)
    return out


def _clone_row(table: str, row: dict[str, Any], template_id: str, run_id: str, index: int) -> dict[str, Any]:
    """The template's `row` as run `index` would have written it."""
    name = f"{EXPERIMENT}-{index}"
    shift = index * CLONE_SPACING_MS
    out = {k: v.replace(template_id, run_id) if isinstance(v, str) else v for k, v in row.items()}
    if table == "runs":
        out.update(name=name, start_time=row["start_time"] + shift, end_time=row["end_time"] + shift)
    elif table == "params":
        out["value"] = run_params(index)[row["key"]]
    elif table in ("metrics", "latest_metrics"):
        out.update(value=run_metrics(index)[row["key"]], timestamp=row["timestamp"] + shift)
    elif table == "tags" and row["key"] == "mlflow.runName":
        out["value"] = name
    return out


def query(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (c): filtered, ordered search_runs() returning a DataFrame."""
    _connect(workdir)
    timing = repeated(lambda: mlflow.search_runs(
        experiment_names=[EXPERIMENT], filter_string=MLFLOW_FILTER, order_by=MLFLOW_ORDER))
    frame = timing.pop("result")
    column = frame[f"metrics.{FILTER_METRIC}"]
    return {**timing, "rows": len(frame), "columns": len(frame.columns),
            "top": float(column.iloc[0]) if len(frame) else None,
            "descending": bool(column.is_monotonic_decreasing)}


def history(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (d): read back every step of the metric logged in (b)."""
    _connect(workdir)
    client = MlflowClient()
    timing = repeated(lambda: client.get_metric_history(args["run_id"], STEP_METRIC))
    points = sorted(timing.pop("result"), key=lambda m: m.step)
    return {**timing, "rows": len(points), "last": points[-1].value if points else None}


if __name__ == "__main__":
    side_main({"log_runs": log_runs, "log_steps": log_steps, "populate": populate, "query": query,
               "history": history})
