"""Data fingerprints: content hash, schema hash and a cheap profile of a table or array.

`fingerprint(obj)` takes pandas DataFrame / Series / Index, numpy ndarray, pyarrow Table /
RecordBatch / Array / ChunkedArray (None for anything else). Hashes are xxh3_128 over length-prefixed
parts: stable across processes, independent of memory layout, Arrow chunking and slice offsets.

Scheme 2 (`SCHEME`) hashes logical content: each column is first brought to one canonical
representation, and its dtype enters the hash as a logical type (see `_pandas_values`):
* strings (object of str/None/NaN, `str`, `string[python]`, `string[pyarrow]`, Arrow strings): "str";
* timestamps / durations of any resolution: nanoseconds (values outside the ns range keep their unit);
  tz-aware ones as UTC nanoseconds plus the zone name;
* nullable (masked or Arrow) numbers and booleans without missing values: the numpy dtype; with
  missing values the pandas nullable name ("Int64", "boolean", ...), whatever the backing;
* pyarrow tables/arrays: string, large_string and string_view as "string", times cast to ns.
The canonical representation is what scheme 1 hashed for pandas 2's numeric, bool, categorical and
ns-datetime columns and for pandas 3's `str` columns, so those fingerprints are unchanged: only
the representation-dependent ones (object/`string` strings, non-ns timestamps, nullable ints) move.

How canonical columns are hashed:
* numpy-backed numeric / bool / datetime columns: their raw C-contiguous bytes, read in place;
* categorical: codes + categories + `ordered`;
* str / object / masked / other extension columns go through Arrow (zero-copy when Arrow-backed):
  null positions (validity bitmap), offsets rebased to 0 as int64, the referenced data bytes;
  fixed-width values are zeroed under nulls (undefined there in Arrow);
* object columns Arrow rejects (mixed types): `pandas.util.hash_pandas_object` of the values and
  of their Python types (it hashes str() of mixed objects, so 1 and "1" would otherwise collide).
Profile per column: nulls (None/NaN/NaT), min/max/mean (numeric, bool; min/max for datetimes) in
the same cache-blocked pass as the hash, and `distinct`: exact up to 100k rows, else estimated
from a fixed 100k-row random sample (see `_estimate`; `distinct_exact: False`).

`fingerprint_cached` never trusts a cheap signal that could miss a write:
* numpy memory has no mutation counter and user arrays must not be made read-only, so numeric
  buffers are always re-hashed (it runs near memory bandwidth);
* profiles are cached by column content digest (dtype included): never stale by construction;
* Arrow string/binary columns (pandas `str`, `string[pyarrow]`, Arrow tables) are cached by the
  (address, size) of every buffer plus offset/length. Arrow buffers are immutable, and the entry
  holds the chunks, so an address cannot be recycled for other bytes while the entry exists; a
  weakref to the owning array evicts the entry (and unpins) when the owner dies;
* object columns whose values all convert to Arrow strings (str/None/NaN: immutable) are cached by
  their pointer array; the entry holds a shallow copy, keeping every referenced object alive, so
  equal pointers mean the very same immutable objects. Assigning a cell stores a new pointer.
Fixed-width Arrow arrays may be zero-copy views of writable numpy memory: always re-hashed.
"""
from __future__ import annotations

import sys
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SCHEME", "Fingerprint", "fingerprint", "fingerprint_cached"]

SCHEME = 2  # 1: dtype-as-stored (mlnb <= 0.1.0, no `scheme` recorded); 2: logical content (module docstring)

_SAMPLE = 100_000  # rows above which `distinct` is estimated from a sample
_BLOCK = 1 << 17   # elements per block: the hash and the profile reductions share cache-hot data
_CACHE_MAX = 512
_CACHE: dict[tuple, _Entry] = {}
_PROFILES: dict[bytes, dict] = {}
_CONVERT_ERRORS = (TypeError, ValueError, OverflowError, NotImplementedError)  # Arrow's errors subclass these


