"""`mlnb.rendezvous(model)`: the versions of a served model compared on the live traffic they answered.

The aggregation runs in the index (mlnb/serving/queries.py); this module checks the arguments and
shapes the table. Definitions (per version, over the requests it was asked in the window):
- requests: requests it was asked; returned: how often its answer was the one returned;
- agreement: among requests where it and the returned version both answered, the share with the
  same output (all rows equal);
- p50_ms/p95_ms/p99_ms: latency of its ok answers; errors, timeouts: counts;
- labelled: requests with feedback (`mlnb.log_feedback`); accuracy: share of labelled rows whose
  output equals the label, or mae (mean absolute error) when the outputs are real numbers.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlnb.errors import NotFoundError
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.model_registry.names import ModelURI, check_name
from mlnb.serving import queries
from mlnb.serving.window import duration_seconds, window

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("version", "alias", "requests", "returned", "agreement", "p50_ms", "p95_ms", "p99_ms", "errors",
           "timeouts", "labelled")
_INTS = ("version", "requests", "returned", "errors", "timeouts", "labelled")


def rendezvous(model: str, since: Any = None, until: Any = None, every: Any = None,
               project: ProjectArg = None) -> pd.DataFrame:
    """One row per version of `model` (a name, or any URI of it) on the archived live traffic:
    alias, requests, returned, agreement, p50_ms, p95_ms, p99_ms, errors, timeouts, labelled, and
    accuracy (class-like outputs) or mae (numeric outputs). `since`/`until`: a datetime, ISO text or
    a duration back from now ('15min', '2h', '7d'); `every='1min'` adds a `time` column (one row
    per version and time bucket)."""
    name = model_name(model)
    start, end = window(since, until)
    every_s = duration_seconds(every) if every is not None else None
    store = store_for(project)
    with queries.session(store) as con:
        rows = queries.comparison(con, name, start, end, every_s)
        if not rows and not queries.answers_count(con, name):
            raise NotFoundError(f"no answers of model {name!r} are archived; serve it with `mlnb serve {name}@champion`",
                                kind="model", name=name)
    out = comparison_frame(rows, every_s is not None)
    out.attrs.update(model=name, since=start, until=end, every=every)
    return out


def model_name(model: Any) -> str:
    """The model name in `model` (a name, `name/3` or `name@alias`); one-line error otherwise."""
    if isinstance(model, str) and ("@" in model or "/" in model):
        return ModelURI.parse(model).name
    return check_name(model)


def comparison_frame(rows: list[dict[str, Any]], bucketed: bool) -> pd.DataFrame:
    """The comparison rows from the index as the table users see (accuracy or mae last)."""
    import pandas as pd

    real = any(r["real_outputs"] for r in rows)
    metric = "mae" if real else "accuracy"
    columns = (("time",) if bucketed else ()) + COLUMNS + (metric,)
    frame = pd.DataFrame([{**r, "time": r["bucket"]} for r in rows], columns=[*columns])
    for column in _INTS:
        frame[column] = frame[column].astype("int64")
    for column in ("agreement", "p50_ms", "p95_ms", "p99_ms", metric):
        frame[column] = frame[column].astype("float64")
    if bucketed:
        frame["time"] = pd.to_datetime(frame["time"])
    return frame


def window_text(start: datetime | None, end: datetime | None) -> str:
    """'since ... until ...' for messages (UTC)."""
    parts = [f"since {start:%Y-%m-%d %H:%M:%S}" if start else "", f"until {end:%Y-%m-%d %H:%M:%S}" if end else ""]
    return " ".join(p for p in parts if p) or "all time"
