"""JSON-ready reads for the faces that browse the store (the server extension, the sidebar panel).

Each function returns plain dicts and lists (no pandas types, no NaN), built from the same
queries as the Python API. The registry's view-models are in `mlnb.model_registry.views`.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from mlnb.errors import MlnbError, NotFoundError
from mlnb.store import queries
from mlnb.store.store import Store

MAX_PAGE = 500
MAX_OFFSET = 2**62  # beyond any real store, and inside DuckDB's BIGINT
RUN_FIELDS = ("run_id", "experiment", "name", "status", "start", "end", "parent_run_id")


def json_safe(value: Any) -> Any:
    """A value JSON can carry: None for missing, ISO text for times, plain numbers, text for inf."""
    import pandas as pd

    if value is None or (not isinstance(value, (str, list, dict, tuple)) and pd.isna(value)):
        return None
    if isinstance(value, (pd.Timestamp,)) or hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="seconds") if hasattr(value, "hour") else value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def records(frame: Any) -> list[dict[str, Any]]:
    """A DataFrame as JSON-safe row dicts."""
    return [{k: json_safe(v) for k, v in row.items()} for row in frame.to_dict("records")]


def page_bounds(limit: Any, offset: Any) -> tuple[int, int]:
    """(limit, offset) checked: 1 <= limit <= MAX_PAGE, 0 <= offset <= MAX_OFFSET, whole numbers."""
    for name, value, low, high in (("limit", limit, 1, MAX_PAGE), ("offset", offset, 0, MAX_OFFSET)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MlnbError(f"{name} must be a whole number from {low} to {high}, got {str(value)[:40]}")
    return limit, offset


def runs_page(store: Store, experiment: str | None = None, filter: str | None = None,
              order_by: str | Sequence[str] | None = None, limit: int = 50, offset: int = 0,
              metrics: int = 4) -> dict[str, Any]:
    """One page of runs (attributes, params, latest metrics) and the number of runs that match."""
    limit, offset = page_bounds(limit, offset)
    frame, total = queries.runs_counted(store, experiment, filter, order_by, limit, offset)
    out = []
    for row in frame.to_dict("records"):
        item = {k: json_safe(row[k]) for k in RUN_FIELDS}
        item["params"] = {k[7:]: json_safe(v) for k, v in row.items() if k.startswith("params.") and json_safe(v) is not None}
        item["metrics"] = {k[8:]: json_safe(v) for k, v in row.items() if k.startswith("metrics.") and json_safe(v) is not None}
        out.append(item)
    return {"runs": out, "total": total, "offset": offset, "limit": limit}


def run_detail(store: Store, run: str) -> dict[str, Any]:
    """Everything the run view shows: record, cells, lineage edges, metric keys with step counts."""
    record = queries.get_run(store, run).to_dict()
    with store.index() as con:
        cells = con.execute(
            "SELECT seq, execution_count, cell_id, code, status, duration_s, start_time, details FROM idx.cells "
            "WHERE run_id = ? ORDER BY seq", [record["run_id"]]).fetchall()
        lineage = con.execute(
            "SELECT src_kind, src_id, dst_kind, dst_id, relation FROM idx.lineage WHERE run_id = ? ORDER BY ts",
            [record["run_id"]]).fetchall()
        steps = dict(con.execute("SELECT key, count(*) FROM idx.metrics WHERE run_id = ? GROUP BY key",
                                 [record["run_id"]]).fetchall())
    record["cells"] = []
    for seq, count, cell_id, code, status, duration, start, details in cells:
        info = json.loads(details) if isinstance(details, str) else (details or {})
        record["cells"].append({
            "seq": seq, "execution_count": count, "cell_id": cell_id, "code": code, "status": status,
            "duration_s": json_safe(duration), "start": json_safe(start), "stdout": info.get("stdout"),
            "error": info.get("error"), "outputs": info.get("outputs") or []})
    record["lineage"] = [dict(zip(("src_kind", "src_id", "dst_kind", "dst_id", "relation"), r)) for r in lineage]
    record["metric_steps"] = steps
    record["metrics"] = {k: json_safe(v) for k, v in record["metrics"].items()}
    record["notebook_artifact"] = _notebook_path(record["artifacts"])
    record["artifacts"] = [{k: json_safe(v) for k, v in a.items()} for a in record["artifacts"]]
    return record


def metric_history(store: Store, run: str, key: str) -> dict[str, Any]:
    frame = queries.metric_history(store, run, key)
    return {"key": key, "steps": [int(s) for s in frame["step"]], "values": [json_safe(v) for v in frame["value"]]}


@dataclass
class OpenArtifact:
    """An artifact ready to stream: its verified blob open at offset 0 (the caller closes it)."""

    handle: IO[bytes]
    size: int
    media: str
    filename: str


def open_artifact(store: Store, run: str, path: str) -> OpenArtifact:
    """One artifact of a run, looked up by its recorded path, opened for streaming.

    The path is only ever compared with the run's artifact records; the bytes come from the
    content-addressed blob store by hash, so no user text reaches the file system.
    """
    digest, media = _artifact_row(store, run, path)
    handle = store.blobs.open(digest)
    size = os.fstat(handle.fileno()).st_size
    return OpenArtifact(handle, size, media or "application/octet-stream", path.rsplit("/", 1)[-1])


def _artifact_row(store: Store, run: str, path: str) -> tuple[str, str | None]:
    with store.index() as con:
        run_id = queries.resolve_run_id(con, run)
        row = con.execute("SELECT hash, media_type FROM idx.artifacts WHERE run_id = ? AND path = ?",
                          [run_id, path]).fetchone()
    if row is None:
        raise NotFoundError(f"run {run_id[:8]} has no artifact {path!r}")
    return row[0], row[1]


def notebook_snapshot(store: Store, run: str) -> dict[str, Any]:
    """The run's notebook snapshot (its first .ipynb artifact) as JSON, stripped of trust claims."""
    record = queries.get_run(store, run).to_dict()
    run_id, path = record["run_id"], _notebook_path(record["artifacts"])
    if path is None:
        raise NotFoundError(f"run {run_id[:8]} has no notebook snapshot")
    digest, _ = _artifact_row(store, run_id, path)
    try:
        notebook = json.loads(store.blobs.read_bytes(digest))
    except ValueError:
        raise MlnbError(f"the notebook snapshot {path!r} of run {run_id[:8]} is not valid JSON") from None
    if not isinstance(notebook, dict):
        raise MlnbError(f"the notebook snapshot {path!r} of run {run_id[:8]} is not a notebook")
    return untrusted(notebook)


