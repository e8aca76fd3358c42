"""The DuckDB index: tables in schema `idx`, documented read-only views in `main`, migrations.

The index is derived from the event logs and can always be rebuilt from them, so a
migration may be plain DDL or a full rebuild.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlnb.errors import StoreVersionError

TABLES_V1 = """
CREATE SCHEMA IF NOT EXISTS idx;
CREATE TABLE IF NOT EXISTS idx.meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS idx.ingest_state (
    file VARCHAR PRIMARY KEY, "offset" BIGINT NOT NULL, lines BIGINT NOT NULL,
    bad_lines BIGINT NOT NULL DEFAULT 0, unknown_events BIGINT NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS idx.experiments (name VARCHAR PRIMARY KEY, created TIMESTAMP);
CREATE TABLE IF NOT EXISTS idx.runs (
    run_id VARCHAR PRIMARY KEY, experiment VARCHAR, name VARCHAR, status VARCHAR,
    parent_run_id VARCHAR, start_time TIMESTAMP, end_time TIMESTAMP, "user" VARCHAR,
    host VARCHAR, pid INTEGER, pid_start DOUBLE, notebook VARCHAR, git_commit VARCHAR);
CREATE TABLE IF NOT EXISTS idx.params (
    run_id VARCHAR, key VARCHAR, value VARCHAR, value_num DOUBLE, PRIMARY KEY (run_id, key));
CREATE TABLE IF NOT EXISTS idx.metrics (
    run_id VARCHAR, key VARCHAR, value DOUBLE, step BIGINT, ts TIMESTAMP);
CREATE TABLE IF NOT EXISTS idx.metric_latest (
    run_id VARCHAR, key VARCHAR, value DOUBLE, step BIGINT, ts TIMESTAMP, PRIMARY KEY (run_id, key));
CREATE TABLE IF NOT EXISTS idx.tags (
    run_id VARCHAR, key VARCHAR, value VARCHAR, PRIMARY KEY (run_id, key));
CREATE TABLE IF NOT EXISTS idx.artifacts (
    run_id VARCHAR, path VARCHAR, hash VARCHAR, size BIGINT, media_type VARCHAR, created TIMESTAMP,
    PRIMARY KEY (run_id, path));
CREATE TABLE IF NOT EXISTS idx.datasets (
    fingerprint VARCHAR PRIMARY KEY, schema_hash VARCHAR, kind VARCHAR, n_rows BIGINT,
    n_cols BIGINT, profile JSON, first_seen TIMESTAMP);
CREATE TABLE IF NOT EXISTS idx.cells (
    run_id VARCHAR, seq INTEGER, execution_count INTEGER, cell_id VARCHAR, code VARCHAR,
    code_hash VARCHAR, start_time TIMESTAMP, duration_s DOUBLE, status VARCHAR, details JSON,
    PRIMARY KEY (run_id, seq));
CREATE TABLE IF NOT EXISTS idx.lineage (
    run_id VARCHAR, src_kind VARCHAR, src_id VARCHAR, dst_kind VARCHAR, dst_id VARCHAR,
    relation VARCHAR, ts TIMESTAMP);
CREATE INDEX IF NOT EXISTS metrics_run_key ON idx.metrics (run_id, key);
"""

TABLES_V2 = """
CREATE TABLE IF NOT EXISTS idx.model_versions (
    name VARCHAR, version INTEGER, run_id VARCHAR, artifact_hash VARCHAR, artifact_path VARCHAR,
    flavor VARCHAR, size BIGINT, signature JSON, description VARCHAR, tags JSON, data JSON,
    notebook_hash VARCHAR, hidden_state VARCHAR, status VARCHAR, created TIMESTAMP, "user" VARCHAR,
    PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS idx.model_aliases (
    name VARCHAR, alias VARCHAR, version INTEGER, updated TIMESTAMP, PRIMARY KEY (name, alias));
CREATE TABLE IF NOT EXISTS idx.alias_history (
    name VARCHAR, alias VARCHAR, from_version INTEGER, to_version INTEGER, "user" VARCHAR,
    ts TIMESTAMP, reason VARCHAR);
"""

# Events that could not be typed are kept for inspection; whether a run's end was inferred by
# another process (a dead pid) so that the run's own end can outrank it. The tables are
# emptied so the events are read again: lines older versions skipped get quarantined, and
# `crashed` verdicts that raced a run's own end are resolved.
TABLES_V3 = """
CREATE TABLE IF NOT EXISTS idx.quarantine (
    file VARCHAR, line BIGINT, "offset" BIGINT, reason VARCHAR, raw VARCHAR, PRIMARY KEY (file, "offset"));
ALTER TABLE idx.runs ADD COLUMN IF NOT EXISTS end_inferred BOOLEAN;
""" + "".join(f"DELETE FROM idx.{table};\n" for table in (
    "ingest_state", "experiments", "runs", "params", "metrics", "metric_latest", "tags", "artifacts", "datasets",
    "cells", "lineage", "model_versions", "model_aliases", "alias_history"))

# Who registered a version: the host and mlnb version next to the existing "user".
TABLES_V4 = """
ALTER TABLE idx.model_versions ADD COLUMN IF NOT EXISTS host VARCHAR;
ALTER TABLE idx.model_versions ADD COLUMN IF NOT EXISTS mlnb_version VARCHAR;
"""

# The fingerprint scheme of each dataset (NULL: recorded before schemes were, i.e. scheme 1).
TABLES_V5 = """
ALTER TABLE idx.datasets ADD COLUMN IF NOT EXISTS scheme INTEGER;
"""

VIEWS_V2 = """
CREATE OR REPLACE VIEW model_versions AS SELECT * FROM idx.model_versions;
CREATE OR REPLACE VIEW model_aliases AS SELECT * FROM idx.model_aliases;
CREATE OR REPLACE VIEW alias_history AS SELECT * FROM idx.alias_history;
CREATE OR REPLACE VIEW quarantined_events AS SELECT file, line, "offset", reason, raw FROM idx.quarantine;
"""

# The user-facing views: what `mlnb.sql` and `%%mlnb_sql` query. Documented in the README.
VIEWS = """
CREATE OR REPLACE VIEW experiments AS SELECT name, created FROM idx.experiments;
CREATE OR REPLACE VIEW runs AS
    SELECT run_id, experiment, name, status, parent_run_id, start_time AS "start",
           end_time AS "end", date_diff('millisecond', start_time, end_time) / 1000.0 AS duration_s,
           "user", host, pid, notebook, git_commit
    FROM idx.runs;
CREATE OR REPLACE VIEW params AS SELECT run_id, key, value, value_num FROM idx.params;
CREATE OR REPLACE VIEW metrics AS SELECT run_id, key, value, step, ts AS "timestamp" FROM idx.metrics;
CREATE OR REPLACE VIEW latest_metrics AS
    SELECT run_id, key, value, step, ts AS "timestamp" FROM idx.metric_latest;
CREATE OR REPLACE VIEW tags AS SELECT run_id, key, value FROM idx.tags;
CREATE OR REPLACE VIEW artifacts AS SELECT run_id, path, hash, size, media_type, created FROM idx.artifacts;
CREATE OR REPLACE VIEW datasets AS SELECT * FROM idx.datasets;
CREATE OR REPLACE VIEW cells AS SELECT * FROM idx.cells;
CREATE OR REPLACE VIEW lineage AS SELECT * FROM idx.lineage;
"""

VIEW_NAMES = (
    "experiments", "runs", "params", "metrics", "latest_metrics", "tags", "artifacts",
    "datasets", "cells", "lineage", "model_versions", "model_aliases", "alias_history", "quarantined_events",
)


@dataclass(frozen=True)
class Migration:
    """One named step from `version - 1` to `version`."""

    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", TABLES_V1),
    Migration(2, "model registry", TABLES_V2),
    Migration(3, "quarantine and inferred run ends", TABLES_V3),
    Migration(4, "who registered a model version", TABLES_V4),
    Migration(5, "fingerprint scheme of each dataset", TABLES_V5),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(con: Any) -> int:
    """The version recorded in the index (0 for a new, empty database)."""
    import duckdb

    try:
        row = con.execute("SELECT value FROM idx.meta WHERE key = 'schema_version'").fetchone()
    except duckdb.CatalogException:  # a new, empty database
        return 0
    return int(row[0]) if row else 0


def migrate(con: Any) -> int:
    """Bring the index to SCHEMA_VERSION; returns the version found before."""
    found = schema_version(con)
    if found > SCHEMA_VERSION:
        raise StoreVersionError(
            f"this store's index has schema v{found} but this mlnb knows v{SCHEMA_VERSION}; "
            "upgrade mlnb (pip install -U mlnb)"
        )
    if found == SCHEMA_VERSION:
        return found
    con.execute("BEGIN")
    try:
        for migration in MIGRATIONS:
            if migration.version > found:
                con.execute(migration.sql)
        con.execute(VIEWS)
        con.execute(VIEWS_V2)
        con.execute(
            "INSERT OR REPLACE INTO idx.meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return found


def forget_ingested(con: Any) -> None:
    """Empty every index table so the next ingest reads all events again (an in-place rebuild).

    Used after an upgrade when an older mlnb had skipped event types it did not know.
    """
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'idx' AND table_name != 'meta' "
        "AND table_type = 'BASE TABLE'").fetchall()]
    con.execute("BEGIN")
    for table in tables:
        con.execute(f'DELETE FROM idx."{table}"')  # names come from DuckDB's own catalog
    con.execute("COMMIT")
