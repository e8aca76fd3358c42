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

from mlnb.errors import InvalidValueError, NotFoundError
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
    over the last minute of the archive, its request count and its latest alias moves. The workers
    of one `mlnb serve --workers K` (one url, K heartbeats) show as one server.

    {"servers": [...], "window_s", "stale_after_s", "hint"} (`hint`: how to serve, for an empty list).
    """
    now = time.time() if now is None else now
    with queries.session(store_for(store)) as con:
        alive = [row for row in queries.servers(con) if row["state"] == "running"
                 and (_epoch(row["ts"]) or 0.0) >= now - STALE_AFTER_S]
        counts = queries.answers_by_server(con, _utc(now - RATE_WINDOW_S)) if alive else {}
        moves = {model: queries.switches(con, model, 50) for model in {str(r["model"]) for r in alive}}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in alive:  # newest heartbeat first (the query's order): it says what the group serves now
        groups.setdefault((str(row["model"]), str(row["url"] or row["server"])), []).append(row)
    servers = [_server(rows, counts, moves[model]) for (model, _), rows in sorted(groups.items())]
    return {"servers": servers, "window_s": RATE_WINDOW_S, "stale_after_s": STALE_AFTER_S, "hint": HINT}


def _server(rows: list[dict[str, Any]], counts: dict[str, int], moves: list[dict[str, Any]]) -> dict[str, Any]:
    """One served endpoint from the heartbeats of its processes (newest first)."""
    latest = rows[0]
    ids = {str(r["server"]) for r in rows}
    aliases = _loads(latest["aliases"], {})
    shadows = [str(s) for s in _loads(latest["shadows"], [])]
    recent = sum(counts.get(i, 0) for i in ids)
    requests = [r["requests"] for r in rows if isinstance(r["requests"], int)]
    seen: set[tuple[Any, ...]] = set()
    switches = []
    for s in moves:  # newest first; K workers each record the same move: list it once
        key = (s["alias"], s["from_version"], s["to_version"], s["status"])
        if str(s["server"]) not in ids or key in seen:
            continue
        seen.add(key)
        switches.append({"alias": _label(str(s["alias"])), "from": s["from_version"], "to": s["to_version"],
                         "t": json_safe(s["ts"]), "status": s["status"], "ms": json_safe(s["ms"]), "err": s["err"]})
    return {
        "server": latest["server"], "servers": sorted(ids), "model": latest["model"], "url": latest["url"],
        "host": latest["host"], "pid": latest["pid"], "served": served_list(aliases, shadows), "aliases": aliases,
        "shadows": shadows, "requests": sum(requests) if requests else None, "recent": recent,
        "rate": round(recent / RATE_WINDOW_S, 3), "deadline_ms": json_safe(latest["deadline_ms"]),
        "started": json_safe(min((r["started"] for r in rows if r["started"] is not None), default=None)),
        "t": json_safe(latest["ts"]), "switches": switches[:SWITCHES_SHOWN],
    }


def _rows(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): json_safe(v) for k, v in row.items()} for row in frame.to_dict("records")]


def rendezvous_view(store: ProjectArg, model: str, since: Any = None, until: Any = None,
                    every: str | None = "1min") -> dict[str, Any]:
    """The rendezvous comparison of `model` on its archived traffic (`mlnb.rendezvous`): `versions`,
    one row per version (version, alias, requests, returned, agreement, p50_ms, p95_ms, p99_ms,
    errors, timeouts, labelled, accuracy or mae), and `over_time`, the same per time bucket of
    `every` with `t` (the bucket's start; the latest OVER_TIME_ROWS rows). `metric`: accuracy or mae
    when some version has feedback, else None. A registered model that nothing served yet has no
    rows; NotFoundError for an unknown model, InvalidValueError for a bad window or bucket."""
    from mlnb.model_registry import model_version
    from mlnb.serving.comparison import rendezvous
    from mlnb.serving.window import duration_seconds, window

    if isinstance(model, str) and ("/" in model or "@" in model):
        raise InvalidValueError(f"rendezvous compares the versions of one model: give its name (like 'churn'), "
                                f"not a version ({model[:60]!r})", field="model")
    check_name(model)
    window(since, until)  # a bad bound or bucket is a one-line error even when nothing is archived
    if every is not None:
        duration_seconds(every)
    target = store_for(store)
    try:
        rows = _rows(rendezvous(model, since=since, until=until, project=target))
        over_time = _rows(rendezvous(model, since=since, until=until, every=every, project=target)) if every else []
    except NotFoundError:
        model_version(f"{model}@latest", project=target)  # unknown model: its one-line NotFoundError
        rows, over_time = [], []  # registered, never served
    for row in over_time:
        row["t"] = row.pop("time", None)
    over_time = over_time[-OVER_TIME_ROWS:]  # oldest bucket first (the query's order)
    metric = next((m for m in ("accuracy", "mae") if any(r.get(m) is not None for r in rows)), None)
    return {"model": model, "since": _text(since), "until": _text(until), "every": every, "metric": metric, "versions": rows, "over_time": over_time}


def _text(bound: Any) -> str | None:
    """A window bound as the user gave it, as text (a datetime in ISO form)."""
    if bound is None:
        return None
    return bound.isoformat(sep=" ") if isinstance(bound, datetime) else str(bound)


__all__ = ["HINT", "STALE_AFTER_S", "rendezvous_view", "served_list", "serving_overview"]
