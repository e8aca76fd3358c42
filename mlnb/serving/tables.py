"""Serving's index tables (the rendezvous archive), their ingest handlers and migrations.

Imported by ingest through `mlnb.features`; the store core never imports serving. Every typed field
of the `serve_*` events is checked, so a wrong-typed value quarantines its event (and only it).
The `answers` list of a `serve_answer` is flattened into `serve_results`, one row per version
asked; an item of that list that does not have the documented shape is skipped, not quarantined
(the field is declared as free JSON, and the rest of the answer is still worth keeping).
"""
from __future__ import annotations

from typing import Any

import orjson

from mlnb.store.checks import INT32_MAX, check_value
from mlnb.store.handlers import Batch, TableSpec, handles, register_table
from mlnb.store.schema import Migration, register_migrations

register_table("serve_answers", TableSpec(
    ("request_id", "ts", "model", "server", "status", "returned", "alias", "n_rows", "input", "ms", "err"),
    ("text", "time", "text", "text", "text", "int32", "text", "int64", "json", "float", "text"),
    ("request_id",),
))
register_table("serve_results", TableSpec(
    ("request_id", "version", "ts", "model", "alias", "status", "ms", "output", "err", "returned"),
    ("text", "int32", "time", "text", "text", "text", "float", "json", "text", "int32"),
    ("request_id", "version"),
))
register_table("serve_feedback", TableSpec(
    ("request_id", "ts", "label", "user"),
    ("text", "time", "json", "text"),
    ("request_id",),
))
# Switches have no natural key: one row per event (like alias_history).
register_table("serve_switches", TableSpec(
    ("server", "model", "alias", "from_version", "to_version", "ts", "ms", "status", "err"),
    ("text", "text", "text", "int32", "int32", "time", "float", "text", "text"),
))
register_table("serve_status", TableSpec(
    ("server", "model", "url", "host", "pid", "state", "aliases", "shadows", "requests", "deadline_ms", "started",
     "ts"),
    ("text", "text", "text", "text", "int32", "text", "json", "json", "int64", "float", "time", "time"),
    ("server",),
))

# Views are created in the same migration as their tables (DuckDB binds a view's columns when it is
# created). `returned` is stored as 0/1 (the handler tables have no boolean kind) and read as a bool.
TABLES_V1 = """
CREATE TABLE IF NOT EXISTS idx.serve_answers (
    request_id VARCHAR PRIMARY KEY, ts TIMESTAMP, model VARCHAR, server VARCHAR, status VARCHAR, returned INTEGER,
    alias VARCHAR, n_rows BIGINT, input JSON, ms DOUBLE, err VARCHAR);
CREATE TABLE IF NOT EXISTS idx.serve_results (
    request_id VARCHAR, version INTEGER, ts TIMESTAMP, model VARCHAR, alias VARCHAR, status VARCHAR, ms DOUBLE,
    output JSON, err VARCHAR, returned INTEGER, PRIMARY KEY (request_id, version));
CREATE TABLE IF NOT EXISTS idx.serve_feedback (
    request_id VARCHAR PRIMARY KEY, ts TIMESTAMP, label JSON, "user" VARCHAR);
CREATE TABLE IF NOT EXISTS idx.serve_switches (
    server VARCHAR, model VARCHAR, alias VARCHAR, from_version INTEGER, to_version INTEGER, ts TIMESTAMP,
    ms DOUBLE, status VARCHAR, err VARCHAR);
CREATE TABLE IF NOT EXISTS idx.serve_status (
    server VARCHAR PRIMARY KEY, model VARCHAR, url VARCHAR, host VARCHAR, pid INTEGER, state VARCHAR, aliases JSON,
    shadows JSON, requests BIGINT, deadline_ms DOUBLE, started TIMESTAMP, ts TIMESTAMP);
CREATE INDEX IF NOT EXISTS serve_answers_model ON idx.serve_answers (model, ts);
CREATE INDEX IF NOT EXISTS serve_results_model ON idx.serve_results (model, ts);
CREATE OR REPLACE VIEW serve_answers AS
    SELECT request_id, ts, model, server, status, returned, alias, n_rows, input, ms, err FROM idx.serve_answers;
CREATE OR REPLACE VIEW serve_results AS
    SELECT request_id, version, ts, model, alias, status, ms, output, err, returned = 1 AS returned
    FROM idx.serve_results;
CREATE OR REPLACE VIEW serve_feedback AS SELECT request_id, ts, label, "user" FROM idx.serve_feedback;
CREATE OR REPLACE VIEW serve_switches AS
    SELECT server, model, alias, from_version, to_version, ts, ms, status, err FROM idx.serve_switches;
CREATE OR REPLACE VIEW serve_status AS
    SELECT server, model, url, host, pid, state, aliases, shadows, requests, deadline_ms, started, ts
    FROM idx.serve_status;
"""

