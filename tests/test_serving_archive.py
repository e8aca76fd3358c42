"""The rendezvous archive: serve_* events into the index, feedback, the live comparison
(`mlnb.rendezvous`), archived traffic into monitoring (`mlnb.traffic`) and offline replay
(`mlnb.replay`, `mlnb replay`), all against real stores (answers written with the real Archive)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

import mlnb
from mlnb.errors import InvalidValueError, MlnbError, NotFoundError
from mlnb.project import Project
from mlnb.serving.archive import Answer, Archive, VersionAnswer, new_request_id
from mlnb.serving.replay import SkippedWarning
from mlnb.store.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _archive(store: Store, model: str = "m") -> Archive:
    return Archive(store, model, 64 * 1024, 1.0, server_id="srv-1")


def _record(archive: Archive, versions: list[VersionAnswer], returned: int | None, received: float | None = None,
            columns: dict[str, list[Any]] | None = None, status: str | None = None, rows: int = 1) -> str:
    """Archive one request answered by `versions` (the one of version `returned` was returned)."""
    request_id = new_request_id()
    chosen = next((v for v in versions if v.version == returned), None)
    answer = Answer(request_id, received if received is not None else time.time(), archive.model,
                    status or ("ok" if chosen is versions[0] else "fallback"), rows, chosen, versions, 3.0)
    archive.record(answer, columns)
    return request_id


def _sql(store: Store, query: str, params: list[Any] | None = None) -> pd.DataFrame:
    store.writer.flush(sync=True)
    return mlnb.sql(query, params or [], project=store)


# --- the index -----------------------------------------------------------------------------------


def test_serve_events_land_in_the_views(store: Store) -> None:
    # Given a serving process's archive: an answer by the champion with a shadow, a fallback past
    # the deadline, a refusal, an alias switch and two heartbeats
    archive = _archive(store)
    ok = _record(archive, [VersionAnswer(1, "champion", "ok", 2.5, [0]), VersionAnswer(2, "challenger", "ok", 4.0, [1])],
                 1, columns={"a": [1.5], "b": ["x"]})
    fallback = _record(archive, [VersionAnswer(1, "champion", "timeout", 250.0),
                                 VersionAnswer(2, "challenger", "error", 1.0, error="boom\nline two")], 2)
    refused = new_request_id()
    archive.record(Answer(refused, time.time(), "m", "invalid", 0, None, [], 0.4, "missing column 'a'"), None)
    archive.record_switch("champion", 1, 2, 12.5, "switched")
    archive.record_status("running", "http://127.0.0.1:1", {"m@champion": 1}, ["m@challenger"], 0, 250.0, 1.7e9)
    archive.record_status("stopped", "http://127.0.0.1:1", {"m@champion": 2}, ["m@challenger"], 3, 250.0, 1.7e9)

    # When the views are queried with mlnb.sql
    answers = _sql(store, "SELECT request_id, status, returned, alias, n_rows, input, err FROM serve_answers "
                          "ORDER BY ts")
    results = _sql(store, "SELECT request_id, version, alias, status, ms, output, err, returned FROM serve_results "
                          "ORDER BY ts, version")
    switches = _sql(store, "SELECT server, model, alias, from_version, to_version, ms, status FROM serve_switches")
    status = _sql(store, "SELECT server, model, state, aliases, shadows, requests, deadline_ms FROM serve_status")

    # Then every request is one answer row, with its input as JSON
    assert answers["request_id"].tolist() == [ok, fallback, refused]
    assert answers["status"].tolist() == ["ok", "fallback", "invalid"]
    assert answers["returned"].tolist()[:2] == [1, 2] and answers["alias"].tolist()[:2] == ["champion", "challenger"]
    assert json.loads(answers["input"][0]) == {"a": [1.5], "b": ["x"]}
    assert answers["input"][1:].isna().all() and answers["err"][2] == "missing column 'a'"
    # And every version asked is one result row, the returned one flagged
    assert results[["request_id", "version", "status", "returned"]].values.tolist() == [
        [ok, 1, "ok", True], [ok, 2, "ok", False], [fallback, 1, "timeout", False], [fallback, 2, "error", True]]
    assert [None if pd.isna(o) else json.loads(o) for o in results["output"]] == [[0], [1], None, None]
    assert results["err"][3] == "boom\nline two" and results["ms"].tolist() == [2.5, 4.0, 250.0, 1.0]
    # And the switch and the latest heartbeat of the server
    assert switches.values.tolist() == [["srv-1", "m", "champion", 1, 2, 12.5, "switched"]]
    assert status[["server", "state", "requests"]].values.tolist() == [["srv-1", "stopped", 3]]
    assert json.loads(status["aliases"][0]) == {"m@champion": 2}


def test_reading_the_events_again_adds_no_row(store: Store) -> None:
    # Given an archive with answers, feedback, a switch and a heartbeat, ingested once
    archive = _archive(store)
    ids = [_record(archive, [VersionAnswer(1, "champion", "ok", 1.0, [i]), VersionAnswer(2, "c", "ok", 1.0, [i])], 1)
           for i in range(5)]
    mlnb.log_feedback(ids[0], 1, project=store)
    archive.record_switch("champion", 1, 2, 3.0, "switched")
    archive.record_status("running", None, {"m@champion": 1}, [], 5, 250.0, 1.7e9)
    tables = ("serve_answers", "serve_results", "serve_feedback", "serve_switches", "serve_status")
    before = {t: len(_sql(store, f"SELECT * FROM {t}")) for t in tables}
    assert before == {"serve_answers": 5, "serve_results": 10, "serve_feedback": 1, "serve_switches": 1,
                      "serve_status": 1}
    # When the same event lines are read again (another log file holding copies), and the index rebuilt
    lines = b"".join(p.read_bytes() for p in sorted((store.root / "events").glob("*.jsonl")))
    keyed = b"".join(line + b"\n" for line in lines.splitlines() if b'"serve_switch"' not in line)
    (store.root / "events" / "20260101T000000-copy-1-abcdef12.jsonl").write_bytes(keyed)
    again = {t: len(_sql(store, f"SELECT * FROM {t}")) for t in tables}
    store.rebuild()
    rebuilt = {t: len(_sql(store, f"SELECT * FROM {t}")) for t in tables}
    # Then no keyed row is duplicated (switches have no key: their copies were left out above)
    assert again == before
    assert rebuilt == before


def test_a_wrong_typed_field_quarantines_only_its_event(store: Store) -> None:
    # Given a log with a good answer, answers with a wrong-typed field, and feedback without a label
    good = {"e": "serve_answer", "id": "a" * 32, "t": 1.7e9, "model": "m", "status": "ok", "returned": 1,
            "rows": 1, "answers": [{"v": 1, "alias": "champion", "status": "ok", "ms": 1.0, "out": [3]},
                                   "not an item", {"v": "x"}]}
    lines = [good, {**good, "id": "b" * 32, "rows": "one"}, {**good, "id": "c" * 32, "ms": "fast"},
             {**good, "id": "d" * 32, "returned": 1.5}, {"e": "serve_feedback", "id": "e" * 32, "t": 1.7e9},
             {"e": "serve_feedback", "id": "a" * 32, "t": 1.7e9, "label": 3}]
    folder = store.root / "events"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "20260101T000000-hand-1-aaaaaaaa.jsonl").write_bytes(b"".join(orjson.dumps(ev) + b"\n" for ev in lines))
    # When the index is read
    bad = _sql(store, "SELECT line, reason FROM quarantined_events ORDER BY line")
    # Then exactly the wrong-typed events are quarantined, with a reason naming the field
    assert bad["line"].tolist() == [2, 3, 4, 5]
    assert ['"rows"' in bad["reason"][0], '"ms"' in bad["reason"][1], '"returned"' in bad["reason"][2],
            '"label"' in bad["reason"][3]] == [True] * 4
    # And the good answer landed, its malformed answer items skipped
    assert _sql(store, "SELECT request_id FROM serve_answers")["request_id"].tolist() == ["a" * 32]
    assert _sql(store, "SELECT version, output FROM serve_results").values.tolist() == [[1, "[3]"]]
    assert _sql(store, "SELECT label FROM serve_feedback")["label"].tolist() == ["3"]


def test_the_archive_is_queryable_within_a_second(store: Store) -> None:
    # Given an answer recorded (queued by the batching writer, not flushed by hand)
    archive = _archive(store)
    t0 = time.monotonic()
    request_id = _record(archive, [VersionAnswer(1, "champion", "ok", 1.0, [1])], 1)
    # When mlnb.sql is polled, Then the answer is there within a second
    found = False
    while time.monotonic() - t0 < 1.0 and not found:
        found = len(mlnb.sql("SELECT 1 FROM serve_answers WHERE request_id = ?", [request_id], project=store)) == 1
        time.sleep(0.02)
    assert found, "not queryable within 1 s"


# --- feedback ------------------------------------------------------------------------------------


def test_log_feedback_checks_its_input_and_the_last_label_wins(store: Store) -> None:
    request_id = new_request_id()
    # Given bad request ids and labels, Then each is refused with one line
    for bad_id in ("abc", "z" * 32, 12, None, "a" * 33):
        with pytest.raises(InvalidValueError) as info:
            mlnb.log_feedback(bad_id, 1, project=store)
        assert "\n" not in str(info.value) and "request_id" in str(info.value)
    for bad_label in (None, {"a": 1}, [], float("nan"), float("inf"), object(), [1, {"x": 2}], 2**70):
        with pytest.raises(InvalidValueError) as info:
            mlnb.log_feedback(request_id, bad_label, project=store)
        assert "\n" not in str(info.value) and "label" in str(info.value)
    # When a label is logged twice for an id (upper-case hex accepted), and numpy values for another
    mlnb.log_feedback(request_id.upper(), "cat", project=store)
    mlnb.log_feedback(request_id, "dog", project=store)
    other = new_request_id()
    mlnb.log_feedback(other, np.array([1, 0, np.int64(2)]), project=store)
    # And a secret-looking label for an id nothing answered (yet): it is stored, masked
    unknown = new_request_id()
    mlnb.log_feedback(unknown, "ghp_" + "a1B2" * 9, project=store)
    labels = dict(_sql(store, "SELECT request_id, label FROM serve_feedback").values.tolist())
    # Then the last label wins, lists are kept per row, and no secret is stored
    assert json.loads(labels[request_id]) == "dog"
    assert json.loads(labels[other]) == [1, 0, 2]
    assert json.loads(labels[unknown]) == "***"
    logs = b"".join(p.read_bytes() for p in (store.root / "events").glob("*.jsonl"))
    assert b"a1B2a1B2" not in logs


# --- the comparison ------------------------------------------------------------------------------


def _random_traffic(store: Store, n: int = 240, seed: int = 7) -> list[dict[str, Any]]:
    """`n` requests answered by v1 (champion) with v2 and v3 in the shadow (some errors, timeouts,
    fallbacks); feedback for a third of them. Returns what was recorded, for the test's own maths."""
    rng = np.random.default_rng(seed)
    archive = _archive(store)
    now = time.time()
    recorded = []
    for i in range(n):
        rows = int(rng.integers(1, 4))
        versions = []
        for version, alias in ((1, "champion"), (2, "challenger"), (3, "candidate")):
            roll = rng.random()
            status = "ok" if roll < 0.85 or version == 1 and i % 7 else ("error" if roll < 0.93 else "timeout")
            outputs = rng.integers(0, 3, size=rows).tolist() if status == "ok" else None
            versions.append(VersionAnswer(version, alias, status, round(float(rng.gamma(2.0, 3.0 * version)), 3), outputs,
                                          "bad input" if status == "error" else None))
        returned = next((v.version for v in versions if v.status == "ok"), None)
        request_id = _record(archive, versions, returned, received=now - n + i, rows=rows,
                             status=None if returned else "failed")
        label: Any = None
        if i % 3 == 0:
            label = rng.integers(0, 3, size=rows).tolist() if rows > 1 or i % 2 else int(rng.integers(0, 3))
            mlnb.log_feedback(request_id, label, project=store)
        recorded.append({"id": request_id, "versions": versions, "returned": returned, "label": label})
    store.writer.flush(sync=True)
    return recorded


