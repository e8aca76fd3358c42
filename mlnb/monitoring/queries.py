"""Every monitoring query against the index (profiles and checks); all SQL fixed and parameterized.

Functions take an open index connection from `session(store)`.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def session(store: Any) -> Iterator[Any]:
    """One index connection for a series of reads (one refresh, one consistent state)."""
    with store.index() as con:
        yield con


def reference_profile_id(con: Any, name: str, version: int) -> str | None:
    """The id (blob hash) of the latest profile stored for model version `name/version`, or None."""
    row = con.execute(
        "SELECT id FROM idx.profiles WHERE model = ? AND version = ? ORDER BY created DESC, id LIMIT 1",
        [name, version]).fetchone()
    return str(row[0]) if row else None


def profile_id_for_fingerprint(con: Any, fingerprint: str) -> str | None:
    """The id of the latest profile stored for the data with this fingerprint, or None."""
    row = con.execute(
        "SELECT id FROM idx.profiles WHERE fingerprint = ? ORDER BY created DESC, id LIMIT 1",
        [fingerprint]).fetchone()
    return str(row[0]) if row else None


def profile_exists(con: Any, profile_id: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM idx.profiles WHERE id = ?", [profile_id]).fetchone()[0])


HISTORY_COLUMNS = ("check_id", "model", "version", "ts", "n_rows", "status", "validation", "drifted", "summary",
                   "name", "fingerprint", "reference", "report", "run_id")


def history(con: Any, name: str, version: int | None = None) -> list[dict[str, Any]]:
    """The checks of model `name` (one version, or all), oldest first, as dicts."""
    cursor = con.execute(
        "SELECT check_id, model, version, ts, n_rows, status, validation, drifted, summary, name, fingerprint, "
        "reference, report, run_id FROM idx.monitoring WHERE model = ? AND (? IS NULL OR version = ?) "
        "ORDER BY ts, check_id", [name, version, version])
    return [dict(zip(HISTORY_COLUMNS, row)) for row in cursor.fetchall()]


LATEST_COLUMNS = ("model", "version", "check_id", "ts", "n_rows", "status", "validation", "drifted", "checks")


def latest_checks(con: Any) -> list[dict[str, Any]]:
    """The latest check of every monitored model version (and how many it has), by model and version."""
    cursor = con.execute(
        "SELECT model, version, check_id, ts, n_rows, status, validation, drifted, "
        "count(*) OVER (PARTITION BY model, version) AS checks FROM idx.monitoring "
        "QUALIFY row_number() OVER (PARTITION BY model, version ORDER BY ts DESC, check_id DESC) = 1 "
        "ORDER BY model, version")
    return [dict(zip(LATEST_COLUMNS, row)) for row in cursor.fetchall()]


CHECK_COLUMNS = ("check_id", "model", "version", "ts", "n_rows", "status", "validation", "drifted", "report",
                 "reference", "fingerprint", "name", "run_id")


def checks_with_prefix(con: Any, prefix: str, limit: int = 2) -> list[dict[str, Any]]:
    """Checks whose id starts with `prefix` (lowercase hex only: the caller checks it), at most `limit`."""
    cursor = con.execute(
        "SELECT check_id, model, version, ts, n_rows, status, validation, drifted, report, reference, fingerprint, "
        "name, run_id FROM idx.monitoring WHERE starts_with(check_id, ?) ORDER BY check_id LIMIT ?", [prefix, limit])
    return [dict(zip(CHECK_COLUMNS, row)) for row in cursor.fetchall()]