@dataclass(frozen=True)
class Fingerprint:
    """Content hash, schema hash and a compact per-column profile of one data object."""

    hash: str
    schema_hash: str
    kind: str
    n_rows: int
    n_cols: int
    columns: tuple[tuple[str, str], ...]
    profile: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)
    scheme: int = SCHEME  # how `hash` was computed: a fingerprint only equals one of the same scheme

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {"hash": self.hash, "schema_hash": self.schema_hash, "kind": self.kind, "n_rows": self.n_rows,
                "n_cols": self.n_cols, "columns": [{"name": n, "dtype": d} for n, d in self.columns],
                "profile": self.profile, "scheme": self.scheme}


@dataclass
class _Entry:
    owner: weakref.ref
    ident: Any
    pins: Any
    result: tuple[bytes, dict | None]


@dataclass(frozen=True)
class _Ctx:
    profile: bool
    cache: bool


def fingerprint(obj: Any, *, profile: bool = True) -> Fingerprint | None:
    """Fingerprint of pandas / numpy / pyarrow data; None for unsupported objects."""
    return _fingerprint(obj, _Ctx(profile, cache=False))


def fingerprint_cached(obj: Any, *, profile: bool = True) -> Fingerprint | None:
    """Same result as `fingerprint`, skipping work proven unchanged (see the module docstring)."""
    return _fingerprint(obj, _Ctx(profile, cache=True))


def _framed(*parts: bytes | str) -> bytes:
    """xxh3_128 of length-prefixed parts: no two part sequences share a byte stream."""
    import xxhash

    h = xxhash.xxh3_128()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.digest()


def _token(label: Any) -> str:
    """Deterministic token of a label: type plus repr, so 1 and '1' differ."""
    return f"{type(label).__module__}.{type(label).__qualname__}:{label!r}"


def _fingerprint(obj: Any, ctx: _Ctx) -> Fingerprint | None:
    # obj can only belong to an already-imported library: never import one just to check.
    pd, np, pa = (sys.modules.get(m) for m in ("pandas", "numpy", "pyarrow"))
    if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series, pd.Index)):
        parts = _pandas_parts(obj, ctx)
    elif np is not None and isinstance(obj, np.ndarray) and (obj.dtype.kind == "O" or not obj.dtype.hasobject):
        parts = _numpy_parts(obj, ctx)
    elif pa is not None and isinstance(obj, (pa.Table, pa.RecordBatch, pa.Array, pa.ChunkedArray)):
        parts = _arrow_parts(obj, ctx)
    else:
        return None
    kind, shape, header, schema, cols = parts
    content, schema = [kind, repr(shape), *header], [kind, *schema]
    profile: dict[str, dict] = {}
    for i, (name, dtype, (digest, prof)) in enumerate(cols):
        content += [_token(name), dtype, digest]
        schema += [_token(name), dtype]
        if prof is not None:
            profile[str(name) if str(name) not in profile else f"{name}#{i}"] = dict(prof)  # caches keep theirs
    return Fingerprint(_framed(*content).hex(), _framed(*schema).hex(), kind, shape[0], shape[1],
                       tuple((str(n), d) for n, d, _ in cols), profile)


def _pandas_parts(obj: Any, ctx: _Ctx) -> tuple:
    """(kind, shape, header parts, schema parts, [(name, dtype, (digest, profile))])."""
    import pandas as pd

    if isinstance(obj, pd.MultiIndex):
        levels = [(obj.names[i], obj.get_level_values(i)) for i in range(obj.nlevels)]
        return "pandas.MultiIndex", (len(obj), obj.nlevels), [], [], [
            (n, *_pandas_values(lvl, ctx)) for n, lvl in levels]
    if isinstance(obj, pd.Index):
        cls = type(obj).__name__  # RangeIndex vs Index vs DatetimeIndex: part of content and schema
        return "pandas.Index", (len(obj), 1), [cls], [cls], [(obj.name, *_pandas_values(obj, ctx))]
    index_content, index_schema = _index_parts(obj.index, ctx)
    if isinstance(obj, pd.Series):
        return "pandas.Series", (len(obj), 1), index_content, index_schema, [(obj.name, *_pandas_values(obj, ctx))]
    cols = [(obj.columns[i], *_pandas_values(s, ctx)) for i, s in ((i, obj.iloc[:, i]) for i in range(obj.shape[1]))]
    header = [repr([_token(n) for n in obj.columns.names]), *index_content]
    return "pandas.DataFrame", obj.shape, header, index_schema, cols


