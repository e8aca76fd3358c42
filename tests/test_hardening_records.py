"""Hardening of records (issue 12, items 1-3): a bad value costs at most its own event, a
well-formed line with wrong types is quarantined instead of bricking ingest, and a run's own
end beats a `crashed` verdict inferred by another process."""
from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

import mlnb
from mlnb.errors import InvalidValueError
from mlnb.store import queries
from mlnb.store.store import Store


def _run_row(store: Store, run_id: str) -> dict:
    frame = queries.sql(store, f"SELECT * FROM runs WHERE run_id = '{run_id}'")  # run_id is ours (hex)
    assert len(frame) == 1, f"run {run_id} is not in the index"
    return frame.iloc[0].to_dict()


# ---------------------------------------------------------------------------------------------
# 1. one bad value never costs other records


def test_a_lone_surrogate_in_run_b_loses_nothing_of_run_a(store: Store) -> None:
    # Given run A with a name, params and 100 metric points, queued but not yet written
    run_a = mlnb.start_run(experiment="exp-a", name="run-a", params={"lr": 0.1, "depth": 4})
    for step in range(100):
        run_a.log_metric("loss", 1 / (step + 1), step=step)
    # When run B, in the same process, logs a file name from a badly encoded folder
    bad_name = os.fsdecode(b"data-\xff.csv")  # 'data-\udcff.csv', as os.listdir returns it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped, so nothing to warn about
        run_b = mlnb.start_run(name=bad_name, parent=None)
        run_b.log_params({"file": bad_name, bad_name: 1})
        run_b.set_tag("source", bad_name)
        run_b.log_metric(bad_name, 1.0)
        run_b.end()
    run_a.end()
    # Then run A is complete in the index
    row = _run_row(store, run_a.id)
    assert (row["name"], row["experiment"], row["status"]) == ("run-a", "exp-a", "finished")
    params = queries.sql(store, f"SELECT key, value FROM params WHERE run_id = '{run_a.id}' ORDER BY key")
    assert params.to_dict("list") == {"key": ["depth", "lr"], "value": ["4", "0.1"]}
    assert int(queries.sql(store, f"SELECT count(*) AS n FROM metrics WHERE run_id = '{run_a.id}'")["n"][0]) == 100
    # And run B's values are kept, the undecodable byte escaped as text
    assert _run_row(store, run_b.id)["name"] == "data-\\xff.csv"
    params_b = queries.sql(store, f"SELECT key, value FROM params WHERE run_id = '{run_b.id}' ORDER BY key")
    assert params_b.to_dict("list") == {"key": ["data-\\xff.csv", "file"], "value": ["1", "data-\\xff.csv"]}
    tag = queries.sql(store, f"SELECT value FROM tags WHERE run_id = '{run_b.id}'")["value"][0]
    assert tag == "data-\\xff.csv"
    assert list(queries.sql(store, f"SELECT key FROM metrics WHERE run_id = '{run_b.id}'")["key"]) == ["data-\\xff.csv"]


def test_an_unencodable_event_is_dropped_alone_with_a_warning_naming_it(store: Store) -> None:
    # Given queued events of a run, and then an event no encoder can write (an arbitrary object)
    run = mlnb.start_run(name="kept")
    run.log_metrics({"a": 1.0, "b": 2.0})
    with pytest.warns(RuntimeWarning, match="dropped one lineage event of run"):
        accepted = store.writer.emit({"e": "lineage", "run": run.id, "src_id": object()})
    run.log_metric("a", 3.0)
    run.end()
    # Then only that event is lost
    assert accepted is False
    assert _run_row(store, run.id)["status"] == "finished"
    assert int(queries.sql(store, f"SELECT count(*) AS n FROM metrics WHERE run_id = '{run.id}'")["n"][0]) == 3


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"name": Path("x")}, ("x", "Default")),
    ({"name": 12345}, ("12345", "Default")),
    ({"experiment": 2024, "name": "n"}, ("n", "2024")),
    ({"experiment": Path("exp") / "sub", "name": 1.5}, ("1.5", str(Path("exp") / "sub"))),
])
def test_start_run_coerces_paths_and_numbers_to_text(store: Store, kwargs: dict, expected: tuple) -> None:
    # When a run is started with a path or a number as its name or experiment
    with mlnb.start_run(**kwargs) as run:
        run.log_metric("m", 1.0)
    # Then its records reach the store, with the text of the value
    row = _run_row(store, run.id)
    assert (row["name"], row["experiment"], row["status"]) == (*expected, "finished")
    assert (run.name, run.experiment) == expected


