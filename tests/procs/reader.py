"""A reader process: queries the store every 100 ms until a stop file appears."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import mlnb


def main(store: str, stop_file: str, barrier: str) -> None:
    mlnb.connect(store)
    queries, partial_views = 0, 0
    while not Path(stop_file).exists():
        mlnb.runs(filter="metrics.m0 >= 0", order_by=["-metrics.m0"], limit=50)
        seen = int(mlnb.sql("SELECT count(*) AS n FROM runs")["n"].iloc[0])
        if 0 < seen < 1600:  # it read while the writers were still writing
            partial_views += 1
            Path(barrier).touch()
        queries += 1
        if queries == 1:
            print("ready", flush=True)
        time.sleep(0.1)
    print(f"queries {queries} partial {partial_views}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