def _expected(recorded: list[dict[str, Any]], version: int) -> dict[str, Any]:
    """The comparison of `version`, computed here from what was recorded."""
    mine = [(r, next(v for v in r["versions"] if v.version == version)) for r in recorded]
    returned = {id(r): next((v for v in r["versions"] if v.version == r["returned"]), None) for r in recorded}
    both = [(r, v) for r, v in mine if v.status == "ok" and returned[id(r)] is not None]
    ms = [v.ms for _, v in mine if v.status == "ok"]
    hits, rows = 0, 0
    for r, v in mine:
        if r["label"] is None or v.status != "ok":
            continue
        labels = r["label"] if isinstance(r["label"], list) else [r["label"]] * len(v.outputs)
        hits += sum(int(o == lab) for o, lab in zip(v.outputs, labels))
        rows += len(v.outputs)
    return {"requests": len(mine), "returned": sum(r["returned"] == version for r in recorded),
            "agreement": sum(v.outputs == returned[id(r)].outputs for r, v in both) / len(both),
            "p50_ms": np.percentile(ms, 50), "p95_ms": np.percentile(ms, 95), "p99_ms": np.percentile(ms, 99),
            "errors": sum(v.status == "error" for _, v in mine), "timeouts": sum(v.status == "timeout" for _, v in mine),
            "labelled": sum(r["label"] is not None for r in recorded), "accuracy": hits / rows}


