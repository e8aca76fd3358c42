"""What monitoring accepts as data: a profile built from it or one clear line saying what to pass,
argument checks, and the data's fingerprint."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mlnb.errors import InvalidValueError

if TYPE_CHECKING:
    from mlnb.monitoring.profile import Profile

DATA_HINT = "pass a pandas DataFrame, a pyarrow Table, a dict of arrays or a 2-D numpy array"


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


def first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
