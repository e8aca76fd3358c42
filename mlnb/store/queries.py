"""Every read the faces need: one function each, returning DataFrames or plain records.

Filters and orderings are compiled to parameterized SQL (see `filters`); no user text is
ever spliced into a query.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlnb.errors import InvalidValueError, MlnbError, NotFoundError, ReadOnlySQLError, RunNotFoundError, SQLTimeoutError
from mlnb.store.filters import compile_filter, compile_order_by
from mlnb.store.store import Store

if TYPE_CHECKING:
    import pandas as pd  # no type information: its values are Any to mypy
    from duckdb import DuckDBPyConnection

SQL_TIMEOUT_ENV = "MLNB_SQL_TIMEOUT"
SQL_TIMEOUT_DEFAULT_S = 30.0
RUN_COLUMNS = ("run_id", "experiment", "name", "status", "start", "end", "parent_run_id")


def runs(store: Store, experiment: str | Sequence[str] | None = None, filter: str | None = None,
         order_by: str | Sequence[str] | None = None, limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """One row per run: attributes, then `params.*`, `metrics.*` (latest value) and `tags.*`."""
    return runs_counted(store, experiment, filter, order_by, limit, offset)[0]


def runs_counted(store: Store, experiment: str | Sequence[str] | None = None, filter: str | None = None,
                 order_by: str | Sequence[str] | None = None, limit: int | None = None,
                 offset: int = 0) -> tuple[pd.DataFrame, int]:
    """`runs(...)` and the number of runs matching before paging, from one pass over the runs."""
    import pandas as pd

    where: list[str] = ["TRUE"]
    args: list[object] = []
    if experiment is not None:
        names = [experiment] if isinstance(experiment, str) else list(experiment)
        where.append(f"r.experiment IN ({', '.join('?' * len(names))})")
        args.extend(names)
    compiled = compile_filter(filter)
    if compiled is not None:
        where.append(f"({compiled[0]})")
        args.extend(compiled[1])
    order_sql, order_args = compile_order_by(order_by)
    page, page_args = " OFFSET ?", [_count(offset, "offset")]
    if limit is not None:
        page, page_args = " LIMIT ? OFFSET ?", [_count(limit, "limit"), *page_args]
    with store.index() as con:
        # top-N with the total as a window count: no full sort, no second filter pass
        selected = con.execute(
            f"SELECT r.run_id, count(*) OVER () FROM idx.runs r WHERE {' AND '.join(where)} "
            f"ORDER BY {', '.join(order_sql)}{page}", [*args, *order_args, *page_args],
        ).fetchall()
        if selected:
            total = int(selected[0][1])
        elif not offset:
            total = 0  # nothing matched at all
        else:  # past the last page: count the matches
            total = int(con.execute(f"SELECT count(*) FROM idx.runs r WHERE {' AND '.join(where)}", args).fetchone()[0])
        ids = [row[0] for row in selected]
        con.execute("CREATE OR REPLACE TEMP TABLE _sel AS SELECT unnest(?::VARCHAR[]) AS run_id, "
                    "unnest(range(?::BIGINT)) AS pos", [ids, len(ids)])
        base = con.execute(
            'SELECT r.run_id, r.experiment, r.name, r.status, r.start_time AS "start", '
            'r.end_time AS "end", r.parent_run_id FROM _sel JOIN idx.runs r USING (run_id) ORDER BY _sel.pos'
        ).df()
        params = con.execute(
            "SELECT p.run_id, p.key, p.value, p.value_num FROM idx.params p JOIN _sel USING (run_id)"
        ).df()
        metrics = con.execute(
            "SELECT m.run_id, m.key, m.value FROM idx.metric_latest m JOIN _sel USING (run_id)"
        ).df()
        tags = con.execute("SELECT t.run_id, t.key, t.value FROM idx.tags t JOIN _sel USING (run_id)").df()
        con.execute("DROP TABLE _sel")
    frames = [base.set_index("run_id")]
    if len(params):
        frames.append(_typed_params(params, _param_kinds(params)).add_prefix("params."))
    if len(metrics):
        frames.append(metrics.pivot(index="run_id", columns="key", values="value").add_prefix("metrics."))
    if len(tags):
        frames.append(tags.pivot(index="run_id", columns="key", values="value").add_prefix("tags."))
    table = pd.concat(frames, axis=1, join="outer").reindex(base["run_id"]) if len(frames) > 1 else frames[0]
    table = table.reset_index()
    table.columns.name = None
    return table, total


def _param_kinds(params: pd.DataFrame) -> dict[str, str]:
    """int, float or text per param key: numeric when every value has a numeric reading and none is a bool."""
    import pandas as pd

    text = params["value"].astype("string")
    numeric = params["value_num"].notna() & ~text.str.lower().isin(["true", "false"]).fillna(False)
    whole = text.str.fullmatch(r"[+-]?[0-9]+").fillna(False)
    verdict = pd.DataFrame({"key": params["key"], "numeric": numeric.astype(bool), "whole": whole.astype(bool)}) \
        .groupby("key").all()
    return {key: ("int" if row.whole else "float") if row.numeric else "text" for key, row in verdict.iterrows()}


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MlnbError(f"{what} must be a whole number >= 0, got {value!r}")
    return value


def _typed_params(params: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Wide params: numeric columns from the stored numeric reading, text columns as text."""
    import pandas as pd

    text = params.pivot(index="run_id", columns="key", values="value")
    numeric_keys = [k for k, kind in kinds.items() if kind != "text"]
    if not numeric_keys:
        return text
    numbers = params[params["key"].isin(numeric_keys)].pivot(index="run_id", columns="key", values="value_num")
    columns = {}
    for key in text.columns:
        kind = kinds.get(key, "text")
        if kind == "text":
            columns[key] = text[key]
        else:
            column = numbers[key].reindex(text.index)
            columns[key] = column.round().astype("Int64") if kind == "int" else column
    return pd.DataFrame(columns, index=text.index)


