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
from mlnb.errors import InvalidValueError, SQLTimeoutError
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
    # When another process reads every 50 ms for 5 s
    reader = _poller(store.root, stop, 0.05, 5, MLNB_LOCK_TIMEOUT="20")
    reader_result = _result(reader, timeout=60)
    stop.touch()
    hog_result = _result(hog)
    # Then every one of its reads got a turn within a bounded time, without an error
    assert reader_result["errors"] == []
    assert reader_result["queries"] >= 5, reader_result
    assert max(reader_result["waits"]) < 3.0, max(reader_result["waits"])
    # And the busy process kept querying too (turns, not a handover)
    assert hog_result["errors"] == [] and hog_result["queries"] >= 10


HEAVY_SQL = "SELECT sum(a.range * b.range) AS s FROM range(100000) a, range(100000) b"  # minutes of CPU


def test_user_sql_stops_at_its_time_limit_with_one_line(store: Store) -> None:
    # Given a store and a query that would run for minutes
    _store_with_runs(store, 1)
    # When it runs through the CLI with a 1 s limit
    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).parent / "mlnb"), "sql", HEAVY_SQL], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "MLNB_SQL_TIMEOUT": "1"}, cwd=store.root.parent)
    # Then it is stopped soon, with one line naming the setting
    assert time.monotonic() - started < 30
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "MLNB_SQL_TIMEOUT" in lines[0] and "1 s" in lines[0], done.stderr
    # And through the API the limit is a parameter, and a bad setting is one clear error
    with pytest.raises(SQLTimeoutError, match="timeout="):
        mlnb.sql(HEAVY_SQL, timeout=0.5)
    with pytest.raises(InvalidValueError, match="positive number"):
        mlnb.sql("SELECT 1", timeout=-1)
    # And a quick query still answers
    assert mlnb.sql("SELECT count(*) AS n FROM runs", timeout=5)["n"].iloc[0] == 1


def test_a_long_user_query_does_not_keep_other_processes_from_the_index(tmp_path: Path, store: Store) -> None:
    # Given a process running an expensive user query (limit 60 s)
    _store_with_runs(store)
    heavy = subprocess.Popen(
        [sys.executable, "-c", f"import mlnb; mlnb.connect({str(store.root)!r}); print('go', flush=True); "
                               f"mlnb.sql({HEAVY_SQL!r})"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "MLNB_SQL_TIMEOUT": "60"})
    try:
        assert heavy.stdout.readline().strip() == "go", heavy.stderr.read()
        time.sleep(2.0)  # the query is running by now
        assert heavy.poll() is None
        # When another process lists runs meanwhile
        reader = _poller(store.root, tmp_path / "stop", 0.1, 3, MLNB_LOCK_TIMEOUT="15")
        result = _result(reader, timeout=60)
        # Then it is answered at once, while the query still runs
        assert result["errors"] == []
        assert max(result["waits"]) < 3.0, result["waits"]
        assert heavy.poll() is None
    finally:
        heavy.kill()
        heavy.wait()


def test_a_ticket_left_by_a_killed_waiter_does_not_block_the_queue(store: Store) -> None:
    # Given a waiter that took its ticket and was then killed (its ticket file stays behind)
    _store_with_runs(store, 1)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    import psutil

    started_ms = int(psutil.Process(victim.pid).create_time() * 1000)
    victim.kill()
    victim.wait()
    queue = store.root / "index.queue"
    queue.mkdir(exist_ok=True)
    left = queue / f"{time.time_ns() - 10**9:020d}-{victim.pid}-{started_ms}-deadbeef"
    left.touch()
    # When another reader queries
    started = time.monotonic()
    assert len(mlnb.runs()) == 1
    # Then it did not wait for the dead waiter's turn, and the ticket is gone
    assert time.monotonic() - started < 3
    assert not left.exists()
