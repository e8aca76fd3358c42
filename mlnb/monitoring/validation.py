"""Data validation against the expectations a reference profile implies.

Expectations learned from the training data's profile (or the model's input signature):
- column_present: every reference (signature) column is in the data;
- dtype: each column has the same kind (numeric / datetime / categorical; int vs float is fine);
- no_nulls: a column the reference had no null or NaN in has none;
- in_range: numbers within [min - margin * span, max + margin * span] of the reference (span =
  max - min; margin 0.1 by default), and no +-inf the reference did not have. Datetimes are not
  range-checked (new data is later by nature);
- known_categories: no category the reference never had, for columns whose reference counts are
  complete (not capped) and not id-like (Good-Turing share of unseen values <= MAX_NEW_SHARE).
Counts come from the data's profile (in_range: at sketch-bucket resolution); given the raw data
(`data=`, a pandas DataFrame), counts are exact and each failure lists up to 5 example values
(row labels for no_nulls).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlnb.errors import InvalidValueError
from mlnb.monitoring import sketch as sk
from mlnb.monitoring.drift import good_turing, unseen_values
from mlnb.monitoring.profile import Profile

MAX_NEW_SHARE = 0.1
EXAMPLES = 5


class ValidationReport:
    """The result of `validate_against`: `.passed`, `.failures`, `.to_dict()`."""

    def __init__(self, failures: list[dict[str, Any]]) -> None:
        self.failures = failures

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failures": self.failures}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ValidationReport:
        return cls(list(d["failures"]))

    def __repr__(self) -> str:
        what = ", ".join(f"{f['expectation']}:{f['column']}" for f in self.failures[:5])
        return f"ValidationReport(passed={self.passed}{', failures=' + what if what else ''})"


def validate_against(reference: Profile, data_profile: Profile, signature: Mapping[str, Any] | None = None,
                     margin: float = 0.1, data: Any = None) -> ValidationReport:
    """Check `data_profile` (and, when given, the raw `data`) against what `reference` expects."""
    if not isinstance(reference, Profile) or not isinstance(data_profile, Profile):
        raise InvalidValueError("validate_against() checks a Profile against a Profile: build them with build_profile(data)")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin >= 0:
        raise InvalidValueError(f"margin must be a non-negative number (a share of the training range), not {margin!r}")
    expected = _expected(reference, signature)
    failures: list[dict[str, Any]] = []
    for name, kind, dtype in expected:
        cur = data_profile.columns.get(name)
        if cur is None:
            failures.append(_failure("column_present", name, data_profile.rows, [],
                                     f"column {name!r} is missing ({kind}, {dtype} expected)"))
            continue
        if cur["kind"] != kind:
            series = _series(data, name)
            examples = [] if series is None else _examples(series, "dtype", {}, margin)
            failures.append(_failure("dtype", name, cur["count"], examples,
                                     f"expected {kind} ({dtype}), got {cur['kind']} ({cur['dtype']})"))
            continue
        ref = reference.columns.get(name)
        if ref is None or ref["kind"] != kind:
            continue
        failures += _column_failures(name, ref, cur, float(margin), data)
    return ValidationReport(failures)


def _expected(reference: Profile, signature: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    cols = ((signature or {}).get("input") or {}).get("columns") if signature else None
    if cols:
        # [name, dtype] pairs (the registry's signature) or {"name", "dtype"} dicts (a fingerprint's JSON)
        pairs = [(c["name"], c["dtype"]) if isinstance(c, Mapping) else (c[0], c[1]) for c in cols]
        return [(str(n), signature_kind(str(d)), str(d)) for n, d in pairs]
    return [(name, col["kind"], col["dtype"]) for name, col in reference.columns.items()]


def signature_kind(dtype: str) -> str:
    """The profile kind of a dtype name as a signature records it ("int64", "datetime64[ns]", "object")."""
    d = dtype.lower()
    if d.startswith(("datetime", "timestamp")):
        return "datetime"
    if d.startswith(("int", "uint", "float", "double", "timedelta")) or d in ("numeric", "decimal"):
        return "numeric"
    return "categorical"


def _failure(expectation: str, column: str, count: int, examples: list[Any], detail: str) -> dict[str, Any]:
    return {"expectation": expectation, "column": column, "count": int(count), "examples": examples[:EXAMPLES],
            "detail": detail}


def _column_failures(name: str, ref: dict[str, Any], cur: dict[str, Any], margin: float, data: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    series = _series(data, name)
    ref_missing = ref["nulls"] + ref.get("nans", 0)
    cur_missing = cur["nulls"] + cur.get("nans", 0)
    if ref_missing == 0 and cur_missing:
        rows = _examples(series, "no_nulls", ref, margin) if series is not None else []
        out.append(_failure("no_nulls", name, cur_missing, rows,
                            f"{cur_missing} missing values; the training data had none"))
    if ref["kind"] == "numeric":
        fail = _range_failure(name, ref, cur, margin, series)
        if fail:
            out.append(fail)
    elif ref["kind"] == "categorical" and ref["overflow"] is None and good_turing(ref) <= MAX_NEW_SHARE:
        unseen, n = unseen_values(ref, cur)
        if n:
            examples: list[Any] = unseen if series is None else _examples(series, "known_categories", ref, margin)
            out.append(_failure("known_categories", name, n, examples,
                                f"{n} values in {len(unseen)} categories never seen in training, e.g. {unseen[:3]}"))
    return out


def _range_failure(name: str, ref: dict[str, Any], cur: dict[str, Any], margin: float, series: Any) -> dict[str, Any] | None:
    lo, hi = _bounds(ref, margin)
    if lo is None or hi is None:
        return None
    inf = (cur["pos_inf"] if not ref["pos_inf"] else 0) + (cur["neg_inf"] if not ref["neg_inf"] else 0)
    below = cur["min"] is not None and cur["min"] < lo
    above = cur["max"] is not None and cur["max"] > hi
    if not (below or above or inf):
        return None
    values = _floats(series)
    if values is not None:
        bad = np.zeros(values.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            bad |= values < lo if below or (cur["neg_inf"] and not ref["neg_inf"]) else False
            bad |= values > hi if above or (cur["pos_inf"] and not ref["pos_inf"]) else False
        count = int(bad.sum())
        examples = [_jsonable(v) for v in series[bad].head(EXAMPLES).tolist()]
    else:
        count = _count_outside(cur, lo, hi, below, above) + inf
        examples = [v for v, out in ((cur["min"], below), (cur["max"], above)) if out]
    return _failure("in_range", name, max(count, 1),
                    examples, f"values outside the training range [{ref['min']}, {ref['max']}] by more than "
                              f"{margin:.0%} of its span (allowed [{lo:.6g}, {hi:.6g}])")


def _floats(series: Any) -> np.ndarray | None:
    """The series as float64 (NaN for missing), or None when it is not plain numbers (timedeltas)."""
    if series is None:
        return None
    try:
        import pandas as pd

        if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            return None
        out: np.ndarray = series.to_numpy(dtype="float64", na_value=np.nan)
        return out
    except (TypeError, ValueError):
        return None


def _bounds(ref: Mapping[str, Any], margin: float) -> tuple[float | None, float | None]:
    if ref["min"] is None:
        return None, None
    lo, hi = float(ref["min"]), float(ref["max"])
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - margin * span, hi + margin * span


def _count_outside(cur: Mapping[str, Any], lo: float, hi: float, below: bool, above: bool) -> int:
    """Values in buckets wholly outside [lo, hi] (a lower bound at bucket resolution) plus the extreme one."""
    keys, counts = sk.sketch_buckets(cur["sketch"])
    uppers = sk.bucket_uppers(keys)
    values = sk.bucket_values(keys)
    n = 0
    if below:
        n += max(int(counts[(uppers < lo)].sum()), 1)
    if above:
        n += max(int(counts[(values > hi * (1 + sk.RELATIVE_ACCURACY) if hi > 0 else values > hi)].sum()), 1)
    return n


def _series(data: Any, name: str) -> Any:
    if data is None or not hasattr(data, "columns"):
        return None
    try:
        if type(data).__module__.split(".")[0] == "pyarrow":
            return data.column(name).to_pandas()
        return data[name] if name in data.columns else _by_text(data, name)
    except Exception:  # examples are a courtesy: never fail the check over them
        return None


def _by_text(frame: Any, name: str) -> Any:
    for col in frame.columns:
        if str(col) == name:
            return frame[col]
    return None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return str(value)


def failing_examples(frame: Any, failure: Mapping[str, Any], reference: Profile, margin: float = 0.1,
                     limit: int = EXAMPLES) -> list[Any]:
    """Up to `limit` values of `frame` (a pandas DataFrame) that break `failure` (a failure dict);
    row labels for no_nulls."""
    ref = reference.columns.get(failure["column"])
    series = _series(frame, failure["column"])
    if series is None or ref is None:
        return []
    return _examples(series, failure["expectation"], ref, margin, limit)


def _examples(series: Any, kind: str, ref: Mapping[str, Any], margin: float, limit: int = EXAMPLES) -> list[Any]:
    if kind == "no_nulls":
        return [_jsonable(r) for r in series[series.isna()].index[:limit].tolist()]
    if kind == "in_range":
        lo, hi = _bounds(ref, margin)
        if lo is None or hi is None:
            return []
        values = _floats(series)
        if values is None:
            return []
        with np.errstate(invalid="ignore"):
            bad = (values < lo) | (values > hi)
        return [_jsonable(v) for v in series[bad].head(limit).tolist()]
    if kind == "known_categories":
        known = set(ref["counts"])
        vals = series.dropna()
        return [_jsonable(v) for v in vals[~vals.map(sk.value_text).isin(known).to_numpy()].unique()[:limit]]
    return [_jsonable(v) for v in series.dropna().head(limit).tolist()]