def _notebook_path(artifacts: list[dict[str, Any]]) -> str | None:
    """The run's notebook snapshot: its first .ipynb artifact."""
    return next((a["path"] for a in artifacts if a["path"].endswith(".ipynb")), None)


def untrusted(notebook: dict[str, Any]) -> dict[str, Any]:
    """The notebook without anything that would make Jupyter trust it (and run its HTML/JS outputs).

    Removes every cell's `metadata.trusted` and the notebook-level `signature` (nbformat 3
    kept it in the notebook metadata); cells of nbformat 3 worksheets are covered too.
    """
    metadata = notebook.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("signature", None)
    cells = list(notebook.get("cells") or [])
    for sheet in notebook.get("worksheets") or []:
        if isinstance(sheet, dict):
            cells += list(sheet.get("cells") or [])
    for cell in cells:
        if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("trusted", None)
    return notebook


def datasets_page(store: Store, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Data fingerprints seen, newest first, with shape and the runs that read or wrote them."""
    limit, offset = page_bounds(limit, offset)
    with store.index() as con:
        total = con.execute("SELECT count(*) FROM idx.datasets").fetchone()[0]
        rows = con.execute(
            "WITH page AS (SELECT * FROM idx.datasets ORDER BY first_seen DESC, fingerprint LIMIT ? OFFSET ?), "
            "uses AS (SELECT l.src_id AS fp, l.run_id, l.relation FROM idx.lineage l WHERE l.src_kind = 'dataset' "
            "UNION ALL SELECT l.dst_id, l.run_id, l.relation FROM idx.lineage l WHERE l.dst_kind = 'dataset') "
            "SELECT p.fingerprint, p.kind, p.n_rows, p.n_cols, p.first_seen, "
            "list(DISTINCT u.run_id ORDER BY u.run_id) FILTER (WHERE u.run_id IS NOT NULL), "
            "list(DISTINCT split_part(u.relation, ':', 2)) FILTER (WHERE u.relation LIKE '%:%') "
            "FROM page p LEFT JOIN uses u ON u.fp = p.fingerprint "
            "GROUP BY ALL ORDER BY p.first_seen DESC, p.fingerprint", [limit, offset]).fetchall()
    out = [{"fingerprint": fp, "kind": kind, "rows": n_rows, "cols": n_cols, "first_seen": json_safe(seen),
            "runs": list(runs or []), "names": sorted(n for n in (names or []) if n)}
           for fp, kind, n_rows, n_cols, seen, runs, names in rows]
    return {"datasets": out, "total": int(total), "offset": offset, "limit": limit}
