"""mlnb vs MLflow, side by side: logging, querying, metric history and import time.

    python benchmarks/bench_tracking.py            # full run (about 5 minutes)
    python benchmarks/bench_tracking.py --quick    # everything 10x smaller, a smoke run
    python benchmarks/bench_tracking.py --only a,c --json results.json

Each scenario side runs in a fresh process: mlnb with this interpreter (`_mlnb_side.py`),
MLflow with the interpreter of `benchmarks/.venv-mlflow` (`_mlflow_side.py`), created with
`pip install "mlflow>=3,<4"` on first use. Work dirs live in `benchmarks/.work/`, recreated
per run. Prints one markdown table; see benchmarks/README.md for what each row means.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK_ROOT = HERE / ".work"
IMPORT_REPEATS = 5
SCENARIOS = ("a", "b", "c", "d", "e")

sys.path.insert(0, str(HERE))
from _peers import ensure_mlflow_venv, machine, package_versions  # noqa: E402
from _workload import RESULT_MARKER, expected_matches  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does."""

    runs_a: int
    steps_b: int
    runs_c: int

    def scaled(self, factor: int) -> Sizes:
        return Sizes(*(value // factor for value in asdict(self).values()))


FULL = Sizes(runs_a=1_000, steps_b=10_000, runs_c=10_000)


@dataclass(frozen=True)
class Target:
    """A goal from the issue: a minimum MLflow/mlnb ratio, or a maximum mlnb time."""

    label: str
    min_ratio: float | None = None
    max_mlnb_s: float | None = None

    def met(self, row: Row) -> bool:
        if self.min_ratio is not None:
            return row.ratio is not None and row.ratio >= self.min_ratio
        return row.mlnb_s is not None and self.max_mlnb_s is not None and row.mlnb_s < self.max_mlnb_s


@dataclass
class Row:
    """One line of the results table; times in seconds, shown in `unit`."""

    scenario: str
    mlflow_s: float | None
    mlnb_s: float | None
    unit: str
    target: Target | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.mlflow_s or not self.mlnb_s:
            return None
        return self.mlflow_s / self.mlnb_s

    def verdict(self) -> str:
        if self.target is None:
            return self.note or "-"
        return f"{self.target.label}: {'PASS' if self.target.met(self) else 'MISS'}"


@dataclass
class Side:
    """One tool's interpreter and side script; `run` executes one phase in a fresh process."""

    name: str
    python: Path
    script: Path
    env: Callable[[Path], dict[str, str]]

    def run(self, phase: str, workdir: Path, **args: Any) -> dict[str, Any]:
        workdir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [str(self.python), str(self.script), phase, str(workdir), json.dumps(args)],
            check=False, cwd=workdir, env=self.env(workdir), capture_output=True, text=True,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARKER)]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"{self.name} {phase} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(lines[-1][len(RESULT_MARKER):])