def _index_parts(index: Any, ctx: _Ctx) -> tuple[list, list]:
    """(content parts, schema parts) of an index: class, level dtypes; names and values in content."""
    import pandas as pd

    kind = type(index).__name__
    values: list[str | bytes]
    if isinstance(index, pd.RangeIndex):  # the formula is exact and O(1)
        dtypes, values = ["int64"], [f"{index.start}:{index.stop}:{index.step}"]
    else:
        no_profile = _Ctx(profile=False, cache=ctx.cache)
        levels = [_pandas_values(index.get_level_values(i), no_profile) for i in range(index.nlevels)]
        dtypes, values = [t for t, _ in levels], [digest for _, (digest, _p) in levels]
    return [kind, *dtypes, repr([_token(n) for n in index.names]), *values], [kind, *dtypes]


def _numpy_parts(arr: np.ndarray, ctx: _Ctx) -> tuple:
    """One logical column 'values' (C order); n_cols is the product of the trailing dimensions."""
    import math

    flat = arr.reshape(-1) if arr.flags.c_contiguous else arr.ravel()  # ravel copies only if needed
    if arr.dtype.kind == "O":
        dtype, result = arr.dtype, _object_values(flat, ctx)[1]
    else:
        dtype, digest, prof = _fixed(flat, ctx)  # datetime64/timedelta64 in ns: the dtype says so
        result = (digest, prof)
    shape = (arr.shape[0] if arr.ndim else 1, math.prod(arr.shape[1:]) if arr.ndim > 1 else 1)
    return "numpy.ndarray", shape, [repr(arr.shape)], [repr(arr.shape[1:])], [("values", dtype.str, result)]


def _arrow_parts(obj: Any, ctx: _Ctx) -> tuple:
    import pyarrow as pa

    if isinstance(obj, (pa.Table, pa.RecordBatch)):
        cols = [(f.name, *_arrow_logical(obj.column(i), ctx, obj, i)) for i, f in enumerate(obj.schema)]
        return f"pyarrow.{type(obj).__name__}", (obj.num_rows, obj.num_columns), [], [], cols
    kind = "pyarrow.ChunkedArray" if isinstance(obj, pa.ChunkedArray) else "pyarrow.Array"
    return kind, (len(obj), 1), [], [], [("values", *_arrow_logical(obj, ctx, obj, 0))]


def _arrow_logical(arr: Any, ctx: _Ctx, owner: Any, slot: Any) -> tuple[str, tuple[bytes, dict | None]]:
    """Arrow column in canonical form: string/large_string/string_view as "string", times in ns."""
    import pyarrow as pa

    t = arr.type
    if _is_string(t):
        return "string", _arrow_values(_plain_string(arr), ctx, owner, slot)
    if (pa.types.is_timestamp(t) or pa.types.is_duration(t)) and t.unit != "ns":
        ns = pa.timestamp("ns", t.tz) if pa.types.is_timestamp(t) else pa.duration("ns")
        try:
            arr, t = arr.cast(ns), ns  # safe cast: raises rather than overflow
        except (pa.ArrowInvalid, *_CONVERT_ERRORS):
            pass
    return str(t), _arrow_values(arr, ctx, owner, slot)


