"""A writer process for the concurrency tests: N runs with params and stepped metrics."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import mlnb


def main(store: str, worker: int, runs: int, params: int, metrics: int, steps: int, barrier: str = "") -> None:
    mlnb.connect(store)
    for i in range(runs):
        if barrier and i == runs // 2:  # half way: wait until the reader has seen a partial store
            deadline = time.time() + 120
            while not Path(barrier).exists() and time.time() < deadline:
                time.sleep(0.02)
        with mlnb.start_run(experiment=f"w{worker}", name=f"w{worker}-r{i}") as run:
            run.log_params({f"p{k}": f"{worker}-{i}-{k}" for k in range(params)})
            for step in range(steps):
                run.log_metrics({f"m{k}": worker * 1000 + i + step / 1000 for k in range(metrics)}, step=step)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:7]), *sys.argv[7:8])