register_migrations("serving", (
    Migration(1, "the rendezvous archive: answers, per-version results, feedback, switches, heartbeats",
              TABLES_V1),
))


def _json(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value is not None else None


def _opt(value: Any, kind: str) -> Any:
    """`value` if it fits `kind`, else None (for the free-form items of `answers`)."""
    try:
        return check_value(value, kind, "")
    except ValueError:
        return None


def _named(ev: dict[str, Any], fields: tuple[tuple[str, str], ...]) -> None:
    """Check the fields whose column has another name, so a quarantine reason names the event's field."""
    for name, kind in fields:
        check_value(ev.get(name), kind, name)


def _results(ev: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One row per version asked, from the answer's `answers` list (malformed items skipped)."""
    items = ev.get("answers")
    if not isinstance(items, list):
        return []
    returned = ev.get("returned")
    rows: dict[int, tuple[Any, ...]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        version = item.get("v")
        if isinstance(version, bool) or not isinstance(version, int) or abs(version) > INT32_MAX:
            continue
        is_returned = int(version == returned)
        if version in rows and not is_returned:
            continue  # one version asked twice (two aliases on it): keep the first, or the returned one
        rows[version] = (ev["id"], version, ev.get("t"), ev["model"], _opt(item.get("alias"), "text"),
                         _opt(item.get("status"), "text"), _opt(item.get("ms"), "float"), _json(item.get("out")),
                         _opt(item.get("err"), "text"), is_returned)
    return list(rows.values())


@handles("serve_answer")
def _serve_answer(batch: Batch, ev: dict[str, Any]) -> None:
    for name in ("id", "model", "status"):
        check_value(ev.get(name), "text", name, required=True)
    _named(ev, (("t", "time"), ("rows", "int64")))
    batch.add("serve_answers", (
        ev["id"], ev.get("t"), ev["model"], ev.get("server"), ev["status"], ev.get("returned"), ev.get("alias"),
        ev.get("rows"), _json(ev.get("input")), ev.get("ms"), ev.get("err")))
    for row in _results(ev):
        batch.add("serve_results", row)


@handles("serve_feedback")
def _serve_feedback(batch: Batch, ev: dict[str, Any]) -> None:
    check_value(ev.get("id"), "text", "id", required=True)
    _named(ev, (("t", "time"),))
    if ev.get("label") is None:
        check_value(None, "json", "label", required=True)
    batch.add("serve_feedback", (ev["id"], ev.get("t"), _json(ev["label"]), ev.get("user")))


@handles("serve_switch")
def _serve_switch(batch: Batch, ev: dict[str, Any]) -> None:
    for name in ("server", "model", "alias", "status"):
        check_value(ev.get(name), "text", name, required=True)
    _named(ev, (("t", "time"), ("from", "int32"), ("version", "int32")))
    batch.add("serve_switches", (ev["server"], ev["model"], ev["alias"], ev.get("from"), ev.get("version"),
                                 ev.get("t"), ev.get("ms"), ev["status"], ev.get("err")))


@handles("serve_status")
def _serve_status(batch: Batch, ev: dict[str, Any]) -> None:
    for name in ("model", "state"):
        check_value(ev.get(name), "text", name, required=True)
    _named(ev, (("t", "time"), ("deadline", "float"), ("started", "time")))
    batch.add("serve_status", (
        ev.get("server"), ev["model"], ev.get("url"), ev.get("host"), ev.get("pid"), ev["state"],
        _json(ev.get("aliases")), _json(ev.get("shadows")), ev.get("requests"), ev.get("deadline"),
        ev.get("started"), ev.get("t")))
