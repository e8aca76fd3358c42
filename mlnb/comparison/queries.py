"""Reads the lineage graph needs: dataset and variable lookups, edges, node descriptions.

Plain records out. `lineage_graph` runs a whole walk inside `store.queries.one_view`, so these
share one index connection and one state of the index. Model references read the registry's
tables (`model_versions`, `model_aliases`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlnb.store.store import Store

Node = tuple[str, str]  # (kind, id)
Edge = tuple[str, str, str, str, str]  # src_kind, src_id, dst_kind, dst_id, relation


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def datasets_by_prefix(store: Store, prefix: str, limit: int = 2) -> list[str]:
    """Fingerprints starting with `prefix` (at most `limit`)."""
    with store.index() as con:
        return [r[0] for r in con.execute("SELECT fingerprint FROM idx.datasets WHERE starts_with(fingerprint, ?) "
                                          "LIMIT ?", [prefix, limit]).fetchall()]


def model_version(store: Store, name: str, ref: str) -> int | None:
    """The version `ref` (a number, `latest` or an alias) of model `name` names, if that version exists."""
    with store.index() as con:
        if ref.isdigit():
            row: Any = (int(ref),)
        elif ref == "latest":
            row = con.execute("SELECT max(version) FROM idx.model_versions WHERE name = ?", [name]).fetchone()
        else:
            row = con.execute("SELECT version FROM idx.model_aliases WHERE name = ? AND alias = ?",
                              [name, ref]).fetchone()
        if row and con.execute("SELECT 1 FROM idx.model_versions WHERE name = ? AND version = ?",
                               [name, row[0]]).fetchone():
            return int(row[0])
    return None


def model_run(store: Store, name: str, version: int) -> str | None:
    """The run that registered a model version (None if unknown or registered outside a run)."""
    with store.index() as con:
        row = con.execute("SELECT run_id FROM idx.model_versions WHERE name = ? AND version = ?",
                          [name, version]).fetchone()
    return row[0] if row and row[0] else None


def last_bound(store: Store, variable: str) -> Node | None:
    """The data a variable last held, else the cell that last bound it (None if no cell did)."""
    with store.index() as con:
        for relation, side in ((f"wrote:{variable}", "dst"), (f"var:{variable}", "src"), (f"read:{variable}", "src")):
            # `side` is one of two fixed names, never user text
            row = con.execute(f"SELECT {side}_kind, {side}_id FROM idx.lineage WHERE relation = ? "
                              "ORDER BY ts DESC LIMIT 1", [relation]).fetchone()
            if row is not None:
                return row[0], row[1]
    return None


def run_nodes(store: Store, run_id: str) -> list[Node]:
    """Every node a run's lineage edges touch."""
    with store.index() as con:
        return [(r[0], r[1]) for r in con.execute(
            "SELECT DISTINCT src_kind, src_id FROM idx.lineage WHERE run_id = ? UNION "
            "SELECT DISTINCT dst_kind, dst_id FROM idx.lineage WHERE run_id = ?", [run_id, run_id]).fetchall()]


def edges_into(store: Store, ids: Sequence[str], upstream: bool) -> list[Edge]:
    """Lineage edges whose destination (`upstream`) or source id is one of `ids`."""
    if not ids:
        return []
    side = "dst" if upstream else "src"
    with store.index() as con:
        return con.execute(f"SELECT src_kind, src_id, dst_kind, dst_id, relation FROM idx.lineage "
                           f"WHERE {side}_id IN ({_marks(ids)})", list(ids)).fetchall()


def dataset_shapes(store: Store, fingerprints: Sequence[str]) -> list[tuple[str, str, int, int]]:
    """(fingerprint, kind, rows, cols) of the given datasets."""
    if not fingerprints:
        return []
    with store.index() as con:
        return con.execute(f"SELECT fingerprint, kind, n_rows, n_cols FROM idx.datasets WHERE fingerprint IN "
                           f"({_marks(fingerprints)})", list(fingerprints)).fetchall()


def cell_summaries(store: Store, cell_ids: Sequence[str]) -> list[tuple[str, int, str, str, int]]:
    """(run_id, seq, code, status, execution_count) of the given `run_id:seq` cells."""
    if not cell_ids:
        return []
    with store.index() as con:
        return con.execute("SELECT run_id, seq, code, status, execution_count FROM idx.cells "
                           f"WHERE run_id || ':' || seq IN ({_marks(cell_ids)})", list(cell_ids)).fetchall()
