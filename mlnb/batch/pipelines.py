"""`mlnb pipeline pipeline.yaml`: a DAG of notebook steps that skips what has not changed.

```yaml
name: digits
experiment: digits-pipeline          # optional
steps:
  prepare:
    notebook: prepare.ipynb          # paths are relative to this file
    params: {test_size: 0.25}
    outputs: [data/train.csv, data/test.csv]
  train:
    notebook: train.ipynb
    needs: [prepare]
    params: {C: 1.0}
    inputs: [data/train.csv]
    outputs: [model.joblib]
```

A step's cache key hashes its notebook's code cells, its params, the bytes of its declared
inputs and the keys of the steps it needs. When a finished step run with the same key exists,
the step is skipped and its declared outputs are restored from that run's artifacts (hash
verified). Steps run in waves: every step whose needs are done runs in parallel with the others
of its wave. A failed step stops its dependents; independent branches go on.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnb.errors import MissingDependencyError, MlnbError
from mlnb.events import event
from mlnb.hashing import sha256_of
from mlnb.project import ProjectLike, check, resolve

STEP_KEYS = {"notebook", "params", "needs", "inputs", "outputs"}
TOP_KEYS = {"name", "experiment", "steps"}
COLORS = {"ran": "#2e7d32", "cached": "#1565c0", "failed": "#c62828", "skipped": "#9e9e9e", "pending": "#bdbdbd"}


@dataclass
class Step:
    """One notebook step of a pipeline."""

    name: str
    notebook: Path
    params: dict[str, Any] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    """A validated pipeline file."""

    path: Path
    name: str
    experiment: str | None
    steps: dict[str, Step]

    @property
    def folder(self) -> Path:
        return self.path.parent

    def levels(self) -> list[list[str]]:
        """Steps grouped by depth in the DAG (each level only needs earlier levels)."""
        depth: dict[str, int] = {}

        def level(name: str) -> int:
            if name not in depth:
                depth[name] = 1 + max((level(n) for n in self.steps[name].needs), default=-1)
            return depth[name]

        for name in self.steps:
            level(name)
        return [[n for n in self.steps if depth[n] == d] for d in range(max(depth.values(), default=-1) + 1)]


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline file; every problem is one line naming where it is."""
    import yaml

    path = Path(path).resolve()
    if not path.is_file():
        raise MlnbError(f"no pipeline file at {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise MlnbError(f"{path.name}{where}: {getattr(exc, 'problem', None) or 'not valid YAML'}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), dict) or not data["steps"]:
        raise MlnbError(f"{path.name}: expected a mapping with a non-empty 'steps' mapping")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise MlnbError(f"{path.name}: unknown key(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(TOP_KEYS))}")
    steps = {}
    for name, spec in data["steps"].items():
        where = f"{path.name}: step {name!r}"
        if not isinstance(spec, dict):
            raise MlnbError(f"{where} must be a mapping with at least 'notebook'")
        extra = set(spec) - STEP_KEYS
        if extra:
            raise MlnbError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; use {', '.join(sorted(STEP_KEYS))}")
        if "notebook" not in spec:
            raise MlnbError(f"{where} has no 'notebook'")
        notebook = (path.parent / str(spec["notebook"])).resolve()
        if not notebook.is_file():
            raise MlnbError(f"{where}: notebook {spec['notebook']} not found next to {path.name}")
        params = spec.get("params") or {}
        if not isinstance(params, dict):
            raise MlnbError(f"{where}: 'params' must be a mapping of names to values")
        lists = {key: spec.get(key) or [] for key in ("needs", "inputs", "outputs")}
        for key, value in lists.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise MlnbError(f"{where}: '{key}' must be a list of names")
        steps[str(name)] = Step(str(name), notebook, dict(params), **lists)
    for step in steps.values():
        for need in step.needs:
            if need not in steps:
                raise MlnbError(f"{path.name}: step {step.name!r} needs unknown step {need!r}")
    _check_cycles(path.name, steps)
    return Pipeline(path, str(data.get("name") or path.stem), data.get("experiment"), steps)


