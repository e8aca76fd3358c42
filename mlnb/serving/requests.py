"""The body of `POST /predict` as columns (column -> list of values), or one line per problem.

Accepted shapes (JSON):
- `{"records": [{"col": value, ...}, ...]}` (also a bare list of records, or `"inputs"` / MLflow's
  `"dataframe_records"` in place of `"records"`);
- `{"columns": {"col": [values...], ...}}` (also `"inputs"` holding an object);
- MLflow's `{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`.
A record without some column gets a null there (the input schema then says whether one is allowed).
"""
from __future__ import annotations

from typing import Any

import orjson

from mlnb.model_monitoring.input_schema import json_type

RECORD_KEYS = ("records", "dataframe_records")
SHAPES = '{"records": [{"column": value, ...}]} or {"columns": {"column": [values]}}'

Columns = dict[str, list[Any]]


class BadRequest(Exception):
    """The body cannot be read as input: `problems` (one line each) go into the 400 response."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_body(body: bytes) -> Columns:
    """The input of a request body as columns; BadRequest (one line per problem) otherwise."""
    if not body.strip():
        raise BadRequest([f"the body is empty: send JSON like {SHAPES}"])
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest([f"the body is not valid JSON ({str(exc).splitlines()[0][:160]})"]) from None
    return as_columns(data)


def as_columns(data: Any) -> Columns:
    """Parsed JSON (see the module docstring) as columns; BadRequest otherwise."""
    if isinstance(data, list):
        return _records(data)
    if not isinstance(data, dict):
        raise BadRequest([f"the body must be {SHAPES}, not {json_type(data)}"])
    keys = [k for k in (*RECORD_KEYS, "columns", "inputs", "dataframe_split") if k in data]
    if len(keys) != 1:
        got = ", ".join(repr(k) for k in list(data)[:5]) or "none"
        raise BadRequest([f"the body must be {SHAPES}; got the key(s) {got}" if not keys
                          else f"the body has both {keys[0]!r} and {keys[1]!r}: send one of them"])
    key = keys[0]
    value = data[key]
    if key in RECORD_KEYS or (key == "inputs" and isinstance(value, list)):
        return _records(value, key)
    if key == "dataframe_split":
        return _split(value)
    return _columns(value, key)


def _records(records: Any, key: str = "records") -> Columns:
    if not isinstance(records, list):
        raise BadRequest([f"{key!r} must be a list of records (objects of column -> value), not {json_type(records)}"])
    if not records:
        raise BadRequest(["no records: send at least one"])
    first = records[0]
    if len(records) == 1 and isinstance(first, dict):  # the common single-row request: no second pass
        return {str(k): [v] for k, v in first.items()}
    bad = [(i, r) for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        i, r = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise BadRequest([f"record {i} is {json_type(r)}, not an object of column -> value{more}"])
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return {str(n): [r.get(n) for r in records] for n in names}


def _columns(columns: Any, key: str) -> Columns:
    if not isinstance(columns, dict):
        raise BadRequest([f"{key!r} must be an object of column -> list of values, not {json_type(columns)}"])
    if not columns:
        raise BadRequest(["no columns: send at least one"])
    problems = [f"column {name!r} must be a list of values, not {json_type(v)}" for name, v in columns.items()
                if not isinstance(v, list)]
    if problems:
        raise BadRequest(problems)
    if all(len(v) == 0 for v in columns.values()):
        raise BadRequest(["no rows: every column is empty"])
    return columns


def _split(split: Any) -> Columns:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list) or not isinstance(split.get("data"), list):
        raise BadRequest(['"dataframe_split" must be {"columns": [names], "data": [[row values], ...]}'])
    names = [str(n) for n in split["columns"]]
    rows = split["data"]
    if not rows:
        raise BadRequest(["no rows: \"data\" is empty"])
    bad = [i for i, r in enumerate(rows) if not isinstance(r, list) or len(r) != len(names)]
    if bad:
        raise BadRequest([f"row {bad[0]} of \"data\" must be a list of {len(names)} values (one per column)"])
    return {n: [r[i] for r in rows] for i, n in enumerate(names)}
