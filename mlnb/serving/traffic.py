"""`mlnb.traffic(model)`: the archived input rows of a served model, as a DataFrame.

The frame holds exactly the request columns, in archive order, so it can be handed to monitoring as
the current data: `mlnb.monitor("churn@champion", mlnb.traffic("churn", since="1h"))`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from mlnb.errors import InvalidValueError, NotFoundError
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.serving import queries
from mlnb.serving.comparison import model_name
from mlnb.serving.window import window

if TYPE_CHECKING:
    import pandas as pd


def traffic(model: str, since: Any = None, until: Any = None, limit: int | None = None,
            project: ProjectArg = None) -> pd.DataFrame:
    """The input rows `model` was asked to score (requests whose input was archived), oldest first;
    at most the latest `limit` rows. `attrs["request_ids"]` gives each row's request id, and
    `attrs["requests"]` how many requests gave rows and `attrs["skipped"]` how many in the window
    had no archived input (sampled out or over the size cap)."""
    import pandas as pd

    name = model_name(model)
    start, end = window(since, until)
    limit = check_limit(limit)
    with queries.session(store_for(project)) as con:
        rows = queries.archived_inputs(con, name, start, end, limit)
        missing = queries.missing_inputs(con, name, start, end)
        if not rows and not missing and not queries.answers_count(con, name):
            raise NotFoundError(f"no answers of model {name!r} are archived; serve it with `mlnb serve {name}@champion`",
                                kind="model", name=name)
    columns, request_ids, skipped = input_columns(rows)  # skipped here: inputs that are not columns
    frame = pd.DataFrame(columns)
    if limit is not None and len(frame) > limit:
        frame = frame.iloc[len(frame) - limit:].reset_index(drop=True)
        request_ids = request_ids[len(request_ids) - limit:]
    frame.attrs.update(model=name, request_ids=request_ids, requests=len(rows), skipped=skipped + missing)
    return frame


def check_limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidValueError(f"limit must be a positive whole number, got {str(limit)[:40]!r}", field="limit")
    return limit


def decode_input(text: str | None) -> dict[str, list[Any]] | None:
    """One archived input (JSON text: column -> list of equal lengths), or None if it is not one."""
    if text is None:
        return None
    value = orjson.loads(text)
    if not isinstance(value, dict) or not value or not all(isinstance(v, list) for v in value.values()):
        return None
    if len({len(v) for v in value.values()}) != 1:
        return None
    return value


def input_columns(rows: list[dict[str, Any]]) -> tuple[dict[str, list[Any]], list[str], int]:
    """The archived inputs of `rows` concatenated as columns (columns in first-seen order; a column
    missing from a request is None there), each row's request id, and the requests skipped."""
    columns: dict[str, list[Any]] = {}
    request_ids: list[str] = []
    skipped = 0
    for row in rows:
        value = decode_input(row["input"])
        if value is None:
            skipped += 1
            continue
        n = len(next(iter(value.values())))
        for column, values in value.items():
            if column not in columns:
                columns[column] = [None] * len(request_ids)
            columns[column].extend(values)
        request_ids.extend([row["request_id"]] * n)
        for values in columns.values():  # columns this request did not have
            if len(values) < len(request_ids):
                values.extend([None] * (len(request_ids) - len(values)))
    return columns, request_ids, skipped