def _check_cycles(filename: str, steps: dict[str, Step]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 1:
            cycle = trail[trail.index(name):] + [name]
            raise MlnbError(f"{filename}: cycle: {' -> '.join(cycle)}")
        if state.get(name) == 2:
            return
        state[name] = 1
        for need in steps[name].needs:
            visit(need, [*trail, name])
        state[name] = 2

    for name in steps:
        visit(name, [])


@dataclass
class PipelineResult:
    """What happened to each step."""

    pipeline: Pipeline
    parent_run_id: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r["status"] in ("ran", "cached") for r in self.rows.values())

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"step": name, **row} for name, row in self.rows.items()])

    def summary(self) -> str:
        lines = [f"pipeline {self.pipeline.name} (run {self.parent_run_id[:8]}):"]
        for name, row in self.rows.items():
            run = (row.get("run_id") or "")[:8]
            detail = {"ran": f"ran in {row.get('seconds', 0):.1f} s", "cached": f"cached (from run {run})",
                      "failed": f"FAILED: {row.get('error')}", "skipped": "skipped: an upstream step failed"}
            lines.append(f"  {name:<16} {run:<8}  {detail.get(row['status'], row['status'])}")
        return "\n".join(lines)


def step_key(pipeline: Pipeline, step: Step, params: dict[str, Any], upstream: list[str]) -> str:
    """Notebook code + params + input bytes + upstream keys."""
    import nbformat

    nb = nbformat.read(step.notebook, as_version=4)
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode() + b"\0")
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    for name in step.inputs:
        file = pipeline.folder / name
        if not file.is_file():
            raise MlnbError(f"step {step.name!r}: declared input {name} does not exist")
        with open(file, "rb") as handle:
            digest.update(name.encode() + b"\0" + sha256_of(handle).digest())
    for key in upstream:
        digest.update(key.encode())
    return digest.hexdigest()[:32]


def _cached_run(store: Any, key: str, step: Step) -> dict[str, Any] | None:
    """The latest finished run of this key having every declared output as an artifact."""
    from mlnb.batch import queries

    for run_id in queries.step_runs(store, key):
        artifacts = queries.artifact_hashes(store, run_id)
        wanted = {f"outputs/{name}": name for name in step.outputs}
        if all(path in artifacts for path in wanted):
            return {"run_id": run_id, "files": {name: artifacts[path] for path, name in wanted.items()}}
    return None


def run_pipeline(path: str | Path, force: list[str] | tuple[str, ...] = (), workers: int = 2, executor: str = "local",
                 address: str | None = None, params_override: dict[str, dict[str, Any]] | None = None,
                 project: ProjectLike = None) -> PipelineResult:
    """Run the pipeline's steps in dependency order, skipping unchanged ones, in `project`
    (default: the current project)."""
    from mlnb.batch.executors import get_executor
    from mlnb.batch.tasks import execute
    from mlnb.tracking import Run, start_run

    pipeline = load_pipeline(path)
    unknown = [s for s in [*force, *(params_override or {})] if s not in pipeline.steps]
    if unknown:
        raise MlnbError(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(pipeline.steps)}")
    chosen = resolve(project, create=True)
    store = chosen.store
    parent = start_run(experiment=pipeline.experiment, name=f"pipeline {pipeline.name}", project=chosen, parent=None,
                       tags={"mlnb.kind": "pipeline", "mlnb.pipeline": str(pipeline.path)})
    result = PipelineResult(pipeline, parent.id)
    keys: dict[str, str] = {}
    pool = get_executor(executor, workers, address)
    try:
        for level in pipeline.levels():
            wave = []
            for name in level:
                step = pipeline.steps[name]
                if any(result.rows[n]["status"] in ("failed", "skipped") for n in step.needs):
                    result.rows[name] = {"status": "skipped", "run_id": None}
                    continue
                params = {**step.params, **(params_override or {}).get(name, {})}
                keys[name] = step_key(pipeline, step, params, [keys[n] for n in step.needs])
                hit = None if name in force else _cached_run(store, keys[name], step)
                if hit is not None:
                    _restore(store, pipeline, hit["files"])
                    result.rows[name] = {"status": "cached", "run_id": hit["run_id"], "seconds": 0.0}
                    continue
                wave.append({"project": chosen.url, "notebook": str(step.notebook), "parameters": params,
                             "experiment": parent.experiment, "parent": parent.id, "run_id": uuid.uuid4().hex,
                             "name": name, "cwd": str(pipeline.folder), "step": name})
            for spec, outcome in pool.run_all(execute, wave):
                name, step = spec["step"], pipeline.steps[spec["step"]]
                row = {"status": "ran" if outcome["status"] == "finished" else "failed", "run_id": spec["run_id"],
                       "seconds": outcome["seconds"], "error": outcome["error"]}
                if row["status"] == "ran":
                    row["error"] = _store_outputs(Run(store, spec["run_id"], "", None, None), pipeline, step,
                                                  keys[name])
                    row["status"] = "failed" if row["error"] else "ran"
                result.rows[name] = row
    finally:
        pool.close()
    parent.set_tags({f"mlnb.step.{name}": row["status"] for name, row in result.rows.items()})
    parent.end("finished" if result.ok else "failed")
    return result


