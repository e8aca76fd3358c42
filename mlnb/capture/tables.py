"""Capture's index tables (cells, datasets, lineage) and the ingest handlers that fill them.

Loaded by name through `mlnb.features`; the tables themselves are created by the store's
migrations (`mlnb.store.schema`). `Batch.add` checks every row against its table's column types,
and a check that fails quarantines that one event.
"""
from __future__ import annotations

from typing import Any

import orjson

from mlnb.store.handlers import Batch, TableSpec, handles, register_table

register_table("datasets", TableSpec(
    ("fingerprint", "schema_hash", "kind", "n_rows", "n_cols", "profile", "first_seen", "scheme"),
    ("text", "text", "text", "int64", "int64", "json", "time", "int32"),
    ("fingerprint",),
))
register_table("cells", TableSpec(
    ("run_id", "seq", "execution_count", "cell_id", "code", "code_hash", "start_time", "duration_s", "status",
     "details"),
    ("text", "int32", "int32", "text", "text", "text", "time", "float", "text", "json"),
    ("run_id", "seq"),
))
register_table("lineage", TableSpec(
    ("run_id", "src_kind", "src_id", "dst_kind", "dst_id", "relation", "ts"),
    ("text", "text", "text", "text", "text", "text", "time"),
))


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