@pytest.mark.parametrize("kwargs", [{"name": ["a"]}, {"experiment": {"x": 1}}, {"name": True},
                                    {"parent": 7}, {"run_id": 5}])
def test_start_run_refuses_other_types_in_one_line(store: Store, kwargs: dict) -> None:
    with pytest.raises(InvalidValueError) as info:
        mlnb.start_run(**kwargs)
    assert "\n" not in str(info.value)
    assert mlnb.active_run() is None


def test_huge_numbers_give_one_line_errors(store: Store) -> None:
    with mlnb.start_run() as run:
        with pytest.raises(InvalidValueError, match="64 bits"):
            run.log_metric("m", 1.0, step=2**70)
        with pytest.raises(InvalidValueError, match="fits a float"):
            run.log_metric("m", 10**400)
        run.log_param("big", 10**400)  # a param is text: kept, without a numeric reading
    value = queries.sql(store, f"SELECT value, value_num FROM params WHERE run_id = '{run.id}'")
    assert value["value"][0] == str(10**400) and value["value_num"].isna().all()


# ---------------------------------------------------------------------------------------------
# 2. a well-formed line with wrong types is quarantined, never bricks the store


def _append_lines(store: Store, file_name: str, events: list) -> Path:
    """Append raw JSON lines (dicts are encoded with the stdlib, which keeps big ints) to an event file."""
    import json

    path = store.root / "events" / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        for event in events:
            text = event if isinstance(event, (bytes, str)) else json.dumps(event, allow_nan=False)
            handle.write((text.encode() if isinstance(text, str) else text) + b"\n")
    return path


def _cli(store: Store, *args: str):
    from mlnb.cli import cli

    return CliRunner().invoke(cli, ["--store", str(store.root), *args])


HOSTILE_LINES = [
    {"e": "run_start", "run": "r-t", "t": 1e300},
    {"e": "run_start", "run": "r-pid", "t": 1.0, "pid": 2**40},
    {"e": "cell", "run": "r-ok", "seq": "abc", "t": 1.0},
    {"e": "model_version", "name": "m", "version": "x", "hash": "h", "t": 1.0},
    {"e": "model_version", "name": "m", "version": 2, "hash": "h", "t": 1.0, "description": 2},
    {"e": "alias", "name": "m", "alias": "champion", "version": 1, "t": 1.0, "reason": {"why": "object"}},
    {"e": "model_version_update", "name": "m", "version": 1, "description": 2},
    {"e": "metrics", "run": "r-ok", "t": 1.0, "m": [{"k": "loss", "x": "not a number", "s": 0}]},
    {"e": "params", "run": "r-ok", "p": [{"v": "a param without a key"}]},
    b'{"e": "run_end", "run": "r-ok", "status": "finished", "t": NaN}',
    b"[1, 2, 3]",
    b'{"e": "tags", "run": ',
]
VALID_LINES = [
    {"e": "run_start", "run": "r-ok", "exp": "e", "name": "kept", "t": 1.0},
    {"e": "params", "run": "r-ok", "p": [{"k": "lr", "v": "0.1", "n": 0.1}]},
    {"e": "model_version", "name": "m", "version": 1, "hash": "h", "t": 1.0, "description": "fine"},
    {"e": "alias", "name": "m", "alias": "champion", "version": 1, "t": 2.0, "reason": "best"},
    {"e": "run_end", "run": "r-ok", "status": "finished", "t": 2.0},
]


