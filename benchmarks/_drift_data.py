"""The data of the drift benchmark: 100 mixed columns whose rows come from a seed.

Run by `bench_drift.py` in the project's interpreter (numpy, pyarrow); the files it writes are
read by both sides, so mlnb and Evidently see exactly the same rows. Each column's distribution
(its kind, location, scale, categories and their probabilities) depends on the column's index
only; the rows depend on the frame's seed. So frames with different seeds are independent
samples of the same distribution: a resample of the reference, which no tool should flag.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# 100 columns: 40 normal floats (every 10th with 1% NaN), 20 lognormal floats, 20 integer
# columns (Poisson counts and uniform codes) and 20 categorical text columns (Zipf-like
# frequencies, 3 to 200 categories).
KINDS = {"normal": 40, "lognormal": 20, "int": 20, "cat": 20}
CARDINALITIES = (3, 10, 50, 200)

# The planted changes of scenario (c), each in its own column.
SHIFT_COLUMN = "normal_01"      # mean moved by SHIFT_SIGMAS of the column's standard deviation
SHIFT_SIGMAS = 0.1
NEW_CATEGORY_COLUMN = "cat_01"  # NEW_CATEGORY_SHARE of rows take a value the reference never had
NEW_CATEGORY = "never-seen"
NEW_CATEGORY_SHARE = 0.01
REMOVED_COLUMN = "int_01"       # dropped from the current batch
PLANTED = (SHIFT_COLUMN, NEW_CATEGORY_COLUMN, REMOVED_COLUMN)

# The columns Evidently checks in (c): every kind, the planted three included (its checks
# against a 1M-row reference cost seconds per column, so not all 100).
EVIDENTLY_C_COLUMNS = ("normal_00", "normal_01", "normal_02", "normal_03", "lognormal_00", "lognormal_01",
                       "int_00", "int_01", "cat_00", "cat_01")


def column_names() -> dict[str, str]:
    """{column name: "numeric" | "categorical"} in frame order."""
    out = {}
    for kind, count in KINDS.items():
        for i in range(count):
            out[f"{kind}_{i:02d}"] = "categorical" if kind == "cat" else "numeric"
    return out


def _column(name: str, rows: int, rng: np.random.Generator) -> pa.Array:
    """`rows` values of column `name`; its parameters come from the column name alone."""
    kind, index = name.rsplit("_", 1)
    i = int(index)
    params = np.random.default_rng(1000 * list(KINDS).index(kind) + i)
    if kind == "normal":
        mean, sd = params.uniform(-5, 5), params.uniform(0.5, 3)
        values = rng.normal(mean, sd, rows)
        if i % 10 == 0:
            values[rng.random(rows) < 0.01] = np.nan
        return pa.array(values)
    if kind == "lognormal":
        return pa.array(rng.lognormal(params.uniform(0, 3), params.uniform(0.3, 1.2), rows))
    if kind == "int":
        if i % 2 == 0:
            return pa.array(rng.poisson(params.uniform(1, 50), rows).astype(np.int64))
        return pa.array(rng.integers(0, int(params.integers(5, 1000)), rows, dtype=np.int64))
    cardinality = CARDINALITIES[i % len(CARDINALITIES)]
    weights = 1.0 / np.arange(1, cardinality + 1) ** params.uniform(0.5, 1.5)
    codes = rng.choice(cardinality, size=rows, p=weights / weights.sum()).astype(np.int32)
    labels = pa.array([f"{name}-v{j}" for j in range(cardinality)])
    return pa.DictionaryArray.from_arrays(pa.array(codes), labels).cast(pa.string())


def column_sd(name: str) -> float:
    """The standard deviation a normal column is drawn with."""
    kind, index = name.rsplit("_", 1)
    params = np.random.default_rng(1000 * list(KINDS).index(kind) + int(index))
    params.uniform(-5, 5)
    return float(params.uniform(0.5, 3))


def table(rows: int, seed: int, planted: bool = False) -> pa.Table:
    """A frame of `rows` rows; with `planted`, the three changes of scenario (c) applied."""
    rng = np.random.default_rng(seed)
    arrays = {name: _column(name, rows, rng) for name in column_names()}
    if planted:
        shifted = arrays[SHIFT_COLUMN].to_numpy(zero_copy_only=False) + SHIFT_SIGMAS * column_sd(SHIFT_COLUMN)
        arrays[SHIFT_COLUMN] = pa.array(shifted)
        values = np.array(arrays[NEW_CATEGORY_COLUMN].to_pylist(), dtype=object)
        values[rng.random(rows) < NEW_CATEGORY_SHARE] = NEW_CATEGORY
        arrays[NEW_CATEGORY_COLUMN] = pa.array(values.tolist(), type=pa.string())
        del arrays[REMOVED_COLUMN]
    return pa.table(arrays)


def write(path: Path, rows: int, seed: int, planted: bool = False) -> Path:
    """Write the frame once as parquet (reused if it exists with the same rows)."""
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table(rows, seed, planted), path)
    return path
