"""The math of monitoring: profiles (exact under merge), drift statistics and calibrated alarms,
validation against a profile. Pure numpy; no store.

Given data with fixed seeds, when it is profiled (whole or in partitions) and compared, then the
profiles merge exactly, resamples of a reference do not alarm and planted changes do.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mlnb.errors import InvalidValueError
from mlnb.monitoring import sketch as sk
from mlnb.monitoring.profile import (
    Profile,
    build_profile,
    column_quantiles,
    merge_profiles,
    reference_bins,
)


def _mixed(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = rng.normal(10, 3, n)
    f[rng.random(n) < 0.05] = np.nan
    f[5] = np.inf
    f[6] = -np.inf
    f[7] = 0.0
    f[8] = -1e-20
    obj = rng.choice(["a", "b", "ç", "日本", None], n).astype(object)
    return pd.DataFrame({
        "int": rng.integers(-50, 50, n),
        "big_int": rng.integers(-2**62, 2**62, n),
        "float": f,
        "neg": -rng.lognormal(0, 2, n),
        "bool": rng.random(n) > 0.3,
        "cat": pd.Categorical(rng.choice(["lo", "mid", "hi"], n)),
        "obj": obj,
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
        "nulls": pd.Series([None] * n, dtype=object),
        "nullable": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 5, n)), dtype="Int64"),
    })


def _assert_same(a: Profile, b: Profile) -> None:
    da, db = a.to_dict(), b.to_dict()
    assert da["rows"] == db["rows"]
    assert list(da["columns"]) == list(db["columns"])
    for name, ca in da["columns"].items():
        cb = db["columns"][name]
        for key in ca:
            if key in ("sum", "sum_sq") and ca[key] is not None:
                assert cb[key] == pytest.approx(ca[key], rel=1e-9, abs=1e-6), (name, key)
            else:
                assert ca[key] == cb[key], (name, key)


# ---- profiles -----------------------------------------------------------------------------------

def test_merged_partition_profiles_equal_the_whole_frame_profile():
    df = _mixed()
    whole = build_profile(df)
    parts = [df.iloc[:1], df.iloc[1:1000], df.iloc[1000:1000], df.iloc[1000:]]
    _assert_same(merge_profiles(build_profile(p) for p in parts), whole)
    _assert_same(build_profile(iter(parts)), whole)  # an iterable of partitions
    # merge order does not matter
    _assert_same(build_profile(parts[3]).merge(build_profile(parts[1])).merge(build_profile(parts[0])), whole)


def test_profile_fields_by_dtype():
    df = _mixed()
    cols = build_profile(df).columns
    f = df["float"]
    c = cols["float"]
    assert (c["kind"], c["nans"], c["pos_inf"], c["neg_inf"], c["nulls"]) == ("numeric", int(f.isna().sum()), 1, 1, 0)
    assert c["count"] == int(np.isfinite(f).sum())
    assert c["min"] == f[np.isfinite(f)].min() and c["max"] == f[np.isfinite(f)].max()
    assert c["sketch"]["zero"] == 2  # 0.0 and -1e-20
    assert sum(c["sketch"]["pos"].values()) + sum(c["sketch"]["neg"].values()) + 2 == c["count"]
    assert cols["big_int"]["min"] == int(df["big_int"].min())  # ints kept exact, not via float64
    assert cols["bool"]["kind"] == "categorical" and set(cols["bool"]["counts"]) == {"True", "False"}
    assert cols["cat"]["dtype"] == "category" and sum(cols["cat"]["counts"].values()) == len(df)
    assert cols["obj"]["nulls"] == int(df["obj"].isna().sum()) and "日本" in cols["obj"]["counts"]
    when = cols["when"]
    assert when["kind"] == "datetime" and when["min"] == pytest.approx(df["when"].min().timestamp())
    assert cols["nulls"] == {"kind": "categorical", "dtype": "string", "count": 0, "nulls": len(df),
                             "counts": {}, "overflow": None}
    assert cols["nullable"]["nulls"] == int(df["nullable"].isna().sum())
    assert cols["nullable"]["kind"] == "numeric" and isinstance(cols["nullable"]["max"], int)


def test_round_trip_through_json_is_exact():
    p = build_profile(_mixed())
    text = json.dumps(p.to_dict(), allow_nan=False)
    back = Profile.from_dict(json.loads(text))
    assert back == p and back.to_dict() == p.to_dict()
    assert json.dumps(back.to_dict(), allow_nan=False) == text


def test_from_dict_rejects_garbage_in_one_line():
    with pytest.raises(InvalidValueError, match="not a profile"):
        Profile.from_dict({"format": 1, "rows": 3})
    with pytest.raises(InvalidValueError, match="format"):
        Profile.from_dict({"format": 99, "rows": 3, "columns": {}})


def test_empty_frame_and_other_inputs_agree():
    empty = build_profile(pd.DataFrame({"x": pd.Series([], dtype=float), "s": pd.Series([], dtype=object)}))
    assert empty.rows == 0 and empty.columns["x"]["count"] == 0 and empty.columns["x"]["min"] is None
    rng = np.random.default_rng(1)
    arr = rng.normal(size=(500, 3))
    from_np = build_profile(arr)
    assert list(from_np.columns) == ["0", "1", "2"]
    df = pd.DataFrame(arr, columns=["0", "1", "2"])
    assert build_profile(df) == from_np
    assert build_profile({k: df[k].to_numpy() for k in df}) == from_np
    import pyarrow as pa

    assert build_profile(pa.Table.from_pandas(df, preserve_index=False)) == from_np
    assert build_profile(df, columns=["1"]).to_dict()["columns"] == {"1": from_np.to_dict()["columns"]["1"]}
    with pytest.raises(InvalidValueError, match="no column 'z'"):
        build_profile(df, columns=["z"])
    with pytest.raises(InvalidValueError, match="cannot profile"):
        build_profile(42)


def test_arrow_nulls_and_strings():
    import pyarrow as pa

    t = pa.table({"i": pa.array([1, None, 3], pa.int64()), "s": pa.array(["x", None, "y"])})
    cols = build_profile(t).columns
    assert (cols["i"]["count"], cols["i"]["nulls"], cols["i"]["min"], cols["i"]["max"]) == (2, 1, 1, 3)
    assert cols["s"]["counts"] == {"x": 1, "y": 1} and cols["s"]["nulls"] == 1


def test_dask_profile_equals_pandas_profile():
    dd = pytest.importorskip("dask.dataframe")
    df = _mixed(2000).drop(columns=["nullable", "cat"])  # dask re-types these per partition
    _assert_same(build_profile(dd.from_pandas(df, npartitions=4)), build_profile(df))


def test_unicode_and_huge_category_values():
    huge = "ж" * 100_000
    other = "ж" * 99_999 + "q"
    p = build_profile(pd.DataFrame({"s": [huge, other, huge, "\U0001F600", "a\x00b"]}))
    counts = p.columns["s"]["counts"]
    assert len(counts) == 4 and sorted(counts.values()) == [1, 1, 1, 2]
    assert all(len(t) <= sk.MAX_VALUE_CHARS for t in counts)
    assert "\U0001F600" in counts and "a\x00b" in counts
    assert len(json.dumps(p.to_dict(), ensure_ascii=False)) < 1000
    assert Profile.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_more_categories_than_the_cap_stay_exact_under_merge():
    rng = np.random.default_rng(2)
    n = 40_000
    values = np.char.add("v", rng.integers(0, 25_000, n).astype(str))
    df = pd.DataFrame({"id": values})
    whole = build_profile(df).columns["id"]
    assert len(whole["counts"]) == sk.MAX_CATEGORIES
    over = whole["overflow"]
    assert over["buckets"] == sk.OVERFLOW_BUCKETS
    assert sum(whole["counts"].values()) + sum(over["counts"]) == n
    true_distinct = len(set(values.tolist()))
    assert abs(over["distinct_lost"] + sk.MAX_CATEGORIES - true_distinct) < 0.05 * true_distinct
    # exact counts for the kept values
    truth = pd.Series(values).value_counts()
    assert all(truth[t] == c for t, c in whole["counts"].items())
    parts = [build_profile(df.iloc[i:i + 7000]) for i in range(0, n, 7000)]
    _assert_same(merge_profiles(parts), build_profile(df))
    _assert_same(merge_profiles(parts[::-1]), build_profile(df))


def test_merge_refuses_a_column_of_another_kind():
    a = build_profile(pd.DataFrame({"x": [1.0, 2.0]}))
    b = build_profile(pd.DataFrame({"x": ["a", "b"]}))
    with pytest.raises(InvalidValueError, match="column 'x' is numeric in one and categorical"):
        a.merge(b)


def test_merge_with_a_missing_column_counts_it_as_null():
    a = build_profile(pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}))
    b = build_profile(pd.DataFrame({"x": [3.0]}))
    m = a.merge(b)
    assert m.rows == 3 and m.columns["y"]["nulls"] == 1 and m.columns["x"]["count"] == 3


def test_numeric_profile_is_a_few_kb_per_column():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"normal": rng.normal(size=200_000), "lognormal": rng.lognormal(size=200_000),
                       "uniform": rng.uniform(0, 100, 200_000), "ints": rng.integers(0, 1000, 200_000)})
    for name, col in build_profile(df).to_dict()["columns"].items():
        assert len(json.dumps(col)) < 24_000, name


def test_quantiles_within_the_relative_accuracy():
    rng = np.random.default_rng(4)
    x = rng.lognormal(0, 1.5, 100_000) - 2
    col = build_profile(pd.DataFrame({"x": x})).columns["x"]
    qs = np.linspace(0.01, 0.99, 99)
    est = np.asarray(column_quantiles(col, qs))
    # the sketch's answer is some order statistic near the rank, within 1% of its value
    true_lo = np.quantile(x, np.clip(qs - 0.001, 0, 1))
    true_hi = np.quantile(x, np.clip(qs + 0.001, 0, 1))
    tol = sk.RELATIVE_ACCURACY * np.maximum(np.abs(true_lo), np.abs(true_hi)) + 1e-12
    assert np.all(est >= true_lo - tol) and np.all(est <= true_hi + tol)
    assert column_quantiles(col, [0, 1]) == [col["min"], col["max"]]
    assert len(column_quantiles(col)) == 101


def test_reference_bins_are_snapped_quantiles_and_bin_other_profiles_exactly():
    rng = np.random.default_rng(5)
    ref = build_profile(pd.DataFrame({"x": rng.normal(size=50_000)})).columns["x"]
    bins = reference_bins(ref, k=20)
    assert len(bins.edges) == 19 and list(bins.edges) == sorted(bins.edges)
    counts = bins.counts(ref)
    assert counts.sum() == ref["count"]
    assert np.all(np.abs(counts / counts.sum() - 0.05) < 0.01)  # quantile bins: about equal mass
    cur_x = rng.normal(0.3, 1, 20_000)
    cur_x[:3] = [np.inf, -np.inf, np.nan]
    cur = build_profile(pd.DataFrame({"x": cur_x})).columns["x"]
    got = bins.counts(cur)
    # the bins hold exactly the values whose bucket lies between the edges (edges are bucket ends)
    finite = cur_x[np.isfinite(cur_x)]
    expected = np.bincount(np.searchsorted(np.asarray(bins.edges), finite, side="left"), minlength=20)
    expected[0] += 1
    expected[-1] += 1
    assert np.abs(got - expected).sum() <= 2  # values within float rounding of an edge may differ
    assert got.sum() == cur["count"] + 2


def test_import_of_the_math_modules_loads_no_pandas_or_scipy():
    code = ("import sys, mlnb.monitoring.profile, mlnb.monitoring.sketch;"
            "import importlib.util as u;"
            "[importlib for importlib in ()];"
            "mods = [m for m in ('mlnb.monitoring.drift', 'mlnb.monitoring.calibration', 'mlnb.monitoring.validation')"
            " if u.find_spec(m)];"
            "[__import__(m) for m in mods];"
            "print(sorted(m for m in ('pandas', 'scipy', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_sketch_buckets_follow_the_documented_edges():
    g = sk.GAMMA
    values = np.array([g**3, g**3 * 1.001, g**-2 * 0.999, -(g**5) * 0.999, 5e-13, -5e-13])
    s = sk.numeric_sketch(values)
    assert s["zero"] == 2
    assert s["pos"].get(4, 0) >= 1 and s["pos"].get(-2) == 1 and s["neg"] == {5: 1}
    assert math.isclose(sk.bucket_upper(sk.bucket_key("pos", 4)), g**4)
    assert math.isclose(sk.bucket_upper(sk.bucket_key("neg", 5)), -(g**4))
