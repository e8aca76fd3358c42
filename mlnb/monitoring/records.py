"""How monitoring's records are stored and read back: profiles and check reports as JSON in the blob
store, each announced by an event (`profile`, `monitor`, plus lineage edges), never rewritten.

Every record is appended with its own id, from any number of processes at once: nothing is
read-modified-written, so concurrent checks never lose one. Category values and failure examples
are data: what looks like a secret is masked before it is stored.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from mlnb.events import event

if TYPE_CHECKING:
    from mlnb.monitoring.profile import Profile
    from mlnb.store.store import Store


def store_profile(store: Store, built: Profile, fingerprint: str | None, model: str | None = None,
                  version: int | None = None) -> str:
    """Put a profile's JSON in the blob store and append its `profile` event; returns its id."""
    import orjson

    stored, changed = redacted_profile(built.to_dict())
    payload = orjson.dumps(stored, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    digest, _ = store.blobs.put_bytes(payload)
    if not changed:  # else the next load reads what was stored
        _remember(digest, built)
    store.writer.emit(event("profile", id=digest, fp=fingerprint, rows=built.rows, cols=len(built.columns),
                            model=model, version=version, t=time.time()))
    store.writer.flush(sync=True)
    return digest


_CACHE: OrderedDict[str, Any] = OrderedDict()  # profile id -> Profile (content-addressed: never stale)
_CACHE_SIZE = 16


def _remember(digest: str, built: Any) -> None:
    _CACHE[digest] = built
    _CACHE.move_to_end(digest)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def load_profile(store: Store, profile_id: str) -> Profile:
    """The stored profile with this id (kept in a small cache: the same object also keeps the
    drift calibration cached on it)."""
    import orjson

    from mlnb.monitoring.profile import Profile

    cached = _CACHE.get(profile_id)
    if cached is None:
        cached = Profile.from_dict(orjson.loads(store.blobs.read_bytes(profile_id)))
    _remember(profile_id, cached)
    built: Profile = cached
    return built


def load_report(store: Store, digest: str) -> dict[str, Any]:
    """A stored check report (the dict `MonitorResult.to_dict()` gave)."""
    import orjson

    loaded: dict[str, Any] = orjson.loads(store.blobs.read_bytes(digest))
    return loaded


def store_check(store: Store, full_report: dict[str, Any], version_run: str | None) -> str:
    """Store one check: its report (`MonitorResult.to_dict()`) in the blob store, its `monitor` event
    and lineage edges model -> check and data -> check; returns the report's blob hash."""
    import orjson

    report = redacted_report(full_report)
    digest, _ = store.blobs.put_bytes(orjson.dumps(report))
    summary = {c["column"]: {"status": c.get("status"), "score": c.get("score")}
               for c in report["drift"].get("columns", [])}
    for column in report["drift"].get("schema", {}).get("removed", []):
        summary.setdefault(column, {"status": "drift", "score": None})
    writer = store.writer
    check, t, fp, uri = report["check"], report["t"], report["fingerprint"], report["uri"]
    writer.emit(event(
        "monitor", id=check, model=report["model"], version=report["version"], t=t, rows=report["rows"],
        status=report["status"], validation="pass" if report["validation"].get("passed") else "fail",
        drifted=sum(1 for c in summary.values() if c["status"] == "drift"), fp=fp, report=digest,
        summary=summary, reference=report["reference"], run=report["run"], name=report["name"]))
    # The edge is recorded under the run it happened in: the active run, else the run that made
    # the version, else (no run at all) the check itself.
    context = report["run"] or version_run or check
    writer.emit(event("lineage", run=context, src_kind="model", src_id=uri, dst_kind="check",
                      dst_id=check, rel="monitored", t=t))
    if fp:
        writer.emit(event("lineage", run=context, src_kind="dataset", src_id=fp, dst_kind="check",
                          dst_id=check, rel="monitored-data", t=t))
    writer.flush(sync=True)  # durable before returning: the check is part of the history now
    return str(digest)


# --- secrets ------------------------------------------------------------------------------------
# Category values and failure examples are data: a column named like a secret (api_key, password)
# keeps no values, and a value that looks like a token or key is masked, before anything is stored.
MASK = "***"


def redacted_profile(d: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A profile dict with the category values of secret-named columns, and secret-looking values,
    replaced by MASK (their counts merged); and whether anything was replaced."""
    from mlnb.redact import is_sensitive_name, redact_text

    changed = False
    for name, column in d.get("columns", {}).items():
        counts = column.get("counts")
        if column.get("kind") != "categorical" or not isinstance(counts, dict):
            continue
        sensitive = is_sensitive_name(str(name))
        masked: dict[str, int] = {}
        for value, n in counts.items():
            key = MASK if sensitive or redact_text(value) != value else value
            masked[key] = masked.get(key, 0) + n
        if masked != counts:
            column["counts"], changed = masked, True
    return d, changed


# Keys whose text says what was checked, never a value of the data (kept in a secret-named column's rows).
_DESCRIPTIVE = frozenset({"column", "kind", "statistic", "status", "expectation", "dtype", "reference", "current"})


def redacted_report(value: Any, sensitive: bool = False, key: str | None = None) -> Any:
    """A report (nested dicts and lists) with secret-looking text masked; within the row of a
    secret-named column every text but the descriptive ones (column, kind, status, ...) is masked."""
    from mlnb.redact import is_sensitive_name, redact_text

    if isinstance(value, dict):
        inner = sensitive or (isinstance(value.get("column"), str) and is_sensitive_name(value["column"]))
        return {k: redacted_report(v, inner, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted_report(v, sensitive) for v in value]
    if isinstance(value, str) and ((sensitive and key not in _DESCRIPTIVE) or redact_text(value) != value):
        return MASK
    return value


def drifted_columns(summary: Any) -> list[str]:
    """The columns a check's summary (JSON text or dict: column -> {status, score}) marks as drift."""
    parsed = json_dict(summary)
    return sorted(k for k, v in parsed.items() if isinstance(v, dict) and v.get("status") == "drift")


def json_dict(value: Any) -> dict[str, Any]:
    """A JSON object given as text, bytes or a dict, as a dict ({} for anything else)."""
    import orjson

    if isinstance(value, (str, bytes)):
        value = orjson.loads(value) if value else {}
    return value if isinstance(value, dict) else {}


def jsonable(value: Any) -> Any:
    """`value` with plain JSON types only: numpy scalars as numbers, tuples as lists, NaN as None and
    infinities as the text 'inf' / '-inf' (as mlnb.views.json does)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
