"""Ingest handlers for notebook capture events (cells, datasets, lineage); the registry's are in
`mlnb.model_registry.tables`.

`Batch.add` checks every row against its table's column types; values a handler passes to
`Batch.execute` are checked here with `check_value`. A check that fails raises BadEvent, and
ingest quarantines that one event.
"""
from __future__ import annotations

from typing import Any

import orjson

from mlnb.store.handlers import Batch, handles


@handles("cell")
def _cell(batch: Batch, ev: dict[str, Any]) -> None:
    batch.add("cells", (
        ev["run"], ev["seq"], ev.get("ec"), ev.get("cell_id"), ev.get("code"), ev.get("code_hash"),
        ev["t"], ev.get("dur"), ev.get("status"), orjson.dumps(ev.get("details") or {}).decode(),
    ))


@handles("dataset")
def _dataset(batch: Batch, ev: dict[str, Any]) -> None:
    batch.add("datasets", (
        ev["fp"], ev.get("schema"), ev.get("kind"), ev.get("rows"), ev.get("cols"),
        orjson.dumps(ev.get("profile") or {}).decode(), ev["t"], ev.get("scheme"),
    ))


@handles("lineage")
def _lineage(batch: Batch, ev: dict[str, Any]) -> None:
    batch.add("lineage", (ev["run"], ev["src_kind"], ev["src_id"], ev["dst_kind"], ev["dst_id"], ev["rel"], ev["t"]))
