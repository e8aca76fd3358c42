"""The mlnb side of the drift benchmark: one phase per process, run by `bench_drift.py`.

Usage: python _mlnb_drift_side.py <phase> <workdir> '<json args>'. The store is `<workdir>/.mlnb`.
Reading the parquet files is not timed (Evidently's side does the same).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from _workload import side_main, timed

import mlnb

from mlnb.model_monitoring.drift import drift
from mlnb.model_monitoring.profile import Profile, build_profile, merge_profiles

MODEL = "bench-drift"


def _statuses(report: Any) -> dict[str, Any]:
    """Per-column statuses of a drift report, and its schema changes."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    columns = {c["column"]: c for c in data["columns"]}
    return {
        "status": data["status"],
        "drift": sorted(name for name, c in columns.items() if c["status"] == "drift"),
        "warn": sorted(name for name, c in columns.items() if c["status"] == "warn"),
        "checked": sorted(columns),
        "schema": data.get("schema", {}),
        "detail": {name: {k: c.get(k) for k in ("status", "statistic", "score", "warn_at", "drift_at",
                                                 "unseen_categories", "unseen_share")}
                   for name, c in columns.items()},
    }


def _reference_profile(args: dict[str, Any]) -> Profile:
    """The reference's profile: built once per benchmark run and kept as JSON (not timed)."""
    cached = Path(args["profile_cache"])
    if cached.exists():
        return Profile.from_dict(json.loads(cached.read_text()))
    profile = build_profile(pd.read_parquet(args["reference"]))
    cached.write_text(json.dumps(profile.to_dict()))
    return profile


def check(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (a): store the reference profile of a model version, then time `mlnb.monitor`."""
    reference = pd.read_parquet(args["reference"])
    current = pd.read_parquet(args["current"])
    mlnb.connect(workdir / ".mlnb")
    uri = mlnb.register_model({"model": "stand-in: the check is about the data"}, MODEL)["uri"]
    reference_s, reference_profile = timed(lambda: mlnb.profile(reference, model=uri))
    Path(args["profile_cache"]).write_text(json.dumps(reference_profile.to_dict()))  # for (c)
    seconds, result = timed(lambda: mlnb.monitor(uri, current, name="bench"))
    report = getattr(result, "drift", None) or getattr(result, "report", None) or result
    validation = getattr(result, "validation", None)
    # the same check without the store: profile the batch, compare with the reference profile
    profile_s, current_profile = timed(lambda: build_profile(current))
    drift_s, _ = timed(lambda: drift(reference_profile, current_profile))
    history = mlnb.monitoring(MODEL)
    return {"seconds": seconds, "reference_profile_s": reference_s, "rows": len(current), "cols": current.shape[1],
            "math_profile_s": profile_s, "math_drift_s": drift_s, "history_rows": len(history),
            "validation": (validation.to_dict() if hasattr(validation, "to_dict") else validation),
            **_statuses(report)}


def profile_speed(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (b): `build_profile` throughput on the whole frame and its numeric columns; the
    profile of `partitions` slices merged must equal the whole frame's profile."""
    frame = pd.read_parquet(args["reference"])
    numeric = frame.select_dtypes(include="number")
    whole_s, whole = timed(lambda: build_profile(frame))
    numeric_s, _ = timed(lambda: build_profile(numeric))
    size = math.ceil(len(frame) / args["partitions"])
    parts = [frame.iloc[i:i + size] for i in range(0, len(frame), size)]
    merged_s, merged = timed(lambda: merge_profiles([build_profile(part) for part in parts]))
    return {"rows": len(frame), "cols": frame.shape[1], "numeric_cols": numeric.shape[1],
            "whole_s": whole_s, "numeric_s": numeric_s, "partitions": len(parts), "merged_s": merged_s,
            "merge_mismatches": profile_mismatches(whole.to_dict(), merged.to_dict())}


def profile_mismatches(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Where two profile dicts differ: exact everywhere except `sum`/`sum_sq` (float rounding)."""
    out = []
    if a["rows"] != b["rows"] or set(a["columns"]) != set(b["columns"]):
        return ["rows or column names"]
    for name, col in a["columns"].items():
        other = b["columns"][name]
        for key in sorted(set(col) | set(other)):
            x, y = col.get(key), other.get(key)
            if key in ("sum", "sum_sq") and isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    out.append(f"{name}.{key}")
            elif x != y and not (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)):
                out.append(f"{name}.{key}")
    return out


def false_alarms(workdir: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Scenario (c): the reference profile vs each independent resample, then the planted batch."""
    reference = _reference_profile(args)
    out: dict[str, Any] = {"resamples": {}}
    for label, path in args["resamples"].items():
        current = pd.read_parquet(path)
        seconds, report = timed(lambda: drift(reference, build_profile(current)))
        out["resamples"][label] = {"rows": len(current), "seconds": seconds, **_statuses(report)}
    current = pd.read_parquet(args["planted"])
    seconds, report = timed(lambda: drift(reference, build_profile(current)))
    out["planted"] = {"rows": len(current), "seconds": seconds, **_statuses(report)}
    return out


if __name__ == "__main__":
    side_main({"check": check, "profile_speed": profile_speed, "false_alarms": false_alarms})