def _pandas_values(values: Any, ctx: _Ctx) -> tuple[str, tuple[bytes, dict | None]]:
    """(logical dtype, (digest, profile)) of the values of a Series or Index, in canonical form."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        if dtype.hasobject:
            return _object_values(values.to_numpy(), ctx)
        canonical, digest, prof = _fixed(values.to_numpy(), ctx)
        return str(canonical), (digest, prof)
    if isinstance(dtype, pd.CategoricalDtype):
        cat, plain = values.array, _Ctx(profile=False, cache=False)
        digest = _framed("cat", str(cat.ordered), _fixed_width(cat.codes, plain)[0],
                         _pandas_values(cat.categories, plain)[1][0])
        valid = cat.codes[cat.codes >= 0]
        distinct = int(np.count_nonzero(np.bincount(valid, minlength=len(cat.categories))))
        prof = {"nulls": len(cat.codes) - len(valid), "distinct": distinct, "distinct_exact": True}
        return "category", (digest, prof if ctx.profile else None)
    if isinstance(dtype, pd.DatetimeTZDtype):  # UTC instants (int64 view, no copy) + the zone
        canonical, digest, prof = _fixed(values.array.asi8.view(f"M8[{dtype.unit}]"), ctx)
        return f"{str(canonical)[:-1]}, {dtype.tz}]", (digest, prof)
    array = values.array
    if isinstance(array, (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)):
        mask = getattr(array, "_mask", None)  # private but present in pandas 2 and 3; isna() copies
        if not (mask.any() if isinstance(mask, np.ndarray) else array.isna().any()):
            data = getattr(array, "_data", None)
            data = data if isinstance(data, np.ndarray) else array.to_numpy(dtype=dtype.numpy_dtype)
            return str(data.dtype), _fixed_width(data, ctx)  # no missing value: the numpy column
    try:
        arr = pa.array(values, from_pandas=True)  # zero-copy for Arrow-backed columns
    except _CONVERT_ERRORS:
        return str(dtype), _fallback(values, ctx)
    return _arrow_column(arr, ctx, array, str(dtype))


def _arrow_column(arr: Any, ctx: _Ctx, owner: Any, name: str) -> tuple[str, tuple[bytes, dict | None]]:
    """(logical dtype, result) of an Arrow-converted pandas column (`name`: its pandas dtype)."""
    import pyarrow as pa

    t = arr.type
    if _is_string(t):
        return "str", _arrow_values(_plain_string(arr), ctx, owner, 0)
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
    if numeric and arr.null_count == 0:  # e.g. int64[pyarrow] without nulls: the numpy column
        flat = arr.to_numpy(zero_copy_only=False)
        return str(flat.dtype), _fixed_width(flat, ctx)
    if numeric:  # with nulls: the pandas nullable name, whatever the backing (Int64 vs int64[pyarrow])
        import numpy as np

        name = np.dtype(t.to_pandas_dtype()).name  # "int64", "uint8", "float64", "bool"
        logical = "boolean" if name == "bool" else name.capitalize().replace("Uint", "UInt")
        return logical, _arrow_values(arr, ctx, owner, 0)
    if pa.types.is_timestamp(t) or pa.types.is_duration(t):  # nulls become NaT, as in numpy columns
        canonical, digest, prof = _fixed(arr.to_numpy(zero_copy_only=False), ctx)
        tz = getattr(t, "tz", None)
        return (f"{str(canonical)[:-1]}, {tz}]" if tz else str(canonical)), (digest, prof)
    return name, _arrow_values(arr, ctx, owner, 0)


def _is_string(t: Any) -> bool:
    import pyarrow as pa

    view = getattr(pa.types, "is_string_view", None)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or bool(view and view(t))


def _plain_string(arr: Any) -> Any:
    """string_view holds the same values as large_string; the digest reads offset buffers."""
    import pyarrow as pa

    return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else arr.cast(pa.large_string())


def _object_values(arr: np.ndarray, ctx: _Ctx) -> tuple[str, tuple[bytes, dict | None]]:
    """(logical dtype, result) of object values through Arrow: "str" when all are str/None/NaN.
    Cached by pointer identity in that case."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    arr = np.ascontiguousarray(arr)
    root = arr
    while isinstance(root.base, np.ndarray):
        root = root.base
    key = (id(root), arr.__array_interface__["data"][0], len(arr))
    if ctx.cache and (hit := _lookup(key, root, np.frombuffer(arr, np.uintp), ctx)):
        return "str", hit  # only string conversions are cached
    try:
        converted = pa.array(arr, from_pandas=True)
    except _CONVERT_ERRORS:
        return "object", _fallback(pd.Series(arr, copy=False), ctx)
    result = _arrow_values(converted, _Ctx(ctx.profile, cache=False), None, 0)
    # Only str / None / NaN become Arrow strings (bytearray gives binary): immutable objects only.
    if not (pa.types.is_string(converted.type) or pa.types.is_large_string(converted.type)):
        return "object", result
    if ctx.cache:
        pins = arr.copy()  # strong refs: the objects' addresses cannot be recycled while cached
        _store(key, root, np.frombuffer(pins, np.uintp), pins, result)
    return "str", result


def _fallback(values: Any, ctx: _Ctx) -> tuple[bytes, dict | None]:
    """Mixed objects: hash_pandas_object of values and of their Python types (deterministic)."""
    import numpy as np
    import pandas as pd

    hashes = pd.util.hash_pandas_object(values, index=False).to_numpy()
    types = pd.Series(np.frompyfunc(type, 1, 1)(values.to_numpy()), dtype=object)
    digest = _framed("hash_pandas_object", hashes.tobytes(), pd.util.hash_pandas_object(types, index=False)
                     .to_numpy().tobytes())
    if not ctx.profile:
        return digest, None
    valid = hashes[~np.asarray(pd.isna(values))]
    return digest, {"nulls": len(hashes) - len(valid), **_distinct(valid, len(hashes))}


def _fixed_width(flat: np.ndarray, ctx: _Ctx) -> tuple[bytes, dict | None]:
    """(digest, profile) of a fixed-width array (see `_fixed`)."""
    return _fixed(flat, ctx)[1:]


def _fixed(flat: np.ndarray, ctx: _Ctx, scale: int | None = None) -> tuple[np.dtype, bytes, dict | None]:
    """(dtype hashed, digest, profile) of a fixed-width array: its raw bytes, datetime64/timedelta64 as
    nanoseconds (converted block by block); uncached, the profile is computed in the same block pass."""
    import numpy as np
    import xxhash

    flat = np.ascontiguousarray(flat).reshape(-1)
    scale = _ns_scale(flat.dtype) if scale is None else scale
    dtype = flat.dtype if scale == 1 else np.dtype(f"{flat.dtype.kind}8[ns]")
    h, stats = xxhash.xxh3_128(), _Stats(flat, dtype) if ctx.profile else None
    fused = stats is not None and not ctx.cache  # blocks stay cache-hot between hash and reductions
    try:
        if not fused and scale == 1:
            # (*) ignore: numpy declares ndarray's buffer protocol to type checkers only from Python 3.12
            h.update(flat.view(np.uint8))  # type: ignore[arg-type]  # one call, zero copy (*)
        for block in _blocks(flat, scale) if fused or scale != 1 else ():
            h.update(block.view(np.uint8))
            if fused:
                stats.add(block)  # type: ignore[union-attr]  # fused implies stats
    except _OutOfRange:  # some instant does not fit in int64 ns: hash in its own unit (still exact)
        return _fixed(flat, ctx, scale=1)
    digest = _framed(dtype.str, h.digest())
    if stats is None:
        return dtype, digest, None
    if not fused:  # cached mode: hash first; the profile is a pure function of the digest
        if (prof := _PROFILES.get(digest)) is not None:
            return dtype, digest, prof
        for block in _blocks(flat, scale):
            stats.add(block)
    prof = _bounded(_PROFILES)[digest] = stats.result()
    return dtype, digest, prof


_NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "m": 60 * 10**9, "h": 3600 * 10**9, "D": 86400 * 10**9,
           "W": 7 * 86400 * 10**9}


class _OutOfRange(Exception):
    """A time value that nanoseconds in int64 cannot hold (outside ~1677-2262)."""


def _ns_scale(dtype: np.dtype) -> int:
    """Factor from a datetime64/timedelta64 unit to ns; 1 for ns, calendar units (Y, M) and non-times."""
    import numpy as np

    if dtype.kind not in "mM":
        return 1
    unit, count = np.datetime_data(dtype)
    return _NS_PER.get(unit, 0) * count or 1


