"""Query functions of the public API; each reads the project given as `project=` (default: the current one)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlnb.project import ProjectLike, resolve
from mlnb.store import queries


def runs(experiment: str | Sequence[str] | None = None, filter: str | None = None,
         order_by: str | Sequence[str] | None = None, limit: int | None = None, offset: int = 0,
         project: ProjectLike = None) -> Any:
    """Runs as a DataFrame: run_id, experiment, name, status, start, end, parent_run_id,
    params.*, metrics.* (latest value), tags.*. See the README for the filter language."""
    return queries.runs(resolve(project).store, experiment, filter, order_by, limit, offset)


def get_run(run: Any, project: ProjectLike = None) -> queries.RunRecord:
    """Everything recorded for one run (a Run, a run id, or a unique id prefix)."""
    return queries.get_run(resolve(project).store, run)


def metric_history(run: Any, key: str, project: ProjectLike = None) -> Any:
    """All steps of one metric of one run as a DataFrame (step, value, timestamp)."""
    return queries.metric_history(resolve(project).store, run, key)


def experiments(project: ProjectLike = None) -> Any:
    """Experiments with their run counts, as a DataFrame."""
    return queries.experiments(resolve(project).store)


def sql(query: str, params: Sequence[Any] | dict[str, Any] | None = None, timeout: float | None = None,
        project: ProjectLike = None) -> Any:
    """Read-only SQL over the views runs, params, metrics, latest_metrics, tags, artifacts,
    experiments, cells, datasets, lineage. Returns a DataFrame.

    A query is stopped after `timeout` seconds (default: $MLNB_SQL_TIMEOUT, else 30). It runs on
    a snapshot of the index, so other processes can use the store meanwhile."""
    return queries.sql(resolve(project).store, query, params, timeout)
