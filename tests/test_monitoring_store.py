"""Monitoring against a real store: reference profiles stored and linked, checks recorded as a history,
the index rebuilt from the events, view-models, one-line errors, and concurrent checks from several
processes (the math itself is tested in tests/test_monitoring_math.py)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import mlnb
from mlnb import model_registry as reg
from mlnb.errors import InvalidValueError, MlnbError, NotFoundError
from mlnb.monitoring import views
from mlnb.store import queries
from mlnb.store.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _frame(n: int = 3000, seed: int = 0, shift: float = 0.0, new_category: bool = False) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    colors = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    if new_category:
        colors[: n // 4] = "purple"
    return pd.DataFrame({
        "x": rng.normal(0.0, 1.0, n) + shift,
        "age": rng.integers(18, 90, n),
        "color": colors,
    })


def _register(name: str = "churn", data: Any = None) -> dict[str, Any]:
    return reg.register_model({"weights": [1, 2, 3]}, name, data=data)


def _profile_rows(store: Store) -> Any:
    return queries.sql(store, "SELECT id, fingerprint, n_rows, n_cols, model, version FROM profiles ORDER BY created")


def _check_rows(store: Store) -> Any:
    return queries.sql(store, "SELECT check_id, model, version, n_rows, status, validation, drifted, fingerprint, "
                              "report, summary, reference, run_id, name FROM monitoring ORDER BY check_id")


def test_register_with_data_stores_the_reference_profile_linked_to_version_and_fingerprint(store: Store) -> None:
    from mlnb.monitoring.profile import Profile, build_profile

    # Given a model registered with its training data
    data = _frame()
    record = _register(data=data)
    # Then one profile is stored, linked to the version and to the data's fingerprint
    rows = _profile_rows(store)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["model"], row["version"], row["n_rows"], row["n_cols"]) == ("churn", record["version"], 3000, 3)
    assert row["fingerprint"] == mlnb.fingerprint(data).hash == record["signature"]["input"]["fingerprint"]
    # And the stored JSON is the profile of the data (it round-trips exactly)
    stored = orjson.loads(store.blobs.read_bytes(row["id"]))
    assert stored == orjson.loads(orjson.dumps(build_profile(data).to_dict()))
    assert Profile.from_dict(stored).to_dict() == build_profile(data).to_dict()
    # And a model registered without data has none
    _register("nodata")
    assert _profile_rows(store)["model"].tolist() == ["churn"]


def test_monitor_same_data_is_ok_a_shifted_copy_drifts_and_history_grows(store: Store) -> None:
    # Given a registered version with a reference profile
    data = _frame()
    _register(data=data)
    # When the same data is monitored, then nothing drifts and validation passes
    same = mlnb.monitor("churn/1", data, name="same")
    assert (same.status, same.passed, same.drifted) == ("ok", True, [])
    assert len(same.check_id) == 32 and same.rows == 3000 and same.model == "churn/1"
    # When a shifted copy with a new category is monitored (a fresh sample, so not the same rows)
    shifted = mlnb.monitor("churn@latest", _frame(seed=1, shift=1.0, new_category=True))
    # Then x and color drift, age does not, validation reports the unseen category; not passed
    assert shifted.status == "drift" and not shifted.passed
    assert "x" in shifted.drifted and "color" in shifted.drifted and "age" not in shifted.drifted
    failures = shifted.validation.to_dict()["failures"]
    unseen = [f for f in failures if f["expectation"] == "known_categories" and f["column"] == "color"]
    assert unseen and "purple" in unseen[0]["examples"]
    # And the history has both checks, oldest first, from mlnb.monitoring (callable package) by name or URI
    history = mlnb.monitoring("churn")
    assert history["check_id"].tolist() == [same.check_id, shifted.check_id]
    assert history["status"].tolist() == ["ok", "drift"]
    assert history["validation"].tolist() == ["pass", "fail"]
    assert history["rows"].tolist() == [3000, 3000]
    assert history["name"].iloc[0] == "same" and history["name"].isna().iloc[1]
    assert {"x", "color"} <= set(history["drifted_columns"].iloc[1]) and history["drifted"].iloc[1] >= 2
    assert mlnb.monitoring("churn/1")["check_id"].tolist() == history["check_id"].tolist()
    assert mlnb.monitoring.monitoring("churn", project=store.root)["check_id"].tolist() == \
        history["check_id"].tolist()
    # And the check is linked to the model and to its data in the lineage
    edges = queries.sql(store, "SELECT src_kind, src_id, relation FROM lineage WHERE dst_id = ?", [shifted.check_id])
    assert ("model", "churn/1", "monitored") in set(map(tuple, edges.values.tolist()))
    assert ("dataset", shifted.fingerprint, "monitored-data") in set(map(tuple, edges.values.tolist()))


def test_the_view_models_are_json_and_follow_the_history(store: Store) -> None:
    # Given three versions: before any check, the views are empty
    data = _frame()
    _register(data=data)
    _register(data=data)
    _register(data=data)
    assert views.monitoring_overview(store) == []
    assert views.monitoring_history(store, "churn")["checks"] == []
    # When v1 is checked twice (ok, then drift), v2 once (ok), v3 never
    first = mlnb.monitor("churn/1", data)
    last = mlnb.monitor("churn/1", _frame(seed=2, shift=1.5))
    mlnb.monitor("churn/2", data)
    # When the view-models are read
    overview = views.monitoring_overview(store)
    history = views.monitoring_history(store, "churn")
    detail = views.check_detail(store, last.check_id[:10])
    # Then they are plain JSON
    for value in (overview, history, detail):
        assert orjson.loads(orjson.dumps(value)) == value
    # And the overview holds the latest check per version
    assert [(r["model"], r["version"], r["status"], r["checks"]) for r in overview] == \
        [("churn", 1, "drift", 2), ("churn", 2, "ok", 1)]
    assert overview[0]["check"] == last.check_id and overview[0]["rows"] == 3000
    # And the history every check with its per-column summary, and the latest status per version
    assert [c["check"] for c in history["checks"]][:2] == [first.check_id, last.check_id]
    assert history["latest"] == {"1": "drift", "2": "ok"}
    assert history["checks"][1]["summary"]["x"]["status"] == "drift"
    assert isinstance(history["checks"][1]["summary"]["x"]["score"], float)
    assert views.monitoring_history(store, "churn/2")["checks"][0]["version"] == 2
    # And the detail the full drift and validation reports
    assert detail["check"] == last.check_id and detail["uri"] == "churn/1"
    assert {c["column"] for c in detail["drift"]["columns"]} == {"x", "age", "color"}
    assert detail["drift"]["status"] == "drift" and "passed" in detail["validation"]


def test_rebuilding_the_index_reads_the_same_profiles_and_checks(store: Store) -> None:
    # Given profiles and checks in the index
    data = _frame()
    _register(data=data)
    mlnb.profile(_frame(seed=5))
    mlnb.monitor("churn/1", data)
    mlnb.monitor("churn/1", _frame(seed=3, shift=1.0))
    before = (_profile_rows(store), _check_rows(store), mlnb.monitoring("churn"))
    assert len(before[0]) == 2 and len(before[1]) == 2
    # When the index is rebuilt from the event logs
    store.rebuild()
    # Then it reads the same
    after = (_profile_rows(store), _check_rows(store), mlnb.monitoring("churn"))
    for old, new in zip(before, after):
        assert old.to_dict("records") == new.to_dict("records")


def test_profile_on_demand_links_a_version_and_drift_takes_frames_fingerprints_profiles_and_dicts(
        store: Store) -> None:
    # Given a version registered without data, and a version-less profile of a frame
    _register()
    data = _frame()
    built = mlnb.profile(data)
    fp = mlnb.fingerprint(data).hash
    assert _profile_rows(store)["fingerprint"].tolist() == [fp]
    # Then monitoring the version says how to give it a reference
    with pytest.raises(NotFoundError) as err:
        mlnb.monitor("churn/1", data)
    assert str(err.value) == ("no reference profile for churn/1; register it with data=... or run "
                              "mlnb.profile(df, model='churn/1')")
    # When the profile is stored for the version, then it is monitored
    mlnb.profile(data, model="churn/1")
    assert mlnb.monitor("churn/1", data).status == "ok"
    # And drift compares any mix of frames, stored fingerprints, profiles, profile dicts and model URIs
    shifted = _frame(seed=4, shift=1.0)
    expected = mlnb.drift(data, shifted).to_dict()
    for reference in (fp, built, built.to_dict(), "churn/1", mlnb.fingerprint(data)):
        report = mlnb.drift(reference, shifted).to_dict()
        assert report["status"] == expected["status"] == "drift"
        assert [c["status"] for c in report["columns"]] == [c["status"] for c in expected["columns"]]
    assert [c["column"] for c in mlnb.drift(data, shifted, columns=["x"]).to_dict()["columns"]] == ["x"]
    # And a check can be limited to some columns (the shifted x is left out here)
    limited = mlnb.monitor("churn/1", shifted, columns=["age", "color"])
    assert [c["column"] for c in limited.drift.to_dict()["columns"]] == ["age", "color"]
    assert limited.status != "drift" and mlnb.monitoring("churn")["drifted"].tolist()[-1] == 0


def test_partitions_are_profiled_merged_and_a_register_that_cannot_profile_warns(store: Store) -> None:
    import numpy as np

    from mlnb.model_registry.versions import ReferenceProfileWarning
    from mlnb.monitoring.profile import build_profile

    # Given a frame given as a generator of partitions, then its stored profile is the whole frame's
    data = _frame()
    built = mlnb.profile(data.iloc[i:i + 1000] for i in range(0, 3000, 1000))
    merged, whole = built.to_dict(), build_profile(data).to_dict()
    for name, column in whole["columns"].items():  # sums agree up to float rounding, the rest exactly
        for key in ("sum", "sum_sq"):
            if key in column:
                assert merged["columns"][name].pop(key) == pytest.approx(column.pop(key), rel=1e-9)
    assert merged == whole
    rows = _profile_rows(store)
    assert rows["n_rows"].tolist() == [3000] and rows["fingerprint"].isna().all()  # an iterator is read once
    # When a model is registered with data that cannot be profiled (a 1-D array)
    with pytest.warns(ReferenceProfileWarning, match=r"run mlnb.profile\(df, model='odd/1'\)"):
        record = reg.register_model({"w": 1}, "odd", data=np.arange(10.0))
    # Then the version is registered all the same, without a reference profile
    assert record["uri"] == "odd/1" and len(_profile_rows(store)) == 1


def test_validate_reports_failures_with_examples_from_the_raw_frame(store: Store) -> None:
    # Given a version trained on data without nulls, ages 18-89 and three colors
    data = _frame()
    _register(data=data)
    assert mlnb.validate("churn/1", data).to_dict()["passed"] is True
    # When a batch has a null, an age of 500 and an unseen color
    bad = _frame(n=200, seed=9).astype({"x": "float64"})
    bad.loc[3, "x"] = None
    bad.loc[7, "age"] = 500
    bad.loc[11, "color"] = "octarine"
    report = mlnb.validate("churn/1", bad).to_dict()
    # Then each failed expectation is there with its count and examples
    assert report["passed"] is False
    found = {(f["expectation"], f["column"]): f for f in report["failures"]}
    assert found[("in_range", "age")]["count"] >= 1 and 500 in found[("in_range", "age")]["examples"]
    assert "octarine" in found[("known_categories", "color")]["examples"]
    assert found[("no_nulls", "x")]["count"] == 1


def test_secret_looking_values_and_secret_named_columns_are_not_stored(store: Store) -> None:
    import pandas as pd

    # Given training data with a secret-named column and a token among ordinary values
    token, other = "ghp_" + "a1B2" * 9, "ghp_" + "z9Y8" * 9
    data = pd.DataFrame({"api_key": ["k-one", "k-two"] * 50, "note": ["red"] * 99 + [token],
                         "x": [float(i) for i in range(100)]})
    _register(data=data)
    # When it is profiled on registration and a batch with another token is monitored
    batch = data.copy()
    batch.loc[0, "note"] = other
    batch.loc[1, "api_key"] = "k-three"
    result = mlnb.monitor("churn/1", batch)
    # Then the stored profile keeps counts but not the values
    stored = orjson.loads(store.blobs.read_bytes(_profile_rows(store)["id"].iloc[0]))
    assert stored["columns"]["api_key"]["counts"] == {"***": 100}
    assert stored["columns"]["note"]["counts"] == {"red": 99, "***": 1}
    # And no file of the store holds a token or a secret-named column's value (the user's result does)
    assert other in str(result.validation.to_dict()) or other in str(result.drift.to_dict())
    for path in store.root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert token.encode() not in content and other.encode() not in content, path
            assert b"k-three" not in content and b"k-one" not in content, path


BAD_INPUTS = {
    "unknown model": (lambda: mlnb.monitor("nope/1", _frame()), NotFoundError, "no model named 'nope'"),
    "unknown version": (lambda: mlnb.monitor("churn/7", _frame()), NotFoundError, "has no version 7"),
    "model not text": (lambda: mlnb.monitor(3, _frame()), InvalidValueError, "model URI is text"),
    "bad URI": (lambda: mlnb.validate("churn", _frame()), MlnbError, "bad model URI"),
    "data None": (lambda: mlnb.monitor("churn/1", None), InvalidValueError, "data is None"),
    "empty frame": (lambda: mlnb.monitor("churn/1", _frame().iloc[:0]), InvalidValueError, "no rows"),
    "a path": (lambda: mlnb.monitor("churn/1", "batch.parquet"), InvalidValueError, "read it first"),
    "a number": (lambda: mlnb.profile(42), InvalidValueError, "not a table"),
    "name not text": (lambda: mlnb.monitor("churn/1", _frame(), name=5), InvalidValueError, "name must be text"),
    "thresholds": (lambda: mlnb.monitor("churn/1", _frame(), thresholds=0.2), InvalidValueError,
                   "thresholds must be a dict"),
    "columns": (lambda: mlnb.drift(_frame(), _frame(), columns=5), InvalidValueError, "list of column names"),
    "unknown column": (lambda: mlnb.drift(_frame(), _frame(), columns=["nope"]), InvalidValueError,
                       "unknown column(s) 'nope'"),
    "unknown monitor column": (lambda: mlnb.monitor("churn/1", _frame(), columns=["x", "nope"]), InvalidValueError,
                               "unknown column(s) 'nope'"),
    "unknown fingerprint": (lambda: mlnb.drift("ab" * 32, _frame()), NotFoundError, "no stored profile"),
    "bad profile dict": (lambda: mlnb.drift({"format": 1, "rows": 2, "columns": 7}, _frame()), InvalidValueError,
                         "not a valid profile dict"),
    "profile for unknown version": (lambda: mlnb.profile(_frame(), model="churn/9"), NotFoundError, "no version 9"),
    "history of unknown model": (lambda: mlnb.monitoring("nope"), NotFoundError, "no model named 'nope'"),
    "bad check id": (lambda: views.check_detail(None, "zz'; --"), InvalidValueError, "hex characters"),
    "unknown check": (lambda: views.check_detail(None, "abcdef12"), NotFoundError, "no monitoring check"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_line_saying_what_to_do(store: Store, case: str) -> None:
    # Given a version with a reference profile
    _register(data=_frame())
    call, error, text = BAD_INPUTS[case]
    # When the API is called with a bad input, then it raises one line saying what is wrong
    with pytest.raises(error) as err:
        call()
    message = str(err.value)
    assert text in message and "\n" not in message and len(message) < 300, message
    # And nothing was recorded
    assert _check_rows(store).empty


WORKER = """
import sys
import numpy as np, pandas as pd
import mlnb
mlnb.connect(sys.argv[1])
rng = np.random.default_rng(int(sys.argv[2]))
frame = pd.DataFrame({"x": rng.normal(0, 1, 500), "age": rng.integers(18, 90, 500),
                      "color": rng.choice(["red", "green", "blue"], 500).astype(object)})
