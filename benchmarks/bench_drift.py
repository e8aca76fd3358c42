"""mlnb monitoring vs Evidently's data drift preset, side by side: check speed, profile speed,
false alarms and detection.

    python benchmarks/bench_drift.py            # full run: 1M rows x 100 columns (about 4 minutes)
    python benchmarks/bench_drift.py --quick    # every size 10x smaller, a smoke run
    python benchmarks/bench_drift.py --only a,c --json results.json
    python benchmarks/bench_drift.py --evidently-all   # (a): Evidently on all 100 columns (about 12 minutes more)

The data (100 mixed columns from seeds, `_drift_data.py`) is written once as parquet under
`benchmarks/.work/drift-data/` and read by both sides. Each scenario side runs in a fresh
process: mlnb with this interpreter (`_mlnb_drift_side.py`), Evidently with the interpreter of
`benchmarks/.venv-evidently` (`_evidently_side.py`), created with `pip install "evidently==0.7.*"
"pandas<3" pyarrow` on first use. Prints one markdown table; see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK_ROOT = HERE / ".work" / "drift"
DATA_DIR = HERE / ".work" / "drift-data"  # kept across runs: the files depend on sizes and seeds only
EVIDENTLY_VENV = HERE / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.*", "pandas<3", "pyarrow")
SCENARIOS = ("a", "b", "c")
PROFILE_CACHE = WORK_ROOT / "reference-profile.json"  # (a) stores it, (c) reuses it
DATA_VERSION = 1  # bump when _drift_data.py changes what a seed produces
SEEDS = {"reference": 1, "current": 2, "planted": 3}

sys.path.insert(0, str(HERE))
import _drift_data as data  # noqa: E402
from _peers import create_venv, machine, package_versions, venv_python  # noqa: E402
from _workload import RESULT_MARKER  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does."""

    rows: int                         # reference and current batch of (a), reference of (c)
    evidently_all_columns: bool       # (a): Evidently on all 100 columns, else on 10 of them, scaled per column
    resamples: tuple[int, ...]        # (c) batch sizes
    planted_rows: int                 # (c) the batch with the planted changes
    partitions: int = 10              # (b) partitions whose merged profile must equal the whole's

    def scaled(self, factor: int) -> Sizes:
        return Sizes(self.rows // factor, self.evidently_all_columns,
                     tuple(n // factor for n in self.resamples), self.planted_rows // factor, self.partitions)


FULL = Sizes(rows=1_000_000, evidently_all_columns=False, resamples=(10_000, 100_000, 1_000_000), planted_rows=100_000)


@dataclass
class Row:
    """One line of the results table, already formatted."""

    scenario: str
    evidently: str
    mlnb: str
    ratio: str = "-"
    target: str = "-"


@dataclass
class Side:
    """One tool's interpreter and side script; `run` executes one phase in a fresh process."""

    name: str
    python: Path
    script: Path

    def run(self, phase: str, workdir: Path, **args: Any) -> dict[str, Any]:
        workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")}
        env.update(MLNB_HOME=str(workdir / ".mlnb"), DO_NOT_TRACK="true", EVIDENTLY_DISABLE_TELEMETRY="1")
        started = time.perf_counter()
        proc = subprocess.run(
            [str(self.python), str(self.script), phase, str(workdir), json.dumps(args)],
            check=False, cwd=workdir, env=env, capture_output=True, text=True,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARKER)]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"{self.name} {phase} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        progress(f"  {self.name:<9} {phase} done in {time.perf_counter() - started:.1f} s wall")
        return json.loads(lines[-1][len(RESULT_MARKER):])


@dataclass
class Bench:
    """State shared by the scenarios: sizes, data files, the two sides, rows and raw results."""

    sizes: Sizes
    files: dict[str, Path]
    mlnb: Side
    evidently: Side
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def progress(message: str) -> None:
    """One progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- environment

def ensure_evidently_venv() -> Path:
    """The Evidently virtualenv's python, creating the venv and installing Evidently the first time."""
    python = venv_python(EVIDENTLY_VENV)
    code = "import evidently, pandas, pyarrow, sys; sys.exit(int(pandas.__version__.split('.')[0]) >= 3)"
    if python.exists() and subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0:
        return python
    progress(f"creating {EVIDENTLY_VENV} and installing {' '.join(EVIDENTLY_REQUIREMENTS)} (first run only)")
    return create_venv(EVIDENTLY_VENV, EVIDENTLY_REQUIREMENTS)


def data_files(sizes: Sizes) -> dict[str, Path]:
    """Write (once) every frame the scenarios read; {label: parquet path}."""
    def path(label: str, rows: int) -> Path:
        return DATA_DIR / f"v{DATA_VERSION}-{label}-{rows}.parquet"

    files = {"reference": path("reference", sizes.rows), "current": path("current", sizes.rows),
             "planted": path("planted", sizes.planted_rows)}
    plan = [(files["reference"], sizes.rows, SEEDS["reference"], False),
            (files["current"], sizes.rows, SEEDS["current"], False),
            (files["planted"], sizes.planted_rows, SEEDS["planted"], True)]
    for i, n in enumerate(sizes.resamples):
        if n == sizes.rows:
            files[f"n={n}"] = files["current"]  # the batch of (a) is an independent resample too
        else:
            files[f"n={n}"] = path("resample", n)
            plan.append((files[f"n={n}"], n, 100 + i, False))
    for target, rows, seed, planted in plan:
        if not target.exists():
            progress(f"writing {target.name} ({rows:,} rows x {len(data.column_names())} columns)")
        data.write(target, rows, seed, planted)
    return files


# ---------------------------------------------------------------- formatting

def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    return f"{seconds:,.1f} s" if seconds < 100 else f"{seconds:,.0f} s"


def fmt_rate(cells_per_s: float) -> str:
    if cells_per_s < 1e6:
        return f"{cells_per_s / 1e6:,.2f}M cells/s"
    return f"{cells_per_s / 1e6:,.1f}M cells/s"


def fmt_n(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else \
        f"{n // 1_000}k" if n >= 1_000 and n % 1_000 == 0 else f"{n:,}"


def verdict(label: str, met: bool) -> str:
    return f"{label}: {'PASS' if met else 'MISS'}"


def flag_share(flagged: int, checked: int) -> str:
    return f"{flagged}/{checked} = {100 * flagged / checked:.1f}%" if checked else "-"


# ---------------------------------------------------------------- scenarios

def scenario_a(bench: Bench) -> None:
    """(a) one large batch checked against the stored reference."""
    sizes, files = bench.sizes, bench.files
    kinds = data.column_names()
    mlnb = bench.mlnb.run("check", WORK_ROOT / "a" / "mlnb", reference=str(files["reference"]),
                          current=str(files["current"]), profile_cache=str(PROFILE_CACHE))
    # Evidently computes each column on its own, so its time grows with the number of columns:
    # measured on 10 columns with the frame's mix of kinds and scaled per column (--evidently-all: all 100)
    columns = None if sizes.evidently_all_columns else list(data.EVIDENTLY_C_COLUMNS)
    evidently = bench.evidently.run("check", WORK_ROOT / "a" / "evidently", reference=str(files["reference"]),
                                    current=str(files["current"]), columns=columns, kinds=kinds)
    bench.raw["a"] = {"mlnb": mlnb, "evidently": evidently}
    cols = mlnb["cols"]
    scale = cols / evidently["cols"]
    ev_full = evidently["seconds"] * scale
    ev_label = fmt_s(ev_full) if scale == 1 else (
        f"{fmt_s(ev_full)} (est.: {fmt_s(evidently['seconds'])} measured on {fmt_n(evidently['rows'])} rows x "
        f"{evidently['cols']} columns of the same mix, x{scale:g} per column)")
    ratio = ev_full / mlnb["seconds"]
    bench.rows.append(Row(
        f"(a) check {fmt_n(sizes.rows)} rows x {cols} columns against the stored reference "
        "(mlnb: `mlnb.monitor`: profile, drift, validation, stored; Evidently: `Report([DataDriftPreset()]).run`)",
        ev_label, fmt_s(mlnb["seconds"]), f"{ratio:,.1f}x",
        verdict(">= 50x and < 15 s", ratio >= 50 and mlnb["seconds"] < 15)))
    bench.rows.append(Row(
        "(a') the reference profile, built ahead and stored (`mlnb.profile(df, model=...)`), not in (a)",
        "- (no stored reference: it re-reads the reference on every check)", fmt_s(mlnb["reference_profile_s"]),
        target="info"))
    failures = (mlnb.get("validation") or {}).get("failures", [])
    kinds_failed = sorted({f"{f['expectation']}" for f in failures})
    bench.rows.append(Row(
        "(a') verdict on (a)'s batch, an independent resample of the reference (no drift planted)",
        f"{flag_share(len(evidently['flagged']), len(evidently['checked']))} columns drifted",
        f"status {mlnb['status']}, {len(mlnb['drift'])} drift / {len(mlnb['warn'])} warn; validation "
        + (f"failed: {len(failures)} ({', '.join(kinds_failed)}: "
           f"{', '.join(f['column'] for f in failures[:4])}{', ...' if len(failures) > 4 else ''})"
           if failures else "passed"),
        target="info: `mlnb monitor` exits 1 when validation fails"))
    bench.rows.append(Row(
        "(a\") (a) without the store: `build_profile(batch)` + `drift(reference_profile, ...)`",
        "-", f"{fmt_s(mlnb['math_profile_s'])} + {fmt_s(mlnb['math_drift_s'])}", target="info"))
    bench.rows.append(Row("(a0) import (Evidently: `from evidently import Report` etc.; not in (a))",
                          fmt_s(evidently["import_s"]), "-", target="info"))


def scenario_b(bench: Bench) -> None:
    """(b) profile build throughput; partition profiles merged vs the whole frame's."""
    result = bench.mlnb.run("profile_speed", WORK_ROOT / "b" / "mlnb", reference=str(bench.files["reference"]),
                            partitions=bench.sizes.partitions)
    bench.raw["b"] = {"mlnb": result}
    rows, cols, numeric_cols = result["rows"], result["cols"], result["numeric_cols"]
    rate = rows * cols / result["whole_s"]
    ev = "-"
    if "a" in bench.raw:  # Evidently keeps no profile; what its check reads per second is the nearest figure
        a = bench.raw["a"]["evidently"]
        cells = (a["rows"] + a["reference_rows"]) * a["cols"]
        ev = f"no profile; its check reads {fmt_rate(cells / a['seconds'])} (reference + current)"
    bench.rows.append(Row(f"(b) `build_profile` of {fmt_n(rows)} rows x {cols} mixed columns ({fmt_s(result['whole_s'])})",
                          ev, fmt_rate(rate), target=verdict(">= 10M cells/s", rate >= 10e6)))
    numeric_rate = rows * numeric_cols / result["numeric_s"]
    bench.rows.append(Row(f"(b) ... its {numeric_cols} numeric columns only ({fmt_s(result['numeric_s'])})",
                          "-", fmt_rate(numeric_rate), target=verdict(">= 10M cells/s", numeric_rate >= 10e6)))
    exact = not result["merge_mismatches"]
    bench.rows.append(Row(
        f"(b') {result['partitions']} partition profiles merged == the whole frame's profile "
        f"({fmt_s(result['merged_s'])} incl. building the parts)",
        "-", "exact" if exact else f"differs: {', '.join(result['merge_mismatches'][:5])}",
        target=verdict("exact", exact)))


def scenario_c(bench: Bench) -> None:
    """(c) false alarms on resamples of the reference; the planted changes caught or not."""
    files, kinds = bench.files, data.column_names()
    resamples = {f"n={n}": str(files[f"n={n}"]) for n in bench.sizes.resamples}
    mlnb = bench.mlnb.run("false_alarms", WORK_ROOT / "c" / "mlnb", reference=str(files["reference"]),
                          resamples=resamples, planted=str(files["planted"]), profile_cache=str(PROFILE_CACHE))
    evidently = bench.evidently.run("false_alarms", WORK_ROOT / "c" / "evidently", reference=str(files["reference"]),
                                    resamples=resamples, planted=str(files["planted"]),
                                    columns=list(data.EVIDENTLY_C_COLUMNS), kinds=kinds)
    bench.raw["c"] = {"mlnb": mlnb, "evidently": evidently}
    for label in resamples:
        m, e = mlnb["resamples"][label], evidently["resamples"][label]
        share = len(m["drift"]) / len(m["checked"])
        bench.rows.append(Row(
            f"(c) independent resample, {label.replace('n=', 'n = ')}: columns flagged (mlnb: drift; warn in brackets)",
            f"{flag_share(len(e['flagged']), len(e['checked']))} ({fmt_s(e['seconds'])})",
            f"{flag_share(len(m['drift']), len(m['checked']))} [warn {len(m['warn'])}] ({fmt_s(m['seconds'])})",
            target=verdict("<= 1%", share <= 0.01)))
    m, e = mlnb["planted"], evidently["planted"]
    n = fmt_n(m["rows"])
    shift_m = m["detail"].get(data.SHIFT_COLUMN, {})
    bench.rows.append(Row(
        f"(c') {data.SHIFT_SIGMAS:g}-sigma mean shift in `{data.SHIFT_COLUMN}`, n = {n}",
        _evidently_verdict(e, data.SHIFT_COLUMN),
        f"{shift_m.get('status', 'missing')} ({shift_m.get('statistic')} {_num(shift_m.get('score'))}, "
        f"drift at {_num(shift_m.get('drift_at'))})",
        target=verdict("caught", data.SHIFT_COLUMN in m["drift"])))
    new_m = m["detail"].get(data.NEW_CATEGORY_COLUMN, {})
    unseen = data.NEW_CATEGORY in (new_m.get("unseen_categories") or [])
    bench.rows.append(Row(
        f"(c') new category in `{data.NEW_CATEGORY_COLUMN}` ({data.NEW_CATEGORY_SHARE:.0%} of rows), n = {n}",
        _evidently_verdict(e, data.NEW_CATEGORY_COLUMN),
        f"{new_m.get('status', 'missing')}{', unseen value reported' if unseen else ''} "
        f"({new_m.get('statistic')} {_num(new_m.get('score'))}, drift at {_num(new_m.get('drift_at'))})",
        target=verdict("caught", data.NEW_CATEGORY_COLUMN in m["drift"] or unseen)))
    removed = data.REMOVED_COLUMN in m["schema"].get("removed", [])
    ev_removed = (f"fails: {evidently['planted_error']}" if "planted_error" in evidently
                  else _evidently_verdict(e, data.REMOVED_COLUMN))
    bench.rows.append(Row(f"(c') column `{data.REMOVED_COLUMN}` removed, n = {n}", ev_removed,
                          f"{'reported in schema.removed' if removed else 'not reported'}; overall {m['status']}",
                          target=verdict("caught", removed)))
    others_m = [c for c in m["drift"] if c not in data.PLANTED]
    others_e = [c for c in e["flagged"] if c not in data.PLANTED]
    checked_m = [c for c in m["checked"] if c not in data.PLANTED]
    checked_e = [c for c in e["checked"] if c not in data.PLANTED]
    bench.rows.append(Row(f"(c') the planted batch's other columns flagged, n = {n}",
                          flag_share(len(others_e), len(checked_e)), flag_share(len(others_m), len(checked_m)),
                          target=verdict("<= 1%", len(others_m) <= 0.01 * len(checked_m))))


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else "-"


def _evidently_verdict(result: dict[str, Any], column: str) -> str:
    if column not in result["checked"]:
        return "not reported"
    score = result.get("scores", {}).get(column)
    method = result.get("methods", {}).get(column, "")
    return f"{'drift' if column in result['flagged'] else 'not flagged'} ({method}: {_num(score)})"


RUNNERS: dict[str, Callable[[Bench], None]] = {"a": scenario_a, "b": scenario_b, "c": scenario_c}


# ---------------------------------------------------------------- output

def table(rows: list[Row]) -> str:
    """The results as one markdown table."""
    lines = ["| scenario | Evidently | mlnb | Evidently/mlnb | target |", "|---|---:|---:|---:|---|"]
    lines += [f"| {r.scenario} | {r.evidently} | {r.mlnb} | {r.ratio} | {r.target} |" for r in rows]
    return "\n".join(lines)


def header(versions: dict[str, dict[str, str]], info: dict[str, Any], sizes: Sizes, quick: bool) -> str:
    """Versions, machine and sizes, printed above the table."""
    ev, mine = versions["evidently"], versions["mlnb"]
    return (
        f"evidently {ev['evidently']} (pandas {ev['pandas']}, numpy {ev['numpy']}, Python {ev['python']}) | "
        f"mlnb {mine['mlnb']} (numpy {mine['numpy']}, pandas {mine['pandas']}, pyarrow {mine['pyarrow']}, "
        f"Python {mine['python']})\n"
        f"machine: {info['cores']} cores, {info.get('cpu', '?')}, {info.get('memory_gb', '?')} GB RAM, {info['os']}\n"
        f"data: {len(data.column_names())} columns ({', '.join(f'{v} {k}' for k, v in data.KINDS.items())}); "
        f"reference {fmt_n(sizes.rows)} rows; Evidently's (c) on {len(data.EVIDENTLY_C_COLUMNS)} of the columns "
        f"({', '.join(data.EVIDENTLY_C_COLUMNS)})"
        + ("\nQUICK run: sizes scaled down 10x; not comparable with the targets" if quick else "")
    )


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="scale every size down 10x (smoke run)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="comma-separated scenarios to run, from a,b,c (default: all)")
    parser.add_argument("--evidently-all", action="store_true",
                        help="(a): run Evidently on all 100 columns instead of 10 scaled per column (slow: ~10 min)")
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
    if args.evidently_all:
        sizes = replace(sizes, evidently_all_columns=True)
    evidently_python = ensure_evidently_venv()
    shutil.rmtree(WORK_ROOT, ignore_errors=True)
    WORK_ROOT.mkdir(parents=True)
    files = data_files(sizes)
    bench = Bench(sizes=sizes, files=files,
                  mlnb=Side("mlnb", Path(sys.executable), HERE / "_mlnb_drift_side.py"),
                  evidently=Side("evidently", evidently_python, HERE / "_evidently_side.py"))
    versions = {"evidently": package_versions(evidently_python, ("evidently", "pandas", "numpy")),
                "mlnb": package_versions(Path(sys.executable), ("mlnb", "numpy", "pandas", "pyarrow"))}
    info = machine()
    for key in SCENARIOS:
        if key in args.only:
            progress(f"scenario {(RUNNERS[key].__doc__ or key).splitlines()[0]}")
            RUNNERS[key](bench)
    print(header(versions, info, sizes, args.quick))
    print()
    print(table(bench.rows))
    if args.json:
        payload = {"sizes": asdict(sizes), "quick": args.quick, "versions": versions, "machine": info,
                   "rows": [asdict(row) for row in bench.rows], "raw": bench.raw}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
