"""The JSON-safe values and paging every view-model uses."""
from __future__ import annotations

import math
from typing import Any

from mlnb.errors import MlnbError

MAX_PAGE = 500
MAX_OFFSET = 2**62  # beyond any real store, and inside DuckDB's BIGINT


def json_safe(value: Any) -> Any:
    """A value JSON can carry: None for missing, ISO text for times, plain numbers, text for inf."""
    import pandas as pd

    if value is None or (not isinstance(value, (str, list, dict, tuple)) and pd.isna(value)):
        return None
    if isinstance(value, (pd.Timestamp,)) or hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="seconds") if hasattr(value, "hour") else value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def records(frame: Any) -> list[dict[str, Any]]:
    """A DataFrame as JSON-safe row dicts."""
    return [{k: json_safe(v) for k, v in row.items()} for row in frame.to_dict("records")]


def page_bounds(limit: Any, offset: Any) -> tuple[int, int]:
    """(limit, offset) checked: 1 <= limit <= MAX_PAGE, 0 <= offset <= MAX_OFFSET, whole numbers."""
    for name, value, low, high in (("limit", limit, 1, MAX_PAGE), ("offset", offset, 0, MAX_OFFSET)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MlnbError(f"{name} must be a whole number from {low} to {high}, got {str(value)[:40]}")
    return limit, offset
