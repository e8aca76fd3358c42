"""The one JSON encoding of mlnb's faces: the CLI's `--format json` and the server's REST answers.

The rule, the same everywhere (and the one the event log uses for metric values):

- NaN and missing values (None, pandas NA/NaT) are ``null``;
- ``+inf`` / ``-inf`` are the strings ``"inf"`` / ``"-inf"`` (JSON has no literal for them, and
  ``null`` would make an infinite loss look like a missing one);
- dates and times are ISO 8601 text; durations are seconds;
- numpy scalars and arrays become plain numbers and lists; Decimal becomes a float;
- bytes become text (undecodable bytes as ``\\xNN``); anything else its ``str()``.

The output is strict JSON (never ``NaN`` or ``Infinity``). Stdlib only: importing it is free.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


def nonfinite(value: float) -> str | None:
    """The JSON form of a float that is not finite: None for NaN, "inf" / "-inf" for infinities."""
    if math.isnan(value):
        return None
    return "inf" if value > 0 else "-inf"


def jsonable(value: Any) -> Any:
    """`value` with every nested dict, list, time and non-finite float turned into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):  # pandas.NaT is a datetime too, and means missing
        return None if _is_missing_scalar(value) else value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return nonfinite(value)
    return value


def json_default(value: Any) -> Any:
    """JSON for what query results hold beyond plain values: numpy values, pandas times, Decimal, bytes."""
    if isinstance(value, timedelta):  # pandas.Timedelta included
        return value.total_seconds()
    if _is_missing_scalar(value):  # pandas NA / NaT that slipped through
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays (DuckDB lists)
        return jsonable(value.tolist())
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def dumps(value: Any, indent: int | None = None) -> str:
    """`value` as strict JSON text by the rule above."""
    return json.dumps(jsonable(value), indent=indent, default=json_default, allow_nan=False)


def _is_missing_scalar(value: Any) -> bool:
    # pandas.NA and pandas.NaT without importing pandas: both compare unequal to themselves
    # or refuse bool(); checking their type names keeps this module free of heavy imports
    return type(value).__name__ in ("NAType", "NaTType")
