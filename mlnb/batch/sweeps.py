"""`mlnb sweep`: one parent run, one child run per parameter combination, K at a time.

Grid search takes the cartesian product of the values; `random=N` samples N distinct
combinations from the same lists (with `seed`). Re-running the same sweep (same notebook,
same space) skips combinations that already finished under an earlier parent, unless `force`.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import random as random_module
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnb.errors import MlnbError
from mlnb.project import ProjectLike, resolve

STAGGER_S = 0.2  # between kernel starts: parallel starts race for ports


@dataclass
class SweepResult:
    """The parent run and one row per combination."""

    parent_run_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    metric: str | None = None
    maximize: bool = True

    @property
    def best(self) -> dict[str, Any] | None:
        scored = [r for r in self.rows if r["status"] == "finished" and r.get("metric") is not None]
        if not scored:
            return None
        return (max if self.maximize else min)(scored, key=lambda r: r["metric"])

    def table(self) -> Any:
        """One row per combination: params, run id, status, metric, skipped, error."""
        import pandas as pd

        return pd.DataFrame([{**{f"params.{k}": v for k, v in r["params"].items()},
                              **{k: v for k, v in r.items() if k != "params"}} for r in self.rows])

    def summary(self) -> str:
        """A small table and the best run, for people."""
        lines = []
        for row in self.rows:
            params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
            value = "" if row.get("metric") is None else f"  {self.metric}={row['metric']:.4g}"
            note = " (skipped: already finished)" if row["skipped"] else ""
            error = f"  {row['error']}" if row.get("error") else ""
            lines.append(f"  {row['run_id'][:8]}  {row['status']:<8}  {params}{value}{note}{error}")
        best = self.best
        if best is not None:
            params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
            lines.append(f"best: run {best['run_id'][:8]} ({self.metric}={best['metric']:.4g}) with {params}")
        failed = sum(r["status"] == "failed" for r in self.rows)
        head = f"sweep {self.parent_run_id[:8]}: {len(self.rows)} combinations, {failed} failed"
        return "\n".join([head, *lines])


def combinations(grid: dict[str, Sequence[Any]], random: int | None = None, seed: int | None = None) -> list[dict]:
    """The grid's combinations in a stable order, or `random` distinct ones sampled from it."""
    if not grid:
        raise MlnbError("a sweep needs at least one --grid name=v1,v2")
    names = list(grid)
    every = [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
    if random is None:
        return every
    if random < 1:
        raise MlnbError("--random must be at least 1")
    return random_module.Random(seed).sample(every, min(random, len(every)))


def sweep_key(notebook: Path, grid: dict[str, Sequence[Any]], random: int | None, seed: int | None) -> str:
    """Identifies "the same sweep" across reruns."""
    spec = json.dumps({"nb": str(notebook), "grid": grid, "random": random, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _finished_before(store: Any, key: str, names: Sequence[str]) -> dict[str, str]:
    """Swept params (as canonical JSON) -> run id of children that finished under an earlier sweep with `key`."""
    from mlnb.batch import queries

    by_run: dict[str, dict[str, str]] = {}
    for run_id, name, value in queries.finished_sweep_params(store, key):
        by_run.setdefault(run_id, {})[name] = value
    return {json.dumps({n: params.get(n) for n in names}, sort_keys=True): run_id for run_id, params in by_run.items()}


def _canonical(params: dict[str, Any]) -> str:
    from mlnb.tracking import _param_text

    return json.dumps({k: _param_text(k, v) for k, v in params.items()}, sort_keys=True)


def sweep(notebook: str | Path, grid: dict[str, Sequence[Any]], random: int | None = None, seed: int | None = None,
          experiment: str | None = None, workers: int = 1, metric: str | None = None, maximize: bool = True,
          force: bool = False, executor: str = "local", address: str | None = None, progress: bool = True,
          project: ProjectLike = None) -> SweepResult:
    """Run every combination as a child of one parent run in `project` (default: the current one);
    returns the summary."""
    from mlnb.batch.executors import get_executor
    from mlnb.batch.tasks import execute
    from mlnb.redact import redact_value
    from mlnb.store.queries import get_run
    from mlnb.tracking import start_run

    chosen = resolve(project, create=True)
    store = chosen.store
    source = Path(notebook).resolve()
    if not source.is_file():
        raise MlnbError(f"no notebook at {notebook}; give the path of an .ipynb file")
    combos = combinations(grid, random, seed)
    key = sweep_key(source, grid, random, seed)
    done = {} if force else _finished_before(store, key, list(grid))
    parent = start_run(experiment=experiment, name=f"sweep {source.stem}", project=chosen, parent=None,
                       tags={"mlnb.kind": "sweep", "mlnb.sweep_id": key},
                       params={"grid": json.dumps(redact_value(grid), default=str), "random": random, "seed": seed})
    result = SweepResult(parent.id, metric=metric, maximize=maximize)
    specs = []
    for params in combos:
        previous = done.get(_canonical(params))
        if previous is not None:
            result.rows.append({"params": params, "run_id": previous, "status": "finished", "skipped": True,
                                "error": None})
            continue
        specs.append({"project": chosen.url, "notebook": str(source), "parameters": params,
                      "experiment": parent.experiment, "parent": parent.id, "run_id": uuid.uuid4().hex,
                      "name": f"{source.stem} " + " ".join(f"{k}={redact_value(v, k)}" for k, v in params.items())})
    pool = get_executor(executor, workers, address) if specs else None  # first: its error ends no bar
    bar = _progress(len(specs), progress)
    try:
        for spec, outcome in (pool.run_all(execute, _staggered(specs, workers)) if pool else []):
            result.rows.append({"params": spec["parameters"], "run_id": spec["run_id"], "status": outcome["status"],
                                "skipped": False, "error": outcome["error"]})
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
    if metric:
        for row in result.rows:
            row["metric"] = get_run(store, row["run_id"]).metrics.get(metric)
    order = {_canonical(p): i for i, p in enumerate(combos)}
    result.rows.sort(key=lambda r: order[_canonical(r["params"])])
    parent.end("failed" if any(r["status"] != "finished" for r in result.rows) else "finished")
    return result


def _staggered(specs: list[dict[str, Any]], workers: int):
    for index, spec in enumerate(specs):
        if workers > 1 and index:
            time.sleep(STAGGER_S)
        yield spec


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="run", disable=not enabled or total == 0)


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """`lr=0.1,0.01` -> {"lr": [0.1, 0.01]} (values read as YAML scalars)."""
    import yaml

    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.isidentifier() or not raw:
            raise MlnbError(f"bad --grid {item!r}; use --grid name=v1,v2,...")
        grid[name] = [yaml.safe_load(v) for v in raw.split(",")]
    return grid