def test_rendezvous_numbers_match_the_raw_answers(store: Store) -> None:
    # Given live traffic answered by three versions, with feedback on some of it
    recorded = _random_traffic(store)
    # When the versions are compared
    table = mlnb.rendezvous("m@champion", project=store)
    # Then there is one row per version, with the columns of the comparison
    assert table.columns.tolist() == ["version", "alias", "requests", "returned", "agreement", "p50_ms", "p95_ms",
                                      "p99_ms", "errors", "timeouts", "labelled", "accuracy"]
    assert table["version"].tolist() == [1, 2, 3]
    assert table["alias"].tolist() == ["champion", "challenger", "candidate"]
    # And every number equals the one computed independently from the raw answers
    for version in (1, 2, 3):
        row = table.set_index("version").loc[version]
        expected = _expected(recorded, version)
        for key, value in expected.items():
            assert row[key] == pytest.approx(value), (version, key)
    assert table.set_index("version").loc[1, "agreement"] == 1.0  # the returned one agrees with itself


def test_rendezvous_reports_mae_for_numeric_outputs(store: Store) -> None:
    # Given a regressor's answers and labels
    archive = _archive(store, "reg")
    first = _record(archive, [VersionAnswer(1, "champion", "ok", 1.0, [1.5, 2.0]),
                              VersionAnswer(2, "challenger", "ok", 1.0, [1.0, 2.5])], 1, rows=2)
    second = _record(archive, [VersionAnswer(1, "champion", "ok", 1.0, [0.25]),
                               VersionAnswer(2, "challenger", "ok", 1.0, [0.25])], 1)
    mlnb.log_feedback(first, [1.0, 3.0], project=store)
    mlnb.log_feedback(second, 0.75, project=store)
    store.writer.flush(sync=True)
    # When compared, Then the error metric is the mean absolute error over the labelled rows
    table = mlnb.rendezvous("reg", project=store).set_index("version")
    assert "accuracy" not in table.columns
    assert table.loc[1, "mae"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert table.loc[2, "mae"] == pytest.approx((0.0 + 0.5 + 0.5) / 3)
    assert table.loc[2, "agreement"] == 0.5


def test_rendezvous_every_and_time_windows(store: Store) -> None:
    # Given answers in three minutes: 3 in the first, 2 in the second, 1 in the third (the third
    # minute starts 2 minutes and 10 seconds ago, so all three are within the last 4 minutes)
    archive = _archive(store)
    minute0 = (time.time() // 60) * 60 - 180
    for offset in (1, 20, 40, 61, 90, 130):
        _record(archive, [VersionAnswer(1, "champion", "ok", 1.0, [1]), VersionAnswer(2, "c", "ok", 1.0, [2])], 1,
                received=minute0 + offset)
    store.writer.flush(sync=True)
    # When bucketed per minute
    table = mlnb.rendezvous("m", every="1min", project=store)
    # Then one row per version and minute, oldest first, with the bucket's time
    assert table.columns[0] == "time"
    start = datetime.fromtimestamp(minute0, timezone.utc).replace(tzinfo=None)
    assert table[["time", "version", "requests"]].values.tolist() == [
        [pd.Timestamp(start + timedelta(minutes=m)), v, n] for m, n in ((0, 3), (1, 2), (2, 1)) for v in (1, 2)]
    assert set(table["agreement"]) == {1.0, 0.0}
    # And since/until select a window: ISO text, a datetime, or a duration back from now
    iso = (start + timedelta(seconds=30)).isoformat()
    assert mlnb.rendezvous("m", since=iso, project=store)["requests"].tolist() == [4, 4]
    assert mlnb.rendezvous("m", until=start + timedelta(seconds=61), project=store)["requests"].tolist() == [3, 3]
    aware = datetime.fromtimestamp(minute0 + 60, timezone(timedelta(hours=2)))
    assert mlnb.rendezvous("m", since=aware, project=store)["requests"].tolist() == [3, 3]
    assert mlnb.rendezvous("m", since="10min", project=store)["requests"].tolist() == [6, 6]
    assert len(mlnb.rendezvous("m", since="5s", project=store)) == 0  # an empty window: an empty table
    # And bad windows, models and buckets are one-line errors
    for kwargs in ({"since": "yesterday"}, {"until": "2h ago"}, {"every": "fast"}, {"every": "0s"},
                   {"since": "1h", "until": "2h"}, {"since": 12}):
        with pytest.raises(InvalidValueError) as info:
            mlnb.rendezvous("m", project=store, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(NotFoundError, match="no answers of model 'nope'"):
        mlnb.rendezvous("nope", project=store)
    with pytest.raises(MlnbError):
        mlnb.rendezvous("bad name!", project=store)


# --- traffic and replay --------------------------------------------------------------------------


def _train(seed: int = 0, n: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, ((X["a"] + 0.5 * X["b"]) > 0).astype(int)


def _registered(store: Store) -> tuple[Any, Any, pd.DataFrame, pd.Series]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = _train()
    champion = LogisticRegression().fit(X, y)
    challenger = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    mlnb.register_model(champion, "m", data=X, project=store)
    mlnb.register_model(challenger, "m", data=X, project=store)
    mlnb.set_alias("m", "champion", 1, project=store)
    mlnb.set_alias("m", "challenger", 2, project=store)
    return champion, challenger, X, y


def _serve_rows(store: Store, model: Any, frame: pd.DataFrame, received: float, rows_per_request: int = 1,
                keep_input: bool = True) -> list[str]:
    """Archive `frame` as requests answered by `model` as version 1 (as the engine would)."""
    archive = _archive(store)
    ids = []
    for start in range(0, len(frame), rows_per_request):
        part = frame.iloc[start:start + rows_per_request]
        columns = {c: part[c].tolist() for c in part.columns}
        ids.append(_record(archive, [VersionAnswer(1, "champion", "ok", 1.0, model.predict(part).tolist())], 1,
                           received=received + start * 1e-3, columns=columns if keep_input else None,
                           rows=len(part)))
    return ids


def test_traffic_is_the_archived_input_and_feeds_monitoring(store: Store) -> None:
    champion, _, X, _ = _registered(store)
    # Given live traffic like the training data two hours ago, and shifted traffic in the last hour
    fresh, _ = _train(seed=1, n=300)
    shifted = fresh.assign(a=fresh["a"] + 3.0)
    now = time.time()
    old_ids = _serve_rows(store, champion, fresh, now - 7200, rows_per_request=3)
    _serve_rows(store, champion, shifted, now - 600, rows_per_request=2)
    _serve_rows(store, champion, fresh.iloc[:10], now - 300, keep_input=False)  # inputs not kept
    store.writer.flush(sync=True)
    # When the archived traffic of each window is read
    before = mlnb.traffic("m", until="1h", project=store)
    recent = mlnb.traffic("m@champion", since="1h", project=store)
    # Then it is exactly the input rows, in archive order, with each row's request id
    pd.testing.assert_frame_equal(before, fresh.reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(recent, shifted.reset_index(drop=True), check_dtype=False)
    assert before.attrs["request_ids"] == [i for i in old_ids for _ in range(3)]
    assert recent.attrs["skipped"] == 10
    # And a limit keeps the latest rows
    pd.testing.assert_frame_equal(mlnb.traffic("m", since="1h", limit=5, project=store),
                                  shifted.iloc[-5:].reset_index(drop=True), check_dtype=False)
    # And monitoring flags the shifted traffic, and not the unshifted one
    assert mlnb.monitor("m@champion", recent, project=store).status == "drift"
    assert "a" in mlnb.monitor("m@champion", recent, project=store).drifted
    assert mlnb.monitor("m@champion", before, project=store).status != "drift"
    with pytest.raises(InvalidValueError):
        mlnb.traffic("m", limit=0, project=store)


def test_replay_scores_archived_inputs_like_the_model_itself(store: Store) -> None:
    champion, challenger, _, _ = _registered(store)
    # Given live traffic answered by the champion, with feedback on half of it, some without input
    fresh, truth = _train(seed=2, n=120)
    ids = _serve_rows(store, champion, fresh, time.time() - 60, rows_per_request=2)
    for i, request_id in enumerate(ids[::2]):
        mlnb.log_feedback(request_id, truth.iloc[4 * i:4 * i + 2].tolist(), project=store)
    _serve_rows(store, champion, fresh.iloc[:6], time.time() - 30, keep_input=False)
    store.writer.flush(sync=True)
    # When the challenger is replayed on it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = mlnb.replay("m@challenger", allow_pickle=True, project=store)
    # Then its numbers are those of scoring the inputs with the model directly
    direct = challenger.predict(fresh)
    live = champion.predict(fresh)
    pairs = [(direct[i:i + 2].tolist(), live[i:i + 2].tolist()) for i in range(0, len(fresh), 2)]
    labelled = np.arange(len(fresh)) // 2 % 2 == 0
    row = table.iloc[0]
    assert row["source"] == "replay" and row["version"] == 2 and row["alias"] == "challenger"
    assert row["requests"] == 60 and row["errors"] == 0 and row["labelled"] == 30
    assert row["agreement"] == pytest.approx(np.mean([a == b for a, b in pairs]))
    assert row["accuracy"] == pytest.approx(np.mean(direct[labelled] == truth.to_numpy()[labelled]))
    # And the live champion on the same requests is the baseline (the skipped requests left out)
    assert table[["source", "version", "alias", "requests", "returned", "agreement", "errors"]].values.tolist()[1:] == \
        [["live", 1, "champion", 60, 60, 1.0, 0]]
    assert table["accuracy"][1] == pytest.approx(np.mean(live[labelled] == truth.to_numpy()[labelled]))
    # And the requests without an archived input were skipped, counted and said
    assert table.attrs["skipped"] == 6 and table.attrs["replayed"] == 60
    assert any("skipped 6" in str(w.message) for w in caught)
    # And the champion replayed agrees with what it returned
    with pytest.warns(SkippedWarning):
        assert mlnb.replay("m/1", allow_pickle=True, project=store)["agreement"].tolist() == [1.0, 1.0]
    # And bad input is one line
    with pytest.raises(MlnbError):
        mlnb.replay("m@nobody", allow_pickle=True, project=store)
    with pytest.raises(MlnbError, match="nothing to replay"):
        mlnb.replay("m/2", since="1s", allow_pickle=True, project=store)


class Picky:
    """A model that fails on a negative `a` and checks it gets the training dtypes."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        assert frame.dtypes.tolist() == [np.float64, np.float64]
        if (frame["a"] < 0).any():
            raise ValueError("negative a\nsecond line")
        return np.ones(len(frame), dtype=int)


def test_replay_rebuilds_frames_with_the_training_dtypes_and_survives_a_failing_candidate(store: Store) -> None:
    # Given a candidate that fails on some rows (a negative `a`) and archived requests, one malformed
    champion, _, X, _ = _registered(store)

    mlnb.register_model(Picky(), "m", data=X, project=store)
    frame = pd.DataFrame({"a": [1.0, -1.0, 2.0, 3.0], "b": [0.0, 0.0, 1.0, 1.0]})
    _serve_rows(store, champion, frame, time.time() - 10)
    _record(_archive(store), [VersionAnswer(1, "champion", "ok", 1.0, [0])], 1, columns={"b": [1.0]})
    store.writer.flush(sync=True)
    # When it is replayed, Then the failing and unrebuildable requests are errors, the rest scored
    table = mlnb.replay("m/3", allow_pickle=True, project=store)
    assert table[["source", "requests", "errors"]].values.tolist() == [["replay", 5, 2], ["live", 5, 0]]


def _cli(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "mlnb.cli", "--store", str(store.root), "replay", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_mlnb_replay_prints_the_comparison(store: Store) -> None:
    champion, challenger, _, _ = _registered(store)
    fresh, truth = _train(seed=3, n=40)
    ids = _serve_rows(store, champion, fresh, time.time() - 60)
    for request_id, label in zip(ids, truth.tolist()):
        mlnb.log_feedback(request_id, label, project=store)
    _serve_rows(store, champion, fresh.iloc[:3], time.time() - 30, keep_input=False)
    store.writer.flush(sync=True)
    accuracy = float(np.mean(challenger.predict(fresh) == truth.to_numpy()))
    # When `mlnb replay` runs as a table
    done = _cli(store, "m@challenger", "--since", "1h", "--allow-pickle")
    # Then it prints the comparison and what was skipped
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:5] == ["source", "version", "alias", "requests", "returned"]
    assert lines[2].split()[:4] == ["replay", "2", "challenger", "40"]
    assert lines[3].split()[:4] == ["live", "1", "champion", "40"]
    assert f"{accuracy:.4g}" in lines[2]
    assert "replayed on 40 of 43 archived request(s); 3 skipped (no archived input)" in lines[-1]
    # And with --json, the same as data
    done = _cli(store, "m@challenger", "--json", "--limit", "20", "--allow-pickle")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["requests"], data["replayed"], data["skipped"]) == (20, 17, 3)
    assert [(v["source"], v["version"], v["requests"]) for v in data["versions"]] == [("replay", 2, 17),
                                                                                       ("live", 1, 17)]
    # And bad input is one line and exit code 2
    for args in (["m@challenger", "--since", "yesterday"], ["m@challenger", "--limit", "ten"], ["nope@champion"],
                 ["bad uri!"], ["m@challenger", "--until", "2000-01-01"]):
        done = _cli(store, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_every_name_takes_project(project: Project, tmp_path: Path) -> None:
    # Given another project holding the archive, Then each name reads it when told, not the current one
    other = Store.open(tmp_path / "other" / ".mlnb", create=True)
    try:
        _record(_archive(other), [VersionAnswer(1, "champion", "ok", 1.0, [1])], 1, columns={"a": [1.0]})
        other.writer.flush(sync=True)
        assert mlnb.rendezvous("m", project=other)["requests"].tolist() == [1]
        assert mlnb.traffic("m", project=other)["a"].tolist() == [1.0]
        with pytest.raises(NotFoundError):
            mlnb.rendezvous("m")
    finally:
        other.close()
        Store.forget(other.root)


def test_time_bounds_and_durations_read_as_users_write_them() -> None:
    from mlnb.serving.window import duration_seconds, time_bound

    now = datetime(2026, 11, 29, 12, 0, 0)
    # Given durations back from now, ISO text (with and without an offset) and datetimes
    assert time_bound("15min", "since", now) == datetime(2026, 11, 29, 11, 45)
    assert time_bound("2h", "since", now) == datetime(2026, 11, 29, 10, 0)
    assert time_bound(" 7d ", "since", now) == datetime(2026, 11, 22, 12, 0)
    assert time_bound("1.5 hours", "since", now) == datetime(2026, 11, 29, 10, 30)
    assert time_bound("2026-11-29T10:00", "since", now) == datetime(2026, 11, 29, 10, 0)
    assert time_bound("2026-11-29T10:00:00+02:00", "since", now) == datetime(2026, 11, 29, 8, 0)
    assert time_bound("2026-11-29T10:00:00Z", "since", now) == datetime(2026, 11, 29, 10, 0)
    assert time_bound(pd.Timestamp("2026-11-29 09:00"), "since", now) == datetime(2026, 11, 29, 9, 0)
    assert time_bound(timedelta(minutes=5), "since", now) == datetime(2026, 11, 29, 11, 55)
    assert time_bound(None, "since", now) is None
    assert [duration_seconds(v) for v in ("30s", "1min", "2h", "1d", "1w", 90, timedelta(seconds=5))] == \
        [30, 60, 7200, 86400, 604800, 90, 5]
    # Then anything else is one line naming the argument
    for bad in ("soon", "5 parsecs", "", "2026-13-01", 3.5, ["1h"]):
        with pytest.raises(InvalidValueError) as info:
            time_bound(bad, "since", now)
        assert "\n" not in str(info.value) and str(info.value).startswith("since must be")
    for bad in ("-1h", "0min", True, "1y"):
        with pytest.raises(InvalidValueError, match="every must be"):
            duration_seconds(bad)
