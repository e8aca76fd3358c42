"""Reads of capture's index tables (cells, datasets, lineage): one function each, plain records out."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mlnb.store.store import Store

CELL_COLUMNS = ("seq", "execution_count", "cell_id", "code", "code_hash", "status", "duration_s", "start_time",
                "details")
LINEAGE_COLUMNS = ("src_kind", "src_id", "dst_kind", "dst_id", "relation")


def cells(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every captured cell execution of a run (by full id), in order; `details` is parsed JSON."""
    with store.index() as con:
        rows = con.execute(f"SELECT {', '.join(CELL_COLUMNS)} FROM idx.cells WHERE run_id = ? ORDER BY seq",
                           [run_id]).fetchall()
    out = [dict(zip(CELL_COLUMNS, row)) for row in rows]
    for cell in out:
        details = cell["details"]
        cell["details"] = json.loads(details) if isinstance(details, str) else (details or {})
    return out


def run_lineage(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The lineage edges a run recorded, oldest first."""
    with store.index() as con:
        rows = con.execute(f"SELECT {', '.join(LINEAGE_COLUMNS)} FROM idx.lineage WHERE run_id = ? ORDER BY ts",
                           [run_id]).fetchall()
    return [dict(zip(LINEAGE_COLUMNS, row)) for row in rows]


def datasets(store: Store, fingerprints: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Fingerprint -> schema hash, kind, rows, cols and parsed profile, for the given fingerprints."""
    if not fingerprints:
        return {}
    with store.index() as con:
        rows = con.execute(
            f"SELECT fingerprint, schema_hash, kind, n_rows, n_cols, profile FROM idx.datasets "
            f"WHERE fingerprint IN ({', '.join('?' * len(fingerprints))})", list(fingerprints)).fetchall()
    return {fp: {"schema": schema, "kind": kind, "rows": n_rows, "cols": n_cols,
                 "profile": json.loads(profile) if isinstance(profile, str) else (profile or {})}
            for fp, schema, kind, n_rows, n_cols, profile in rows}


def datasets_seen(store: Store, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page of datasets, newest first): shape, first seen, the runs that read or wrote
    each, and the variable names it had."""
    with store.index() as con:
        total = con.execute("SELECT count(*) FROM idx.datasets").fetchone()[0]
        rows = con.execute(
            "WITH page AS (SELECT * FROM idx.datasets ORDER BY first_seen DESC, fingerprint LIMIT ? OFFSET ?), "
            "uses AS (SELECT l.src_id AS fp, l.run_id, l.relation FROM idx.lineage l WHERE l.src_kind = 'dataset' "
            "UNION ALL SELECT l.dst_id, l.run_id, l.relation FROM idx.lineage l WHERE l.dst_kind = 'dataset') "
            "SELECT p.fingerprint, p.kind, p.n_rows, p.n_cols, p.first_seen, "
            "list(DISTINCT u.run_id ORDER BY u.run_id) FILTER (WHERE u.run_id IS NOT NULL), "
            "list(DISTINCT split_part(u.relation, ':', 2)) FILTER (WHERE u.relation LIKE '%:%') "
            "FROM page p LEFT JOIN uses u ON u.fp = p.fingerprint "
            "GROUP BY ALL ORDER BY p.first_seen DESC, p.fingerprint", [limit, offset]).fetchall()
    return int(total), [{"fingerprint": fp, "kind": kind, "rows": n_rows, "cols": n_cols, "first_seen": seen,
                         "runs": list(runs or []), "names": sorted(n for n in (names or []) if n)}
                        for fp, kind, n_rows, n_cols, seen, runs, names in rows]
