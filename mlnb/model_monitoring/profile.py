"""Profiles: what a later check compares against, without the raw data; exact under merge.

A Profile is `{"format": 1, "rows": n, "columns": {name: column}}` where a column is
- numeric / datetime (datetimes as epoch seconds): counts of finite values, nulls, NaN and +-inf,
  min, max, sum, sum of squares and the sketches of mlnb.model_monitoring.sketch ("sketch": the
  log-bucket one, 2% relative accuracy; "sketch"["linear"]: {"exp", "counts"}, 256 aligned buckets
  of width 2**exp over [min, max]);
- categorical (strings, objects, categories, bools): exact counts per value as text (capped, with a
  hashed overflow; see sketch.py) and the null count.
`merge_profiles(parts)` equals the profile of the concatenated parts exactly (sums up to float
rounding), so a frame too big for memory, or a Dask frame, is profiled one partition at a time.
Derived views: `column_quantiles` (from the sketches: within 2% relative or better) and
`reference_bins` (the drift histogram: the reference's k-quantiles snapped to bucket boundaries,
open tails).

numpy only at import; pandas / pyarrow / dask are touched only when given such data.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlnb.errors import InvalidValueError
from mlnb.model_monitoring import sketch as sk

FORMAT = 1
NUMERIC_KINDS = ("numeric", "datetime")


class Profile:
    """The mergeable profile of a table (see the module docstring for the shape)."""

    def __init__(self, rows: int, columns: dict[str, dict[str, Any]]) -> None:
        self.rows = int(rows)
        self.columns = columns

    # -- shape ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form (bucket indices as text keys)."""
        cols: dict[str, Any] = {}
        for name, col in self.columns.items():
            out = dict(col)
            if col["kind"] in NUMERIC_KINDS:
                s = col["sketch"]
                out["sketch"] = {"gamma": s["gamma"], "zero": s["zero"],
                                 "pos": {str(k): v for k, v in s["pos"].items()},
                                 "neg": {str(k): v for k, v in s["neg"].items()}}
                if s.get("linear") is not None:
                    out["sketch"]["linear"] = {"exp": s["linear"]["exp"],
                                               "counts": {str(k): v for k, v in s["linear"]["counts"].items()}}
            else:
                out["counts"] = dict(col["counts"])
                if col["overflow"] is not None:
                    out["overflow"] = dict(col["overflow"], counts=list(col["overflow"]["counts"]))
            cols[name] = out
        return {"format": FORMAT, "rows": self.rows, "columns": cols}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        """The Profile of a `to_dict()` result (one line InvalidValueError if it is not one)."""
        try:
            if d.get("format") != FORMAT:
                raise InvalidValueError(f"unknown profile format {d.get('format')!r}: this mlnb reads format {FORMAT}")
            cols: dict[str, dict[str, Any]] = {}
            for name, col in d["columns"].items():
                out = dict(col)
                if col["kind"] in NUMERIC_KINDS:
                    s = col["sketch"]
                    out["sketch"] = {"gamma": float(s["gamma"]), "zero": int(s["zero"]),
                                     "pos": {int(k): int(v) for k, v in s["pos"].items()},
                                     "neg": {int(k): int(v) for k, v in s["neg"].items()}}
                    lin = s.get("linear")  # added after format 1's first cut: optional
                    if lin is not None:
                        out["sketch"]["linear"] = {"exp": int(lin["exp"]),
                                                   "counts": {int(k): int(v) for k, v in lin["counts"].items()}}
                elif col["kind"] == "categorical":
                    out["counts"] = {str(k): int(v) for k, v in col["counts"].items()}
                    over = col.get("overflow")
                    out["overflow"] = None if over is None else dict(over, counts=[int(x) for x in over["counts"]])
                else:
                    raise InvalidValueError(f"column {name!r} has unknown kind {col['kind']!r}")
                cols[str(name)] = out
            return cls(int(d["rows"]), cols)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidValueError(f"not a profile (missing or bad field {exc}): pass what Profile.to_dict() returned") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Profile(rows={self.rows}, columns={list(self.columns)})"

    # -- merging ----------------------------------------------------------------------------------
    def merge(self, other: Profile) -> Profile:
        """The profile of the union of the two tables' rows (a column one side lacks counts as null there)."""
        names = list(self.columns) + [c for c in other.columns if c not in self.columns]
        cols = {}
        for name in names:
            a = self.columns.get(name)
            b = other.columns.get(name)
            if a is None:
                assert b is not None
                a = _null_column(b, self.rows)
            if b is None:
                b = _null_column(a, other.rows)
            cols[name] = _merge_columns(name, a, b)
        return Profile(self.rows + other.rows, cols)


