"""Every serving query against the index (the rendezvous archive); all SQL fixed and parameterized.

Functions take an open index connection from `session(store)`. Times are naive UTC datetimes (as
the index stores them); None means "no bound".
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any


@contextmanager
def session(store: Any) -> Iterator[Any]:
    """One index connection for a series of reads (one refresh, one consistent state)."""
    with store.index() as con:
        yield con


# --- the comparison (rendezvous and replay share it) ------------------------------------------------

# A JSON value is a number when its JSON type is one of these.
_NUMERIC = "('UBIGINT', 'BIGINT', 'DOUBLE', 'HUGEINT')"

# `{source}` is one of two fixed relations (below), never user text. Columns it must give:
# request_id, version, alias, status, ms, output (JSON list), returned (0/1), ts, bucket, ret_output, label.
# - agreement: among requests where this version and the returned one both have outputs, the share
#   whose outputs (the whole list, one per row) are equal;
# - latency percentiles over the version's ok answers; errors and timeouts counted;
# - labelled: requests with feedback; accuracy: share of labelled rows whose output equals the label
#   (numbers compared as numbers), mae: mean absolute error over rows where both are numbers. A label
#   list gives one label per row; a single label is every row's.
_COMPARE = """
WITH base AS ({source}),
per_version AS (
    SELECT version, bucket, arg_max(alias, ts) AS alias, count(*) AS requests,
           count(*) FILTER (WHERE returned = 1) AS returned,
           count(*) FILTER (WHERE status = 'ok' AND output IS NOT NULL AND ret_output IS NOT NULL) AS comparable,
           count(*) FILTER (WHERE status = 'ok' AND output IS NOT NULL AND ret_output IS NOT NULL
                            AND CAST(output AS VARCHAR) = CAST(ret_output AS VARCHAR)) AS agreeing,
           quantile_cont(ms, 0.5) FILTER (WHERE status = 'ok') AS p50_ms,
           quantile_cont(ms, 0.95) FILTER (WHERE status = 'ok') AS p95_ms,
           quantile_cont(ms, 0.99) FILTER (WHERE status = 'ok') AS p99_ms,
           count(*) FILTER (WHERE status = 'error') AS errors,
           count(*) FILTER (WHERE status = 'timeout') AS timeouts,
           count(*) FILTER (WHERE label IS NOT NULL) AS labelled
    FROM base GROUP BY version, bucket
),
row_outputs AS (
    SELECT version, bucket, label, unnest(range(len(outs))) AS i, unnest(outs) AS out
    FROM (SELECT version, bucket, label, TRY_CAST(output AS JSON[]) AS outs FROM base
          WHERE status = 'ok' AND label IS NOT NULL AND output IS NOT NULL)
),
row_labels AS (
    SELECT version, bucket, out,
           CASE WHEN json_type(label) = 'ARRAY' THEN TRY_CAST(label AS JSON[])[i + 1] ELSE label END AS lab
    FROM row_outputs
),
scored AS (
    SELECT version, bucket,
           json_type(out) IN {numeric} AND json_type(lab) IN {numeric} AS numeric,
           CASE WHEN json_type(out) IN {numeric} AND json_type(lab) IN {numeric}
                THEN TRY_CAST(out AS DOUBLE) = TRY_CAST(lab AS DOUBLE)
                ELSE CAST(out AS VARCHAR) = CAST(lab AS VARCHAR) END AS hit,
           CASE WHEN json_type(out) IN {numeric} AND json_type(lab) IN {numeric}
                THEN abs(TRY_CAST(out AS DOUBLE) - TRY_CAST(lab AS DOUBLE)) END AS abs_err,
           json_type(out) = 'DOUBLE' AS real_output
    FROM row_labels WHERE lab IS NOT NULL AND json_type(lab) <> 'NULL' AND out IS NOT NULL
          AND json_type(out) <> 'NULL'
),
per_version_labels AS (
    SELECT version, bucket, count(*) AS labelled_rows, avg(CAST(hit AS INTEGER)) AS accuracy,
           avg(abs_err) AS mae, bool_or(real_output) AS real_outputs
    FROM scored GROUP BY version, bucket
)
SELECT p.version, p.alias, p.bucket, p.requests, p.returned,
       CASE WHEN p.comparable > 0 THEN p.agreeing / p.comparable END AS agreement, p.comparable,
       p.p50_ms, p.p95_ms, p.p99_ms, p.errors, p.timeouts, p.labelled, coalesce(l.labelled_rows, 0) AS labelled_rows,
       l.accuracy, l.mae, coalesce(l.real_outputs, false) AS real_outputs