ready, go = sys.argv[3] + sys.argv[2] + ".ready", sys.argv[3]
open(ready, "w").close()
import os, time
while not os.path.exists(go):
    time.sleep(0.002)
for i in range(int(sys.argv[4])):
    print(mlnb.monitor("churn/1", frame, name=f"worker {sys.argv[2]} #{i}").check_id)
"""


def test_concurrent_monitors_from_several_processes_lose_no_check(store: Store, tmp_path: Path) -> None:
    # Given a version with a reference profile and three processes that monitor it at the same moment
    _register(data=_frame())
    workers, each, go = 3, 3, tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(store.root), str(w), str(go), str(each)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for w in range(workers)]
    deadline = time.monotonic() + 120
    while not all(Path(f"{go}{w}.ready").exists() for w in range(workers)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    # Then every check of every process is in the history, once, as well as one made here meanwhile
    mine = mlnb.monitor("churn/1", _frame(seed=7)).check_id
    ids = {line for out, _ in outputs for line in out.split()}
    assert len(ids) == workers * each
    history = mlnb.monitoring("churn")
    assert sorted(history["check_id"]) == sorted(ids | {mine})
    assert sorted(history["name"].dropna()) == sorted(f"worker {w} #{i}" for w in range(workers)
                                                              for i in range(each))
