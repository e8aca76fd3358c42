"""A fixed set of data, each in several in-memory representations of the same logical content, built
with constructors that give the same values under pandas 2 and 3 (and pyarrow 15 to today's).

`python -m tests.fingerprint_frames` prints {name: [fingerprint dict of each representation]} as JSON:
tests/test_fingerprint_versions.py runs it in the oldest virtualenv (pandas 2) and compares.
"""
from __future__ import annotations

import json
import sys
from typing import Any


def frames() -> dict[str, list[Any]]:
    """name -> representations of one logical table (every one must get the same fingerprint)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    pandas3 = int(pd.__version__.split(".")[0]) >= 3
    words = ["alpha", "beta", None, "gamma", "delta"]
    string_dtypes: list[Any] = [object, "string", pd.StringDtype("pyarrow"), pd.ArrowDtype(pa.large_string()),
                                pd.ArrowDtype(pa.string())]
    if pandas3:
        string_dtypes.append("str")  # under pandas 2, "str" means numpy's str: it turns None into "None"
    seconds = np.array(["2024-01-01T00:00:00", "2024-02-29T12:30:00", "NaT", "1999-12-31T23:59:59",
                       "2262-04-01T00:00:00"], "M8[s]")
    units = ("s", "ms", "us", "ns")
    berlin = pd.DatetimeIndex(seconds.astype("M8[ns]")).tz_localize("UTC").tz_convert("Europe/Berlin")
    ints = np.array([3, -1, 0, 2**40, 7], dtype=np.int64)

    def mixed(strings: Any, unit: str, integers: Any) -> pd.DataFrame:
        """A frame with a string index and string, timestamp, integer, float and categorical columns."""
        frame = pd.DataFrame({
            "s": pd.Series(words, dtype=strings),
            "t": pd.Series(seconds.astype(f"M8[{unit}]")),
            "i": pd.Series(ints, dtype=integers),
            "f": np.linspace(0.0, 1.0, 5),
            "c": pd.Categorical(["lo", "hi", "lo", "lo", "hi"]),
        })
        frame.index = pd.Index([f"r{k}" for k in range(5)], dtype=strings, name="rid")
        return frame

    return {
        "strings": [pd.DataFrame({"s": pd.Series(words, dtype=d)}) for d in string_dtypes],
        "string_index": [pd.Series([1.5, 2.5, 3.5], index=pd.Index(["a", "b", "c"], dtype=d), name="x")
                         for d in string_dtypes],
        "timestamps": [pd.DataFrame({"t": pd.Series(seconds.astype(f"M8[{u}]"))}) for u in units]
        + [pd.DataFrame({"t": pd.Series(seconds.astype("M8[us]")).astype(pd.ArrowDtype(pa.timestamp("ms")))})],
        "date_range": [pd.DataFrame({"d": pd.date_range("2024-01-01", periods=3).as_unit(u)}) for u in units],
        "timestamps_tz": [pd.DataFrame({"t": pd.Series(berlin.as_unit(u))}) for u in units]
        + [pd.DataFrame({"t": pd.Series(berlin).astype(pd.ArrowDtype(pa.timestamp("us", "Europe/Berlin")))})],
        "timestamp_index": [pd.DataFrame({"v": range(5)}, index=pd.DatetimeIndex(seconds.astype(f"M8[{u}]")))
                            for u in units],
        "durations": [pd.DataFrame({"d": pd.Series((seconds - seconds[0]).astype(f"m8[{u}]"))}) for u in units],
        "integers": [pd.DataFrame({"i": pd.Series(ints, dtype=d)}) for d in ("int64", "Int64", "int64[pyarrow]")],
        "integers_missing": [pd.DataFrame({"i": pd.Series([1, None, 3], dtype=d)}) for d in ("Int64", "int64[pyarrow]")],
        "booleans": [pd.DataFrame({"b": pd.Series([True, False, True], dtype=d)}) for d in ("bool", "boolean")],
        "mixed": [mixed(object, "ns", "int64"), mixed("string", "us", "Int64"), mixed(pd.StringDtype("pyarrow"), "s", "Int64")]
        + ([mixed("str", "us", "int64")] if pandas3 else []),
        "numbers": [pd.DataFrame({"f": np.linspace(-1.0, 1.0, 7), "i": np.arange(7, dtype=np.int32),
                                  "b": np.arange(7) % 2 == 0, "c": pd.Categorical(list("abcabca"))})],
        "arrow_table": [pa.table({"s": pa.array(words, t), "t": pa.array(seconds.astype("M8[ms]")).cast(pa.timestamp(u))})
                        for t, u in ((pa.string(), "ms"), (pa.large_string(), "us"), (pa.large_string(), "ns"))],
        "numpy_times": [seconds.astype(f"M8[{u}]") for u in units],
    }


def fingerprints() -> dict[str, list[dict[str, Any]]]:
    """name -> the fingerprint (hash, schema hash, columns, profile) of each representation."""
    from mlnb.fingerprint import fingerprint

    out = {}
    for name, representations in frames().items():
        out[name] = []
        for obj in representations:
            fp = fingerprint(obj)
            assert fp is not None, name
            out[name].append({"hash": fp.hash, "schema_hash": fp.schema_hash, "columns": [list(c) for c in fp.columns],
                              "profile": fp.profile, "scheme": getattr(fp, "scheme", 1)})
    return out


if __name__ == "__main__":
    import pandas

    json.dump({"pandas": pandas.__version__, "fingerprints": fingerprints()}, sys.stdout, indent=1, sort_keys=True)