def merge_profiles(profiles: Iterable[Profile]) -> Profile:
    """The profile of the union of all the parts' rows (exact: see the module docstring)."""
    out: Profile | None = None
    for p in profiles:
        out = p if out is None else out.merge(p)
    if out is None:
        raise InvalidValueError("merge_profiles needs at least one profile")
    return out


def _null_column(like: dict[str, Any], rows: int) -> dict[str, Any]:
    if like["kind"] in NUMERIC_KINDS:
        return _numeric_column(like["kind"], like["dtype"], np.empty(0), nulls=rows)
    return {"kind": "categorical", "dtype": like["dtype"], "count": 0, "nulls": rows, "counts": {}, "overflow": None}


def _merge_columns(name: str, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if (a["kind"] in NUMERIC_KINDS) != (b["kind"] in NUMERIC_KINDS) or a["kind"] != b["kind"]:
        raise InvalidValueError(f"cannot merge profiles: column {name!r} is {a['kind']} in one and {b['kind']} in the other")
    dtype = a["dtype"] if a["dtype"] == b["dtype"] else ("float64" if a["kind"] == "numeric" else "string")
    if a["kind"] == "categorical":
        counts, overflow = sk.merge_categories(a["counts"], a["overflow"], b["counts"], b["overflow"])
        return {"kind": "categorical", "dtype": dtype, "count": a["count"] + b["count"],
                "nulls": a["nulls"] + b["nulls"], "counts": counts, "overflow": overflow}
    out = {"kind": a["kind"], "dtype": dtype}
    for key in ("count", "nulls", "nans", "pos_inf", "neg_inf"):
        out[key] = a[key] + b[key]
    out["min"] = _pick(min, a["min"], b["min"])
    out["max"] = _pick(max, a["max"], b["max"])
    out["sum"] = None if a["sum"] is None or b["sum"] is None else float(a["sum"] + b["sum"])
    out["sum_sq"] = None if a["sum_sq"] is None or b["sum_sq"] is None else float(a["sum_sq"] + b["sum_sq"])
    out["sketch"] = sk.merge_sketches(a["sketch"], b["sketch"])
    linear = sk.merge_linear(a["sketch"].get("linear"), b["sketch"].get("linear"), _float(out["min"]), _float(out["max"]))
    if linear is not None:
        out["sketch"]["linear"] = linear
    return out


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def _pick(fn: Any, x: Any, y: Any) -> Any:
    if x is None:
        return y
    if y is None:
        return x
    return fn(x, y)


# ---- building ---------------------------------------------------------------------------------

def build_profile(data: Any, columns: Iterable[str] | None = None) -> Profile:
    """The profile of `data`: a pandas DataFrame, a pyarrow Table, a dict of arrays, a 2-D numpy
    array (columns "0", "1", ...), an iterable of DataFrames (partitions, merged) or a Dask DataFrame."""
    wanted = None if columns is None else [str(c) for c in columns]
    if _is_dask(data):
        return _build_dask(data, wanted)
    if _is_frame_like(data):
        return _build_one(data, wanted)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        parts = [build_profile(part, wanted) for part in data]
        if not parts:
            raise InvalidValueError("build_profile got an empty iterable of partitions: pass at least one DataFrame")
        return merge_profiles(parts)
    raise InvalidValueError(f"cannot profile a {type(data).__name__}: pass a DataFrame, a pyarrow Table, a dict of arrays or a 2-D array")


def _is_dask(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "to_delayed")


def _is_frame_like(data: Any) -> bool:
    if isinstance(data, (Mapping, np.ndarray)):
        return True
    mod = type(data).__module__.split(".")[0]
    return mod in ("pandas", "pyarrow") and hasattr(data, "columns")


def _build_dask(ddf: Any, wanted: list[str] | None) -> Profile:
    import importlib

    dask: Any = importlib.import_module("dask")  # untyped; an optional extra
    parts = [dask.delayed(_profile_dict)(part, wanted) for part in ddf.to_delayed()]
    dicts = dask.compute(*parts)
    return merge_profiles(Profile.from_dict(d) for d in dicts)


def _profile_dict(part: Any, wanted: list[str] | None) -> dict[str, Any]:
    return build_profile(part, wanted).to_dict()


def _build_one(data: Any, wanted: list[str] | None) -> Profile:
    rows, cols = _columns(data)
    names = [name for name, _ in cols]
    if wanted is not None:
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InvalidValueError(f"no column {missing[0]!r} in the data: its columns are {names[:20]}")
    out: dict[str, dict[str, Any]] = {}
    for name, getter in cols:
        if wanted is None or name in wanted:
            out[name] = profile_column(getter())
    return Profile(rows, out)


def _columns(data: Any) -> tuple[int, list[tuple[str, Any]]]:
    """(rows, [(name, a function returning the column)]) for each supported table type."""
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise InvalidValueError(f"a numpy array to profile must be 2-D (rows x columns), not {data.ndim}-D")
        return data.shape[0], [(str(i), (lambda i=i: np.ascontiguousarray(data[:, i]))) for i in range(data.shape[1])]
    if isinstance(data, Mapping):
        cols = [(str(k), (lambda v=v: v)) for k, v in data.items()]
        lengths = {len(v) for v in data.values()}
        if len(lengths) > 1:
            raise InvalidValueError(f"the arrays of a dict to profile must have one length, not {sorted(lengths)}")
        return (lengths.pop() if lengths else 0), cols
    mod = type(data).__module__.split(".")[0]
    if mod == "pyarrow":
        return data.num_rows, [(str(n), (lambda c=data.column(i): c)) for i, n in enumerate(data.column_names)]
    # pandas DataFrame; duplicate names get a suffix so no column is lost
    names: list[str] = []
    for n in data.columns:
        name = str(n)
        while name in names:
            name += "_"
        names.append(name)
    return len(data), [(name, (lambda i=i: data.iloc[:, i])) for i, name in enumerate(names)]


def profile_column(values: Any) -> dict[str, Any]:
    """The profile of one column (a numpy array, a pandas Series, a pyarrow (Chunked)Array or a list)."""
    mod = type(values).__module__.split(".")[0]
    if mod == "pyarrow":
        return _arrow_column(values)
    if mod == "pandas":
        return _pandas_column(values)
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.size == len(arr) else np.asarray(list(values), dtype=object)
    return _numpy_column(arr)


def _numpy_column(arr: np.ndarray) -> dict[str, Any]:
    dtype = str(arr.dtype)
    kind = arr.dtype.kind
    if kind in "iuf":
        return _numeric_column("numeric", dtype, arr)
    if kind == "M":
        ints = arr.astype("datetime64[ns]").view(np.int64)
        nat = ints == np.iinfo(np.int64).min
        return _numeric_column("datetime", "datetime64[ns]", ints[~nat] / 1e9, nulls=int(nat.sum()))
    if kind == "m":
        ints = arr.astype("timedelta64[ns]").view(np.int64)
        nat = ints == np.iinfo(np.int64).min
        return _numeric_column("numeric", "timedelta64[ns]", ints[~nat] / 1e9, nulls=int(nat.sum()))
    if kind == "b":
        n_true = int(np.count_nonzero(arr))
        counts = {t: n for t, n in (("True", n_true), ("False", arr.size - n_true)) if n}
        return _categorical_column("bool", counts, 0)
    import pandas as pd

    return _pandas_column(pd.Series(arr, dtype=object if kind == "O" else arr.dtype))


def _pandas_column(s: Any) -> dict[str, Any]:
    import pandas as pd

    dtype = s.dtype
    name = str(dtype)
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype) or not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype)):
        # one name per family, whatever the backing (object, str, string[pyarrow], large_string)
        name = "category" if isinstance(dtype, pd.CategoricalDtype) else (
            "bool" if pd.api.types.is_bool_dtype(dtype) else "string")
        nulls = int(s.isna().sum())
        vc = s.value_counts(dropna=True, sort=False)
        values, ns = vc.index.tolist(), vc.to_numpy().tolist()
        if vc.index.inferred_type == "string" and (not values or max(map(len, values)) <= sk.MAX_VALUE_CHARS):
            # plain short strings are their own text, already distinct: no per-value work
            return _categorical_column(name, {t: n for t, n in zip(values, ns) if n}, nulls)
        counts: dict[str, int] = {}
        for value, n in zip(values, ns):
            if n:
                text = sk.value_text(value)
                counts[text] = counts.get(text, 0) + int(n)
        return _categorical_column(name, counts, nulls)
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        mask = s.isna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(dtype):
            ints = s.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(dtype, "tz", None) else s
            ints = ints.to_numpy(dtype="datetime64[ns]").view(np.int64)
            kind = "datetime"
            # one name whatever the unit (ns, us, s: parquet and pandas differ)
            tz = getattr(dtype, "tz", None)
            name = f"datetime64[ns, {tz}]" if tz else "datetime64[ns]"
        else:
            ints = s.to_numpy(dtype="timedelta64[ns]").view(np.int64)
            kind = "numeric"
            name = "timedelta64[ns]"
        return _numeric_column(kind, name, ints[~mask] / 1e9, nulls=int(mask.sum()))
    if isinstance(dtype, np.dtype):
        return _numeric_column("numeric", name, s.to_numpy())
    # nullable extension dtypes (Int64, Float64, pyarrow-backed numbers): NA is a null; named as numpy names them
    name = str(getattr(dtype, "numpy_dtype", name))
    mask = s.isna().to_numpy()
    values = s.to_numpy(dtype="float64", na_value=np.nan)[~mask] if mask.any() else s.to_numpy(dtype="float64")
    return _numeric_column("numeric", name, values, nulls=int(mask.sum()), int_minmax=pd.api.types.is_integer_dtype(dtype))


