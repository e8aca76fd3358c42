"""`mlnb.replay(model_uri)`: score archived live inputs with a candidate version, offline.

The candidate is loaded from the registry (integrity-checked, as `mlnb.load_model`), the archived
inputs are rebuilt as frames with the candidate's input schema, scored in vectorised batches (many
requests per `predict` call), and compared with what was returned live and with the feedback,
exactly as `mlnb.rendezvous` compares live versions. Requests whose input was not archived
(sampled out, over the size cap) are skipped and counted.
"""
from __future__ import annotations

import time
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from mlnb.errors import NotFoundError
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.model_registry.names import ModelURI
from mlnb.serving import queries
from mlnb.serving.comparison import comparison_frame, window_text
from mlnb.serving.traffic import check_limit, decode_input
from mlnb.serving.window import window

if TYPE_CHECKING:
    import pandas as pd

    from mlnb.model_monitoring.input_schema import InputSchema

BATCH_ROWS = 4096  # rows per predict call (requests are never split across calls)


class SkippedWarning(UserWarning):
    """Some archived requests could not be replayed (their input was not kept)."""


def replay(model_uri: str, since: Any = None, until: Any = None, limit: int | None = None,
           allow_pickle: bool | None = None, project: ProjectArg = None, progress: bool = True) -> pd.DataFrame:
    """Score the archived inputs of `model_uri`'s model (the latest `limit` requests in the window)
    with that version, and compare it with the answers returned live and the feedback: one row with
    the columns of `mlnb.rendezvous` (latencies are the offline cost per request, not live ones) and
    `source` "replay"; then, as the baseline, the live versions on the same requests (`source` "live").
    `attrs`: requests (read), replayed, skipped (no archived input)."""
    from mlnb.model_monitoring.input_schema import InputSchema
    from mlnb.model_registry import load_model, model_version

    uri = ModelURI.parse(model_uri)
    start, end = window(since, until)
    limit = check_limit(limit)
    store = store_for(project)
    record = model_version(model_uri, project=store)
    name, version = str(record["name"]), int(record["version"])
    model = load_model(model_uri, allow_pickle=allow_pickle, project=store)
    schema = InputSchema.for_version(store, name, version, record)
    with queries.session(store) as con:
        rows = queries.archived_inputs(con, name, start, end, limit, with_missing=True)
    kept = [(row, columns) for row in rows if (columns := decode_input(row["input"])) is not None]
    skipped = len(rows) - len(kept)
    if not kept:
        raise NotFoundError(f"nothing to replay: {len(rows)} archived request(s) of {name!r} {window_text(start, end)}"
                            f"{', none with its input kept' if rows else ''}", kind="requests", name=name)
    alias = uri.alias if uri.alias is not None else str(version)
    results = _score(model, schema, kept, progress)
    table = _arrow(results, version, alias)
    with queries.session(store) as con:
        candidate, live = queries.replay_comparison(con, table)
    out = comparison_frame([*candidate, *live], bucketed=False)
    out.insert(0, "source", ["replay"] * len(candidate) + ["live"] * len(live))
    out.attrs.update(model=name, uri=model_uri, requests=len(rows), replayed=len(kept), skipped=skipped,
                     since=start, until=end)
    if skipped:
        warnings.warn(f"replay skipped {skipped} of {len(rows)} request(s): their input was not archived",
                      SkippedWarning, stacklevel=2)
    return out


Result = tuple[str, datetime, str, float, str | None]  # request id, time, status, ms, output JSON


def _score(model: Any, schema: InputSchema, kept: list[tuple[dict[str, Any], dict[str, list[Any]]]],
           progress: bool) -> list[Result]:
    """Every kept request scored, in batches of about BATCH_ROWS rows."""
    results: list[Result] = []
    bar = _progress(len(kept), progress)
    try:
        batch: list[tuple[dict[str, Any], dict[str, list[Any]]]] = []
        rows = 0
        for item in kept:
            batch.append(item)
            rows += len(next(iter(item[1].values())))
            if rows >= BATCH_ROWS:
                results.extend(_score_batch(model, schema, batch))
                bar.update(len(batch))
                batch, rows = [], 0
        if batch:
            results.extend(_score_batch(model, schema, batch))
            bar.update(len(batch))
    finally:
        bar.close()
    return results


def _score_batch(model: Any, schema: InputSchema, batch: list[tuple[dict[str, Any], dict[str, list[Any]]]]
                 ) -> list[Result]:
    """One predict call for the whole batch; if the batch fails (a bad request in it), one per request."""
    sizes = [len(next(iter(columns.values()))) for _, columns in batch]
    merged: dict[str, list[Any]] = {}
    for _, columns in batch:
        for column in columns:
            merged.setdefault(column, [])
    for (_, columns), n in zip(batch, sizes):
        for column, values in merged.items():
            values.extend(columns.get(column, [None] * n))
    t0 = time.perf_counter()
    outputs = _predict(model, schema, merged) if len(batch) > 1 else None
    if isinstance(outputs, list) and len(outputs) == sum(sizes):
        ms = (time.perf_counter() - t0) * 1e3 / len(batch)
        out: list[Result] = []
        offset = 0
        for (row, _), n in zip(batch, sizes):
            out.append((row["request_id"], row["ts"], "ok", ms, orjson.dumps(outputs[offset:offset + n]).decode()))
            offset += n
        return out
    singles: list[Result] = []
    for row, columns in batch:
        t0 = time.perf_counter()
        result = _predict(model, schema, columns)
        ms = (time.perf_counter() - t0) * 1e3
        ok = isinstance(result, list)
        singles.append((row["request_id"], row["ts"], "ok" if ok else "error", ms,
                        orjson.dumps(result).decode() if ok else None))
    return singles


def _predict(model: Any, schema: InputSchema, columns: dict[str, list[Any]]) -> list[Any] | str:
    """The outputs for `columns` (one per row), or the first line of why they could not be made."""
    from mlnb.model_monitoring.records import jsonable

    frame, problems = schema.check(columns)
    if frame is None:
        return problems[0] if problems else "the input could not be rebuilt"
    try:
        result = model.predict(frame)
    except Exception as exc:  # a candidate failing on some input is a result (an error), not a crash
        text = str(exc)
        return text.splitlines()[0] if text else type(exc).__name__
    values = result.tolist() if hasattr(result, "tolist") else list(result)
    return [jsonable(v) for v in values]


def _arrow(results: list[Result], version: int, alias: str) -> Any:
    import pyarrow as pa

    ids, times, statuses, ms, outputs = (list(column) for column in zip(*results))
    return pa.table({
        "request_id": pa.array(ids, pa.string()), "version": pa.array([version] * len(ids), pa.int32()),
        "alias": pa.array([alias] * len(ids), pa.string()), "status": pa.array(statuses, pa.string()),
        "ms": pa.array(ms, pa.float64()), "output": pa.array(outputs, pa.string()),
        "ts": pa.array(times, pa.timestamp("us")),
    })


def _progress(total: int, enabled: bool) -> Any:
    """A tqdm bar when tqdm is installed (and there is enough to wait for), else a no-op."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc="replay", unit="request", disable=not enabled or total < 2 * BATCH_ROWS)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass
