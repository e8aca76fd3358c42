"""mlnb.fingerprint: stable content hashes, schema hashes, profiles and a cache that misses nothing."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlnb.fingerprint import Fingerprint, fingerprint, fingerprint_cached

DETERMINISTIC_FRAME = """
import numpy as np, pandas as pd
rng = np.random.default_rng(42)
n = 1000
df = pd.DataFrame({
    "f": np.where(rng.random(n) < 0.1, np.nan, rng.standard_normal(n)),
    "i": rng.integers(-50, 50, n),
    "b": rng.random(n) < 0.5,
    "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
    "s": pd.Series(rng.choice(["alpha", "beta", None, "gamma"], n), dtype="str"),
    "o": pd.Series(rng.choice(["x", "yy", "zzz"], n), dtype=object),
    "c": pd.Categorical(rng.choice(["lo", "hi"], n)),
    "m": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 9, n)), dtype="Int64"),
})
df.index = pd.Index([f"r{k}" for k in range(n)], name="rid")
"""


def make_frame() -> pd.DataFrame:
    scope: dict = {}
    exec(DETERMINISTIC_FRAME, scope)
    return scope["df"]


def h(obj: object) -> str:
    fp = fingerprint(obj, profile=False)
    assert fp is not None
    return fp.hash


def test_identical_data_identical_hash_across_processes() -> None:
    df = make_frame()
    code = DETERMINISTIC_FRAME + "\nfrom mlnb.fingerprint import fingerprint\nprint(fingerprint(df).hash)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == fingerprint(df).hash
    assert h(df) == h(df.copy(deep=True)) == h(make_frame())
    assert len(fingerprint(df).hash) == 32 and len(fingerprint(df).schema_hash) == 32


def test_layout_chunking_and_slicing_do_not_matter() -> None:
    x = np.random.default_rng(0).random((50, 3))
    assert h(pd.DataFrame(x, columns=list("abc"))) == h(pd.DataFrame({c: x[:, i].copy() for i, c in enumerate("abc")}))
    assert h(np.asfortranarray(x)) == h(x) and h(x[::2]) == h(x[::2].copy())
    a = pa.array(["x", None, "yy", "zzz", None, "w"])
    assert h(a.slice(2)) == h(pa.array(["yy", "zzz", None, "w"]))
    assert h(pa.chunked_array([a.slice(0, 3), a.slice(3)])) == h(pa.chunked_array([a]))
    assert h(pa.array([1, None, 3]).slice(1)) == h(pa.array([None, 3]))


@pytest.mark.parametrize("change", [
    "value", "nan_to_value", "value_to_nan", "column_name", "column_order", "dtype", "index_values",
    "index_name", "row_order", "string_value", "string_null", "object_value", "category", "masked_null",
])
def test_every_change_changes_the_hash(change: str) -> None:
    df, base = make_frame(), make_frame()
    nan_row = int(np.flatnonzero(df["f"].isna())[0])
    if change == "value":
        df.iloc[7, 1] += 1
    elif change == "nan_to_value":
        df.iloc[nan_row, 0] = 0.0
    elif change == "value_to_nan":
        df.iloc[nan_row + 1 if not np.isnan(df.iloc[nan_row + 1, 0]) else 0, 0] = np.nan
    elif change == "column_name":
        df = df.rename(columns={"i": "j"})
    elif change == "column_order":
        df = df[["i", "f", *df.columns[2:]]]
    elif change == "dtype":
        df["i"] = df["i"].astype("int32")
    elif change == "index_values":
        df.index = pd.Index([f"q{k}" for k in range(len(df))], name="rid")
    elif change == "index_name":
        df.index = df.index.rename("other")
    elif change == "row_order":
        df = df.iloc[::-1]
    elif change == "string_value":
        df.iloc[3, 4] = "alphb" if df.iloc[3, 4] != "alphb" else "x"
    elif change == "string_null":
        row = int(np.flatnonzero(df["s"].notna())[0])
        df.iloc[row, 4] = None
    elif change == "object_value":
        df.iloc[0, 5] = df.iloc[0, 5] + "!"
    elif change == "category":
        df["c"] = df["c"].cat.rename_categories({"lo": "low"})
    elif change == "masked_null":
        row = int(np.flatnonzero(df["m"].notna())[0])
        df.iloc[row, 7] = pd.NA
    assert h(df) != h(base)


def test_one_cell_in_a_million_and_index_order() -> None:
    df = pd.DataFrame({"a": np.arange(1_000_000, dtype=np.float64)})
    before = h(df)
    df.iloc[500_000, 0] = -1.0
    assert h(df) != before
    small = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 20, 30])
    assert h(small) != h(small.set_axis([20, 10, 30]))
    assert h(small) != h(small.reset_index(drop=True))  # Index vs RangeIndex


def test_value_null_and_type_ambiguities() -> None:
    assert h(pd.Series(["a", None])) != h(pd.Series(["a", ""]))
    assert h(pd.Series(["ab", "c"])) != h(pd.Series(["a", "bc"]))  # same bytes, other offsets
    assert h(pd.Series([1.0, np.nan])) != h(pd.Series([1.0, 0.0]))
    assert h(pd.Series([1, "a"], dtype=object)) != h(pd.Series(["1", "a"], dtype=object))  # mixed fallback
    assert h(pd.Series([1, 2], name=1)) != h(pd.Series([1, 2], name="1"))
    assert h(np.zeros((2, 6))) != h(np.zeros((3, 4))) != h(np.zeros((12,)))


def test_schema_hash_tracks_only_the_schema() -> None:
    df = make_frame()
    other = df.copy()
    other.iloc[0, 1] += 1
    other = other.iloc[::-1]
    assert fingerprint(other).schema_hash == fingerprint(df).schema_hash
    assert fingerprint(other).hash != fingerprint(df).hash
    for changed in (df.rename(columns={"i": "j"}), df.astype({"i": "int32"}), df.reset_index(drop=True)):
        assert fingerprint(changed).schema_hash != fingerprint(df).schema_hash


def test_profile_on_a_small_frame() -> None:
    df = pd.DataFrame({
        "x": [1.0, np.nan, 3.0, 4.0],
        "n": [5, 1, 5, 2],
        "b": [True, False, True, True],
        "t": pd.to_datetime(["2024-01-02", None, "2024-01-01", "2024-01-03"]),
        "s": ["a", None, "b", "a"],
        "c": pd.Categorical(["u", "v", "u", None]),
    })
    fp = fingerprint(df)
    assert (fp.kind, fp.n_rows, fp.n_cols) == ("pandas.DataFrame", 4, 6)
    assert fp.columns[:2] == (("x", "float64"), ("n", "int64"))
    p = fp.profile
    assert p["x"] == {"nulls": 1, "distinct": 3, "distinct_exact": True, "min": 1.0, "max": 4.0,
                      "mean": pytest.approx(8 / 3)}
    assert p["n"] == {"nulls": 0, "distinct": 3, "distinct_exact": True, "min": 1, "max": 5, "mean": 3.25}
    assert (p["b"]["min"], p["b"]["max"], p["b"]["mean"], p["b"]["distinct"]) == (False, True, 0.75, 2)
    assert p["t"]["nulls"] == 1 and p["t"]["min"].startswith("2024-01-01") and p["t"]["max"].startswith("2024-01-03")
    assert p["s"] == {"nulls": 1, "distinct": 2, "distinct_exact": True}
    assert p["c"] == {"nulls": 1, "distinct": 2, "distinct_exact": True}
    json.dumps(fp.to_dict(), allow_nan=False)  # strictly JSON
    assert fingerprint(df, profile=False).profile == {} and fingerprint(df, profile=False) == fp


def test_distinct_estimate_on_large_columns() -> None:
    rng = np.random.default_rng(3)
    prof = fingerprint(pd.DataFrame({"lo": rng.integers(0, 50, 400_000), "key": np.arange(400_000)})).profile
    assert prof["lo"]["distinct"] == 50 and prof["lo"]["distinct_exact"] is False
    assert 0.7 * 400_000 <= prof["key"]["distinct"] <= 400_000


def test_numpy_and_pyarrow_inputs() -> None:
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)
    fp = fingerprint(arr)
    assert (fp.kind, fp.n_rows, fp.n_cols, fp.columns) == ("numpy.ndarray", 3, 4, (("values", "<i4"),))
    assert fp.profile["values"]["max"] == 11
    assert h(arr) != h(arr.astype(np.int64)) and h(arr) != h(arr.reshape(4, 3))
    t = pa.table({"x": [1, None, 3], "s": ["a", None, "c"]})
    ft = fingerprint(t)
    assert (ft.kind, ft.n_rows, ft.n_cols) == ("pyarrow.Table", 3, 2)
    assert ft.profile["x"]["nulls"] == 1 and ft.profile["x"]["mean"] == 2.0
    same = pa.table({"x": [1, None, 3], "s": ["a", None, "c"]})
    other = pa.table({"x": [1, 2, 3], "s": ["a", None, "c"]})
    assert h(t) == h(same) != h(other)
    assert fingerprint(t.to_batches()[0]).kind == "pyarrow.RecordBatch"
    assert fingerprint(pa.array([1.5, 2.5])).kind == "pyarrow.Array"
    assert h(np.array(["a", None, 3], dtype=object)) != h(np.array(["a", None, 4], dtype=object))


EDGE_CASES = {
    "sparse": lambda: pd.Series(pd.arrays.SparseArray([0, 0, 1, np.nan])),
    "interval": lambda: pd.Series(pd.interval_range(0, 3)),
    "period": lambda: pd.Series(pd.period_range("2020", periods=3, freq="M")),
    "nullable_bool": lambda: pd.Series([True, None, False], dtype="boolean"),
    "uint64_max": lambda: pd.Series([2**64 - 1, 0], dtype="uint64"),
    "complex": lambda: pd.Series([1 + 2j, 3j]),
    "bytes_objects": lambda: pd.Series([b"a", None, b"bc"], dtype=object),
    "list_objects": lambda: pd.Series([[1, 2], None, []], dtype=object),
    "tz_index": lambda: pd.DataFrame({"a": [1, 2]}, index=pd.date_range("2020", periods=2, tz="Europe/Paris")),
    "multiindex_columns": lambda: pd.DataFrame(
        np.ones((2, 2)), columns=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["top", None])),
    "duplicate_columns": lambda: pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "no_columns": lambda: pd.DataFrame(index=range(3)),
    "multiindex_rows": lambda: pd.Series([1, 2], index=pd.MultiIndex.from_arrays([["x", "y"], [1, 2]], names=["k", 1])),
    "inf": lambda: pd.Series([1.0, np.inf, -np.inf, np.nan]),
    "structured": lambda: np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
    "numpy_unicode": lambda: np.array(["ab", "c"]),
    "numpy_nat": lambda: np.array(["2020-01-01", "NaT"], dtype="datetime64[ns]"),
    "arrow_list": lambda: pa.array([[1, 2], None, [3]]),
    "arrow_struct": lambda: pa.array([{"a": 1, "b": "x"}, None]),
    "arrow_dictionary": lambda: pa.array(["a", "b", None, "a"]).dictionary_encode(),
    "arrow_string_view": lambda: (pa.array(["a", None, "bcd"], type=pa.string_view()) if hasattr(pa, "string_view")
                                  else pytest.skip("pyarrow < 16 has no string_view")),
    "arrow_null": lambda: pa.array([None, None]),
    "arrow_timestamp_tz": lambda: pa.array([1, None], type=pa.timestamp("ns", tz="UTC")),
    "int64_pyarrow": lambda: pd.Series([1, None], dtype="int64[pyarrow]"),
    "string_python": lambda: pd.Series(["a", None], dtype="string[python]"),
}


@pytest.mark.parametrize("name", EDGE_CASES)
def test_edge_inputs_are_deterministic_and_json_ready(name: str) -> None:
    fp = fingerprint(EDGE_CASES[name]())
    assert fp is not None and fp == fingerprint(EDGE_CASES[name]()) == fingerprint_cached(EDGE_CASES[name]())
    json.dumps(fp.to_dict(), allow_nan=False)


@pytest.mark.parametrize("obj", [None, 3, "text", [1, 2], {"a": 1}, np.float64(1.0), pd.Timestamp("2024")])
def test_unsupported_objects_give_none(obj: object) -> None:
    assert fingerprint(obj) is None and fingerprint_cached(obj) is None


def test_import_is_light() -> None:
    code = ("import sys, mlnb.fingerprint\n"
            "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'xxhash') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- cache ------------------------------------------------------------------------------------

def test_cache_never_misses_a_mutation() -> None:
    rng = np.random.default_rng(7)
    df = pd.DataFrame({
        "x": rng.standard_normal(1_000_000),
        "s": pd.Series(rng.choice(["a", "b", "c"], 1_000_000), dtype="str"),
        "o": pd.Series(rng.choice(["p", "q"], 1_000_000), dtype=object),
    })
    seen = {fingerprint_cached(df).hash}
    assert fingerprint_cached(df).hash in seen  # unchanged: cache hits give the same answer

    def changed() -> None:
        fp = fingerprint_cached(df)
        assert fp == fingerprint(df) and fp.profile == fingerprint(df).profile
        assert fp.hash not in seen
        seen.add(fp.hash)

    df.iloc[500_000, 0] = 99
    changed()
    df["s"] = df["s"].str.upper()
    changed()
    df.iloc[3, 1] = "Z"  # in-place set on an Arrow-backed column
    changed()
    df.iloc[4, 2] = "tmp"  # object cell: a new pointer, even if an old address gets recycled
    df.iloc[4, 2] = "r"
    changed()
    df.iloc[4, 2] = "p" if df.iloc[5, 2] != "p" else "q"
    changed()

    arr = np.arange(100, dtype=np.int64)
    before = fingerprint_cached(arr).hash
    arr[3] += 1
    assert fingerprint_cached(arr).hash != before == fingerprint(np.arange(100)).hash
    view = arr[::3]
    before = fingerprint_cached(view).hash
    arr[3] += 1  # mutate through the base, seen through a strided view
    assert fingerprint_cached(view).hash != before


def test_cache_on_object_arrays_and_arrow_tables() -> None:
    objs = np.array(["a", "bb", None, "ccc"] * 1000, dtype=object)
    first = fingerprint_cached(objs)
    assert fingerprint_cached(objs) == first
    for _ in range(3):  # churn allocations so freed addresses get reused
        objs[1] = "x" * 2
        objs[1] = "bb"
    assert fingerprint_cached(objs) == first  # same content again
    objs[1] = "bc"
    assert fingerprint_cached(objs) != first and fingerprint_cached(objs) == fingerprint(objs)
    # Freed memory is reused LIFO: after two writes the cell's new string (or Arrow buffer) sits at
    # the address of the original. Only pinning the original in the cache entry prevents a stale hit
    # (without the pins both checks below fail; verified by removing them).
    big = np.array([c * 1000 for c in "abc"], dtype=object)  # > 512 B: the system allocator
    assert fingerprint_cached(big) == fingerprint(big)
    for ch in "xy":  # built at run time: a folded constant would never be freed nor allocated
        big[1] = ch * 1000
    assert fingerprint_cached(big) == fingerprint(big)
    s = pd.Series(["aaaa", "bbbb", "cccc"] * 1000, dtype="str")
    for k in range(20):
        fingerprint_cached(s)
        s.iloc[1] = f"x{k:03d}"
        s.iloc[1] = f"y{k:03d}"
        assert fingerprint_cached(s) == fingerprint(s)
    t = pa.table({"s": ["a", "b"] * 100})
    assert fingerprint_cached(t) == fingerprint(t)
    t2 = t.set_column(0, "s", pa.array(["a", "c"] * 100))
    assert fingerprint_cached(t2) != fingerprint_cached(t) and fingerprint_cached(t2) == fingerprint(t2)


# --- property tests -----------------------------------------------------------------------------

_KINDS = ("int", "float", "bool", "str", "object", "datetime")


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 6))
    names = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3, unique=True))
    cols = {}
    for name in names:
        kind = draw(st.sampled_from(_KINDS))
        if kind == "int":
            cols[name] = pd.Series(draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), dtype="int64")
        elif kind == "float":
            vals = draw(st.lists(st.sampled_from([0.5, 1.0, -2.0, np.nan]), min_size=n, max_size=n))
            cols[name] = pd.Series(vals, dtype="float64")
        elif kind == "bool":
            cols[name] = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype="bool")
        elif kind in ("str", "object"):
            vals = draw(st.lists(st.sampled_from(["", "a", "ab", "b", None]), min_size=n, max_size=n))
            cols[name] = pd.Series(vals, dtype="str" if kind == "str" else object)
        else:
            days = draw(st.lists(st.sampled_from([0, 1, 2, None]), min_size=n, max_size=n))
            cols[name] = pd.Series([pd.NaT if d is None else pd.Timestamp("2024-01-01") + pd.Timedelta(days=d)
                                    for d in days], dtype="datetime64[ns]")
    df = pd.DataFrame(cols)
    if draw(st.booleans()):
        df.index = pd.Index(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype="int64")
    return df


def logical(df: pd.DataFrame) -> pd.DataFrame:
    """Strings as one dtype: object columns of str/None and `str` columns hold the same logical data."""
    def is_text(s: pd.Series) -> bool:
        values = s.dropna()
        return s.dtype != object or (len(values) > 0 and all(isinstance(v, str) for v in values))

    return df.astype({c: "string" for c in df.columns
                      if (df[c].dtype == object or isinstance(df[c].dtype, pd.StringDtype)) and is_text(df[c])})


def same_data(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    a, b = logical(a), logical(b)
    return (a.equals(b) and list(a.columns) == list(b.columns) and list(a.dtypes) == list(b.dtypes)
            and type(a.index) is type(b.index) and a.index.equals(b.index) and a.index.names == b.index.names)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), frames())
def test_property_equal_hash_implies_equal_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    if h(a) == h(b):
        assert same_data(a, b)
    assert h(a) == h(a.copy(deep=True)) == h(a.copy(deep=True).iloc[:, ::-1].iloc[:, ::-1])
    assert fingerprint_cached(a) == fingerprint(a)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.data())
def test_property_single_cell_edit_changes_hash(df: pd.DataFrame, data: st.DataObject) -> None:
    if df.empty:
        return
    i = data.draw(st.integers(0, len(df) - 1))
    j = data.draw(st.integers(0, df.shape[1] - 1))
    before, old = h(df), df.iat[i, j]
    dtype = df.dtypes.iloc[j]
    if dtype == "int64":
        new = old + 1
    elif dtype == "float64":
        new = 7.0 if np.isnan(old) else np.nan
    elif dtype == "bool":
        new = not old
    elif dtype.kind == "M":
        new = pd.Timestamp("2030-01-01") if pd.isna(old) else pd.NaT
    else:
        new = "zz" if pd.isna(old) else None if data.draw(st.booleans()) else old + "!"
    df.iat[i, j] = new
    assert h(df) != before
    assert fingerprint_cached(df) == fingerprint(df)


def test_fingerprint_is_a_frozen_dataclass() -> None:
    fp = fingerprint(pd.Series([1, 2]))
    assert isinstance(fp, Fingerprint)
    with pytest.raises(AttributeError):
        fp.hash = "x"  # type: ignore[misc]
    assert set(fp.to_dict()) == {"hash", "schema_hash", "kind", "n_rows", "n_cols", "columns", "profile", "scheme"}


def test_mixed_objects_fall_back_deterministically() -> None:
    code = textwrap.dedent("""
        import pandas as pd
        from mlnb.fingerprint import fingerprint
        print(fingerprint(pd.Series([1, "a", 2.5, None, b"x"], dtype=object)).hash)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == h(pd.Series([1, "a", 2.5, None, b"x"], dtype=object))


def test_mlnb_fingerprint_is_callable_however_it_resolves() -> None:
    import mlnb
    import mlnb.fingerprint  # sets the package attribute to the submodule

    arr = np.arange(5)
    assert mlnb.fingerprint(arr) == mlnb.fingerprint(arr) == fingerprint(arr)
    assert mlnb.fingerprint(arr, profile=False).profile == {}