def test_wrong_typed_lines_are_quarantined_and_the_rest_ingested(store: Store) -> None:
    # Given an event file that mixes valid events and well-formed lines with wrong types
    _append_lines(store, "20260101T000000-host-1-aaaaaaaa.jsonl",
                  [VALID_LINES[0], *HOSTILE_LINES[:6], *VALID_LINES[1:3], *HOSTILE_LINES[6:], *VALID_LINES[3:]])
    # When the runs are listed, then the store is rebuilt and listed again
    for step in ("runs", "rebuild", "runs"):
        result = _cli(store, "runs") if step == "runs" else _cli(store, "store", "rebuild")
        # Then nothing fails, and the valid events are all there
        assert result.exit_code == 0, (step, result.output, result.exception)
        assert "kept" in result.output or step == "rebuild"
        row = _run_row(store, "r-ok")
        assert (row["name"], row["status"]) == ("kept", "finished")
        assert queries.sql(store, "SELECT value FROM params WHERE run_id = 'r-ok'")["value"].tolist() == ["0.1"]
        versions = queries.sql(store, "SELECT version, description FROM model_versions")
        assert versions.to_dict("list") == {"version": [1], "description": ["fine"]}
        aliases = queries.sql(store, "SELECT reason FROM alias_history")["reason"].tolist()
        assert aliases == ["best"]
        # And every wrong line is kept in quarantine with its line number and a reason
        bad = queries.sql(store, "SELECT line, reason, raw FROM quarantined_events ORDER BY line")
        assert bad["line"].tolist() == [2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15]
        assert all(bad["reason"]) and "1e+300" in bad["raw"][0]
    # And `store status` says so in a few lines
    status = _cli(store, "store", "status")
    assert status.exit_code == 0, status.output
    assert "quarantined" in status.output and "12 event lines not ingested" in status.output
    assert len(status.output.strip().splitlines()) <= 7
    assert '"quarantined_events": 12' in _cli(store, "store", "status", "-f", "json").output


def test_registry_text_fields_are_checked_when_written(store: Store) -> None:
    from mlnb import model_registry as reg

    # Given a registered version
    reg.register_model({"weights": [1, 2]}, "m")
    # When text fields get values that are not text, or a version that is not a number
    for call in (lambda: reg.register_model({"w": 1}, "m", description=2),
                 lambda: reg.register_model({"w": 1}, "m", tags=["not", "a", "dict"]),
                 lambda: reg.set_alias("m", "champion", 1, reason=42),
                 lambda: reg.set_alias("m", "champion", 1, reason={"why": "object"}),
                 lambda: reg.update_version("m", 1, description=2),
                 lambda: reg.update_version("m", "x", description="d")):
        with pytest.raises(InvalidValueError) as info:
            call()
        assert "\n" not in str(info.value)
    # Then each is one line, and nothing of it reached the event logs
    assert _run_events(store, "alias") == [] and _run_events(store, "model_version_update") == []
    assert [e["description"] for e in _run_events(store, "model_version")] == [None]


