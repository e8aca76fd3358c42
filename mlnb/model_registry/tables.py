"""The registry's index tables: how ingest turns its events into rows, and its own migrations.

Imported by ingest through `mlnb.features`; the store core never imports the registry.
"""
from __future__ import annotations

from typing import Any

import orjson

from mlnb.model_registry import queries
from mlnb.store.checks import check_value
from mlnb.store.handlers import Batch, TableSpec, handles, register_table
from mlnb.store.schema import Migration, register_migrations

register_table("model_versions", TableSpec(
    ("name", "version", "run_id", "artifact_hash", "artifact_path", "flavor", "size", "signature",
     "description", "tags", "data", "notebook_hash", "hidden_state", "status", "created", "user", "host",
     "mlnb_version"),
    ("text", "int32", "text", "text", "text", "text", "int64", "json",
     "text", "json", "json", "text", "text", "text", "time", "text", "text", "text"),
    ("name", "version"),
))
register_table("alias_history", TableSpec(
    ("name", "alias", "from_version", "to_version", "user", "ts", "reason", "seq"),
    ("text", "text", "int32", "int32", "text", "time", "text", "int64"),
))

# The tables themselves were created by the core's migrations 2 and 4 (see store/schema.py);
# what the registry adds since lives here.
register_migrations("registry", (
    # The view is made again: DuckDB 1.4 binds a view's columns when it is created, and refuses to
    # read one whose table gained a column since.
    Migration(1, "the step of each alias move (alias_history.seq)",
              "ALTER TABLE idx.alias_history ADD COLUMN IF NOT EXISTS seq BIGINT;"
              "CREATE OR REPLACE VIEW alias_history AS SELECT * FROM idx.alias_history;"),
))


def _json(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


@handles("model_version")
def _model_version(batch: Batch, ev: dict[str, Any]) -> None:
    batch.add("model_versions", (
        ev["name"], ev["version"], ev.get("run"), ev["hash"], ev.get("path"), ev.get("flavor"), ev.get("size"),
        _json(ev.get("signature")), ev.get("description"), _json(ev.get("labels")), _json(ev.get("data")),
        ev.get("nb"), ev.get("hidden"), "active", ev["t"], ev.get("user"), ev.get("host"), ev.get("mlnb"),
    ))


@handles("model_version_update")
def _model_version_update(batch: Batch, ev: dict[str, Any]) -> None:
    tags = _json(ev["labels"]) if ev.get("labels") is not None else None
    check_value(ev.get("name"), "text", "name", required=True)
    check_value(ev.get("version"), "int32", "version", required=True)
    check_value(ev.get("status"), "text", "status")
    check_value(ev.get("description"), "text", "description")
    batch.execute(queries.UPDATE_VERSION_SQL,
                  [ev.get("status"), ev.get("description"), tags, ev["name"], ev["version"]])


@handles("alias")
def _alias(batch: Batch, ev: dict[str, Any]) -> None:
    """Every move goes into the history; the alias is then settled from the whole history (the
    highest `seq` wins), so the outcome does not depend on the order the events are read in."""
    check_value(ev.get("name"), "text", "name", required=True)
    check_value(ev.get("alias"), "text", "alias", required=True)
    batch.add("alias_history", (ev["name"], ev["alias"], ev.get("from"), ev.get("version"), ev.get("user"), ev["t"],
                                ev.get("reason"), ev.get("seq")))
    batch.execute(queries.CLEAR_ALIAS_SQL, [ev["name"], ev["alias"]])
    batch.execute(queries.SETTLE_ALIAS_SQL, [ev["name"], ev["alias"]])
