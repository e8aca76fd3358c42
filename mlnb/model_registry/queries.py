"""Every registry query against the index: reads for the API and the statements ingest runs.

Functions take an open index connection from `session(store)`; all SQL is fixed and parameterized.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlnb.errors import NotFoundError
from mlnb.model_registry.names import ModelURI

@contextmanager
def session(store: Any) -> Iterator[Any]:
    """One index connection for a series of registry reads (one refresh, one consistent state)."""
    with store.index() as con:
        yield con


# Ingest: a version's status/description/tags change (NULL keeps the old value).
UPDATE_VERSION_SQL = (
    "UPDATE idx.model_versions SET status = coalesce(?, status), description = coalesce(?, description), "
    "tags = coalesce(?, tags) WHERE name = ? AND version = ?")
# Ingest settles an alias from its whole history, so the result does not depend on the order events
# arrive in: the move with the highest `seq` wins; moves without one (written before seqs existed)
# come first, in time order. A winning deletion (to_version NULL) leaves no alias.
CLEAR_ALIAS_SQL = "DELETE FROM idx.model_aliases WHERE name = ? AND alias = ?"
SETTLE_ALIAS_SQL = (
    "INSERT INTO idx.model_aliases SELECT name, alias, to_version, ts FROM ("
    " SELECT * FROM idx.alias_history WHERE name = ? AND alias = ?"
    " ORDER BY seq DESC NULLS LAST, ts DESC, to_version DESC NULLS LAST LIMIT 1"
    ") WHERE to_version IS NOT NULL")


def max_version(con: Any, name: str) -> int:
    """The highest version number of `name` the index knows (0 if none)."""
    return con.execute("SELECT max(version) FROM idx.model_versions WHERE name = ?", [name]).fetchone()[0] or 0


def max_alias_seq(con: Any, name: str, alias: str) -> int:
    """The highest step of `name@alias`'s history the index knows (0 if none)."""
    return con.execute("SELECT max(seq) FROM idx.alias_history WHERE name = ? AND alias = ?",
                       [name, alias]).fetchone()[0] or 0


def alias_version(con: Any, name: str, alias: str) -> int | None:
    """The version `name@alias` points at, or None."""
    row = con.execute("SELECT version FROM idx.model_aliases WHERE name = ? AND alias = ?", [name, alias]).fetchone()
    return row[0] if row else None


def aliases_of_version(con: Any, name: str, version: int) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT alias FROM idx.model_aliases WHERE name = ? AND version = ? ORDER BY 1", [name, version]).fetchall()]


def version_state(con: Any, name: str, version: int) -> tuple[str | None, str]:
    """(hidden-state verdict, status) of one version."""
    hidden, status = con.execute(
        "SELECT hidden_state, status FROM idx.model_versions WHERE name = ? AND version = ?", [name, version]
    ).fetchone()
    return hidden, status


def version_row(con: Any, name: str, version: int) -> dict[str, Any]:
    """The index row of one version, as a dict of column -> value."""
    cursor = con.execute("SELECT * FROM idx.model_versions WHERE name = ? AND version = ?", [name, version])
    columns = [d[0] for d in cursor.description]
    return dict(zip(columns, cursor.fetchone()))


def run_lineage(con: Any, run_id: str) -> dict[str, Any]:
    """Datasets the run's cells read, its notebook snapshot hash, its hidden-state verdict."""
    datasets = [r[0] for r in con.execute(
        "SELECT DISTINCT src_id FROM idx.lineage WHERE run_id = ? AND src_kind = 'dataset' ORDER BY 1", [run_id]
    ).fetchall()]
    notebook = con.execute(
        "SELECT hash FROM idx.artifacts WHERE run_id = ? AND path = 'notebook.ipynb'", [run_id]).fetchone()
    hidden = con.execute(
        "SELECT value FROM idx.tags WHERE run_id = ? AND key = 'mlnb.hidden_state'", [run_id]).fetchone()
    return {"datasets": datasets, "notebook": notebook[0] if notebook else None, "hidden": hidden[0] if hidden else None}


def resolve_version(con: Any, uri: str | ModelURI) -> tuple[str, int]:
    """(name, version) for a URI, or a one-line error listing what exists."""
    parsed = uri if isinstance(uri, ModelURI) else ModelURI.parse(uri)
    versions = [r[0] for r in con.execute(
        "SELECT version FROM idx.model_versions WHERE name = ? ORDER BY version", [parsed.name]).fetchall()]
    if not versions:
        names = [r[0] for r in con.execute("SELECT DISTINCT name FROM idx.model_versions ORDER BY 1").fetchall()]
        raise NotFoundError(f"no model named {parsed.name!r}; registered models: {', '.join(names) or 'none'}",
                            kind="model", name=parsed.name)
    if parsed.alias == "latest":
        return parsed.name, versions[-1]
    if parsed.alias is not None:
        version = alias_version(con, parsed.name, parsed.alias)
        if version is None:
            aliases = [r[0] for r in con.execute(
                "SELECT alias FROM idx.model_aliases WHERE name = ? ORDER BY 1", [parsed.name]).fetchall()]
            raise NotFoundError(f"model {parsed.name!r} has no alias {parsed.alias!r}; aliases: "
                                f"{', '.join(aliases + ['latest'])}", kind="alias", name=f"{parsed.name}@{parsed.alias}")
        return parsed.name, version
    if parsed.version is None or parsed.version not in versions:
        raise NotFoundError(f"model {parsed.name!r} has no version {parsed.version}; versions: "
                            f"{', '.join(map(str, versions))}", kind="version", name=f"{parsed.name}/{parsed.version}")
    return parsed.name, parsed.version


def models_frame(con: Any) -> Any:
    """One row per model: versions, latest version, aliases, last registered."""
    return con.execute(
        "SELECT v.name, count(*) AS versions, max(v.version) AS latest, "
        "(SELECT string_agg(a.alias || '=' || a.version, ', ' ORDER BY a.alias) FROM idx.model_aliases a "
        " WHERE a.name = v.name) AS aliases, max(v.created) AS last_registered "
        "FROM idx.model_versions v GROUP BY v.name ORDER BY v.name"
    ).df()


def versions_frame(con: Any, name: str) -> Any:
    """Versions of one model with their aliases (one row each)."""
    return con.execute(
        "SELECT v.version, v.status, (SELECT string_agg(a.alias, ', ' ORDER BY a.alias) FROM idx.model_aliases a "
        " WHERE a.name = v.name AND a.version = v.version) AS aliases, v.run_id, v.flavor, v.size, "
        "v.hidden_state, v.description, v.created, v.\"user\", v.host, v.mlnb_version "
        "FROM idx.model_versions v WHERE v.name = ? ORDER BY v.version",
        [name]).df()


def version_metrics(con: Any, name: str) -> Any:
    """The latest metrics of the runs that produced `name`'s versions (run_id, key, value)."""
    return con.execute(
        "SELECT m.run_id, m.key, m.value FROM idx.metric_latest m WHERE m.run_id IN "
        "(SELECT run_id FROM idx.model_versions WHERE name = ?)", [name]).df()


def alias_history_frame(con: Any, name: str) -> Any:
    """Every alias change of a model, oldest first."""
    return con.execute(
        'SELECT alias, from_version, to_version, "user", ts, reason FROM idx.alias_history '
        "WHERE name = ? ORDER BY ts", [name]).df()