def _restore(store: Any, pipeline: Pipeline, files: dict[str, str]) -> None:
    for name, digest in files.items():
        target = pipeline.folder / name
        data = store.blobs.read_bytes(digest, verify=True)
        if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != digest:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def _store_outputs(run: Any, pipeline: Pipeline, step: Step, key: str) -> str | None:
    """Keep the declared outputs as artifacts of the step run; a missing one fails the step."""
    missing = [name for name in step.outputs if not (pipeline.folder / name).is_file()]
    if missing:
        run.set_tags({"mlnb.error": f"declared output(s) not written: {', '.join(missing)}"})
        run.store.writer.emit(event("run_end", run=run.id, status="failed", t=time.time()))
        run.store.writer.flush(sync=True)
        return f"declared output(s) not written: {', '.join(missing)}"
    for name in step.outputs:
        run.log_artifact(pipeline.folder / name, name=f"outputs/{name}")
    run.set_tags({"mlnb.step_id": key, "mlnb.step": step.name, "mlnb.kind": "pipeline-step"})
    run.store.writer.flush(sync=True)
    return None


def pipeline_view(result: PipelineResult | str | Path, project: ProjectLike = None) -> Any:
    """The DAG as a plotly figure: one node per step, colored by status, edges for `needs`.

    The figure is drawn from `result` alone (a pipeline file shows every step pending), so
    `project` is only checked: it is accepted like every public function's `project=`.
    """
    check(project)
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise MissingDependencyError("plotly", "notebook", needed_for="pipeline_view") from None
    pipeline = result.pipeline if isinstance(result, PipelineResult) else load_pipeline(result)
    rows = result.rows if isinstance(result, PipelineResult) else {}
    position = {name: (x, -y) for x, level in enumerate(pipeline.levels()) for y, name in enumerate(level)}
    edge_x: list[Any] = []
    edge_y: list[Any] = []
    for step in pipeline.steps.values():
        for need in step.needs:
            edge_x += [position[need][0], position[step.name][0], None]
            edge_y += [position[need][1], position[step.name][1], None]
    names = list(pipeline.steps)
    statuses = [rows.get(n, {}).get("status", "pending") for n in names]
    figure = go.Figure([
        go.Scatter(x=edge_x, y=edge_y, mode="lines", line={"color": "#999"}, hoverinfo="skip", showlegend=False),
        go.Scatter(x=[position[n][0] for n in names], y=[position[n][1] for n in names], mode="markers+text",
                   text=names, textposition="top center", marker={"size": 28, "color": [COLORS[s] for s in statuses]},
                   customdata=statuses, showlegend=False,
                   hovertext=[f"{n}: {s} {(rows.get(n, {}).get('run_id') or '')[:8]}" for n, s in zip(names, statuses)],
                   hoverinfo="text"),
    ])
    figure.update_layout(title=f"pipeline {pipeline.name}", xaxis={"visible": False}, yaxis={"visible": False},
                         height=300, margin={"l": 20, "r": 20, "t": 40, "b": 20})
    return figure