def _arrow_column(col: Any) -> dict[str, Any]:
    import pyarrow as pa

    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        nulls = col.null_count
        arr = col.to_numpy(zero_copy_only=False) if hasattr(col, "to_numpy") else np.asarray(col)
        if nulls:
            valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            arr = np.asarray(arr)[valid]
            return _numeric_column("numeric", str(np.dtype(t.to_pandas_dtype())), arr, nulls=nulls,
                                   int_minmax=pa.types.is_integer(t))
        return _numeric_column("numeric", str(arr.dtype), arr)
    return _pandas_column(col.to_pandas())


def _numeric_column(kind: str, dtype: str, values: np.ndarray, nulls: int = 0,
                    int_minmax: bool | None = None) -> dict[str, Any]:
    is_int = values.dtype.kind in "iu" if int_minmax is None else int_minmax
    a = values.astype(np.float64, copy=False)
    finite = np.isfinite(a)
    n_finite = int(np.count_nonzero(finite))
    nans = pos_inf = neg_inf = 0
    if n_finite != a.size:
        nan = np.isnan(a)
        nans = int(np.count_nonzero(nan))
        pos_inf = int(np.count_nonzero(a == np.inf))
        neg_inf = a.size - n_finite - nans - pos_inf
        a = a[finite]
    lo: int | float | None
    hi: int | float | None
    total: float = 0.0
    total_sq: float = 0.0
    if a.size:
        if is_int:
            # ints exactly (a float64 cannot hold every int64)
            raw = values[finite] if values.size != a.size else values
            lo, hi = int(raw.min()), int(raw.max())
        else:
            lo, hi = float(a.min()), float(a.max())
        a = np.ascontiguousarray(a)  # the same sums, to the last bit, whatever the input's memory layout
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(a.sum())
            total_sq = float(np.einsum("i,i->", a, a))
    else:
        lo = hi = None
    return {"kind": kind, "dtype": dtype, "count": n_finite, "nulls": int(nulls), "nans": nans,
            "pos_inf": pos_inf, "neg_inf": neg_inf, "min": lo, "max": hi,
            "sum": total if np.isfinite(total) else None, "sum_sq": total_sq if np.isfinite(total_sq) else None,
            "sketch": {**sk.numeric_sketch(a), "linear": sk.linear_sketch(a, _float(lo) or 0.0, _float(hi) or 0.0)}}


