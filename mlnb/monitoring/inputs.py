"""What monitoring accepts as data: a profile built from it or one clear line saying what to pass,
argument checks, the data's fingerprint, and failure examples taken from the raw frame (the
profiles alone cannot say which values failed)."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mlnb.errors import InvalidValueError
from mlnb.monitoring.records import jsonable

if TYPE_CHECKING:
    from mlnb.monitoring.profile import Profile

DATA_HINT = "pass a pandas DataFrame, a pyarrow Table, a dict of arrays or a 2-D numpy array"
MAX_EXAMPLES = 5


def build(data: Any, role: str = "data") -> Profile:
    """The profile of `data`, or a one-line InvalidValueError for what cannot be profiled."""
    from mlnb.monitoring.profile import build_profile

    _check_data(data, role)
    if type(data).__name__ == "Series" and hasattr(data, "to_frame"):
        data = data.to_frame()
    try:
        built = build_profile(data)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"cannot profile {role} of type {type(data).__name__} ({first_line(exc)}); "
                                f"{DATA_HINT}", field=role) from None
    if built.rows == 0:
        raise InvalidValueError(f"{role} has no rows; pass a non-empty batch", field=role)
    if not built.columns:
        raise InvalidValueError(f"{role} has no columns; pass a frame with the model's input columns", field=role)
    return built


def _check_data(data: Any, role: str) -> None:
    if data is None:
        raise InvalidValueError(f"{role} is None; {DATA_HINT}", field=role)
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        raise InvalidValueError(f"{role} is a path or text, not data; read it first (pandas.read_parquet / "
                                f"read_csv), or use `mlnb monitor MODEL data.parquet`", field=role)
    if isinstance(data, (int, float, bool)):
        raise InvalidValueError(f"{role} is a single {type(data).__name__}, not a table; {DATA_HINT}", field=role)
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and len(shape) >= 1 and shape[0] == 0:
        raise InvalidValueError(f"{role} has no rows; pass a non-empty batch", field=role)


def check_columns(columns: Any) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        return [columns]
    if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
        raise InvalidValueError("columns must be a list of column names (text)", field="columns")
    return list(columns)


def check_thresholds(thresholds: Any) -> dict[str, Any] | None:
    if thresholds is None:
        return None
    if not isinstance(thresholds, Mapping):
        raise InvalidValueError(f"thresholds must be a dict (e.g. {{'psi': 0.2}}), got {type(thresholds).__name__}",
                                field="thresholds")
    return dict(thresholds)


def fingerprint_of(data: Any) -> str | None:
    """The data's fingerprint hash, or None (iterators and Dask frames are not read twice)."""
    if isinstance(data, Iterator) or type(data).__module__.startswith("dask"):
        return None
    from mlnb.fingerprint import fingerprint

    try:
        fp = fingerprint(data)
    except Exception:  # noqa: BLE001 (a fingerprint is a link, not a requirement of the profile)
        return None
    return fp.hash if fp is not None else None


def fill_examples(report: Any, data: Any, reference: Profile) -> None:
    """Put up to MAX_EXAMPLES offending values from the raw frame into each failure that has none
    (the profiles alone cannot say which values failed)."""
    failures = getattr(report, "failures", None)
    if not failures or not hasattr(data, "columns") or not hasattr(data, "loc"):
        return
    ref_columns = reference.columns
    for failure in failures:
        item = failure if isinstance(failure, dict) else getattr(failure, "__dict__", None)
        if item is None or item.get("examples") or item.get("column") not in data.columns:
            continue
        try:
            found = _examples(item["expectation"], data[item["column"]], ref_columns.get(item["column"], {}))
        except Exception:  # noqa: BLE001 (examples are an aid: never fail a check on them)
            continue
        if isinstance(failure, dict):
            failure["examples"] = found
        else:
            failure.examples = found


def _examples(expectation: str, series: Any, column: dict[str, Any]) -> list[Any]:
    import pandas as pd

    if expectation == "no_nulls":
        hits = series[series.isna()]
        return [str(i) for i in hits.index[:MAX_EXAMPLES]]  # the rows (index labels) with a null
    if expectation == "in_range":
        numbers = pd.to_numeric(series, errors="coerce")
        low, high = column.get("min"), column.get("max")
        mask = pd.Series(False, index=series.index)
        if low is not None:
            mask |= numbers < low
        if high is not None:
            mask |= numbers > high
        return [jsonable(v) for v in numbers[mask].head(MAX_EXAMPLES).tolist()]
    if expectation == "known_categories":
        known = set((column.get("counts") or {}).keys())
        values = series.dropna().astype(str)
        return [jsonable(v) for v in values[~values.isin(known)].unique()[:MAX_EXAMPLES].tolist()]
    if expectation == "dtype":
        return [jsonable(v) for v in series.dropna().head(MAX_EXAMPLES).tolist()]
    return []


def first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