FROM per_version p LEFT JOIN per_version_labels l
    ON l.version = p.version AND l.bucket IS NOT DISTINCT FROM p.bucket
ORDER BY p.bucket NULLS FIRST, p.version
"""

# The archived results of one model in a time window (params: bucket seconds x2, model, since x2,
# until x2). The returned output and the feedback label come along for each request.
_LIVE_SOURCE = """
    SELECT r.request_id, r.version, r.alias, r.status, r.ms, r.output, r.returned, r.ts,
           CASE WHEN CAST(? AS DOUBLE) IS NULL THEN NULL
                ELSE time_bucket(to_seconds(CAST(? AS DOUBLE)), r.ts) END AS bucket,
           ret.output AS ret_output, f.label
    FROM idx.serve_results r
    LEFT JOIN idx.serve_results ret ON ret.request_id = r.request_id AND ret.returned = 1
    LEFT JOIN idx.serve_feedback f ON f.request_id = r.request_id
    WHERE r.model = ? AND (CAST(? AS TIMESTAMP) IS NULL OR r.ts >= ?) AND (CAST(? AS TIMESTAMP) IS NULL OR r.ts < ?)
"""

# A candidate's offline results, registered by the caller as `_replay` (request_id, version, alias,
# status, ms, output as JSON text, ts): compared with the archive's returned answers and feedback.
# Params: bucket seconds x2.
_REPLAY_SOURCE = """
    SELECT c.request_id, c.version, c.alias, c.status, c.ms, CAST(c.output AS JSON) AS output,
           0 AS returned, c.ts,
           CASE WHEN CAST(? AS DOUBLE) IS NULL THEN NULL
                ELSE time_bucket(to_seconds(CAST(? AS DOUBLE)), c.ts) END AS bucket,
           ret.output AS ret_output, f.label
    FROM _replay c
    LEFT JOIN idx.serve_results ret ON ret.request_id = c.request_id AND ret.returned = 1
    LEFT JOIN idx.serve_feedback f ON f.request_id = c.request_id
"""

# The archived results of the requests a replay scored (`_replay`), for the live baseline next to
# the candidate. Params: bucket seconds x2.
_REPLAYED_LIVE_SOURCE = """
    SELECT r.request_id, r.version, r.alias, r.status, r.ms, r.output, r.returned, r.ts,
           CASE WHEN CAST(? AS DOUBLE) IS NULL THEN NULL
                ELSE time_bucket(to_seconds(CAST(? AS DOUBLE)), r.ts) END AS bucket,
           ret.output AS ret_output, f.label
    FROM idx.serve_results r SEMI JOIN _replay c ON c.request_id = r.request_id
    LEFT JOIN idx.serve_results ret ON ret.request_id = r.request_id AND ret.returned = 1
    LEFT JOIN idx.serve_feedback f ON f.request_id = r.request_id
"""

LIVE_COMPARISON_SQL = _COMPARE.format(source=_LIVE_SOURCE, numeric=_NUMERIC)
REPLAYED_LIVE_COMPARISON_SQL = _COMPARE.format(source=_REPLAYED_LIVE_SOURCE, numeric=_NUMERIC)
REPLAY_COMPARISON_SQL = _COMPARE.format(source=_REPLAY_SOURCE, numeric=_NUMERIC)

COMPARISON_COLUMNS = ("version", "alias", "bucket", "requests", "returned", "agreement", "comparable", "p50_ms",
                      "p95_ms", "p99_ms", "errors", "timeouts", "labelled", "labelled_rows", "accuracy", "mae",
                      "real_outputs")


def _window(since: datetime | None, until: datetime | None) -> list[Any]:
    return [since, since, until, until]


def comparison(con: Any, model: str, since: datetime | None, until: datetime | None,
               every_s: float | None) -> list[dict[str, Any]]:
    """The per-version comparison of model `model`'s archived answers (per time bucket with every_s)."""
    cursor = con.execute(LIVE_COMPARISON_SQL, [every_s, every_s, model, *_window(since, until)])
    return [dict(zip(COMPARISON_COLUMNS, row)) for row in cursor.fetchall()]


