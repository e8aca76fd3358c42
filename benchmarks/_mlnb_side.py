"""The mlnb side of the benchmark: one phase per process, run by `bench_tracking.py`.

Usage: python _mlnb_side.py <phase> <workdir> '<json args>'. The store is `<workdir>/.mlnb`.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from _workload import (
    EXPERIMENT,
    FILTER_METRIC,
    MLNB_FILTER,
    MLNB_ORDER,
    STEP_METRIC,
    repeated,
    run_metrics,
    run_params,
    side_main,
    step_value,
    timed,
)

import mlnb

QUERY_STACK = ("duckdb", "pandas", "pyarrow", "mlnb.api", "mlnb.store.ingest", "mlnb.store.filters")


def _connect(workdir: Path) -> None:
    """Open (create) the store of this work dir, outside any timing."""
    mlnb.connect(workdir / ".mlnb")


def _log_runs(n_runs: int) -> None:
    """Scenario (a): each run logs 10 params and 5 metrics, one call each."""
    for i in range(n_runs):
        with mlnb.start_run(experiment=EXPERIMENT):
            for key, value in run_params(i).items():
                mlnb.log_param(key, value)
            for key, value in run_metrics(i).items():
                mlnb.log_metric(key, value)


def log_runs(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Log `runs` runs; with `first_query`, then time the first runs() (which ingests them)."""
    _connect(workdir)
    seconds, _ = timed(lambda: _log_runs(args["runs"]))
    out: dict[str, Any] = {"seconds": seconds, "runs": args["runs"]}
    if args.get("first_query"):
        out["query_imports_s"], _ = timed(_import_query_stack)
        out["first_query_s"], frame = timed(lambda: mlnb.runs(experiment=EXPERIMENT))
        out["first_query_rows"] = len(frame)
    return out


def _import_query_stack() -> None:
    """Load what the first query loads (pandas, DuckDB, pyarrow, mlnb's query modules)."""
    for module in QUERY_STACK:
        importlib.import_module(module)


def log_steps(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (b): one run, one log_metric call per step, timed through the run's end."""
    _connect(workdir)

    def run_steps() -> str:
        with mlnb.start_run(experiment=EXPERIMENT) as run:
            for step in range(args["steps"]):
                mlnb.log_metric(STEP_METRIC, step_value(step), step=step)
        return run.id

    seconds, run_id = timed(run_steps)
    return {"seconds": seconds, "steps": args["steps"], "run_id": run_id}


def query(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (c): filtered, ordered runs(); the warm-up call ingests the event logs."""
    _connect(workdir)
    _import_query_stack()
    timing = repeated(lambda: mlnb.runs(experiment=EXPERIMENT, filter=MLNB_FILTER, order_by=MLNB_ORDER))
    frame = timing.pop("result")
    column = frame[f"metrics.{FILTER_METRIC}"]
    return {**timing, "rows": len(frame), "columns": len(frame.columns),
            "top": float(column.iloc[0]) if len(frame) else None,
            "descending": bool(column.is_monotonic_decreasing)}


def history(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (d): read back every step of the metric logged in (b)."""
    _connect(workdir)
    _import_query_stack()
    timing = repeated(lambda: mlnb.metric_history(args["run_id"], STEP_METRIC))
    frame = timing.pop("result")
    return {**timing, "rows": len(frame), "last": float(frame["value"].iloc[-1])}


if __name__ == "__main__":
    side_main({"log_runs": log_runs, "log_steps": log_steps, "query": query, "history": history})