def _run_events(store: Store, kind: str) -> list[dict]:
    out = []
    for path in sorted((store.root / "events").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            event = orjson.loads(line)
            if event.get("e") == kind:
                out.append(event)
    return out


# ---------------------------------------------------------------------------------------------
# 3. a run's own end beats a `crashed` verdict inferred by another process


def _start_event(run_id: str) -> dict:
    # this process's pid with another start time: to the dead-process check it is a dead process
    return {"e": "run_start", "run": run_id, "exp": "e", "name": "r", "t": time.time(), "pid": os.getpid(),
            "pid_start": 1.0, "host": socket.gethostname()}


@pytest.mark.parametrize("writer_file", ["00000000T000000-writer.jsonl", "zzzzzzzzT000000-writer.jsonl"])
def test_an_own_end_read_after_an_inferred_crash_wins(store: Store, writer_file: str) -> None:
    # Given a reader that saw a run start, and then saw its process gone without an end
    run_id = "a" * 32
    _append_lines(store, writer_file, [_start_event(run_id)])
    assert _run_row(store, run_id)["status"] == "crashed"
    # When the run's own end turns up afterwards (written before the process exited)
    _append_lines(store, writer_file, [{"e": "run_end", "run": run_id, "status": "finished", "t": time.time()}])
    # Then the run is finished, also after a rebuild (whichever file is read first)
    assert _run_row(store, run_id)["status"] == "finished"
    assert _cli(store, "store", "rebuild").exit_code == 0
    assert _run_row(store, run_id)["status"] == "finished"
    # And the crash verdict says that it was inferred by another process
    assert sorted((e["status"], bool(e.get("inferred"))) for e in _run_events(store, "run_end")) == \
        [("crashed", True), ("finished", False)]


def test_own_ends_keep_their_severity_order_over_an_inferred_crash(store: Store) -> None:
    # Given a batch run: the kernel ended it finished, its runner failed it, a reader inferred a crash
    run_id = "b" * 32
    _append_lines(store, "kernel.jsonl", [_start_event(run_id)])
    assert _run_row(store, run_id)["status"] == "crashed"
    _append_lines(store, "kernel.jsonl", [{"e": "run_end", "run": run_id, "status": "finished", "t": time.time()}])
    _append_lines(store, "runner.jsonl", [{"e": "run_end", "run": run_id, "status": "failed", "t": time.time()}])
    # Then the more severe own end wins, now and after a rebuild
    assert _run_row(store, run_id)["status"] == "failed"
    store.rebuild()
    assert _run_row(store, run_id)["status"] == "failed"


def test_the_dead_process_check_reads_the_events_again_before_judging(store: Store, monkeypatch) -> None:
    # Given a run whose process writes its end and exits just while a reader checks its pid
    from mlnb.store import store as store_module

    run_id = "c" * 32
    path = _append_lines(store, "writer.jsonl", [_start_event(run_id)])

    def ends_then_dies(pid, started):
        if not path.read_bytes().count(b"run_end"):
            _append_lines(store, "writer.jsonl", [{"e": "run_end", "run": run_id, "status": "finished",
                                                   "t": time.time()}])
        return False

    monkeypatch.setattr(store_module, "process_alive", ends_then_dies)
    # When the reader refreshes
    status = _run_row(store, run_id)["status"]
    # Then the run is finished and no crash verdict was written at all
    assert status == "finished"
    assert [e["status"] for e in _run_events(store, "run_end")] == ["finished"]


def test_an_event_the_index_refuses_despite_the_checks_is_quarantined_alone(store: Store) -> None:
    # Given a handler that forgot to check its values (a tag key may be null: the index refuses it)
    from mlnb.store import ingest

    @ingest.handles("unchecked_tag")
    def _unchecked(batch: ingest.Batch, ev: dict) -> None:
        batch.execute("INSERT OR REPLACE INTO idx.tags VALUES (?, ?, ?)", [ev["run"], ev["k"], ev["v"]])

    try:
        _append_lines(store, "unchecked.jsonl", [
            {"e": "run_start", "run": "r1", "name": "kept", "t": 1.0},
            {"e": "unchecked_tag", "run": "r1", "k": "a", "v": "1"},
            {"e": "unchecked_tag", "run": "r1", "k": None, "v": "2"},
            {"e": "unchecked_tag", "run": "r1", "k": "b", "v": "3"},
            {"e": "run_end", "run": "r1", "status": "finished", "t": 2.0},
        ])
        # When the index is read, and rebuilt
        for _ in range(2):
            # Then only that event is quarantined, with the database's reason, and the rest is ingested
            assert _run_row(store, "r1")["status"] == "finished"
            tags = queries.sql(store, "SELECT key, value FROM tags WHERE run_id = 'r1' ORDER BY key")
            assert tags.to_dict("list") == {"key": ["a", "b"], "value": ["1", "3"]}
            bad = queries.sql(store, "SELECT line, reason FROM quarantined_events")
            assert bad["line"].tolist() == [3] and "refused" in bad["reason"][0]
            store.rebuild()
    finally:
        ingest.HANDLERS.pop("unchecked_tag", None)
