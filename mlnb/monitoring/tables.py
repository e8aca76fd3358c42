"""Monitoring's index tables (stored profiles, monitoring checks), their ingest handlers and migrations.

Imported by ingest through `mlnb.features`; the store core never imports monitoring. Every field of
the `profile` and `monitor` events has a typed column, so a wrong-typed value quarantines its event.
"""
from __future__ import annotations

from typing import Any

import orjson

from mlnb.store.checks import check_value
from mlnb.store.handlers import Batch, TableSpec, handles, register_table
from mlnb.store.schema import Migration, register_migrations

# One row per `profile` event: a profile may be stored again (another model version, the same data):
# readers take the latest row that fits.
register_table("profiles", TableSpec(
    ("id", "fingerprint", "n_rows", "n_cols", "model", "version", "created"),
    ("text", "text", "int64", "int64", "text", "int32", "time"),
))
# One row per check, keyed by its id (a check written twice, e.g. re-read after a crash, stays one).
register_table("monitoring", TableSpec(
    ("check_id", "model", "version", "ts", "n_rows", "status", "validation", "drifted", "fingerprint", "report",
     "summary", "reference", "run_id", "name"),
    ("text", "text", "int32", "time", "int64", "text", "text", "int32", "text", "text",
     "json", "text", "text", "text"),
    ("check_id",),
))

# The views are created in the same migration as their tables (DuckDB 1.4 binds a view's columns when
# it is created: a later column needs the view made again, in that later migration).
TABLES_V1 = """
CREATE TABLE IF NOT EXISTS idx.profiles (
    id VARCHAR, fingerprint VARCHAR, n_rows BIGINT, n_cols BIGINT, model VARCHAR, version INTEGER,
    created TIMESTAMP);
CREATE TABLE IF NOT EXISTS idx.monitoring (
    check_id VARCHAR PRIMARY KEY, model VARCHAR, version INTEGER, ts TIMESTAMP, n_rows BIGINT, status VARCHAR,
    validation VARCHAR, drifted INTEGER, fingerprint VARCHAR, report VARCHAR, summary JSON, reference VARCHAR,
    run_id VARCHAR, name VARCHAR);
CREATE INDEX IF NOT EXISTS profiles_model ON idx.profiles (model, version);
CREATE INDEX IF NOT EXISTS monitoring_model ON idx.monitoring (model, version);
CREATE OR REPLACE VIEW profiles AS
    SELECT id, fingerprint, n_rows, n_cols, model, version, created FROM idx.profiles;
CREATE OR REPLACE VIEW monitoring AS
    SELECT check_id, model, version, ts, n_rows, status, validation, drifted, fingerprint, report, summary,
           reference, run_id, name FROM idx.monitoring;
"""

register_migrations("monitoring", (
    Migration(1, "stored profiles and monitoring checks", TABLES_V1),
))


@handles("profile")
def _profile(batch: Batch, ev: dict[str, Any]) -> None:
    check_value(ev["id"], "text", "id", required=True)
    batch.add("profiles", (ev["id"], ev.get("fp"), ev.get("rows"), ev.get("cols"), ev.get("model"),
                           ev.get("version"), ev["t"]))


@handles("monitor")
def _monitor(batch: Batch, ev: dict[str, Any]) -> None:
    for name, kind in (("model", "text"), ("version", "int32"), ("status", "text")):
        check_value(ev[name], kind, name, required=True)
    summary = ev.get("summary")
    batch.add("monitoring", (
        ev["id"], ev["model"], ev["version"], ev["t"], ev.get("rows"), ev.get("status"),
        ev.get("validation"), ev.get("drifted"), ev.get("fp"), ev.get("report"),
        orjson.dumps(summary if summary is not None else {}).decode(), ev.get("reference"), ev.get("run"),
        ev.get("name"),
    ))
