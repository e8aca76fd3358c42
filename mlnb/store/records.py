"""Ingest handlers of the registry's events (capture's are in `mlnb.capture.tables`).

`Batch.add` checks every row against its table's column types; values a handler passes to
`Batch.execute` are checked here with `check_value`. A check that fails raises BadEvent, and
ingest quarantines that one event.
"""
from __future__ import annotations

from typing import Any

import orjson

from mlnb.store.checks import check_value
from mlnb.store.handlers import Batch, handles


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
    batch.execute(
        "UPDATE idx.model_versions SET status = coalesce(?, status), description = coalesce(?, description), "
        "tags = coalesce(?, tags) WHERE name = ? AND version = ?",
        [ev.get("status"), ev.get("description"), tags, ev["name"], ev["version"]],
    )


@handles("alias")
def _alias(batch: Batch, ev: dict[str, Any]) -> None:
    check_value(ev.get("name"), "text", "name", required=True)
    check_value(ev.get("alias"), "text", "alias", required=True)
    batch.add("alias_history", (ev["name"], ev["alias"], ev.get("from"), ev.get("version"), ev.get("user"), ev["t"],
                                ev.get("reason")))
    if ev.get("version") is None:
        batch.execute("DELETE FROM idx.model_aliases WHERE name = ? AND alias = ?", [ev["name"], ev["alias"]])
    else:
        batch.execute(
            "INSERT OR REPLACE INTO idx.model_aliases VALUES (?, ?, ?, make_timestamp(CAST(? * 1000000 AS BIGINT)))",
            [ev["name"], ev["alias"], ev["version"], ev["t"]],
        )
