"""Real processes: concurrent writers plus a reader lose nothing; a SIGKILLed writer's run is `crashed`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlnb
from mlnb.store.store import Store

PROCS = Path(__file__).parent / "procs"
pytestmark = pytest.mark.slow


def _spawn(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PROCS / script), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_eight_writers_and_a_reader_lose_nothing(tmp_path: Path, store: Store) -> None:
    # Given 8 writer processes (200 runs x 10 params x 5 metrics x 100 steps each) and a reader
    root, stop, barrier = store.root, tmp_path / "stop", tmp_path / "reader-saw-partial"
    reader = _spawn("reader.py", root, stop, barrier)
    assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
    # writers pause half way until the reader has seen a partial store: reads overlap writes for sure
    writers = [_spawn("writer.py", root, w, 200, 10, 5, 100, barrier) for w in range(8)]
    # When they all finish
    outputs = [w.communicate(timeout=600) for w in writers]
    stop.touch()
    reader_out, reader_err = reader.communicate(timeout=120)
    # Then no process saw an error, and the reader really queried while writers wrote
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0 and out.strip() == "done", err
    assert reader.returncode == 0, reader_err
    assert int(reader_out.split()[1]) >= 2 and int(reader_out.split()[3]) >= 1, reader_out
    # And every record is present exactly once
    counts = mlnb.sql(
        "SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(DISTINCT run_id) FROM runs) AS ids, "
        "(SELECT count(*) FROM params) AS params, (SELECT count(*) FROM metrics) AS points, "
        "(SELECT count(*) FROM (SELECT DISTINCT run_id, key, step FROM metrics)) AS distinct_points, "
        "(SELECT count(*) FROM runs WHERE status = 'finished') AS finished"
    ).iloc[0].to_dict()
    assert counts == {"runs": 1600, "ids": 1600, "params": 16000, "points": 800000,
                      "distinct_points": 800000, "finished": 1600}
    # And the values are the ones written
    sample = mlnb.runs(filter="name = 'w7-r199'")
    assert sample["params.p9"].tolist() == ["7-199-9"]
    assert sample["metrics.m4"].tolist() == [pytest.approx(7000 + 199 + 99 / 1000)]


def test_sigkilled_writer_keeps_flushed_records_and_is_marked_crashed(store: Store) -> None:
    # Given a writer that flushed 100 metric points and is still logging
    victim = _spawn("killed.py", store.root)
    run_id = victim.stdout.readline().strip()
    assert len(run_id) == 32, victim.stderr.read()
    time.sleep(0.5)  # let its background thread flush some more
    # When it is killed with SIGKILL mid-run
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    # Then its run is shown as crashed, with every point it flushed and nothing corrupted
    record = mlnb.get_run(run_id)
    assert record.status == "crashed"
    assert record.params == {"lr": "0.5"}
    history = mlnb.metric_history(run_id, "loss")
    assert list(history["step"][:100]) == list(range(100))
    assert history["step"].is_unique and len(history) >= 100
    # And a rebuild from the event logs gives the same answer
    store.rebuild()
    assert mlnb.get_run(run_id).status == "crashed"
    assert len(mlnb.metric_history(run_id, "loss")) == len(history)


def test_many_processes_creating_a_fresh_store_at_once(tmp_path: Path, store: Store) -> None:
    # Given 8 processes that all start on a brand-new store at the same moment
    fresh = tmp_path / "fresh" / ".mlnb"
    writers = [_spawn("writer.py", fresh, w, 3, 2, 2, 3) for w in range(8)]
    outputs = [w.communicate(timeout=300) for w in writers]
    # Then none crashed racing to create it, and every run is there
    assert all(w.returncode == 0 for w in writers), [err for _, err in outputs]
    mlnb.connect(fresh)
    assert len(mlnb.runs()) == 24