def _categorical_column(dtype: str, counts: dict[str, int], nulls: int) -> dict[str, Any]:
    count = sum(counts.values())
    kept, overflow = sk.cap_categories(counts, None)
    return {"kind": "categorical", "dtype": dtype, "count": count, "nulls": int(nulls),
            "counts": kept, "overflow": overflow}


# ---- derived views ------------------------------------------------------------------------------

def column_quantiles(col: Mapping[str, Any], qs: Iterable[float] | int = 101) -> list[float | None]:
    """Quantiles of a numeric column's finite values from its sketches (each from the log sketch,
    within 2% relative, or the linear one, within half its bucket width, whichever bound is
    tighter; clamped to [min, max]); `qs` is a list of probabilities or a count of evenly spaced ones."""
    probs = np.linspace(0, 1, qs) if isinstance(qs, int) else np.asarray(list(qs), dtype=np.float64)
    if col.get("kind") not in NUMERIC_KINDS:
        raise InvalidValueError("quantiles need a numeric or datetime column")
    if not col["count"]:
        return [None] * len(probs)
    ranks = probs * (col["count"] - 1)
    values = _quantiles_from(col, ranks, None)
    exp = _linear_exp(col)
    if exp is not None:
        linear = _quantiles_from(col, ranks, exp)
        use = 2.0 ** (exp - 1) < sk.RELATIVE_ACCURACY * np.abs(values)
        values = np.where(use, linear, values)
    values = np.clip(values, col["min"], col["max"])
    values[probs <= 0] = col["min"]  # the ends are known exactly
    values[probs >= 1] = col["max"]
    out: list[float | None] = values.tolist()
    return out