def _blocks(flat: np.ndarray, scale: int) -> Any:
    """Cache-sized blocks of `flat`; times scaled to ns in one reused buffer (NaT stays NaT)."""
    import numpy as np

    if scale == 1:
        yield from (flat[i:i + _BLOCK] for i in range(0, len(flat), _BLOCK))
        return
    nat, limit, factor = np.iinfo(np.int64).min, np.iinfo(np.int64).max // scale, np.int64(scale)
    dtype, size = np.dtype(f"{flat.dtype.kind}8[ns]"), _BLOCK // 2  # input + output blocks stay in L2
    buffer = np.empty(min(len(flat), size), np.int64)
    for i in range(0, len(flat), size):
        v = flat[i:i + size].view(np.int64)
        out = buffer[:len(v)]
        lo, hi, valid = v.min(), v.max(), None
        if lo == nat:
            valid = v != nat
            lo, hi = v.min(where=valid, initial=0), v.max(where=valid, initial=0)
        if lo < -limit or hi > limit:  # numpy's unit casts wrap around silently
            raise _OutOfRange
        np.multiply(v, factor, out=out)
        if valid is not None:
            out[~valid] = nat
        yield out.view(dtype)


class _Stats:
    """nulls / min / max / mean of a fixed-width array, accumulated over cache-sized blocks."""

    nulls: int
    total: float  # an exact int while only integers were summed
    lo: list[Any]  # per block: numpy scalars (bools for a boolean array)
    hi: list[Any]

    def __init__(self, flat: np.ndarray, dtype: np.dtype | None = None) -> None:
        self.flat, self.kind = flat, flat.dtype.kind if flat.dtype.kind in "iufbmM" else "-"  # "-": no stats
        self.dtype = flat.dtype if dtype is None else dtype  # the blocks' dtype (times: ns)
        self.nulls, self.total, self.lo, self.hi = 0, 0, [], []

    def add(self, block: np.ndarray) -> None:
        import numpy as np

        kind, nat = self.kind, np.iinfo(np.int64).min
        if kind == "-" or not len(block):
            return
        if kind == "b":  # one count gives sum, min and max
            count = int(np.count_nonzero(block))
            self.total, lo, hi = self.total + count, count == len(block), count > 0
        else:
            v = block.view(np.int64) if kind in "mM" else block
            lo, hi = v.min(), v.max()  # NaN propagates, NaT is the int64 minimum: nulls show here
            ok = None
            if lo != lo or (kind in "mM" and lo == nat):
                ok = ~np.isnan(v) if kind == "f" else v != nat
                self.nulls += len(v) - int(np.count_nonzero(ok))
                if not ok.any():
                    return
                lo, hi = ((np.fmin.reduce(v), np.fmax.reduce(v)) if kind == "f" else
                          (v.min(where=ok, initial=-nat - 1), v.max(where=ok, initial=nat)))
            if kind in "iu" and max(-int(lo), int(hi)) < 2**63 // len(v):
                self.total += int(np.add.reduce(v))  # exact, and faster than a float64 cast
            elif kind in "iuf":
                with np.errstate(invalid="ignore", over="ignore"):  # inf - inf
                    self.total += float(np.add.reduce(v, where=True if ok is None else ok, dtype=np.float64))
        self.lo.append(lo)
        self.hi.append(hi)

    def result(self) -> dict[str, Any]:
        import numpy as np

        flat, n = self.flat, len(self.flat)
        sample = flat if n <= _SAMPLE else flat[_sample_index(n)]
        if self.kind in "fmM":
            sample = sample[~(np.isnan(sample) if self.kind == "f" else np.isnat(sample))]
        if self.kind == "b":  # exact from min/max
            distinct = {"distinct": int(min(self.lo) != max(self.hi)) + 1 if self.lo else 0, "distinct_exact": True}
        else:  # sorting int64 is several times faster than sorting datetime64
            distinct = _distinct(sample.view(np.int64) if self.kind in "mM" else sample, n - self.nulls, n <= _SAMPLE)
        prof: dict[str, Any] = {"nulls": self.nulls, **distinct}
        if self.lo:
            lo, hi = min(self.lo), max(self.hi)
            if self.kind in "mM":
                lo, hi = np.int64(lo).view(self.dtype), np.int64(hi).view(self.dtype)
            prof.update(min=_jsonable(lo), max=_jsonable(hi))
            if self.kind in "iufb":
                prof["mean"] = _jsonable(self.total / (n - self.nulls))  # Python ints: no overflow
        return prof


@lru_cache(maxsize=64)
def _sample_index(n: int) -> np.ndarray:
    """A fixed, sorted random sample of row positions: the same rows in every process."""
    import numpy as np

    return np.unique(np.random.default_rng(0x6D6C6E62).integers(0, n, _SAMPLE))


def _distinct(sample: Any, population: int, exact: bool = True) -> dict[str, Any]:
    """Distinct non-null values of a numpy or Arrow sample: exact, or estimated for `population`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if isinstance(sample, (pa.Array, pa.ChunkedArray)):
            counts = pc.value_counts(sample.drop_null()).field("counts").to_numpy()
        else:
            counts = np.unique(sample, return_counts=True)[1]
    except _CONVERT_ERRORS:  # e.g. nested Arrow types, unorderable structured dtypes
        return {}
    seen = len(counts)
    if exact or not seen:
        return {"distinct": seen, "distinct_exact": exact}
    return {"distinct": int(min(max(round(_estimate(counts, population)), seen), population)),
            "distinct_exact": False}


def _estimate(counts: np.ndarray, population: int) -> float:
    """Distinct values in `population` rows from sample value counts (Haas & Stokes-style hybrid).

    A chi-square test says whether the sample frequencies look uniform: if so, solve the method of
    moments equation seen = D * (1 - (1 - q) ** (N / D)) for D; if skewed, Shlosser's estimator.
    """
    import numpy as np

    seen, q = len(counts), min(counts.sum() / population, 1.0)
    mean = counts.sum() / seen
    if float(((counts - mean) ** 2).sum() / mean) <= seen - 1 + 2.33 * (2 * max(seen - 1, 1)) ** 0.5:
        lo, hi = float(seen), float(population)
        for _ in range(60):  # bisection in log space; the left side grows with D
            mid = (lo * hi) ** 0.5
            lo, hi = (mid, hi) if mid * (1 - (1 - q) ** (population / mid)) < seen else (lo, mid)
        return lo
    f = np.bincount(counts)[1:].astype(np.float64)  # f[i-1]: values seen exactly i times
    i = np.arange(1, len(f) + 1)
    denominator = float(np.sum(i * q * (1 - q) ** (i - 1) * f))
    return seen + f[0] * float(np.sum((1 - q) ** i * f)) / denominator if denominator else seen


def _arrow_values(arr: Any, ctx: _Ctx, owner: Any, slot: Any) -> tuple[bytes, dict | None]:
    """Arrow (chunked) array; string/binary cached by buffer identity while `owner` lives."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks, t = (arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]), arr.type
    cacheable = ctx.cache and owner is not None and _layout(t) == "var"
    if cacheable:
        key = (id(owner), "arrow", slot)
        ident = (str(t), [(c.offset, len(c), [b and (b.address, b.size) for b in c.buffers()]) for c in chunks])
        if hit := _lookup(key, owner, ident, ctx):
            return hit
    result: tuple[bytes, dict | None] = _arrow_digest(chunks, t), None
    if ctx.profile:
        col, n = pa.chunked_array(chunks, type=t), len(arr)
        prof = {"nulls": col.null_count,
                **_distinct(col if n <= _SAMPLE else col.take(_sample_index(n)), n - col.null_count, n <= _SAMPLE)}
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t):
            mm = pc.min_max(col)
            prof.update(min=_jsonable(mm["min"].as_py()), max=_jsonable(mm["max"].as_py()))
            if not pa.types.is_temporal(t):
                prof["mean"] = _jsonable(pc.mean(col).as_py())
        result = result[0], prof
    if cacheable:
        _store(key, owner, ident, list(chunks), result)  # the chunks pin the buffers' addresses
    return result


def _layout(t: Any) -> str:
    """'var' (string/binary), 'bool', 'null', 'fixed' (byte-sized fixed width) or 'other'."""
    if str(t) in ("string", "large_string", "binary", "large_binary", "bool", "null"):
        return "var" if str(t) not in ("bool", "null") else str(t)
    try:
        return "fixed" if t.bit_width % 8 == 0 else "other"
    except ValueError:  # not fixed width
        return "other"


