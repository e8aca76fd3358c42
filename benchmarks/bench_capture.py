"""Overhead of notebook capture: 2,000 trivial cells in a real IPython shell, with and without it.

Usage: python benchmarks/bench_capture.py [--cells N] [--rounds R]
Each measurement runs in a fresh process (IPython's own per-cell cost grows with its input
history, so both sides must start from the same history length); rounds alternate bare and
captured. Prints one table: median and p90 microseconds per cell, and the added cost
(target: median added cost <= 50 us per cell).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def measure(cells: int, captured: bool):
    """Microseconds of `shell.run_cell` for `cells` distinct trivial cells, in this process."""
    from IPython.core.interactiveshell import InteractiveShell

    os.environ["MLNB_HOME"] = tempfile.mkdtemp(prefix="mlnb-bench-capture-") + "/.mlnb"
    shell = InteractiveShell.instance()
    hook_us: list[float] = []
    if captured:
        shell.run_cell("%load_ext mlnb")
        shell.run_cell("%track start --experiment bench-capture")
        _time_hooks(sys.modules["mlnb.capture"].session_for(shell), hook_us)
    for i in range(200):  # warm up
        shell.run_cell(f"warm_{i % 50} = {i}\n", store_history=True)
    samples = []
    for i in range(cells):
        code = f"value_{i % 50} = {i}\n"  # distinct source each time: no cache helps
        started = time.perf_counter()
        shell.run_cell(code, store_history=True)
        samples.append((time.perf_counter() - started) * 1e6)
    if captured:
        shell.run_cell("%track stop")
    return samples, hook_us


def _time_hooks(session, sink: list[float]) -> None:
    """Wrap the three capture entry points to time what capture itself does on the cell's path."""
    pending: dict[str, float] = {}

    def timed(name, func):
        def wrapper(arg):
            started = time.perf_counter()
            func(arg)
            pending[name] = (time.perf_counter() - started) * 1e6
            if name == "post":
                sink.append(sum(pending.values()))
                pending.clear()
        return wrapper

    session._pre, session._post = timed("pre", session._pre), timed("post", session._post)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--child", choices=["bare", "captured"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.cells, args.child == "captured")))
        return
    samples: dict[str, list[float]] = {"bare": [], "captured": []}
    hooks: list[float] = []
    paired: list[float] = []  # per round: captured median - bare median (process-to-process noise is large)
    for _ in range(args.rounds):
        medians = {}
        for mode in ("bare", "captured"):
            out = subprocess.run([sys.executable, __file__, "--cells", str(args.cells), "--child", mode],
                                 capture_output=True, text=True, check=True).stdout
            cells, hook_us = json.loads(out.strip().splitlines()[-1])
            samples[mode].extend(cells)
            hooks.extend(hook_us)
            medians[mode] = statistics.median(cells)
        paired.append(medians["captured"] - medians["bare"])
    print(f"{args.cells} trivial cells x {args.rounds} fresh processes per row, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores")
    print("| cells | median us | p90 us |")
    print("|---|---:|---:|")
    for label, mode in (("bare IPython cell", "bare"), ("with mlnb capture", "captured")):
        p90 = statistics.quantiles(samples[mode], n=10)[-1]
        print(f"| {label} | {statistics.median(samples[mode]):.1f} | {p90:.1f} |")
    added = statistics.median(paired)
    print(f"| added by capture (median of {args.rounds} paired rounds) | {added:.1f} | "
          f"target <= 50: {'PASS' if added <= 50 else 'MISS'} |")
    print(f"| paired rounds, each captured - bare median | {', '.join(f'{p:+.0f}' for p in paired)} | |")
    print(f"| capture's own hooks on the cell's path (pre + post) | {statistics.median(hooks):.1f} | "
          f"{statistics.quantiles(hooks, n=10)[-1]:.1f} |")


if __name__ == "__main__":
    main()