@dataclass
class Bench:
    """State shared by the scenarios: sizes, the two sides, rows and raw results so far."""

    sizes: Sizes
    mlnb: Side
    mlflow: Side
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def both(self, key: str, phase: str, workdir: Path, **args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run `phase` on both sides (MLflow first), each in `workdir/<side>`; keep raw results."""
        results = {}
        for side in (self.mlflow, self.mlnb):
            started = time.perf_counter()
            results[side.name] = side.run(phase, workdir / side.name, **args)
            progress(f"  {key} {side.name:6s} {phase:9s} done in {time.perf_counter() - started:6.1f} s wall")
        self.raw[key] = results
        return results["mlflow"], results["mlnb"]


def progress(message: str) -> None:
    """One progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- environment

def mlnb_env(workdir: Path) -> dict[str, str]:
    """This process's environment with the store at `<workdir>/.mlnb` and no mlnb overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")}
    env["MLNB_HOME"] = str(workdir / ".mlnb")
    return env


def mlflow_env(workdir: Path) -> dict[str, str]:
    """Tracking URI in the work dir; telemetry off (there is no network, and mlnb sends none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{workdir / 'mlflow.db'}", MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true")
    return env


# ---------------------------------------------------------------- scenarios

def scenario_a(bench: Bench) -> None:
    """(a) many small runs, one logging call at a time; then the first query over them."""
    n = bench.sizes.runs_a
    mlflow, mlnb = bench.both("a", "log_runs", WORK_ROOT / "a", runs=n, first_query=True)
    bench.rows.append(Row(f"(a) {n:,} runs x (start, 10 log_param, 5 log_metric, end), per run",
                          mlflow["seconds"] / n, mlnb["seconds"] / n, "ms", Target(">= 50x", min_ratio=50)))
    bench.rows.append(Row(
        f"(a') first runs() / search_runs() after (a), {n:,} runs (mlnb: ingests their events)",
        mlflow["first_query_s"], mlnb["first_query_s"], "ms",
        note=f"info; mlnb query-stack imports {mlnb['query_imports_s'] * 1e3:.0f} ms not included"))


def scenario_b(bench: Bench) -> None:
    """(b) one run, one log_metric call per step, through the run's end."""
    n = bench.sizes.steps_b
    mlflow, mlnb = bench.both("b", "log_steps", WORK_ROOT / "b", steps=n)
    bench.rows.append(Row(f"(b) 1 run x {n:,} log_metric(step=i) calls incl. run end, per step",
                          mlflow["seconds"] / n, mlnb["seconds"] / n, "us", Target(">= 50x", min_ratio=50)))


def scenario_c(bench: Bench) -> None:
    """(c) filter + order over many runs; MLflow's store is filled via SQLite, mlnb's via its API."""
    n = bench.sizes.runs_c
    workdir = WORK_ROOT / "c"
    progress(f"  c      populating {n:,} runs on each side")
    started = time.perf_counter()
    bench.raw["c_populate"] = {
        "mlflow": bench.mlflow.run("populate", workdir / "mlflow", runs=n),
        "mlnb": bench.mlnb.run("log_runs", workdir / "mlnb", runs=n),
    }
    progress(f"  c      populated in {time.perf_counter() - started:.1f} s wall")
    mlflow, mlnb = bench.both("c", "query", workdir)
    expected = expected_matches(n)
    for side, result in (("mlflow", mlflow), ("mlnb", mlnb)):
        if result["rows"] != expected or not result["descending"]:
            raise AssertionError(f"(c) {side} returned {result['rows']} rows (expected {expected}), "
                                 f"descending={result['descending']}")
    if abs(mlflow["top"] - mlnb["top"]) > 1e-9:
        raise AssertionError(f"(c) top metrics.m0 differs: MLflow {mlflow['top']} vs mlnb {mlnb['top']}")
    progress(f"  c      both sides returned {expected:,} rows, same top value")
    bench.rows.append(Row(
        f"(c) filter + order over {n:,} runs -> DataFrame of {expected:,} rows, median of 5",
        mlflow["median_s"], mlnb["median_s"], "ms", Target(">= 20x", min_ratio=20)))
    bench.rows.append(Row(f"(c') the warm-up query of (c), not counted (mlnb: ingests {n:,} runs' events)",
                          mlflow["warmup_s"], mlnb["warmup_s"], "ms", note="info"))


def scenario_d(bench: Bench) -> None:
    """(d) read back the metric history logged in (b) (logs it first if (b) did not run)."""
    if "b" not in bench.raw:
        progress("  d      (b) not run: logging its run first")
        scenario_b(bench)
        bench.rows.pop()
    run_ids = {side: result["run_id"] for side, result in bench.raw["b"].items()}
    results = {}
    for side in (bench.mlflow, bench.mlnb):
        results[side.name] = side.run("history", WORK_ROOT / "b" / side.name, run_id=run_ids[side.name])
    bench.raw["d"] = results
    steps = bench.sizes.steps_b
    for side, result in results.items():
        if result["rows"] != steps:
            raise AssertionError(f"(d) {side} returned {result['rows']} points, expected {steps}")
    bench.rows.append(Row(f"(d) metric history of {steps:,} steps -> all points, median of 5",
                          results["mlflow"]["median_s"], results["mlnb"]["median_s"], "ms",
                          note="no target"))


def scenario_e(bench: Bench) -> None:
    """(e) import time: fresh-process wall time, and -X importtime's cumulative figure."""
    sides = ((bench.mlflow.python, "mlflow"), (bench.mlnb.python, "mlnb"))
    wall = {module: import_wall_s(python, f"import {module}") for python, module in sides}
    startup = {module: import_wall_s(python, "pass") for python, module in sides}
    ready = {module: import_wall_s(python, f"import {module}; {module}.start_run") for python, module in sides}
    own = {module: importtime_stats(python, module) for python, module in sides}
    bench.raw["e"] = {"wall_s": wall, "startup_s": startup, "tracking_ready_s": ready, "importtime": own}
    mine = own["mlnb"]
    bench.rows.append(Row('(e) `python -c "import X"` wall time, fresh process, median of 5',
                          wall["mlflow"], wall["mlnb"], "ms", Target("<150 ms mlnb import", max_mlnb_s=0.150)))
    bench.rows.append(Row(
        f"(e') -X importtime, cumulative µs of top-level X, median of 5 (mlnb: {mine['top_us']:,} µs; "
        f"{mine['modules']} mlnb* rows, their cumulative column sums to {mine['sum_us']:,} µs)",
        own["mlflow"]["top_us"] / 1e6, mine["top_us"] / 1e6, "ms", Target("<150 ms mlnb import", max_mlnb_s=0.150)))
    bench.rows.append(Row('(e") `import X; X.start_run` wall time (tracking API loaded)',
                          ready["mlflow"], ready["mlnb"], "ms", note="info"))
    bench.rows.append(Row('(e0) `python -c "pass"` wall time (interpreter startup, in all e rows)',
                          startup["mlflow"], startup["mlnb"], "ms", note="info"))


def _plain_env() -> dict[str, str]:
    """The environment for import timings: as this process's, MLflow telemetry off."""
    return {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def import_wall_s(python: Path, code: str, repeats: int = IMPORT_REPEATS) -> float:
    """Median wall time of `python -c code` in fresh processes (after one warm-up run)."""
    times = []
    for attempt in range(repeats + 1):
        started = time.perf_counter()
        subprocess.run([str(python), "-c", code], check=True, capture_output=True, env=_plain_env())
        if attempt:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def importtime_stats(python: Path, module: str, repeats: int = IMPORT_REPEATS) -> dict[str, int]:
    """From `python -X importtime -c "import module"` (median of `repeats` runs): the top-level
    module's cumulative µs, the sum of the cumulative column over its own rows (`module*`), and
    how many such rows there are."""
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([str(python), "-X", "importtime", "-c", f"import {module}"],
                              check=True, capture_output=True, text=True, env=_plain_env())
        rows = {name: cumulative for name, (_, cumulative) in parse_importtime(proc.stderr).items()
                if name == module or name.startswith(module + ".")}
        runs.append({"top_us": rows[module], "sum_us": sum(rows.values()), "modules": len(rows)})
    runs.sort(key=lambda run: run["top_us"])
    return runs[len(runs) // 2]


def parse_importtime(stderr: str) -> dict[str, tuple[int, int]]:
    """{module: (self µs, cumulative µs)} from `-X importtime` output."""
    out = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        out[name.strip()] = (int(self_us), int(cumulative_us))
    return out


RUNNERS: dict[str, Callable[[Bench], None]] = {
    "a": scenario_a, "b": scenario_b, "c": scenario_c, "d": scenario_d, "e": scenario_e,
}


# ---------------------------------------------------------------- output

def fmt_time(seconds: float | None, unit: str) -> str:
    """`seconds` in `unit` (us, ms or s) with three significant-ish digits."""
    if seconds is None:
        return "-"
    scale, label = {"us": (1e6, "µs"), "ms": (1e3, "ms"), "s": (1.0, "s")}[unit]
    value = seconds * scale
    if value >= 1000 and unit != "s":
        return fmt_time(seconds, "s" if unit == "ms" else "ms")
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:,.{digits}f} {label}"


def table(rows: list[Row]) -> str:
    """The results as one markdown table."""
    lines = ["| scenario | MLflow | mlnb | MLflow/mlnb | target |", "|---|---:|---:|---:|---|"]
    for row in rows:
        ratio = f"{row.ratio:,.1f}x" if row.ratio is not None else "-"
        lines.append(f"| {row.scenario} | {fmt_time(row.mlflow_s, row.unit)} | {fmt_time(row.mlnb_s, row.unit)} "
                     f"| {ratio} | {row.verdict()} |")
    return "\n".join(lines)


def header(versions: dict[str, dict[str, str]], info: dict[str, Any], quick: bool) -> str:
    """Versions and machine, printed above the table."""
    mlflow, mlnb = versions["mlflow"], versions["mlnb"]
    return (
        f"mlflow {mlflow['mlflow']} (SQLAlchemy {mlflow['sqlalchemy']}, SQLite {mlflow['sqlite']}, "
        f"Python {mlflow['python']}) | mlnb {mlnb['mlnb']} (duckdb {mlnb['duckdb']}, pandas {mlnb['pandas']}, "
        f"Python {mlnb['python']})\n"
        f"machine: {info['cores']} cores, {info.get('cpu', '?')}, {info.get('memory_gb', '?')} GB RAM, {info['os']}"
        + ("\nQUICK run: sizes scaled down 10x; not comparable with the targets" if quick else "")
    )


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="scale every scenario down 10x (smoke run)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="comma-separated scenarios to run, from a,b,c,d,e (default: all)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save every raw result to FILE")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {','.join(SCENARIOS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = FULL.scaled(10) if args.quick else FULL
    mlflow_python = ensure_mlflow_venv()
    shutil.rmtree(WORK_ROOT, ignore_errors=True)
    WORK_ROOT.mkdir(parents=True)
    bench = Bench(
        sizes=sizes,
        mlnb=Side("mlnb", Path(sys.executable), HERE / "_mlnb_side.py", mlnb_env),
        mlflow=Side("mlflow", mlflow_python, HERE / "_mlflow_side.py", mlflow_env),
    )
    versions = {
        "mlflow": package_versions(mlflow_python, ("mlflow", "sqlalchemy"), sqlite=True),
        "mlnb": package_versions(Path(sys.executable), ("mlnb", "duckdb", "pandas"), sqlite=True),
    }
    info = machine()
    for key in SCENARIOS:
        if key in args.only:
            progress(f"scenario {RUNNERS[key].__doc__.splitlines()[0]}")
            RUNNERS[key](bench)
    print(header(versions, info, args.quick))
    print()
    print(table(bench.rows))
    if args.json:
        payload = {"sizes": asdict(sizes), "quick": args.quick, "versions": versions, "machine": info,
                   "rows": [{**asdict(row), "ratio": row.ratio, "verdict": row.verdict()} for row in bench.rows],
                   "raw": bench.raw}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
