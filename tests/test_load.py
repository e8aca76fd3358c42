"""The concurrency load test, small: writer processes, polling readers (one in a tight loop) and a
Jupyter server on one store lose nothing, mark no finished run `crashed`, and every reader waits
briefly. The full size is `python benchmarks/bench_concurrency.py`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_concurrency.py"
pytestmark = pytest.mark.slow


def test_writers_readers_and_server_at_once(tmp_path: Path) -> None:
    # Given 4 writers (2 runs x 1,000 steps x 2 metrics each) while readers and the server poll
    done = subprocess.run([sys.executable, str(BENCH), "--writers", "4", "--runs", "2", "--steps", "1000",
                           "--readers", "1", "--dir", str(tmp_path / "load"), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Then every record is there exactly once, and no finished run is shown crashed
    assert result["writer_failures"] == [] and result["reader_errors"] == []
    assert (result["lost_points"], result["duplicated_points"]) == (0, 0)
    assert (result["lost_runs"], result["duplicated_runs"], result["lost_params"]) == (0, 0, 0)
    assert result["false_crashed"] == 0 and result["finished"] == 8
    # And every reader got its turn: none waited long, and Jupyter's own API stayed fast
    waits = result["waits"]
    assert waits["tight loop"]["calls"] >= 5 and waits["polling (every 100 ms)"]["calls"] >= 5
    assert max(w["max"] for name, w in waits.items() if not name.startswith("server")) < 10, waits
    assert result["server_errors"] == 0
    assert waits["server /api/kernelspecs"]["max"] < 2, waits
