"""A polling reader for the lock tests and the load benchmark: queries the store until a stop file
appears (or `seconds` pass) and prints one JSON line with the duration of every query."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import mlnb
from mlnb.errors import MlnbError


def main(store: str, stop_file: str, interval: float, seconds: float, kind: str = "runs") -> None:
    """kind: `runs` (mlnb.runs), `sql` (mlnb.sql), or `both` (alternating)."""
    opened = mlnb.connect(store).store
    import duckdb, pandas  # noqa: E401, F401  (warm: time the lock and the query, not the imports)

    lock_waits: list[float] = []  # the part of each wait spent waiting for our turn at the index lock
    take_lock = opened._acquire_file_lock

    def timed_take_lock() -> object:
        started = time.perf_counter()
        try:
            return take_lock()
        finally:
            lock_waits.append(time.perf_counter() - started)

    opened._acquire_file_lock = timed_take_lock
    waits: list[float] = []
    starts: list[float] = []  # wall-clock start of each query
    errors: list[str] = []
    end = time.monotonic() + seconds
    print("ready", flush=True)
    while not Path(stop_file).exists() and time.monotonic() < end:
        use_sql = kind == "sql" or (kind == "both" and len(waits) % 2)
        starts.append(time.time())
        started = time.perf_counter()
        try:
            if use_sql:
                mlnb.sql("SELECT count(*) AS n FROM runs")
            else:
                mlnb.runs(limit=20)
        except MlnbError as exc:
            errors.append(str(exc))
        waits.append(time.perf_counter() - started)
        if interval:
            time.sleep(interval)
    print(json.dumps({"queries": len(waits), "waits": waits, "starts": starts, "lock_waits": lock_waits, "errors": errors}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), *sys.argv[5:6])
