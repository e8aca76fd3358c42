"""Fair turns at the index lock, with real processes: a process that queries in a tight loop
cannot starve another reader, and a long user SQL query does not hold the index."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlnb
from mlnb.store.store import Store

PROCS = Path(__file__).parent / "procs"
pytestmark = pytest.mark.slow


def _poller(root: Path, stop: Path, interval: float, seconds: float, kind: str = "runs",
            **env: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(PROCS / "poller.py"), str(root), str(stop), str(interval), str(seconds), kind],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def _result(proc: subprocess.Popen[str], timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _store_with_runs(store: Store, n: int = 5) -> None:
    for i in range(n):
        with mlnb.start_run(experiment="fair", name=f"r{i}") as run:
            run.log_metric("acc", i / 10)
    mlnb.runs()
    store.close()


def test_a_tight_query_loop_does_not_starve_another_reader(tmp_path: Path, store: Store) -> None:
    # Given a process that queries the index in a tight loop (more often than the linger)
    _store_with_runs(store)
    stop = tmp_path / "stop"
    hog = _poller(store.root, stop, 0, 60)
    time.sleep(1.0)  # it holds the index by now
    # When another process reads every 50 ms for 4 s
    reader = _poller(store.root, stop, 0.05, 4, MLNB_LOCK_TIMEOUT="20")
    reader_result = _result(reader, timeout=60)
    stop.touch()
    hog_result = _result(hog)
    # Then every one of its reads got a turn within a bounded time, without an error
    assert reader_result["errors"] == []
    assert reader_result["queries"] >= 10, reader_result
    assert max(reader_result["waits"]) < 3.0, max(reader_result["waits"])
    # And the busy process kept querying too (turns, not a handover)
    assert hog_result["errors"] == [] and hog_result["queries"] >= 10
