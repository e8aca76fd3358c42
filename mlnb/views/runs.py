"""Runs as JSON: experiments, a page of runs, one run in full, a metric's history, an artifact to
stream, the notebook snapshot, and a sorted page of a comparison's runs table."""
from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from mlnb.capture import queries as capture_queries
from mlnb.comparison.run_table import PAGE_SIZE
from mlnb.errors import MlnbError, NotFoundError
from mlnb.store import queries
from mlnb.store.store import Store
from mlnb.views.json import json_safe, page_bounds, records

RUN_FIELDS = ("run_id", "experiment", "name", "status", "start", "end", "parent_run_id")


def experiments(store: Store) -> list[dict[str, Any]]:
    """Every experiment: name, created, number of runs, last run start."""
    return records(queries.experiments(store))


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
    with queries.one_view(store):
        record = queries.get_run(store, run).to_dict()
        cells = capture_queries.cells(store, record["run_id"])
        lineage = capture_queries.run_lineage(store, record["run_id"])
        steps = queries.metric_step_counts(store, record["run_id"])
    record["cells"] = []
    for cell in cells:
        info = cell["details"]
        record["cells"].append({
            "seq": cell["seq"], "execution_count": cell["execution_count"], "cell_id": cell["cell_id"],
            "code": cell["code"], "status": cell["status"], "duration_s": json_safe(cell["duration_s"]),
            "start": json_safe(cell["start_time"]), "stdout": info.get("stdout"), "error": info.get("error"),
            "outputs": info.get("outputs") or []})
    record["lineage"] = lineage
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
    digest, media = queries.artifact_blob(store, run, path)
    handle = store.blobs.open(digest)
    size = os.fstat(handle.fileno()).st_size
    return OpenArtifact(handle, size, media or "application/octet-stream", path.rsplit("/", 1)[-1])


def notebook_snapshot(store: Store, run: str) -> dict[str, Any]:
    """The run's notebook snapshot (its first .ipynb artifact) as JSON, stripped of trust claims."""
    record = queries.get_run(store, run).to_dict()
    run_id, path = record["run_id"], _notebook_path(record["artifacts"])
    if path is None:
        raise NotFoundError(f"run {run_id[:8]} has no notebook snapshot")
    digest, _ = queries.artifact_blob(store, run_id, path)
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


def table_page(frame: Any, columns: Sequence[str], sort_by: str | None = None, descending: bool = False,
               page: int = 0, size: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of a runs frame sorted by a column: JSON-safe rows, the total and the page count."""
    if sort_by in frame.columns:
        try:
            frame = frame.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")
        except TypeError:  # mixed types in a text column: compare as text
            frame = frame.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable",
                                      key=lambda s: s.astype(str))
    pages = max(1, math.ceil(len(frame) / size))
    page = min(max(0, page), pages - 1)
    chunk = frame.iloc[page * size:(page + 1) * size]
    rows = [[json_safe(v) for v in row] for row in chunk[list(columns)].itertuples(index=False, name=None)]
    return {"rows": rows, "run_ids": chunk["run_id"].tolist(), "total": len(frame), "page": page, "pages": pages}
