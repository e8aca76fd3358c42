"""Throughput of `mlnb.fingerprint` on a ~1 GB mixed DataFrame vs pandas.util.hash_pandas_object.

    python benchmarks/bench_fingerprint.py                  # 10M rows, ~1 GB (needs ~6 GB RAM)
    python benchmarks/bench_fingerprint.py --rows 1000000   # quick run

Throughput is in-memory bytes (`df.memory_usage(deep=True)`) per second of wall time, best of
--repeat runs (hash_pandas_object: one run, it is slow). The physical ceiling is the memory-copy
row: numpy copying a 1 GB buffer into a pre-faulted one (bytes copied per second). Hashing only
reads memory, so it can beat that row; a copy reads and writes every byte.
The object-column size counts the Python string objects (`deep=True`), not just their characters.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlnb.fingerprint import fingerprint, fingerprint_cached  # noqa: E402

NUMERIC_TARGET_GBS = 2.0
SPEEDUP_TARGET = 10.0


def build_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """5 float64, 3 int64, a bool, a datetime and 2 `str` columns (1k / 20k distinct values)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(5):
        f = rng.standard_normal(rows)
        f[rng.integers(0, rows, rows // 100)] = np.nan  # 1% missing
        cols[f"f{i}"] = f
    for i in range(3):
        cols[f"i{i}"] = rng.integers(0, 10 ** (3 + 2 * i), rows)
    cols["flag"] = rng.random(rows) < 0.3
    cols["ts"] = pd.Timestamp("2024-01-01").to_datetime64() + rng.integers(0, 365 * 86400, rows).astype("m8[s]")
    for name, card in (("city", 1_000), ("user", 20_000)):
        pool = np.array([f"{name}_{i:06d}" for i in range(card)], dtype=object)
        cols[name] = pd.Series(pool[rng.integers(0, card, rows)], dtype="str")
    return pd.DataFrame(cols)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def copy_bandwidth() -> float:
    src = np.ones(1 << 30, dtype=np.uint8)
    dst = np.zeros_like(src)  # zeros_like + the first copy fault the pages in
    np.copyto(dst, src)
    return src.nbytes / 1e9 / best_of(lambda: np.copyto(dst, src), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    df = build_frame(args.rows)
    numeric = df.select_dtypes(exclude=["str", "object"])
    strings = df[["city", "user"]]
    objects = strings.astype(object)
    gb = {k: v.memory_usage(deep=True, index=False).sum() / 1e9
          for k, v in {"numeric": numeric, "strings": strings, "objects": objects, "frame": df}.items()}
    print(f"built {args.rows:,} rows x {df.shape[1]} cols, {gb['frame']:.2f} GB in {time.perf_counter() - t0:.1f}s; "
          f"{os.cpu_count()} cores, python {sys.version.split()[0]}, pandas {pd.__version__}\n")

    fingerprint_cached(df)  # warm the cache for the cached row
    fingerprint_cached(objects, profile=False)
    timings = [
        ("numeric columns (8 num + bool + datetime)", "numeric", lambda: fingerprint(numeric, profile=False)),
        ("string columns (2, str/Arrow)", "strings", lambda: fingerprint(strings, profile=False)),
        ("string columns as object (Arrow conversion)", "objects", lambda: fingerprint(objects, profile=False)),
        ("  same, fingerprint_cached (unchanged)", "objects", lambda: fingerprint_cached(objects, profile=False)),
        ("whole frame", "frame", lambda: fingerprint(df, profile=False)),
        ("whole frame + profile", "frame", lambda: fingerprint(df)),
        ("whole frame + profile, fingerprint_cached", "frame", lambda: fingerprint_cached(df)),
    ]
    rows: list[list] = []
    for label, part, fn in timings:
        secs = best_of(fn, args.repeat)
        rows.append([label, gb[part], secs, gb[part] / secs, ""])
    hpo = best_of(lambda: pd.util.hash_pandas_object(df, index=True), 1)
    rows.append(["pandas.util.hash_pandas_object(df, index=True)", gb["frame"], hpo, gb["frame"] / hpo, "baseline"])

    rows[0][4] = f"target >= {NUMERIC_TARGET_GBS:g} GB/s: " + ("PASS" if rows[0][3] >= NUMERIC_TARGET_GBS else "MISS")
    speedup = hpo / rows[4][2]
    rows[4][4] = (f"{speedup:.1f}x vs hash_pandas_object (target >= {SPEEDUP_TARGET:g}x: "
                  + ("PASS" if speedup >= SPEEDUP_TARGET else "MISS") + ")")
    rows[5][4] = f"{hpo / rows[5][2]:.1f}x vs hash_pandas_object"
    copy = copy_bandwidth()
    rows.append(["memory copy, numpy 1 GB (physical limit)", 1.0737, 1.0737 / copy, copy, "bytes copied/s"])

    width = max(len(r[0]) for r in rows)
    print(f"| {'measurement':<{width}} | {'GB':>5} | {'seconds':>8} | {'GB/s':>7} | note")
    print(f"|{'-' * (width + 2)}|{'-' * 7}|{'-' * 10}|{'-' * 9}|------")
    for label, size, secs, gbs, note in rows:
        print(f"| {label:<{width}} | {size:5.2f} | {secs:8.3f} | {gbs:7.2f} | {note}")


if __name__ == "__main__":
    main()
