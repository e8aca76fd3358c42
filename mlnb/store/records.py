"""Ingest handlers for notebook-capture events: cells, datasets and lineage edges."""
from __future__ import annotations

from typing import Any

import orjson

from mlnb.store.ingest import Batch, handles


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
        orjson.dumps(ev.get("profile") or {}).decode(), ev["t"],
    ))


@handles("lineage")
def _lineage(batch: Batch, ev: dict[str, Any]) -> None:
    batch.add("lineage", (ev["run"], ev["src_kind"], ev["src_id"], ev["dst_kind"], ev["dst_id"], ev["rel"], ev["t"]))
