"""Cost of the comparison widget on a large store: 10,000 runs x 20 params x 5 metrics.

    python benchmarks/bench_compare.py              # 10,000 runs (store built once, ~15 s)
    python benchmarks/bench_compare.py --runs 2000  # quick run

Rows:
- "compare() warm": building the widget's data (runs query, table page, parcoords, curves,
  scatter) and its first render (every FigureWidget and the table model), median of --repeat
  calls in one process. This is what every call after the first in a kernel costs.
- "compare() cold": the first call in a fresh process (store already open), which also pays
  the widget imports. Charts go to plotly's mime renderer as JSON, so no plotly FigureWidget
  set-up (~1.5 s on its first use in a process) is ever paid.
- "in a kernel": the same as warm, timed inside a real ipykernel (nbclient), where the widget's
  state is also serialized onto the comm channel (`display(w)` included).
- paging / sorting / selecting: one change of the table's page, sort column or selection, as
  the frontend makes it (a trait change), including every chart it redraws. Median of 20.
The store is built once in benchmarks/.work/compare-<runs> and its index is warm (ingested).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARM_TARGET_S, PAGE_TARGET_S = 1.0, 0.1


def build_store(path: Path, runs: int) -> None:
    import mlnb

    if (path / "built").exists():
        return
    mlnb.connect(path / ".mlnb")
    rng = random.Random(0)
    started = time.perf_counter()
    for i in range(runs):
        with mlnb.start_run(experiment="scale", name=f"run-{i}") as run:
            run.log_params({f"p{j:02d}": rng.random() if j % 4 else rng.choice(["adam", "sgd", "rmsprop"])
                            for j in range(20)})
            for step in range(3):
                run.log_metrics({f"m{j}": rng.random() for j in range(5)}, step=step)
    print(f"logged {runs} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    started = time.perf_counter()
    mlnb.runs(limit=1)
    print(f"first query (ingest) {time.perf_counter() - started:.1f} s", file=sys.stderr)
    (path / "built").touch()


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_in_process(path: Path, repeat: int) -> dict[str, float]:
    import mlnb

    mlnb.connect(path / ".mlnb")
    mlnb.runs(limit=1)
    started = time.perf_counter()
    widget = mlnb.compare()
    result = {"cold": time.perf_counter() - started}
    result["warm"] = _median(lambda: mlnb.compare(), repeat)
    from mlnb.comparison.run_table import Selection, load_runs
    from mlnb.tracking import current_store

    result["query"] = _median(lambda: load_runs(current_store(), Selection()), repeat)
    pages = iter(range(1, 10_000))
    result["page"] = _median(lambda: setattr(widget.table, "page", next(pages)), 20)
    columns = iter([f"params.p{j:02d}" for j in range(1, 20)] + [f"metrics.m{j}" for j in range(5)])
    result["sort"] = _median(lambda: setattr(widget.table, "sort_by", next(columns)), 20)
    ids = list(widget.data.frame["run_id"])
    picks = iter(range(0, 10_000))
    result["select"] = _median(lambda: setattr(widget.table, "selected", ids[next(picks) * 3:][:3]), 20)
    result["static_html"] = _median(lambda: widget.data.render_html(), 3)
    result["static_kb"] = len(widget.data.render_html()) / 1000
    result["runs"] = len(ids)
    return result


def measure_in_kernel(path: Path, repeat: int) -> float:
    """Median time of `w = mlnb.compare(); display(w)` inside a real kernel (after one warm-up call)."""
    import nbformat
    from nbclient import NotebookClient

    cells = [
        f"import mlnb, time, statistics\nmlnb.connect({str(path / '.mlnb')!r})\nw = mlnb.compare()",
        "times = []\nfor _ in range({}):\n    t = time.perf_counter()\n    w = mlnb.compare()\n    display(w)\n"
        "    times.append(time.perf_counter() - t)\nprint(statistics.median(times))".format(repeat),
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=600, store_widget_state=False).execute()
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.get("name") == "stdout")
    return float(text.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = ROOT / "benchmarks" / ".work" / f"compare-{args.runs}"
    path.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(measure_in_process(path, args.repeat)))
        return
    build_store(path, args.runs)
    # a fresh process, so "cold" really is the first call in a new interpreter
    out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--repeat", str(args.repeat), "--child"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    kernel = measure_in_kernel(path, args.repeat)

    def verdict(value: float, target: float) -> str:
        return f"< {target * 1000:.0f} ms: {'PASS' if value < target else 'FAIL'}"

    print(f"\n{r['runs']} runs x 20 params x 5 metrics (3 steps each)\n")
    print("| step | time | target |\n|---|---:|---|")
    print(f"| compare(): data + first render, warm (median of {args.repeat}) | {r['warm'] * 1000:.0f} ms | "
          f"{verdict(r['warm'], WARM_TARGET_S)} |")
    print(f"| ... of which the runs query (all rows, wide) | {r['query'] * 1000:.0f} ms | - |")
    print(f"| compare() in a real kernel incl. display (median of {args.repeat}) | {kernel * 1000:.0f} ms | "
          f"{verdict(kernel, WARM_TARGET_S)} |")
    print(f"| compare() cold: first call in a fresh process (imports) | {r['cold'] * 1000:.0f} ms | - |")
    print(f"| next page (median of 20) | {r['page'] * 1000:.1f} ms | {verdict(r['page'], PAGE_TARGET_S)} |")
    print(f"| sort by another column (median of 20) | {r['sort'] * 1000:.1f} ms | {verdict(r['sort'], PAGE_TARGET_S)} |")
    print(f"| select 3 runs: curves, scatter, parcoords redrawn (median of 20) | {r['select'] * 1000:.0f} ms | - |")
    print(f"| static HTML fallback ({r['static_kb']:.0f} kB) | {r['static_html'] * 1000:.0f} ms | - |")


if __name__ == "__main__":
    main()
