"""The served model of bench_serve, identical on every side: a LogisticRegression on scikit-learn's
wine data, and the single-row request bodies each server expects.

Imported by the benchmark (mlnb's interpreter) and by `_mlflow_serve_side.py` (the MLflow venv's), so
it needs only scikit-learn and the standard library.
"""
from __future__ import annotations

import json
from typing import Any

CHAMPION_C = 1.0  # version 1
CHALLENGER_C = 0.1  # version 2


def wine() -> tuple[Any, Any]:
    """(X, y): the 178 wine rows as a DataFrame with sklearn's column names, and the classes."""
    from sklearn.datasets import load_wine

    return load_wine(return_X_y=True, as_frame=True)


def train(c: float) -> Any:
    """A LogisticRegression with inverse regularisation `c`, fitted on all of the wine data."""
    from sklearn.linear_model import LogisticRegression

    x, y = wine()
    return LogisticRegression(C=c, max_iter=10_000).fit(x, y)


def rows() -> list[dict[str, float]]:
    """The wine rows as records (column -> value)."""
    x, _ = wine()
    return [{str(k): float(v) for k, v in record.items()} for record in x.to_dict(orient="records")]


def bodies(style: str) -> list[bytes]:
    """One single-row JSON body per wine row, in the request format of `style`: `mlnb`
    ({"records": [...]}) or `mlflow` ({"dataframe_split": {"columns", "data"}})."""
    records = rows()
    if style == "mlnb":
        return [json.dumps({"records": [r]}).encode() for r in records]
    if style == "mlflow":
        columns = list(records[0])
        return [json.dumps({"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns]]}}).encode()
                for r in records]
    raise ValueError(f"unknown request style {style!r}")
