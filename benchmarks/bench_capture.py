"""Overhead of notebook capture: 2,000 trivial cells in a real IPython shell, with and without it.

Usage: python benchmarks/bench_capture.py [--cells N]
Prints one table: median and p90 microseconds per cell, bare vs captured, and the added cost
(target: median added cost <= 50 us per cell).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def time_cells(shell, cells: int, offset: int) -> list[float]:
    """Microseconds of `shell.run_cell` for `cells` distinct trivial cells."""
    samples = []
    for i in range(cells):
        code = f"value_{i % 50} = {offset + i}\n"  # distinct source each time: no cache helps
        started = time.perf_counter()
        shell.run_cell(code, store_history=True)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    args = parser.parse_args()
    from IPython.core.interactiveshell import InteractiveShell

    os.environ["MLNB_HOME"] = tempfile.mkdtemp(prefix="mlnb-bench-capture-") + "/.mlnb"
    shell = InteractiveShell.instance()
    time_cells(shell, 200, 0)  # warm up
    bare = time_cells(shell, args.cells, 10_000)
    shell.run_cell("%load_ext mlnb")
    shell.run_cell("%track start --experiment bench-capture")
    time_cells(shell, 200, 20_000)
    captured = time_cells(shell, args.cells, 30_000)
    shell.run_cell("%track stop")
    session = sys.modules["mlnb.capture"].session_for(shell)
    rows = [("bare IPython cell", bare), ("with mlnb capture", captured)]
    print(f"{args.cells} trivial cells per row, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("| cells | median us | p90 us |")
    print("|---|---:|---:|")
    for label, samples in rows:
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"| {label} | {statistics.median(samples):.1f} | {p90:.1f} |")
    added = statistics.median(captured) - statistics.median(bare)
    print(f"| added by capture (median) | {added:.1f} | target <= 50: {'PASS' if added <= 50 else 'MISS'} |")
    print(f"cells recorded: {session.cells_captured if session else 'n/a'}")


if __name__ == "__main__":
    main()
