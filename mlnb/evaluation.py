"""Champion vs challenger: several registered versions scored on the same data, as one run."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from mlnb.errors import MlnbError
from mlnb.events import event
from mlnb.project import ProjectLike, resolve

MetricFn = Callable[[Any, Any], float]


def _builtin_metrics() -> dict[str, MetricFn]:
    from sklearn import metrics as m

    return {
        "accuracy": m.accuracy_score,
        "f1": lambda y, p: m.f1_score(y, p),
        "f1_macro": lambda y, p: m.f1_score(y, p, average="macro"),
        "precision_macro": lambda y, p: m.precision_score(y, p, average="macro", zero_division=0),
        "recall_macro": lambda y, p: m.recall_score(y, p, average="macro", zero_division=0),
        "mae": m.mean_absolute_error,
        "rmse": lambda y, p: float(m.mean_squared_error(y, p) ** 0.5),
        "r2": m.r2_score,
    }


def _resolve_metrics(metrics: Sequence[str | MetricFn] | None, y: Any) -> dict[str, MetricFn]:
    builtin = _builtin_metrics()
    if metrics is None:
        classification = y.dtype.kind in "biuOSUb" or str(y.dtype) in ("category", "str", "string")
        metrics = ["accuracy", "f1_macro"] if classification else ["rmse", "mae", "r2"]
    chosen: dict[str, MetricFn] = {}
    for metric in metrics:
        if callable(metric):
            chosen[getattr(metric, "__name__", f"metric{len(chosen)}")] = metric
        elif metric in builtin:
            chosen[metric] = builtin[metric]
        else:
            raise MlnbError(f"unknown metric {metric!r}; use one of {', '.join(builtin)} or a function(y_true, y_pred)")
    return chosen


def evaluate(models: Sequence[str], data: Any, target: str, metrics: Sequence[str | MetricFn] | None = None,
             experiment: str = "evaluations", name: str | None = None, allow_pickle: bool | None = None,
             project: ProjectLike = None) -> Any:
    """Score each model URI on `data` (features + `target` column); log one evaluation run linked
    to every version; return a table with one row per model and one column per metric.
    `allow_pickle` is passed to `load_model` (needed for versions stored as pickles). The models
    and the evaluation run are in `project` (default: the current project)."""
    if target not in getattr(data, "columns", []):
        raise MlnbError(f"target column {target!r} is not in the data; columns: {', '.join(map(str, data.columns[:20]))}")
    features, truth = data.drop(columns=[target]), data[target]
    chosen = _resolve_metrics(metrics, truth)
    # the registry's functions read the current project: scope `project` as current for this call
    with resolve(project).use() as chosen_project:
        return _evaluate(models, features, truth, data, target, chosen, experiment, name, allow_pickle,
                         chosen_project)


def _evaluate(models: Sequence[str], features: Any, truth: Any, data: Any, target: str,
              chosen: dict[str, MetricFn], experiment: str, name: str | None, allow_pickle: bool | None,
              project: Any) -> Any:
    import pandas as pd

    from mlnb import model_registry as registry, tracking
    from mlnb.fingerprint import fingerprint

    records = [registry.model_version(uri) for uri in models]
    rows = []
    label = name or " vs ".join(models)
    with tracking.start_run(experiment=experiment, name=f"evaluate {label}", parent=None, project=project) as run:
        fp = fingerprint(data)
        run.log_params({"models": ", ".join(r["uri"] for r in records), "target": target,
                        "data_fingerprint": fp.hash if fp else "", "rows": len(data)})
        for uri, record in zip(models, records):
            model = registry.load_model(record["uri"], allow_pickle=allow_pickle)
            started = time.perf_counter()
            predicted = model.predict(features)
            seconds = time.perf_counter() - started
            scores = {metric: float(fn(truth, predicted)) for metric, fn in chosen.items()}
            run.log_metrics({f"{record['uri']}.{k}": v for k, v in scores.items()})
            run.store.writer.emit(event("lineage", run=run.id, src_kind="model", src_id=record["uri"],
                                        dst_kind="run", dst_id=run.id, rel="evaluated", t=time.time()))
            if fp is not None:
                run.store.writer.emit(event("lineage", run=run.id, src_kind="dataset", src_id=fp.hash,
                                            dst_kind="run", dst_id=run.id, rel="evaluation-data",
                                            t=time.time()))
            rows.append({"model": uri, "version": record["uri"], **scores, "predict_seconds": seconds})
        run.set_tags({"mlnb.kind": "evaluation"})
    table = pd.DataFrame(rows)
    table.attrs["run_id"] = run.id
    return table