def replay_comparison(con: Any, results: Any, every_s: float | None = None
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The comparison of a candidate's offline `results` (an Arrow table, see _REPLAY_SOURCE), and
    that of the live versions on the same requests (the baseline)."""
    con.register("_replay", results)
    try:
        candidate = con.execute(REPLAY_COMPARISON_SQL, [every_s, every_s]).fetchall()
        live = con.execute(REPLAYED_LIVE_COMPARISON_SQL, [every_s, every_s]).fetchall()
    finally:
        con.unregister("_replay")
    return ([dict(zip(COMPARISON_COLUMNS, row)) for row in candidate],
            [dict(zip(COMPARISON_COLUMNS, row)) for row in live])


# --- archived inputs --------------------------------------------------------------------------------

# The latest `limit` answered requests of a model in a window (NULL limit: all), returned oldest first.
_INPUTS_SQL = """
SELECT request_id, ts, n_rows, input, ret_output FROM (
    SELECT a.request_id, a.ts, a.n_rows, a.input, ret.output AS ret_output
    FROM idx.serve_answers a
    LEFT JOIN idx.serve_results ret ON ret.request_id = a.request_id AND ret.returned = 1
    WHERE a.model = ? AND a.status <> 'invalid'
      AND (CAST(? AS TIMESTAMP) IS NULL OR a.ts >= ?) AND (CAST(? AS TIMESTAMP) IS NULL OR a.ts < ?)
      AND (? OR a.input IS NOT NULL)
    ORDER BY a.ts DESC, a.request_id DESC
    LIMIT ?
) ORDER BY ts, request_id
"""

INPUT_COLUMNS = ("request_id", "ts", "n_rows", "input", "ret_output")


def archived_inputs(con: Any, model: str, since: datetime | None, until: datetime | None, limit: int | None,
                    with_missing: bool = False) -> list[dict[str, Any]]:
    """The archived requests of `model` (oldest first): id, time, rows, input (JSON text or None
    when not kept: only with `with_missing`), and the returned output (JSON text)."""
    cursor = con.execute(_INPUTS_SQL, [model, *_window(since, until), with_missing, limit])
    return [dict(zip(INPUT_COLUMNS, row)) for row in cursor.fetchall()]


def missing_inputs(con: Any, model: str, since: datetime | None, until: datetime | None) -> int:
    """Answered requests of `model` in the window whose input was not archived."""
    return int(con.execute(
        "SELECT count(*) FROM idx.serve_answers WHERE model = ? AND status <> 'invalid' AND input IS NULL "
        "AND (CAST(? AS TIMESTAMP) IS NULL OR ts >= ?) AND (CAST(? AS TIMESTAMP) IS NULL OR ts < ?)",
        [model, *_window(since, until)]).fetchone()[0])


def answers_count(con: Any, model: str) -> int:
    """How many answers of `model` the archive holds (refusals included)."""
    return int(con.execute("SELECT count(*) FROM idx.serve_answers WHERE model = ?", [model]).fetchone()[0])


# --- what faces show ---------------------------------------------------------------------------------

STATUS_COLUMNS = ("server", "model", "url", "host", "pid", "state", "aliases", "shadows", "requests", "deadline_ms",
                  "started", "ts")


def servers(con: Any, model: str | None = None) -> list[dict[str, Any]]:
    """The latest heartbeat of every serving process (of one model, or all), newest first."""
    cursor = con.execute(
        "SELECT server, model, url, host, pid, state, aliases, shadows, requests, deadline_ms, started, ts "
        "FROM idx.serve_status WHERE ? IS NULL OR model = ? ORDER BY ts DESC, server", [model, model])
    return [dict(zip(STATUS_COLUMNS, row)) for row in cursor.fetchall()]


SWITCH_COLUMNS = ("server", "model", "alias", "from_version", "to_version", "ts", "ms", "status", "err")


def switches(con: Any, model: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest alias switches (of one model, or all), newest first."""
    cursor = con.execute(
        "SELECT server, model, alias, from_version, to_version, ts, ms, status, err FROM idx.serve_switches "
        "WHERE ? IS NULL OR model = ? ORDER BY ts DESC LIMIT ?", [model, model, limit])
    return [dict(zip(SWITCH_COLUMNS, row)) for row in cursor.fetchall()]


def request_rate(con: Any, model: str, since: datetime) -> int:
    """Answers of `model` archived since `since` (the caller divides by the window)."""
    return int(con.execute("SELECT count(*) FROM idx.serve_answers WHERE model = ? AND ts >= ?",
                           [model, since]).fetchone()[0])


def feedback_label(con: Any, request_id: str) -> Any:
    """The label (JSON text) logged for `request_id`, or None."""
    row = con.execute("SELECT label FROM idx.serve_feedback WHERE request_id = ?", [request_id]).fetchone()
    return row[0] if row else None


def answers_by_server(con: Any, since: datetime) -> dict[str, int]:
    """Answers archived since `since`, per serving process (the sidebar's request rate)."""
    cursor = con.execute("SELECT server, count(*) FROM idx.serve_answers WHERE ts >= ? AND server IS NOT NULL "
                         "GROUP BY server", [since])
    return {str(server): int(n) for server, n in cursor.fetchall()}
