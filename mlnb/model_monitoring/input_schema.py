"""What one request's input must look like to be scored: the columns a version was trained on, their
kinds and dtypes, and which never had a null. Built once per served version; `check` runs per request.

`check` is structural (fast: no profile per request): a missing column, a value of the wrong type
(text in a numeric column, a bool in a number column, an object anywhere), columns of different
lengths, a null where the training data had none. Ranges and unseen categories are not refused:
that is monitoring's job on the archived traffic. Values are coerced to the training dtypes (ints
into a float column are fine; whole floats into an int column too).
"""
from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any

from mlnb.model_monitoring.validation import signature_kind

if TYPE_CHECKING:
    import pandas as pd

    from mlnb.model_monitoring.profile import Profile
    from mlnb.store.store import Store

_NUMBERS = frozenset({int, float})
_SCALARS = frozenset({int, float, str, bool})
_NONE = type(None)
_INT_RANGES = {"int8": 2**7, "int16": 2**15, "int32": 2**31, "int64": 2**63}
_UINT_RANGES = {"uint8": 2**8, "uint16": 2**16, "uint32": 2**32, "uint64": 2**64}


class InputSchema:
    """The input columns of one model version: `columns` = [(name, kind, dtype)] in training order
    (kind: numeric, datetime or categorical); `nullable` = the names whose training data had a null.
    An empty `columns` accepts any columns (a version registered without data)."""

    def __init__(self, columns: list[tuple[str, str, str]], nullable: set[str] | frozenset[str] = frozenset()) -> None:
        self.columns = list(columns)
        self.nullable = frozenset(nullable)
        self._index: Any = None  # the pandas Index of the column names, built once (per request it costs ~60 us)
        # the common case (every column a float64 number): checked and built in one pass, one 2-D block
        self._all_float = bool(self.columns) and all(k == "numeric" and d == "float64" for _, k, d in self.columns)

    @classmethod
    def for_version(cls, store: Store, name: str, version: int, record: dict[str, Any]) -> InputSchema:
        """The schema of `name/version` from its registry `record` (the signature's columns and
        dtypes) and its reference profile (kinds, and which columns had no nulls)."""
        from mlnb.model_monitoring import queries
        from mlnb.model_monitoring.records import load_profile

        with queries.session(store) as con:
            profile_id = queries.reference_profile_id(con, name, int(version))
        profile = load_profile(store, profile_id) if profile_id is not None else None
        return cls.from_parts(record.get("signature") or {}, profile)

    @classmethod
    def from_parts(cls, signature: dict[str, Any], profile: Profile | None) -> InputSchema:
        """The schema a signature (as the registry stores it) and a reference profile imply; either
        may be missing: no signature columns -> the profile's columns; no profile -> nulls allowed."""
        cols = ((signature or {}).get("input") or {}).get("columns") or []
        pairs = [(str(c["name"]), str(c["dtype"])) if isinstance(c, dict) else (str(c[0]), str(c[1])) for c in cols]
        if pairs:
            columns = [(n, signature_kind(d), d) for n, d in pairs]
        elif profile is not None:
            columns = [(n, str(c["kind"]), str(c["dtype"])) for n, c in profile.columns.items()]
        else:
            return cls([])
        if profile is None:
            return cls(columns, {n for n, _, _ in columns})
        nullable = set()
        for n, _, _ in columns:
            ref = profile.columns.get(n)
            if ref is None or ref.get("nulls", 0) + (ref.get("nans") or 0):
                nullable.add(n)
        return cls(columns, nullable)

    @property
    def names(self) -> list[str]:
        return [n for n, _, _ in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: what GET /models may show of the expected input."""
        return {"columns": [{"name": n, "kind": k, "dtype": d, "nullable": n in self.nullable}
                            for n, k, d in self.columns]}

    def __repr__(self) -> str:
        return f"InputSchema({', '.join(f'{n}:{d}' for n, _, d in self.columns) or 'any columns'})"

    def _float_frame(self, columns: dict[str, Any]) -> pd.DataFrame | None:
        """The frame of an all-float input, or None when anything is off (the general path then
        names the problems)."""
        import numpy as np
        import pandas as pd

        lists: list[Any] = [columns.get(name) for name in self.names]
        if any(type(values) is not list for values in lists):
            return None
        rows = len(lists[0])
        if rows == 0 or any(len(values) != rows for values in lists):
            return None
        types = set(map(type, chain.from_iterable(lists)))  # one C-level pass
        if not types <= _NUMBERS:
            if not types <= _NUMBERS | {_NONE}:
                return None
            if any(None in values for name, values in zip(self.names, lists)
                   if name not in self.nullable):
                return None
        if self._index is None:
            self._index = pd.Index(self.names)
        block = np.array(lists, dtype=np.float64).T  # None -> NaN (only where nulls are allowed, checked above)
        return pd.DataFrame(block, columns=self._index, copy=False)

    # -- per request ------------------------------------------------------------------------------
    def check(self, columns: dict[str, Any]) -> tuple[pd.DataFrame | None, list[str]]:
        """(the input as a DataFrame in training column order with training dtypes, []) or
        (None, problems): one line per problem. Extra columns are dropped."""
        if self._all_float and isinstance(columns, dict):
            frame = self._float_frame(columns)
            if frame is not None:
                return frame, []
        if not isinstance(columns, dict):
            return None, [f"the input must be columns (an object of column -> list of values), not {json_type(columns)}"]
        problems: list[str] = []
        wanted = self.columns or [(str(n), "", "") for n in columns]
        present: list[tuple[str, str, str]] = []
        lengths: dict[int, str] = {}
        for name, kind, dtype in wanted:
            values = columns.get(name)
            if values is None and name not in columns:
                problems.append(f"missing column {name!r} ({kind or 'any'}, {dtype} expected)")
            elif not isinstance(values, list):
                problems.append(f"column {name!r} must be a list of values, not {json_type(values)}")
            else:
                present.append((name, kind, dtype))
                lengths.setdefault(len(values), name)
        if len(lengths) > 1:
            detail = ", ".join(f"{name!r} has {n}" for n, name in sorted(lengths.items()))
            return None, [*problems, f"the columns have different lengths ({detail} values): every column needs "
                                     "one value per row"]
        rows = next(iter(lengths), 0)
        if rows == 0 and not problems:
            return None, ["the input has no rows: send at least one record"]
        arrays: dict[str, Any] = {}
        for name, kind, dtype in present:
            array, problem = _coerce(name, columns[name], kind, dtype, name in self.nullable or not self.columns)
            if problem is not None:
                problems.append(problem)
            else:
                arrays[name] = array
        if problems:
            return None, problems
        if self.columns and self._index is None:
            import pandas as pd

            self._index = pd.Index(self.names)
        return _frame(arrays, rows, self._index), []


def json_type(value: Any) -> str:
    """How a decoded JSON value is named in a one-line problem ('a number', 'text', ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _first(values: list[Any], bad: Any) -> tuple[int, Any]:
    """(row, value) of the first value for which `bad(value)` holds."""
    for i, v in enumerate(values):
        if bad(v):
            return i, v
    return -1, None


def _example(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _coerce(name: str, values: list[Any], kind: str, dtype: str, nullable: bool) -> tuple[Any, str | None]:
    """(the column as an array of the training dtype, None) or (None, the one-line problem)."""
    types = set(map(type, values))
    has_null = _NONE in types
    if has_null and not nullable:
        row, _ = _first(values, lambda v: v is None)
        return None, f"column {name!r} has a null (row {row}); the training data had none"
    types.discard(_NONE)
    if kind == "numeric":
        return _numeric(name, values, types, dtype, has_null)
    if kind == "datetime":
        return _datetime(name, values, types, dtype)
    if kind == "categorical":
        return _categorical(name, values, types, dtype, has_null)
    # no schema: any JSON scalar, left to pandas' inference
    if not types <= _SCALARS:
        row, v = _first(values, lambda v: type(v) not in _SCALARS and v is not None)
        return None, f"column {name!r} has {json_type(v)} at row {row}; values must be numbers, text, booleans or null"
    return values, None


def _wrong(name: str, values: list[Any], allowed: frozenset[type], expected: str, dtype: str) -> str:
    row, v = _first(values, lambda v: v is not None and type(v) not in allowed)
    return f"column {name!r} expects {expected} ({dtype}), got {json_type(v)} {_example(v)} at row {row}"


def _numeric(name: str, values: list[Any], types: set[type], dtype: str, has_null: bool) -> tuple[Any, str | None]:
    import numpy as np

    if not types <= _NUMBERS:
        return None, _wrong(name, values, _NUMBERS, "numbers", dtype)
    low = dtype.lower()
    if low.startswith("timedelta"):
        import pandas as pd

        return pd.to_timedelta(np.asarray(values, dtype="float64"), unit="s"), None
    if low.startswith(("int", "uint")):
        if float in types:
            row, v = _first(values, lambda v: type(v) is float and not v.is_integer())
            if row >= 0:
                return None, f"column {name!r} expects whole numbers ({dtype}), got {_example(v)} at row {row}"
        bound = _INT_RANGES.get(low) or _UINT_RANGES.get(low)
        lo = 0 if low.startswith("uint") else -(bound or 2**63)
        hi = (bound or 2**63) - 1 if low.startswith("uint") else (bound or 2**63) - 1
        row, v = _first(values, lambda v: v is not None and not lo <= v <= hi)
        if row >= 0:
            return None, f"column {name!r} expects {dtype} numbers, {_example(v)} at row {row} is out of range"
        if has_null or dtype[:1] in ("I", "U"):  # a null needs pandas' nullable integers
            import pandas as pd

            nullable = "U" + low[1:] if low.startswith("uint") else "I" + low[1:]
            return pd.array(values, dtype=nullable if low in _INT_RANGES or low in _UINT_RANGES else "Int64"), None
        try:
            return np.asarray(values, dtype=np.dtype(low)), None
        except TypeError:
            return np.asarray(values, dtype="int64"), None
    try:
        target = np.dtype(low) if low.startswith("float") else np.dtype("float64")
    except TypeError:
        target = np.dtype("float64")
    if has_null:
        values = [np.nan if v is None else v for v in values]
    return np.asarray(values, dtype=target), None


def _datetime(name: str, values: list[Any], types: set[type], dtype: str) -> tuple[Any, str | None]:
    import pandas as pd

    if not types <= {str}:
        return None, _wrong(name, values, frozenset({str}), "ISO dates as text", dtype)
    tz = "," in dtype or "utc" in dtype.lower()
    parsed = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="ISO8601", utc=tz)
    bad = parsed.isna().to_numpy() & pd.notna(pd.Series(values, dtype=object)).to_numpy()
    if bad.any():
        row = int(bad.argmax())
        return None, f"column {name!r} expects ISO dates ({dtype}), got {_example(values[row])} at row {row}"
    if tz:
        return parsed.array, None
    try:  # the training unit (ns, us, s)
        return parsed.to_numpy().astype(dtype), None
    except TypeError:
        return parsed.to_numpy(), None


def _categorical(name: str, values: list[Any], types: set[type], dtype: str, has_null: bool) -> tuple[Any, str | None]:
    import numpy as np

    low = dtype.lower()
    if low in ("bool", "boolean"):
        if not types <= {bool}:
            return None, _wrong(name, values, frozenset({bool}), "true or false", dtype)
        if has_null or low == "boolean":
            import pandas as pd

            return pd.array(values, dtype="boolean"), None
        return np.asarray(values, dtype=bool), None
    # text columns take text; an object column (mixed by nature) takes any scalar
    allowed = _SCALARS if low == "object" else frozenset({str})
    if not types <= allowed:
        return None, _wrong(name, values, allowed, "text" if allowed == {str} else "scalar values", dtype)
    array = np.asarray(values, dtype=object)
    if low == "category":
        import pandas as pd

        return pd.Categorical(array), None
    return array, None


def _frame(arrays: dict[str, Any], rows: int, index: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    # one 2-D block when every column has one numpy dtype (the common all-numeric model): cheaper
    # to build and to predict on than a frame of many single-column blocks
    dtypes = {a.dtype for a in arrays.values() if isinstance(a, np.ndarray)}
    if len(dtypes) == 1 and all(isinstance(a, np.ndarray) for a in arrays.values()) and next(iter(dtypes)).kind in "iufb":
        block = np.empty((rows, len(arrays)), dtype=next(iter(dtypes)))
        for i, a in enumerate(arrays.values()):
            block[:, i] = a
        return pd.DataFrame(block, columns=index if index is not None else list(arrays), copy=False)
    return pd.DataFrame(arrays, copy=False)