def _arrow_digest(chunks: list, t: Any) -> bytes:
    """Null positions + offsets rebased to 0 as int64 + values: invariant to chunking and slicing."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import xxhash

    token = str(t).replace("large_", "")  # string and large_string hold the same values
    if isinstance(t, pa.ExtensionType):
        chunks, t = [c.storage for c in chunks], t.storage_type
    if pa.types.is_dictionary(t):
        chunks, t = [c.dictionary_decode() for c in chunks], t.value_type
    layout = _layout(t)
    nulls, offsets, data = xxhash.xxh3_128(), xxhash.xxh3_128(), xxhash.xxh3_128()
    row = byte = 0
    for c in chunks:
        mask = None
        if c.null_count:
            mask = c.is_null().to_numpy(zero_copy_only=False)
            nulls.update((np.flatnonzero(mask) + row).astype("<i8"))  # type: ignore[arg-type]  # (*) in _fixed
            if layout == "var":  # null slots may still span bytes: make them empty
                c = pc.fill_null(c, pa.scalar(b"" if "binary" in str(t) else "", t))
        row += len(c)
        if len(c) == 0 or layout == "null":
            continue
        if layout == "var":
            width = np.int64 if str(t).startswith("large_") else np.int32
            offs = np.frombuffer(c.buffers()[1], width)[c.offset:c.offset + len(c) + 1]
            start, end = int(offs[0]), int(offs[-1])
            offsets.update(offs[1:] if start == byte == 0 and width is np.int64  # type: ignore[arg-type]  # (*)
                           else offs[1:].astype(np.int64) - start + byte)
            data.update(memoryview(c.buffers()[2])[start:end] if c.buffers()[2] else b"")
            byte += end - start
        elif layout == "bool":
            data.update(c.fill_null(False).to_numpy(zero_copy_only=False).view(np.uint8))
        elif layout == "fixed":
            w = t.bit_width // 8
            vals = np.frombuffer(c.buffers()[1], np.uint8)[c.offset * w:(c.offset + len(c)) * w]
            if mask is not None:
                vals = vals.reshape(-1, w).copy()
                vals[mask] = 0
            data.update(vals)  # type: ignore[arg-type]  # (*) in _fixed
        else:  # nested / exotic types are rare: a per-element repr stream is acceptable
            for v in c.to_pylist():
                data.update(_framed(repr(v)))
    return _framed(token, str(row), nulls.digest(), offsets.digest(), data.digest())


def _jsonable(v: Any) -> Any:
    """Plain JSON value: numpy scalars unwrapped, NaN/inf -> None, datetimes ISO, others str."""
    if type(v).__name__ in ("datetime64", "timedelta64"):
        return str(v)  # .item() would give raw integers for ns units
    v = v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v
    if isinstance(v, float) and v - v != 0:
        return None if v != v else str(v)  # JSON has no NaN / inf
    if v is None or isinstance(v, (bool, str, float)) or (isinstance(v, int) and abs(v) < 2**63):
        return v
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def _bounded(d: dict) -> dict:
    """Drop the oldest entries of a cache dict so that one more fits under _CACHE_MAX."""
    while len(d) >= _CACHE_MAX:
        d.pop(next(iter(d)), None)
    return d


def _lookup(key: tuple, owner: Any, ident: Any, ctx: _Ctx) -> tuple[bytes, dict | None] | None:
    import numpy as np

    e = _CACHE.get(key)
    if e is None or e.owner() is not owner or (ctx.profile and e.result[1] is None):
        return None
    same = np.array_equal(e.ident, ident) if isinstance(ident, np.ndarray) else e.ident == ident
    return (e.result[0], e.result[1] if ctx.profile else None) if same else None


def _store(key: tuple, owner: Any, ident: Any, pins: Any, result: tuple[bytes, dict | None]) -> None:
    try:  # the callback evicts the entry, and so unpins, as soon as the owner dies
        ref = weakref.ref(owner, lambda _r, k=key: _CACHE.pop(k, None))  # type: ignore[misc]  # k=: mypy infers no type
    except TypeError:
        return
    _bounded(_CACHE)[key] = _Entry(ref, ident, pins, result)
