"""What `mlnb run` adds over plain papermill, and what a cached pipeline rerun saves.

Usage: python benchmarks/bench_batch.py [--repeat 5]
Prints one table. Targets (issue 7): overhead < 10% for a 10-cell notebook; also the speed-up of
an unchanged rerun of the example pipeline (every step restored from the cache).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

CELLS = [
    "size = 200_000",
    "import numpy as np\nimport pandas as pd\nrng = np.random.default_rng(0)",
    "frame = pd.DataFrame({'a': rng.normal(size=size), 'b': rng.integers(0, 50, size=size)})",
    "frame['c'] = frame['a'] * 2 + frame['b']",
    "grouped = frame.groupby('b')['c'].agg(['mean', 'std', 'count'])",
    "from sklearn.linear_model import LinearRegression\nmodel = LinearRegression().fit(frame[['a', 'b']], frame['c'])",
    "score = model.score(frame[['a', 'b']], frame['c'])",
    "summary = frame.describe()",
    "top = grouped.sort_values('mean').head(10)",
    "print(round(score, 4), len(top))",
]


def make_notebook(folder: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "ten_cells.ipynb"
    nbformat.write(nb, path)
    return path


def time_papermill(path: Path, out: Path) -> float:
    import papermill

    started = time.perf_counter()
    papermill.execute_notebook(str(path), str(out), parameters={"size": 200_000}, progress_bar=False,
                               kernel_name="python3", store_widget_state=False)
    return time.perf_counter() - started


def time_mlnb(path: Path, store) -> float:
    from mlnb.batch import run

    started = time.perf_counter()
    result = run(path, {"size": 200_000}, experiment="bench-batch", store=store)
    assert result.ok, result.error
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from mlnb.store.store import Store

    folder = Path(tempfile.mkdtemp(prefix="mlnb-bench-batch-"))
    path = make_notebook(folder)
    store = Store.open(folder / ".mlnb", create=True)
    time_papermill(path, folder / "warm.ipynb")  # warm caches (imports, kernel spec lookup)
    time_mlnb(path, store)
    plain, tracked = [], []
    for i in range(args.repeat):  # interleaved, so drift affects both sides alike
        plain.append(time_papermill(path, folder / f"plain-{i}.ipynb"))
        tracked.append(time_mlnb(path, store))
    p, m = statistics.median(plain), statistics.median(tracked)
    overhead = (m - p) / p * 100
    print(f"10-cell notebook, median of {args.repeat}, Python {sys.version.split()[0]}")
    print("| execution | seconds |")
    print("|---|---:|")
    print(f"| plain papermill | {p:.2f} |")
    print(f"| mlnb run (capture, params, snapshot, executed notebook) | {m:.2f} |")
    print(f"| overhead | {m - p:+.2f} s ({overhead:+.1f}%), target < 10%: {'PASS' if overhead < 10 else 'MISS'} |")
    full, cached = time_pipeline(folder, store)
    print(f"| example pipeline (3 steps), first run | {full:.2f} |")
    print(f"| same pipeline, nothing changed (all steps from the cache) | {cached:.2f} |")
    print(f"| cached rerun speed-up | {full / cached:.0f}x |")


def time_pipeline(folder: Path, store) -> tuple[float, float]:
    """Seconds of the example pipeline's first run and of an unchanged rerun."""
    import shutil

    from mlnb.batch.pipelines import run_pipeline

    example = Path(__file__).resolve().parent.parent / "example-notebooks" / "pipeline"
    target = folder / "pipeline"
    shutil.copytree(example, target, ignore=shutil.ignore_patterns("data", "model.joblib"))
    started = time.perf_counter()
    assert run_pipeline(target / "pipeline.yaml", store=store).ok
    full = time.perf_counter() - started
    started = time.perf_counter()
    again = run_pipeline(target / "pipeline.yaml", store=store)
    assert {row["status"] for row in again.rows.values()} == {"cached"}
    return full, time.perf_counter() - started


if __name__ == "__main__":
    main()
