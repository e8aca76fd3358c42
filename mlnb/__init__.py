"""mlnb: notebook-native experiment tracking on a local DuckDB store.

Only names are defined here; the modules behind them load on first use, so
`import mlnb` stays fast (no DuckDB, pandas or IPython until needed).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Eager on purpose: the submodule shares the function's name, and importing it later would make
# `mlnb.fingerprint` the module. It imports no heavy library at the top, so this costs little.
from mlnb.fingerprint import fingerprint  # noqa: E402

_PROJECT = ("connect", "Project")
_TRACKING = (
    "start_run", "end_run", "active_run", "log_params", "log_param", "log_metrics",
    "log_metric", "set_tags", "set_tag", "log_artifact", "Run",
)
_QUERIES = ("runs", "get_run", "metric_history", "experiments", "sql")
_MONITORING = ("profile", "drift", "validate", "monitor", "monitoring")
# serving's archive side: feedback, the rendezvous comparison, archived traffic, offline replay
_SERVING = ("log_feedback", "rendezvous", "traffic", "replay")
_SERVE = ("serve",)  # serving's HTTP side: mlnb.serve
_SERVING_FACES = ("rendezvous_report",)  # serving's faces: the rendezvous widget
_REGISTRY = (
    "register_model", "load_model", "model_version", "set_alias", "delete_alias", "update_version",
    "archive_version", "models", "model_versions", "alias_history",
)

__all__ = [*_PROJECT, *_TRACKING, *_QUERIES, *_REGISTRY, *_MONITORING, *_SERVING, *_SERVE, "evaluate", "registry",
           "drift_report", "pipeline_view", "compare", "diff", "lineage", "fingerprint", "close", "MlnbError", "__version__"]
__all__ += [*_SERVING_FACES]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ resolves these lazily
    from mlnb.api import experiments, get_run, metric_history, runs, sql  # noqa: F401
    from mlnb.errors import MlnbError  # noqa: F401
    from mlnb.evaluation import evaluate  # noqa: F401
    from mlnb.shutdown import close  # noqa: F401
    from mlnb.model_registry import (  # noqa: F401
        alias_history, archive_version, delete_alias, load_model, model_version, model_versions, models,
        register_model, set_alias, update_version,
    )
    from mlnb.model_monitoring.api import drift, monitor, monitoring, profile, validate  # noqa: F401
    from mlnb.serving.runner import serve  # noqa: F401
    from mlnb.widgets.drift_view import drift_report  # noqa: F401
    from mlnb.serving.comparison import rendezvous  # noqa: F401
    from mlnb.serving.feedback import log_feedback  # noqa: F401
    from mlnb.widgets.rendezvous_view import rendezvous_report  # noqa: F401
    from mlnb.serving.replay import replay  # noqa: F401
    from mlnb.serving.traffic import traffic  # noqa: F401
    from mlnb.project import Project, connect  # noqa: F401
    from mlnb.tracking import (  # noqa: F401
        Run, active_run, end_run, log_artifact, log_metric, log_metrics, log_param,
        log_params, set_tag, set_tags, start_run,
    )
    from mlnb.batch.pipelines import pipeline_view  # noqa: F401
    from mlnb.widgets.compare_view import compare  # noqa: F401
    from mlnb.widgets.diff_view import diff  # noqa: F401
    from mlnb.widgets.lineage_view import lineage  # noqa: F401
    from mlnb.widgets.registry_view import registry  # noqa: F401


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension lives (for `jupyter-builder develop`)."""
    return [{"src": "labextension", "dest": "mlnb"}]


# public name -> the module that defines it (imported on first access)
_HOMES: dict[str, str] = {
    **{name: "mlnb.project" for name in _PROJECT},
    **{name: "mlnb.tracking" for name in _TRACKING},
    **{name: "mlnb.api" for name in _QUERIES},
    **{name: "mlnb.model_registry" for name in _REGISTRY},
    **{name: "mlnb.model_monitoring.api" for name in _MONITORING},
    "log_feedback": "mlnb.serving.feedback",
    "rendezvous": "mlnb.serving.comparison",
    "rendezvous_report": "mlnb.widgets.rendezvous_view",
    "traffic": "mlnb.serving.traffic",
    "replay": "mlnb.serving.replay",
    "serve": "mlnb.serving.runner",
    "pipeline_view": "mlnb.batch.pipelines",
    "registry": "mlnb.widgets.registry_view",
    "drift_report": "mlnb.widgets.drift_view",
    "compare": "mlnb.widgets.compare_view",
    "diff": "mlnb.widgets.diff_view",
    "lineage": "mlnb.widgets.lineage_view",
    "evaluate": "mlnb.evaluation",
    "close": "mlnb.shutdown",
    "load_ipython_extension": "mlnb.capture",
    "unload_ipython_extension": "mlnb.capture",
    "MlnbError": "mlnb.errors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mlnb' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(__all__)
