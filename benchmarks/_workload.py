"""What both sides of the benchmark do, and how a side process reports back.

Imported by `_mlnb_side.py` (the project's interpreter) and `_mlflow_side.py` (the MLflow
virtualenv's interpreter), so it uses the standard library only. The run data is generated
from the run index alone, so both sides hold exactly the same params and metrics.
"""
from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXPERIMENT = "bench"
N_PARAMS = 10
N_METRICS = 5
STEP_METRIC = "loss"
P0_CHOICES = 4  # p0 is one of v0..v3, so `params.p0 = 'v3'` matches about a quarter of the runs

# The query of scenario (c), written once per language; same meaning on both sides
# (params compared as quoted text, latest metric value compared as a number).
FILTER_PARAM, FILTER_PARAM_VALUE = "p0", "v3"
FILTER_METRIC, FILTER_METRIC_MIN = "m0", 0.5
MLNB_FILTER = f"params.{FILTER_PARAM} = '{FILTER_PARAM_VALUE}' and metrics.{FILTER_METRIC} > {FILTER_METRIC_MIN}"
MLNB_ORDER = f"-metrics.{FILTER_METRIC}"
MLFLOW_FILTER = MLNB_FILTER
MLFLOW_ORDER = [f"metrics.{FILTER_METRIC} DESC"]

RESULT_MARKER = "BENCH_RESULT "
QUERY_REPEATS = 5


def run_params(index: int) -> dict[str, str]:
    """The 10 params of run `index` (text values, as MLflow stores every param)."""
    rng = random.Random(index)
    values = {f"p{k}": f"v{rng.randrange(10)}" for k in range(N_PARAMS)}
    values["p0"] = f"v{rng.randrange(P0_CHOICES)}"
    return values


def run_metrics(index: int) -> dict[str, float]:
    """The 5 metric values of run `index`, uniform in [0, 1)."""
    rng = random.Random(1_000_003 + index)
    return {f"m{k}": rng.random() for k in range(N_METRICS)}


def expected_matches(n_runs: int) -> int:
    """How many of runs 0..n_runs-1 the scenario (c) filter must return."""
    return sum(
        1 for i in range(n_runs)
        if run_params(i)[FILTER_PARAM] == FILTER_PARAM_VALUE and run_metrics(i)[FILTER_METRIC] > FILTER_METRIC_MIN
    )


def step_value(step: int) -> float:
    """The value logged at `step` in scenario (b): a decaying loss curve."""
    return 1.0 / (1.0 + step)


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    """Call `func` once; return (seconds, result)."""
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def repeated(func: Callable[[], Any], repeats: int = QUERY_REPEATS) -> dict[str, Any]:
    """One warm-up call, then `repeats` timed calls; the last result is returned as `result`."""
    warmup_s, result = timed(func)
    times = []
    for _ in range(repeats):
        seconds, result = timed(func)
        times.append(seconds)
    return {"warmup_s": warmup_s, "times_s": times, "median_s": statistics.median(times), "result": result}


def side_main(phases: dict[str, Callable[[Path, dict[str, Any]], dict[str, Any]]]) -> None:
    """Entry point of a side script: `python _x_side.py <phase> <workdir> '<json args>'`.

    Runs one phase and prints its result as one JSON line prefixed with RESULT_MARKER.
    """
    phase, workdir, args = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    workdir.mkdir(parents=True, exist_ok=True)
    result = phases[phase](workdir, args)
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
