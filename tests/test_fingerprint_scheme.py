"""Fingerprint scheme 2: the same logical content gives the same fingerprint whatever its in-memory
representation (strings, timestamp resolutions, nullable integers), and what scheme 1 recorded for
data already in the canonical representation is still matched."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlnb.fingerprint import SCHEME, fingerprint, fingerprint_cached
from tests.fingerprint_frames import frames

FRAMES = frames()

# Recorded by mlnb 0.1.0 (scheme 1) for representations scheme 2 keeps as they are: numeric,
# categorical, ns timestamps, nullable ints with missing values, pandas 3's `str` strings.
SCHEME_1 = {
    "numbers": "c17d122550983d9d06a3c87c88d0ec87",
    "strings": "7ecf26d7a63e017def0eca85eb4c55f1",
    "date_range": "b8f228b09c96798ccce691fb96c989df",
    "integers": "b7f3b85cf660d1eb1d43574d266deea1",
    "integers_missing": "dbfef9c55a8fa4b811df84db49ce3236",
    "timestamps": "40eedff6fb63a3d8dd113add4f9689f8",
}


def summary(obj: object, cached: bool = False) -> str:
    fp = (fingerprint_cached if cached else fingerprint)(obj)
    assert fp is not None
    return json.dumps({"hash": fp.hash, "schema": fp.schema_hash, "columns": fp.columns, "profile": fp.profile},
                      sort_keys=True, default=str)


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_every_representation_of_the_same_data_has_one_fingerprint(name: str) -> None:
    # Given one table as object / str / string[python|pyarrow] strings, s..ns timestamps, Int64 / int64...
    representations = FRAMES[name]
    # When each is fingerprinted (plain and cached), Then hash, schema hash, columns and profile agree
    assert len({summary(obj) for obj in representations} | {summary(obj, cached=True) for obj in representations}) == 1


@pytest.mark.parametrize("name", sorted(SCHEME_1))
def test_data_in_the_canonical_representation_keeps_its_scheme_1_fingerprint(name: str) -> None:
    # A store written before scheme 2 keeps its lineage for these: the same data, the same id
    assert {fingerprint(obj).hash for obj in FRAMES[name]} == {SCHEME_1[name]}


def test_the_scheme_is_recorded_with_the_fingerprint() -> None:
    fp = fingerprint(pd.DataFrame({"a": [1]}))
    assert SCHEME == 2 and fp.scheme == SCHEME and fp.to_dict()["scheme"] == SCHEME


def test_different_content_still_differs() -> None:
    base = pd.DataFrame({"s": ["a", "b"], "t": pd.to_datetime(["2024-01-01", "2024-01-02"]).as_unit("us"),
                         "i": pd.array([1, 2], dtype="Int64")})
    variants = [
        base.assign(s=["a", "c"]),
        base.assign(t=base["t"] + pd.Timedelta(1, "us")),
        base.assign(t=base["t"].dt.tz_localize("UTC")),  # same wall time, now an instant in a zone
        base.assign(i=pd.array([1, 3], dtype="Int64")),
        base.assign(i=pd.array([1, None], dtype="Int64")),
        base.assign(i=np.array([1, 2], dtype=np.int32)),  # int32 is another logical type than int64
        base.assign(i=[1.0, 2.0]),
        base.assign(s=pd.Series([b"a", b"b"], dtype=object)),  # bytes are not strings
    ]
    hashes = {fingerprint(x).hash for x in [base, *variants]}
    assert len(hashes) == len(variants) + 1


def test_timestamps_outside_the_nanosecond_range_stay_exact() -> None:
    # Year 3000 does not fit in int64 nanoseconds: hashed in its own unit, never wrapped around
    far = np.array(["3000-01-01", "1500-06-01", "NaT"], dtype="M8[s]")
    fp = fingerprint(pd.DataFrame({"t": far}))
    assert fp.profile["t"]["min"].startswith("1500-06-01") and fp.profile["t"]["max"].startswith("3000-01-01")
    assert fp.columns == (("t", "datetime64[s]"),)
    shifted = far.copy()
    shifted[0] += np.timedelta64(2**61 // 10**9, "s")  # would collide with `far` if scaled with wrap-around
    assert fingerprint(pd.DataFrame({"t": shifted})).hash != fp.hash
    assert fingerprint(pd.DataFrame({"t": far})).hash == fp.hash


def test_large_columns_convert_block_by_block_like_small_ones() -> None:
    # More rows than one conversion block (and NaT in some blocks): same as the ns column
    n = (1 << 17) * 2 + 5
    t = np.datetime64("2020-01-01", "s") + np.arange(n).astype("m8[s]")
    t[::1000] = np.datetime64("NaT")
    a, b = pd.DataFrame({"t": t}), pd.DataFrame({"t": t.astype("M8[ns]")})
    assert summary(a) == summary(b) == summary(a, cached=True)


def _record(obj: object, scheme: int | None) -> dict:
    fp = fingerprint(obj)
    return {"rows": fp.n_rows, "cols": fp.n_cols, "profile": json.loads(json.dumps(fp.profile)), "scheme": scheme}


def test_reproduce_matches_a_scheme_1_record_of_the_same_data() -> None:
    from mlnb.batch.reproduce import _cell_differences

    frame = pd.DataFrame({"s": pd.Series(["a", None, "c"], dtype=object),
                          "t": pd.to_datetime(["2024-01-01", "2024-01-02", None]).tz_localize("UTC").as_unit("us"),
                          "x": [0.5, 1.5, 2.5]})
    now = _record(frame, scheme=2)
    # what scheme 1 recorded under pandas 3: another id, times in µs and zoned ISO strings
    before = json.loads(json.dumps(now))
    before["scheme"] = 1
    before["profile"]["t"].update(min="2024-01-01T00:00:00+00:00", max="2024-01-02T00:00:00+00:00")
    changed = _record(frame.assign(x=[0.5, 1.5, 3.5]), scheme=2)
    cell = {"status": "ok", "details": {"writes": {"frame": "old-id"}}}
    again = {"status": "ok", "details": {"writes": {"frame": "new-id"}}}
    metrics = {"a": {}, "b": {}}
    assert _cell_differences(cell, again, metrics, {"old-id": before, "new-id": now}) == []
    # different data under the other scheme, same-scheme ids that differ, unknown schemes: all differences
    assert _cell_differences(cell, again, metrics, {"old-id": before, "new-id": changed})
    assert _cell_differences(cell, again, metrics, {"old-id": {**before, "scheme": 2}, "new-id": now})
    assert _cell_differences(cell, again, metrics, {"old-id": {**before, "scheme": None}, "new-id": now})
