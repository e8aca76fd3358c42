"""The Evidently side of the drift benchmark: one phase per process, run by `bench_drift.py`.

Usage: <.venv-evidently>/bin/python _evidently_side.py <phase> <workdir> '<json args>'.
Runs in Evidently's own virtualenv (pandas < 3), so it imports nothing from mlnb. Reading the
parquet files is not timed; a check is timed from the two DataFrames in memory to the result
dict: `Dataset.from_pandas` for both, `Report([DataDriftPreset()]).run(...)` and `.dict()`.
"""
from __future__ import annotations

import re
import time
import traceback
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from _workload import side_main, timed

_started = time.perf_counter()
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

IMPORT_S = time.perf_counter() - _started
_COLUMN_TEST = re.compile(r"Value Drift for column (.+)$")


def _read(path: str, rows: int | None = None, columns: list[str] | None = None) -> Any:
    """The first `rows` rows of a parquet file as a pandas DataFrame (text columns as object)."""
    table = pq.read_table(path, columns=columns)
    if rows is not None:
        table = table.slice(0, rows)
    return table.to_pandas()


def _check(reference: Any, current: Any, kinds: dict[str, str]) -> dict[str, Any]:
    """One data drift preset run; per column whether Evidently calls it drifted."""
    columns = [c for c in reference.columns if c in kinds]
    definition = DataDefinition(
        numerical_columns=[c for c in columns if kinds[c] == "numeric"],
        categorical_columns=[c for c in columns if kinds[c] == "categorical"],
    )
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    result = Report([DataDriftPreset()], include_tests=True).run(current_data=cur, reference_data=ref).dict()
    flagged, checked = [], []
    for test in result["tests"]:
        match = _COLUMN_TEST.search(str(test.get("name", "")))
        if match:
            checked.append(match.group(1))
            if str(test.get("status", "")).upper().endswith("FAIL"):
                flagged.append(match.group(1))
    scores, methods = {}, {}
    for metric in result["metrics"]:
        config = metric.get("config") or {}
        if str(config.get("type", "")).endswith("ValueDrift"):
            scores[config["column"]] = metric.get("value")
            methods[config["column"]] = f"{config.get('method')} >= {config.get('threshold')}"
    return {"flagged": flagged, "checked": checked, "scores": scores, "methods": methods}


def check(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (a): the reference vs the current batch (the first `rows` rows, `columns` if given)."""
    reference = _read(args["reference"], args.get("rows"), args.get("columns"))
    current = _read(args["current"], args.get("rows"), args.get("columns"))
    seconds, result = timed(lambda: _check(reference, current, args["kinds"]))
    return {"seconds": seconds, "rows": len(current), "reference_rows": len(reference),
            "cols": current.shape[1], "import_s": IMPORT_S, **result}


def false_alarms(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (c): the reference vs each resample, then vs the planted batch, on `columns`."""
    columns = args["columns"]
    reference = _read(args["reference"], columns=columns)
    out: dict[str, Any] = {"reference_rows": len(reference), "columns": columns, "resamples": {}, "import_s": IMPORT_S}
    for label, path in args["resamples"].items():
        current = _read(path, columns=columns)
        seconds, result = timed(lambda: _check(reference, current, args["kinds"]))
        out["resamples"][label] = {"rows": len(current), "seconds": seconds, **result}
    present = [c for c in columns if c in pq.read_schema(args["planted"]).names]
    current = _read(args["planted"], columns=present)
    try:
        # the removed column is still in the reference: does Evidently report it, or fail?
        seconds, result = timed(lambda: _check(reference, current, args["kinds"]))
        out["planted"] = {"rows": len(current), "seconds": seconds, **result}
    except Exception as error:  # noqa: BLE001 -- whatever Evidently raises is the finding
        out["planted_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        out["planted_traceback"] = traceback.format_exc()[-2000:]
        seconds, result = timed(lambda: _check(reference[present], current, args["kinds"]))
        out["planted"] = {"rows": len(current), "seconds": seconds, "without_removed_column": True, **result}
    return out


if __name__ == "__main__":
    side_main({"check": check, "false_alarms": false_alarms})
