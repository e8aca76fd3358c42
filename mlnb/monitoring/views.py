"""JSON view-models of monitoring, shaped once for every face: the REST handlers, the widget
(score history, check detail) and the CLI. Plain dicts and lists only (no pandas types, no NaN).

Each takes a Store (or anything `project=` accepts).
"""
from __future__ import annotations

from typing import Any

from mlnb.errors import InvalidValueError, NotFoundError
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.monitoring import queries
from mlnb.monitoring.api import model_or_version
from mlnb.monitoring.records import drifted_columns, load_report
from mlnb.views.json import json_safe

CHECK_ID_MIN = 6  # the shortest prefix of a check id that is looked up


def monitoring_overview(store: ProjectArg) -> list[dict[str, Any]]:
    """The latest check of every monitored model version: model, version, status, validation, t,
    rows, drifted (columns), check (id) and checks (how many), by model then version."""
    with queries.session(store_for(store)) as con:
        rows = queries.latest_checks(con)
    return [{
        "model": r["model"], "version": r["version"], "status": r["status"], "validation": r["validation"],
        "t": json_safe(r["ts"]), "rows": r["n_rows"], "drifted": r["drifted"], "check": r["check_id"],
        "checks": r["checks"],
    } for r in rows]


def monitoring_history(store: ProjectArg, name: str) -> dict[str, Any]:
    """The checks of a model (`churn`) or one version (`churn/3`), oldest first, each with its
    per-column summary (column -> {status, score}) for score-over-time charts; `latest` maps each
    version to the status of its latest check (the sidebar's badges)."""
    import orjson

    with queries.session(store_for(store)) as con:
        model, version = model_or_version(con, name)
        rows = queries.history(con, model, version)
    checks = []
    for r in rows:
        summary = orjson.loads(r["summary"]) if r["summary"] else {}
        checks.append({
            "check": r["check_id"], "version": r["version"], "t": json_safe(r["ts"]), "rows": r["n_rows"],
            "status": r["status"], "validation": r["validation"], "drifted": r["drifted"],
            "drifted_columns": drifted_columns(summary), "name": r["name"], "fingerprint": r["fingerprint"],
            "summary": {k: {"status": v.get("status"), "score": json_safe(v.get("score"))}
                        for k, v in summary.items() if isinstance(v, dict)},
        })
    latest = {str(c["version"]): c["status"] for c in checks}  # oldest first: the last one wins
    return {"model": model, "version": version, "checks": checks, "latest": latest}


def check_detail(store: ProjectArg, check_id: str) -> dict[str, Any]:
    """One check in full: its index row plus the stored report (`drift`: the DriftReport dict,
    `validation`: the ValidationReport dict). `check_id` may be a unique prefix (6+ hex characters)."""
    if not isinstance(check_id, str) or len(check_id) < CHECK_ID_MIN or len(check_id) > 32 \
            or not set(check_id) <= set("0123456789abcdef"):
        raise InvalidValueError(f"a check id is {CHECK_ID_MIN} to 32 lowercase hex characters, got "
                                f"{str(check_id)[:40]!r}", field="check")
    target = store_for(store)
    with queries.session(target) as con:
        found = queries.checks_with_prefix(con, check_id)
    if not found:
        raise NotFoundError(f"no monitoring check {check_id!r}; list them with mlnb.monitoring(model)",
                            kind="check", name=check_id)
    if len(found) > 1:
        raise InvalidValueError(f"check id prefix {check_id!r} is ambiguous; give more characters", field="check")
    row = found[0]
    report = load_report(target, row["report"]) if row["report"] else {}
    return {
        "check": row["check_id"], "model": row["model"], "version": row["version"],
        "uri": f"{row['model']}/{row['version']}", "t": json_safe(row["ts"]), "rows": row["n_rows"],
        "status": row["status"], "validation_status": row["validation"], "drifted": row["drifted"],
        "name": row["name"], "fingerprint": row["fingerprint"], "reference": row["reference"], "run": row["run_id"],
        "passed": report.get("passed"), "drifted_columns": report.get("drifted", []),
        "drift": report.get("drift", {}), "validation": report.get("validation", {}),
    }
