"""Overhead of notebook capture: 2,000 trivial cells in a real IPython shell, with and without it.

Usage: python benchmarks/bench_capture.py [--cells N] [--rounds R]
Each round is a fresh process that alternates blocks of 50 cells with capture on and off
(the hooks registered or not), so both sides share the process, the CPU's state and IPython's
history length: on this VM the speed of whole processes differs by up to 1.8x, which swamped
the earlier design (one process per side). Prints one table: median and p90 microseconds per
cell, and the added cost (target: median added cost <= 50 us per cell).
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


def measure(cells: int, block: int = 50):
    """Microseconds of `shell.run_cell` per trivial cell, with and without capture, in one process.

    Blocks of `block` cells alternate between capture on (the hooks registered) and off (the
    hooks unregistered; the run stays open), so both sides see the same process, CPU state and
    history length. Returns (bare samples, captured samples, capture's own hook times).
    """
    from IPython.core.interactiveshell import InteractiveShell

    os.environ["MLNB_HOME"] = tempfile.mkdtemp(prefix="mlnb-bench-capture-") + "/.mlnb"
    shell = InteractiveShell.instance()
    hook_us: list[float] = []
    shell.run_cell("%load_ext mlnb")
    shell.run_cell("%track start --experiment bench-capture")
    session = sys.modules["mlnb.capture"].session_for(shell)
    _time_hooks(session, hook_us)
    hooks = (("pre_run_cell", session.pre_run_cell), ("post_run_cell", session.post_run_cell))

    def capture(on: bool) -> None:
        for event, callback in hooks:
            (shell.events.register if on else shell.events.unregister)(event, callback)

    for i in range(200):  # warm up, capturing
        shell.run_cell(f"warm_{i % 50} = {i}\n", store_history=True)
    samples: dict[bool, list[float]] = {False: [], True: []}
    captured = True
    for i in range(2 * cells):
        if i % block == 0:
            captured = not captured
            capture(captured)
        code = f"value_{i % 50} = {i}\n"  # distinct source each time: no cache helps
        started = time.perf_counter()
        shell.run_cell(code, store_history=True)
        samples[captured].append((time.perf_counter() - started) * 1e6)
    capture(True)
    shell.run_cell("%track stop")
    return samples[False], samples[True], hook_us


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
    session.analyse_parsed_cell = timed("analyse", session.analyse_parsed_cell)  # the AST transformer's part


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.cells)))
        return
    samples: dict[str, list[float]] = {"bare": [], "captured": []}
    hooks: list[float] = []
    paired: list[float] = []  # per process: captured median - bare median
    for _ in range(args.rounds):
        out = subprocess.run([sys.executable, __file__, "--cells", str(args.cells), "--child"],
                             capture_output=True, text=True, check=True).stdout
        bare, captured, hook_us = json.loads(out.strip().splitlines()[-1])
        samples["bare"].extend(bare)
        samples["captured"].extend(captured)
        hooks.extend(hook_us)
        paired.append(statistics.median(captured) - statistics.median(bare))
    print(f"{args.cells} trivial cells with and {args.cells} without capture (alternating blocks of 50) in each of "
          f"{args.rounds} fresh processes, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("| cells | median us | p90 us |")
    print("|---|---:|---:|")
    for label, mode in (("bare IPython cell", "bare"), ("with mlnb capture", "captured")):
        p90 = statistics.quantiles(samples[mode], n=10)[-1]
        print(f"| {label} | {statistics.median(samples[mode]):.1f} | {p90:.1f} |")
    added = statistics.median(paired)
    print(f"| added by capture (median over {args.rounds} processes of captured - bare) | {added:.1f} | "
          f"target <= 50: {'PASS' if added <= 50 else 'MISS'} |")
    print(f"| per process, captured - bare median | {', '.join(f'{p:+.0f}' for p in paired)} | |")
    print(f"| capture's own work on the cell's path (pre hook + AST analysis + post hook) | {statistics.median(hooks):.1f} | "
          f"{statistics.quantiles(hooks, n=10)[-1]:.1f} |")


if __name__ == "__main__":
    main()
