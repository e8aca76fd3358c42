"""Turn what the hooks saw of a cell into events: the cell record, datasets, lineage edges.

Runs on the capture thread, off the cell's path. Every text is redacted before it is queued.
"""
from __future__ import annotations

import base64
import time
from typing import Any

from mlnb.capture.limits import MAX_STREAM_CHARS as MAX_TEXT
from mlnb.events import event
from mlnb.redact import is_sensitive_name, known_secrets, learn_secrets, redact_text, redact_value, secrets_in_code

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}
PLOTLY_TYPE = "application/vnd.plotly.v1+json"
TEXT_TYPES = ("text/plain", "text/html", "text/markdown")


ERROR_CAPS = {"message": 2000, "traceback": 4000}


def _clean(text: str | None, secrets: frozenset[str], cap: int = MAX_TEXT) -> str | None:
    if not text:
        return text
    if len(text) >= cap:  # cut here or while captured: a secret cut in two would not be recognised
        text = _cut(text[:cap])
    return redact_text(text, secrets)


def _cut(text: str) -> str:
    """A truncated text without its last, possibly partial, word."""
    end = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"), len(text) - 256, 0)
    return text[:end] + " [truncated]"


def _learn(record: dict[str, Any]) -> frozenset[str]:
    """Learn the secrets the cell showed, then return every secret known: a key assigned in this
    cell and printed by it (or in an f-string, an error message) is masked everywhere, and so is
    a value the cell printed as `password=...` wherever else it shows (a variable's value)."""
    error = record["error"] or {}
    texts = (record["raw"], record["stdout"][:MAX_TEXT], record["stderr"][:MAX_TEXT], error.get("message") or "")
    found = set().union(*(secrets_in_code(text) for text in texts if text))
    for item in record["variables"]:
        if "value" in item and is_sensitive_name(item["name"]):
            found.add(item["value"])  # `API_KEY = fetch()`, `api_token = 123456789` (papermill)
    learn_secrets(found)
    return known_secrets()


def emit_cell(run: Any, record: dict[str, Any]) -> None:
    """Queue the events for one executed cell on `run`'s store."""
    writer, t = run.store.writer, record["started"]
    secrets = _learn(record)
    outputs = [_output(run, bundle, "execute_result", secrets)
               for bundle in ([record["result"]] if record["result"] else [])]
    outputs += [_output(run, bundle, "display_data", secrets) for bundle in record["displays"]]
    error = record["error"]
    if error:
        error = {key: _clean(value, secrets, ERROR_CAPS.get(key, 200)) for key, value in error.items()}
    variables = []
    for item in record["variables"]:
        item = dict(item)
        if "value" in item:
            item["value"] = redact_value(item["value"], name=item["name"], extra_values=secrets)
        variables.append(item)
    details = {
        "stdout": _clean(record["stdout"], secrets), "stderr": _clean(record["stderr"], secrets), "error": error,
        "outputs": outputs, "variables": variables, "reads": record["reads"], "metrics": record["metrics"],
        "step": record["step"], "inputs": {name: fp.hash for name, fp in record["inputs"]},
        "writes": {name: fp.hash for name, fp in record["outputs"]},
    }
    writer.emit(event("cell", run=run.id, seq=record["seq"], ec=record["execution_count"],
                      cell_id=record["cell_id"], code=_clean(record["raw"], secrets, 200_000),
                      code_hash=record["code_hash"], t=t, dur=record["duration"],
                      status=record["status"], details=details))
    cell_node = f"{run.id}:{record['seq']}"
    for name, fp in record["inputs"] + record["outputs"]:
        emit_dataset(run, name, fp, t)
    for name, fp in record["inputs"]:
        writer.emit(event("lineage", run=run.id, src_kind="dataset", src_id=fp.hash, dst_kind="cell",
                          dst_id=cell_node, rel=f"read:{name}", t=t))
    for name, fp in record["outputs"]:
        writer.emit(event("lineage", run=run.id, src_kind="cell", src_id=cell_node, dst_kind="dataset",
                          dst_id=fp.hash, rel=f"wrote:{name}", t=t))
    for name, seq in record.get("upstream", []):  # a variable bound by an earlier cell
        writer.emit(event("lineage", run=run.id, src_kind="cell", src_id=f"{run.id}:{seq}",
                          dst_kind="cell", dst_id=cell_node, rel=f"var:{name}", t=t))
    for key in record["metrics"]:
        writer.emit(event("lineage", run=run.id, src_kind="cell", src_id=cell_node, dst_kind="metric",
                          dst_id=f"{run.id}:{key}", rel="logged", t=t))


def _output(run: Any, bundle: dict[str, Any], kind: str, secrets: frozenset[str]) -> dict[str, Any]:
    """Images and plotly figures become artifacts; text is kept (capped). All of it redacted
    (SVG and plotly JSON are text too: titles, labels, hover text can show a secret)."""
    out: dict[str, Any] = {"type": kind}
    for mime, ext in IMAGE_TYPES.items():
        if mime in bundle:
            data = bundle[mime]
            if mime == "image/svg+xml":
                raw = redact_text("".join(data) if isinstance(data, list) else str(data), secrets).encode()
            else:
                raw = base64.b64decode(data)
            digest, size = run.store.blobs.put_bytes(raw)
            out["artifact"] = {"hash": digest, "size": size, "media_type": mime}
            run.store.writer.emit(event("artifact", run=run.id, path=f"outputs/{digest[:12]}.{ext}",
                                        hash=digest, size=size, media=mime, t=time.time()))
            break
    if PLOTLY_TYPE in bundle and "artifact" not in out:
        from mlnb.capture.redaction import redact_json_bytes

        digest, size = run.store.blobs.put_bytes(redact_json_bytes(bundle[PLOTLY_TYPE]))
        out["artifact"] = {"hash": digest, "size": size, "media_type": PLOTLY_TYPE}
    for mime in TEXT_TYPES:
        if mime in bundle and isinstance(bundle[mime], str):
            out[mime] = _clean(bundle[mime], secrets)
    return out


def emit_dataset(run: Any, name: str, fp: Any, t: float | None = None) -> None:
    """Record a data fingerprint (the datasets table keeps one row per distinct content)."""
    run.store.writer.emit(event("dataset", fp=fp.hash, schema=fp.schema_hash, kind=fp.kind,
                                rows=fp.n_rows, cols=fp.n_cols, profile=fp.profile, scheme=fp.scheme,
                                t=time.time() if t is None else t))
