"""Reads of the batch tools (pipelines, sweeps, reproduce), through the read-only views of `mlnb sql`."""
from __future__ import annotations

from typing import Any

from mlnb.store.queries import sql


def step_runs(store: Any, step_key: str) -> list[str]:
    """Finished runs of a pipeline step with this cache key, newest first."""
    return sql(store, "SELECT r.run_id FROM runs r JOIN tags t USING (run_id) WHERE t.key = 'mlnb.step_id' "
                      "AND t.value = ? AND r.status = 'finished' ORDER BY r.start DESC", [step_key])["run_id"].tolist()


def artifact_hashes(store: Any, run_id: str) -> dict[str, str]:
    """Artifact path -> content hash of one run."""
    return dict(sql(store, "SELECT path, hash FROM artifacts WHERE run_id = ?", [run_id]).values.tolist())


def finished_sweep_params(store: Any, sweep_key: str) -> list[tuple[str, str, str]]:
    """(run_id, param, value) of every finished child of the sweeps with this key."""
    frame = sql(store, "SELECT r.run_id, p.key, p.value FROM runs r JOIN params p USING (run_id) "
                       "WHERE r.status = 'finished' AND r.parent_run_id IN "
                       "(SELECT run_id FROM tags WHERE key = 'mlnb.sweep_id' AND value = ?)", [sweep_key])
    return frame.values.tolist()


def cell_records(store: Any, run_id: str) -> list[dict[str, Any]]:
    """seq, code, code_hash, status and details (JSON text) of every cell a run captured, in order."""
    return sql(store, "SELECT seq, code, code_hash, status, details FROM cells WHERE run_id = ? ORDER BY seq",
               [run_id]).to_dict("records")


def latest_metrics(store: Any, run_id: str) -> dict[str, float]:
    """Metric key -> latest value of one run."""
    return dict(sql(store, "SELECT key, value FROM latest_metrics WHERE run_id = ?", [run_id]).values.tolist())


def dataset_rows(store: Any) -> list[dict[str, Any]]:
    """Every dataset row, with `scheme` where the index records it."""
    return sql(store, "SELECT * FROM datasets").to_dict("records")
