"""Comparing dataset records made under different fingerprint schemes (see `mlnb.fingerprint.SCHEME`).

Scheme 2 kept the ids of data already in its canonical representation, so most records of a store
written before still match. The rest (e.g. object strings under pandas 2, µs timestamps under
pandas 3) got new ids; for those, equal shapes and column profiles are the best evidence left that
two records describe the same data. This applies only when both schemes are known and differ.
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["scheme_of", "same_data_across_schemes"]


def scheme_of(row: dict[str, Any]) -> int | None:
    """Scheme of a `datasets` row: its `scheme` (NULL: written before schemes were recorded, so 1);
    None when the index has no such column (nothing known)."""
    if "scheme" not in row:
        return None
    value = row["scheme"]
    return 1 if value is None or value != value else int(value)  # NaN: a NULL read through pandas


def same_data_across_schemes(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """True when records `a` and `b` ({"rows", "cols", "profile", "scheme"}) come from different known
    schemes and agree on shape and every column's profile (times compared as instants)."""
    if not a or not b or a.get("scheme") is None or b.get("scheme") is None or a["scheme"] == b["scheme"]:
        return False
    if (a["rows"], a["cols"]) != (b["rows"], b["cols"]) or a["profile"].keys() != b["profile"].keys():
        return False
    return all(stats.keys() == b["profile"][col].keys() and all(_same(v, b["profile"][col][k]) for k, v in stats.items())
               for col, stats in a["profile"].items())


def _same(x: Any, y: Any) -> bool:
    """Profile values: floats to rounding, ISO times of any resolution as the same instant."""
    if x == y:
        return True
    if isinstance(x, float) and isinstance(y, (int, float)) or isinstance(y, float) and isinstance(x, int):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(x, str) and isinstance(y, str):
        import pandas as pd

        try:
            tx, ty = pd.Timestamp(x), pd.Timestamp(y)
        except (ValueError, TypeError):
            return False
        if (tx.tzinfo is None) != (ty.tzinfo is None):  # scheme 2 profiles zoned times in UTC
            tx, ty = (t.tz_localize("UTC") if t.tzinfo is None else t for t in (tx, ty))
        return bool(tx == ty)
    return False