@dataclass
class RunRecord:
    """Everything recorded for one run."""

    run_id: str
    experiment: str
    name: str | None
    status: str
    parent_run_id: str | None
    start: datetime | None
    end: datetime | None
    user: str | None
    host: str | None
    pid: int | None
    notebook: str | None
    git_commit: str | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.run_id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the record."""
        out = asdict(self)
        for key in ("start", "end"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


# A row of idx.runs as `get_run` selects it: RunRecord's fields up to `git_commit`, in order.
RunRow = tuple[str, str, str | None, str, str | None, datetime | None, datetime | None, str | None, str | None,
               int | None, str | None, str | None]


def resolve_run_id(con: DuckDBPyConnection, run: object) -> str:
    """A full run id from a Run, a full id, or a unique prefix of at least 4 characters."""
    run_id = getattr(run, "id", run)
    if not isinstance(run_id, str) or not run_id:
        raise RunNotFoundError(f"expected a run id string, got {run!r}")
    found = con.execute("SELECT run_id FROM idx.runs WHERE run_id = ?", [run_id]).fetchall()
    full_id: str
    if found:
        full_id = found[0][0]
        return full_id
    if len(run_id) >= 4:
        found = con.execute(
            "SELECT run_id FROM idx.runs WHERE starts_with(run_id, ?) LIMIT 6", [run_id]
        ).fetchall()
        if len(found) == 1:
            full_id = found[0][0]
            return full_id
        if len(found) > 1:
            listed = ", ".join(row[0][:12] for row in found[:5])
            raise RunNotFoundError(f"run id prefix {run_id!r} is ambiguous ({listed}...); give more characters")
    raise RunNotFoundError(f"no run {run_id!r} in this store; list runs with `mlnb runs`")


def resolve_run(store: Store, run: Any) -> str:
    """`resolve_run_id` on its own index connection."""
    with store.index() as con:
        return resolve_run_id(con, run)


@contextmanager
def one_view(store: Store) -> Iterator[None]:
    """Run the queries inside on one index connection: one refresh, and all see the same state.

    A series of reads (a graph walk, say) gets a consistent view this way without touching a
    connection: `Store.index()` is re-entrant, so each query inside reuses the held one.
    """
    with store.index():
        yield


def get_run(store: Store, run: Any) -> RunRecord:
    """The full record of one run (by Run, id or unique id prefix)."""
    with store.index() as con:
        run_id = resolve_run_id(con, run)
        row: RunRow = con.execute(
            'SELECT run_id, experiment, name, status, parent_run_id, start_time, end_time, "user", host, '
            "pid, notebook, git_commit FROM idx.runs WHERE run_id = ?", [run_id]
        ).fetchone()
        params = dict(con.execute("SELECT key, value FROM idx.params WHERE run_id = ? ORDER BY key", [run_id]).fetchall())
        metrics = dict(con.execute(
            "SELECT key, value FROM idx.metric_latest WHERE run_id = ? ORDER BY key", [run_id]).fetchall())
        tags = dict(con.execute("SELECT key, value FROM idx.tags WHERE run_id = ? ORDER BY key", [run_id]).fetchall())
        artifacts = [
            dict(zip(("path", "hash", "size", "media_type", "created"), item))
            for item in con.execute(
                "SELECT path, hash, size, media_type, created FROM idx.artifacts WHERE run_id = ? ORDER BY path",
                [run_id],
            ).fetchall()
        ]
    return RunRecord(*row, params=params, metrics=metrics, tags=tags, artifacts=artifacts)


def metric_history(store: Store, run: object, key: str) -> pd.DataFrame:
    """Every logged value of one metric of one run: columns step, value, timestamp."""
    with store.index() as con:
        run_id = resolve_run_id(con, run)
        frame = con.execute(
            'SELECT step, value, ts AS "timestamp" FROM idx.metrics WHERE run_id = ? AND key = ? '
            "ORDER BY step, ts", [run_id, key]
        ).df()
        if frame.empty:
            keys = [r[0] for r in con.execute(
                "SELECT key FROM idx.metric_latest WHERE run_id = ? ORDER BY key", [run_id]).fetchall()]
            if key not in keys:
                have = ", ".join(keys[:20]) if keys else "none"
                raise NotFoundError(f"run {run_id[:8]} has no metric {key!r}; it has: {have}")
    return frame


def metric_histories(store: Store, run_ids: Sequence[str], keys: Sequence[str]) -> Any:
    """Every step of the given metrics of the given runs: run_id, key, step, value."""
    if not run_ids or not keys:
        import pandas as pd

        return pd.DataFrame({"run_id": [], "key": [], "step": [], "value": []})
    run_marks, key_marks = ", ".join("?" * len(run_ids)), ", ".join("?" * len(keys))
    with store.index() as con:
        return con.execute(
            f"SELECT run_id, key, step, value FROM idx.metrics WHERE run_id IN ({run_marks}) "
            f"AND key IN ({key_marks}) ORDER BY run_id, key, step, ts", [*run_ids, *keys]).df()


def metric_step_counts(store: Store, run_id: str) -> dict[str, int]:
    """Metric key -> number of logged values, for one run (by full id)."""
    with store.index() as con:
        return dict(con.execute("SELECT key, count(*) FROM idx.metrics WHERE run_id = ? GROUP BY key",
                                [run_id]).fetchall())


def latest_metric_values(store: Store, run_keys: Sequence[str]) -> dict[str, float]:
    """`run_id:key` -> latest value, for the given `run_id:key` names (missing ones left out)."""
    if not run_keys:
        return {}
    with store.index() as con:
        return dict(con.execute(
            "SELECT run_id || ':' || key, value FROM idx.metric_latest WHERE run_id || ':' || key IN "
            f"({', '.join('?' * len(run_keys))})", list(run_keys)).fetchall())


def run_summaries(store: Store, run_ids: Sequence[str]) -> list[tuple[str, str | None, str, str]]:
    """(run_id, name, experiment, status) of the given runs (by full id; unknown ones left out)."""
    if not run_ids:
        return []
    with store.index() as con:
        rows: list[tuple[str, str | None, str, str]] = con.execute(
            f"SELECT run_id, name, experiment, status FROM idx.runs WHERE run_id IN "
            f"({', '.join('?' * len(run_ids))})", list(run_ids)).fetchall()
    return rows


def artifact_blob(store: Store, run: Any, path: str) -> tuple[str, str | None]:
    """(content hash, media type) of the artifact a run recorded at `path`; NotFoundError if none."""
    with store.index() as con:
        run_id = resolve_run_id(con, run)
        row = con.execute("SELECT hash, media_type FROM idx.artifacts WHERE run_id = ? AND path = ?",
                          [run_id, path]).fetchone()
    if row is None:
        raise NotFoundError(f"run {run_id[:8]} has no artifact {path!r}")
    return row[0], row[1]


def runs_by_status(store: Store) -> dict[str, int]:
    """Status -> number of runs, most common first (read like `mlnb sql`, from a snapshot)."""
    frame = sql(store, "SELECT status, count(*) AS runs FROM runs GROUP BY status ORDER BY runs DESC, status")
    return {str(s): int(n) for s, n in zip(frame["status"], frame["runs"])}


def quarantined_count(store: Store) -> int:
    """How many event lines ingest has quarantined."""
    return int(sql(store, "SELECT count(*) AS n FROM quarantined_events")["n"][0])


def experiments(store: Store) -> Any:
    """One row per experiment: name, created, number of runs, last run start."""
    with store.index() as con:
        return con.execute(
            'SELECT e.name AS experiment, e.created, count(r.run_id) AS runs, max(r.start_time) AS last_run '
            "FROM idx.experiments e LEFT JOIN idx.runs r ON r.experiment = e.name "
            "GROUP BY e.name, e.created ORDER BY e.created"
        ).df()


def sql(store: Store, query: str, params: Sequence[Any] | dict[str, Any] | None = None,
        timeout: float | None = None) -> pd.DataFrame:
    """Run read-only SQL over the documented views; returns a DataFrame.

    A query running longer than `timeout` seconds (default: $MLNB_SQL_TIMEOUT, else 30) is
    interrupted with SQLTimeoutError.
    """
    import threading

    import duckdb

    from mlnb.store.sql_guard import check_query

    if not isinstance(query, str) or not query.strip():
        raise ReadOnlySQLError("give a SELECT query, e.g. mlnb.sql('SELECT * FROM runs LIMIT 5')")
    limit, setting = sql_time_limit(timeout)
    with store.read_only() as con:
        check_query(con, query)
        timer = threading.Timer(limit, con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            return con.execute(query, params).df() if params is not None else con.execute(query).df()
        except duckdb.InterruptException:
            raise SQLTimeoutError(f"the query ran longer than {limit:g} s and was stopped; make it cheaper, "
                                  f"or raise the limit ({setting})") from None
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReadOnlySQLError(f"SQL failed: {first}") from None
        finally:
            timer.cancel()


def sql_time_limit(timeout: float | None = None) -> tuple[float, str]:
    """(seconds, how to change them): `timeout` if given, else $MLNB_SQL_TIMEOUT, else 30."""
    import math
    import os

    if timeout is None:
        raw = os.environ.get(SQL_TIMEOUT_ENV, "").strip()
        setting = f"set {SQL_TIMEOUT_ENV} to a number of seconds, or pass timeout= to mlnb.sql"
        if not raw:
            return SQL_TIMEOUT_DEFAULT_S, setting
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        source = f"{SQL_TIMEOUT_ENV}={raw!r}"
    else:
        value = float(timeout) if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) else math.nan
        setting = "the timeout= argument of mlnb.sql"
        source = f"timeout={timeout!r}"
    if not (value > 0 and math.isfinite(value)):
        raise InvalidValueError(f"{source} is not a positive number of seconds; give e.g. 30")
    return value, setting