def _quantiles_from(col: Mapping[str, Any], ranks: np.ndarray, exp: int | None) -> np.ndarray:
    keys, counts = _support(col, exp)
    where = np.searchsorted(np.cumsum(counts), ranks, side="right")
    return _mids(keys[np.minimum(where, keys.size - 1)], exp)


def _linear_exp(col: Mapping[str, Any]) -> int | None:
    lin = col["sketch"].get("linear")
    return None if lin is None else int(lin["exp"])


def _support(col: Mapping[str, Any], exp: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(bucket keys in value order, counts) of the log sketch (exp None) or of the linear sketch
    re-bucketed to width 2**exp (exp at least the column's own)."""
    if exp is None:
        return sk.sketch_buckets(col["sketch"])
    lin = col["sketch"]["linear"]
    counts = sk.rebucket(lin["counts"], exp - lin["exp"])
    keys = np.asarray(sorted(counts), dtype=np.int64)
    return keys, np.asarray([counts[k] for k in keys.tolist()], dtype=np.int64)


def _uppers(keys: np.ndarray, exp: int | None) -> np.ndarray:
    if exp is None:
        return sk.bucket_uppers(keys)
    out: np.ndarray = (keys + 1).astype(np.float64) * 2.0**exp
    return out


def _mids(keys: np.ndarray, exp: int | None) -> np.ndarray:
    if exp is None:
        return sk.bucket_values(keys)
    out: np.ndarray = (keys + 0.5).astype(np.float64) * 2.0**exp
    return out


@dataclass(frozen=True)
class Bins:
    """A drift histogram: cut after the buckets `keys` (edges: those buckets' upper ends), open tails.

    `exp` None: keys of the log sketch (bin j holds edges[j-1] < x <= edges[j]); else keys of the
    linear sketch at width 2**exp (edges[j-1] <= x < edges[j]). Any profile's counts in these bins
    are an exact sum of its buckets; +-inf go to the tails.
    """

    edges: tuple[float, ...]
    keys: tuple[int, ...]
    exp: int | None = None

    def counts(self, col: Mapping[str, Any]) -> np.ndarray:
        keys, counts = _support(col, self.exp)
        which = np.searchsorted(np.asarray(self.keys, dtype=np.int64), keys, side="left")
        out = np.bincount(which, weights=counts, minlength=len(self.keys) + 1).astype(np.int64)
        out[0] += col["neg_inf"]
        out[-1] += col["pos_inf"]
        return out

    def support(self, col: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, counts, representative values) of `col`'s buckets on this binning's sketch."""
        keys, counts = _support(col, self.exp)
        return keys, counts, _mids(keys, self.exp)


def reference_bins(col: Mapping[str, Any], k: int = 20, like: Mapping[str, Any] | None = None) -> Bins:
    """The drift bins of a reference column: its k-quantiles snapped up to bucket boundaries (a
    quantile falling in a bucket becomes that bucket's upper end), duplicates dropped, open tails.

    From the log sketch, or from the linear one (at the coarser width of `col` and `like`, the
    column the bins will be applied to) when that gives more distinct edges: narrow ranges far
    from zero (years, coordinates, timestamps) need it.
    """
    if col.get("kind") not in NUMERIC_KINDS:
        raise InvalidValueError("histogram bins need a numeric or datetime column")
    best = _quantile_bins(col, k, None)
    exp = _linear_exp(col)
    if exp is not None and like is not None:
        other = _linear_exp(like)
        exp = None if other is None else max(exp, other)
    if exp is not None and col["count"]:
        linear = _quantile_bins(col, k, exp)
        if len(linear.keys) > len(best.keys):
            best = linear
    return best


def _quantile_bins(col: Mapping[str, Any], k: int, exp: int | None) -> Bins:
    keys, counts = _support(col, exp)
    if keys.size <= 1:
        cuts = keys
    else:
        cum = np.cumsum(counts)
        ranks = np.arange(1, k) / k * cum[-1]
        where = np.unique(np.searchsorted(cum, ranks, side="left"))
        where = where[where < keys.size - 1]  # the last bucket's upper end would leave an empty tail
        cuts = keys[where]
    return Bins(tuple(_uppers(cuts, exp).tolist()), tuple(int(c) for c in cuts.tolist()), exp)


def iter_columns(profile: Profile) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, column) pairs in the profile's order."""
    return iter(profile.columns.items())


def deep_copy(profile: Profile) -> Profile:
    """An independent copy."""
    return Profile(profile.rows, copy.deepcopy(profile.columns))
