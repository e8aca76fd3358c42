"""A writer that logs, flushes, says so, then keeps logging until it is SIGKILLed."""
from __future__ import annotations

import sys
import time

import mlnb


def main(store: str) -> None:
    mlnb.connect(store)
    run = mlnb.start_run(experiment="victim", name="killed-mid-run", params={"lr": 0.5})
    for step in range(100):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    run.store.writer.flush(sync=True)
    print(run.id, flush=True)
    step = 100
    while True:  # more points, some flushed by the background thread before the kill
        run.log_metric("loss", 0.0, step=step)
        step += 1
        time.sleep(0.001)


if __name__ == "__main__":
    main(sys.argv[1])
