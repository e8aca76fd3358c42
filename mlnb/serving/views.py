"""JSON view-models of serving, shaped once for every face (the REST handlers, the sidebar, the
rendezvous widget). Plain dicts and lists only (no pandas types, no NaN); no SQL here: the reads are
`mlnb.serving.queries` and `mlnb.rendezvous`.

Each takes a Store (or anything `project=` accepts).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import orjson

from mlnb.errors import InvalidValueError
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.model_registry.names import ModelURI, check_name
from mlnb.serving import queries
from mlnb.views.json import json_safe

HEARTBEAT_S = 5.0  # how often a serving process writes its serve_status (the engine's interval)
STALE_AFTER_S = 3 * HEARTBEAT_S  # a server whose last heartbeat is older than this is not shown as alive
RATE_WINDOW_S = 60.0  # the request rate is over this last stretch of the archive
SWITCHES_SHOWN = 5  # the latest alias moves listed per server
OVER_TIME_ROWS = 2000  # the latest (version, time bucket) rows kept in the rendezvous view
HINT = "mlnb serve churn@champion --shadow churn@challenger"


def _utc(epoch: float) -> datetime:
    """A naive UTC datetime, as the index stores times."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).replace(tzinfo=None)


def _epoch(value: Any) -> float | None:
    """Epoch seconds of an index time (naive UTC), or None."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc).timestamp() if value.tzinfo is None else value.timestamp()


def _loads(text: Any, default: Any) -> Any:
    if text is None:
        return default
    try:
        value = orjson.loads(text) if isinstance(text, (str, bytes)) else text
    except orjson.JSONDecodeError:
        return default
    return value if isinstance(value, type(default)) else default


def _label(uri: str) -> str:
    """`champion` for `churn@champion`; a URI that names a version stays as it is."""
    try:
        parsed = ModelURI.parse(uri)
    except Exception:  # noqa: BLE001 - a heartbeat's text is shown, never trusted
        return uri
    return parsed.alias if parsed.alias else uri


def served_list(aliases: dict[str, Any], shadows: list[Any]) -> list[dict[str, Any]]:
    """[{uri, alias, version, shadow}] in preference order (the first answers, shadows are only scored)."""
    shadowed = {str(s) for s in shadows}
    return [{"uri": uri, "alias": _label(uri), "version": v if isinstance(v, int) and not isinstance(v, bool) else None,
             "shadow": uri in shadowed} for uri, v in aliases.items()]


def serving_overview(store: ProjectArg, now: float | None = None) -> dict[str, Any]:
    """The serving processes alive now (state running, last heartbeat within STALE_AFTER_S), by model:
    what each serves (alias -> version in preference order, shadows), where (url), its request rate
    over the last minute of the archive, its request count and its latest alias moves.

    {"servers": [...], "window_s", "stale_after_s", "hint"} (`hint`: how to serve, for an empty list).
    """
    now = time.time() if now is None else now
    with queries.session(store_for(store)) as con:
        alive = [row for row in queries.server_status(con) if row["state"] == "running"
                 and (_epoch(row["ts"]) or 0.0) >= now - STALE_AFTER_S]
        ids = [row["server"] for row in alive]
        counts = queries.answer_counts(con, ids, _utc(now - RATE_WINDOW_S)) if ids else {}
        switches = queries.last_switches(con, ids, SWITCHES_SHOWN) if ids else {}
    servers = []
    for row in sorted(alive, key=lambda r: (str(r["model"]), str(r["url"]), str(r["server"]))):
        aliases = _loads(row["aliases"], {})
        shadows = _loads(row["shadows"], [])
        recent = int(counts.get(row["server"], 0))
        servers.append({
            "server": row["server"], "model": row["model"], "url": row["url"], "host": row["host"],
            "pid": row["pid"], "served": served_list(aliases, shadows), "aliases": aliases,
            "shadows": [str(s) for s in shadows], "requests": row["requests"], "recent": recent,
            "rate": round(recent / RATE_WINDOW_S, 3), "deadline_ms": json_safe(row["deadline_ms"]),
            "started": json_safe(row["started"]), "t": json_safe(row["ts"]),
            "switches": [{"alias": s["alias"], "from": s["from_version"], "to": s["to_version"], "t": json_safe(s["ts"]),
                          "status": s["status"], "ms": json_safe(s["ms"]), "err": s["err"]}
                         for s in switches.get(row["server"], [])],
        })
    return {"servers": servers, "window_s": RATE_WINDOW_S, "stale_after_s": STALE_AFTER_S, "hint": HINT}


def _rows(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): json_safe(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _time_column(frame: Any) -> str | None:
    for name in ("t", "bucket", "ts", "time", "start"):
        if name in frame.columns:
            return name
    return None


def rendezvous_view(store: ProjectArg, model: str, since: Any = None, until: Any = None,
                    every: str | None = "1min") -> dict[str, Any]:
    """The rendezvous comparison of `model` on its archived traffic: `versions` (one row per version:
    version, alias, requests, returned, agreement, p50_ms, p95_ms, p99_ms, errors, timeouts,
    labelled, accuracy or mae) and `over_time` (the same per time bucket of `every`, with `t`, the
    bucket's start; the latest OVER_TIME_ROWS rows). `metric`: accuracy, mae or None (no feedback).
    NotFoundError for an unknown model, InvalidValueError for a bad window or bucket."""
    from mlnb.serving.comparison import rendezvous

    if isinstance(model, str) and ("/" in model or "@" in model):
        raise InvalidValueError(f"rendezvous compares the versions of one model: give its name (like 'churn'), "
                                f"not a version ({model[:60]!r})", field="model")
    check_name(model)
    target = store_for(store)
    versions = rendezvous(model, since=since, until=until, project=target)
    rows = _rows(versions)
    over_time: list[dict[str, Any]] = []
    if every:
        frame = rendezvous(model, since=since, until=until, every=every, project=target)
        column = _time_column(frame)
        over_time = _rows(frame)
        if column is not None and column != "t":
            for row in over_time:
                row["t"] = row.pop(column)
        over_time = sorted(over_time, key=lambda r: str(r.get("t")))[-OVER_TIME_ROWS:]
    metric = next((m for m in ("accuracy", "mae") if any(r.get(m) is not None for r in rows)), None)
    return {"model": model, "since": json_safe(since) if since is not None else None,
            "until": json_safe(until) if until is not None else None, "every": every, "metric": metric,
            "versions": rows, "over_time": over_time}


__all__ = ["HINT", "STALE_AFTER_S", "rendezvous_view", "served_list", "serving_overview"]
