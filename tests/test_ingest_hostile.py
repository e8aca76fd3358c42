"""Property: ingest never raises on well-formed JSON lines with hostile values; every valid event
lands, every line that cannot be typed is quarantined (file and line number), and a rebuild
gives the same index."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlnb.store.store import Store

INT32, INT64 = 2**31 - 1, 2**63 - 1

# Per event type (core and handler types): each field and the kind of value it takes.
SPECS: dict[str, dict[str, str]] = {
    "run_start": {"run": "id", "t": "time", "exp": "text", "name": "text", "parent": "text", "user": "text",
                  "host": "text", "nb": "text", "git": "text", "pid": "pid", "pid_start": "float"},
    "run_end": {"run": "id", "status": "id", "t": "time"},
    "params": {"run": "id", "p": "params"},
    "metrics": {"run": "id", "t": "time", "m": "points"},
    "tags": {"run": "id", "tags": "tags"},
    "artifact": {"run": "id", "path": "id", "hash": "text", "size": "int64", "media": "text", "t": "time"},
    "cell": {"run": "id", "seq": "int32!", "ec": "int32", "cell_id": "text", "code": "text", "code_hash": "text",
             "t": "time", "dur": "float", "status": "text", "details": "json"},
    "dataset": {"fp": "id", "schema": "text", "kind": "text", "rows": "int64", "cols": "int64", "profile": "json",
                "t": "time"},
    "lineage": {"run": "text", "src_kind": "text", "src_id": "text", "dst_kind": "text", "dst_id": "text",
                "rel": "text", "t": "time"},
    "model_version": {"name": "id", "version": "int32!", "run": "text", "hash": "text", "path": "text",
                      "flavor": "text", "size": "int64", "signature": "json", "description": "text",
                      "labels": "json", "data": "json", "nb": "text", "hidden": "text", "t": "time", "user": "text"},
    "model_version_update": {"name": "id", "version": "int32!", "status": "text", "description": "text",
                             "labels": "json"},
    "alias": {"name": "id", "alias": "id", "from": "int32", "version": "int32", "user": "text", "t": "time",
              "reason": "text"},
    "profile": {"id": "id", "fp": "text", "rows": "int64", "cols": "int64", "model": "text", "version": "int32",
                "t": "time"},
    "monitor": {"id": "id", "model": "id", "version": "int32!", "t": "time", "rows": "int64", "status": "id",
                "validation": "text", "drifted": "int32", "fp": "text", "report": "text", "summary": "json",
                "reference": "text", "run": "text", "name": "text"},
    "serve_answer": {"id": "id", "t": "time", "model": "id", "server": "text", "status": "id", "returned": "int32",
                     "alias": "text", "rows": "int64", "input": "json", "answers": "json", "ms": "float",
                     "err": "text"},
    "serve_feedback": {"id": "id", "label": "json!", "t": "time", "user": "text"},
    "serve_switch": {"server": "id", "model": "id", "alias": "id", "from": "int32", "version": "int32",
                     "t": "time", "ms": "float", "status": "id", "err": "text"},
    "serve_status": {"server": "id", "t": "time", "model": "id", "url": "text", "host": "text", "pid": "int32",
                     "state": "id", "aliases": "json", "shadows": "json", "requests": "int64", "deadline": "float",
                     "started": "time"},
}

text = st.text(max_size=12)  # any unicode (no lone surrogates: JSON cannot carry them), empty included
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | text, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=6)
not_text = st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.booleans() \
    | st.lists(st.integers(), max_size=2) | st.dictionaries(text, st.integers(), max_size=2)
not_number = text | st.booleans() | st.lists(st.integers(), max_size=2) | st.dictionaries(text, text, max_size=2)
not_int = not_number | st.floats(allow_nan=False, allow_infinity=False).map(lambda x: x + 0.5 if x == int(x) else x)


def _points(key: Any, value: Any = st.none() | st.floats(allow_nan=False, allow_infinity=False),
            step: Any = st.none() | st.integers(-INT64, INT64),
            special: Any = st.sampled_from([None, "nan", "inf", "-inf"])) -> Any:
    return st.fixed_dictionaries({"k": key, "v": value, "s": step, "x": special})


VALID = {
    "id": text, "text": st.none() | text, "json": json_values, "json!": json_values.filter(lambda v: v is not None),
    "time": st.none() | st.floats(0, 4e9), "float": st.none() | st.floats(allow_nan=False, allow_infinity=False),
    "pid": st.none() | st.integers(0, INT32),
    "int32": st.none() | st.integers(-INT32, INT32), "int32!": st.integers(-INT32, INT32),
    "int64": st.none() | st.integers(-INT64, INT64),
    "params": st.lists(st.fixed_dictionaries({"k": text, "v": st.none() | text,
                                              "n": st.none() | st.floats(allow_nan=False, allow_infinity=False)}),
                       max_size=3),
    "points": st.lists(_points(text), max_size=3),
    "tags": st.lists(st.fixed_dictionaries({"k": text, "v": st.none() | text}), max_size=3),
}
HOSTILE = {
    "id": st.none() | not_text, "text": not_text,
    "time": st.sampled_from([1e300, -1e300, 2**70, 1e13]) | not_number,
    "float": not_number,
    "pid": st.sampled_from([2**40, -1, 2**64]) | not_int,
    "int32": st.sampled_from([2**31, 2**40, -(2**40), 2**64]) | not_int,
    "int64": st.sampled_from([2**63, 2**64, -(2**70)]) | not_int,
    "params": st.sampled_from([[{"v": "no key"}], [None], {"k": "a"}, "p", [{"k": 5}], [{"k": "a", "v": 1}]]),
    "points": st.lists(_points(st.none()), min_size=1, max_size=2) | st.sampled_from(
        [[{"k": "a", "x": "not a number"}], [{"k": "a", "s": 1.5}], [{"k": "a", "v": "1"}], [{"k": "a", "s": 2**64}],
         [None], {"k": "a"}]),
    "tags": st.sampled_from([[{"v": "no key"}], [{"k": "a", "v": 5}], [None], {"k": "a"}, 7]),
}
HOSTILE["int32!"] = st.none() | HOSTILE["int32"]
HOSTILE["json!"] = st.none()  # a required JSON field (any value) is only wrong when missing or null
GARBAGE = st.sampled_from([b"[1, 2]", b"42", b'"text"', b"null", b"{", b"", b"{}", b'{"e": 5}', b"nul",
                           b'{"e": "run_start", "run": "x", "t": NaN}', b'{"e": "cell", "run": "x", "seq": 1, "t": NaN}'])


@st.composite
def event_lines(draw: Any) -> tuple[bytes, str, dict[str, Any] | None]:
    """One line and what it is: ("valid", event), ("bad", None) or ("unknown", None)."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(GARBAGE), "bad", None
    if choice == 1:
        return json.dumps({"e": "from_a_newer_mlnb", "x": draw(json_values)}).encode(), "unknown", None
    kind = draw(st.sampled_from(sorted(SPECS)))
    spec = SPECS[kind]
    event: dict[str, Any] = {"e": kind}
    for field, field_kind in spec.items():
        event[field] = draw(VALID[field_kind])
    verdict = "valid"
    hostile_fields = [f for f, k in spec.items() if k in HOSTILE]
    if choice >= 6:
        field = draw(st.sampled_from(hostile_fields))
        if draw(st.booleans()) and spec[field] in ("id", "int32!", "json!"):
            del event[field]  # a required field missing
        else:
            event[field] = draw(HOSTILE[spec[field]])
        verdict = "bad"
    line = json.dumps(event, ensure_ascii=draw(st.booleans()), allow_nan=False).encode()
    return line, verdict, event if verdict == "valid" else None


def _snapshot(store: Store) -> dict[str, list]:
    queries = {
        "runs": "SELECT run_id, name, experiment, status, pid FROM idx.runs",
        "params": "SELECT * FROM idx.params", "metrics": "SELECT run_id, key, value, step FROM idx.metrics",
        "latest": "SELECT run_id, key, value, step FROM idx.metric_latest", "tags": "SELECT * FROM idx.tags",
        "artifacts": "SELECT run_id, path, hash, size FROM idx.artifacts",
        "cells": "SELECT run_id, seq, code, start_time FROM idx.cells", "datasets": "SELECT * FROM idx.datasets",
        "lineage": "SELECT * FROM idx.lineage", "versions": "SELECT * FROM idx.model_versions",
        "aliases": "SELECT * FROM idx.model_aliases", "history": "SELECT * FROM idx.alias_history",
        "profiles": "SELECT * FROM idx.profiles", "monitoring": "SELECT * FROM idx.monitoring",
        "serve_answers": "SELECT * FROM idx.serve_answers", "serve_results": "SELECT * FROM idx.serve_results",
        "serve_feedback": "SELECT * FROM idx.serve_feedback", "serve_switches": "SELECT * FROM idx.serve_switches",
        "serve_status": "SELECT * FROM idx.serve_status",
        "quarantine": "SELECT file, line, \"offset\", reason FROM idx.quarantine",
        "state": "SELECT file, \"offset\", lines, bad_lines, unknown_events FROM idx.ingest_state",
    }
    with store.index() as con:
        return {name: sorted(map(repr, con.execute(sql).fetchall())) for name, sql in queries.items()}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=st.lists(st.lists(event_lines(), min_size=1, max_size=12), min_size=1, max_size=2))
def test_ingest_quarantines_hostile_lines_and_keeps_every_valid_event(tmp_path_factory, files) -> None:
    # Given event files mixing valid events, wrong-typed events, garbage and unknown event types
    root = tmp_path_factory.mktemp("hostile") / ".mlnb"
    store = Store.open(root, create=True)
    try:
        expected_bad, valid, unknown = set(), [], 0
        for number, lines in enumerate(files):
            name = f"2026010{number}T000000-h-{number}-{uuid.uuid4().hex[:8]}.jsonl"
            (root / "events" / name).write_bytes(b"".join(line + b"\n" for line, _, _ in lines))
            for line_no, (_, verdict, event) in enumerate(lines, start=1):
                if verdict == "bad":
                    expected_bad.add((name, line_no))
                elif verdict == "unknown":
                    unknown += 1
                else:
                    valid.append(event)
        # When the index is read (ingest never raises)
        before = _snapshot(store)
        # Then exactly the bad lines are quarantined, with a reason, and unknown types are counted
        with store.index() as con:
            quarantined = con.execute("SELECT file, line, reason FROM idx.quarantine").fetchall()
            assert {(f, n) for f, n, _ in quarantined} == expected_bad
            assert all(reason for _, _, reason in quarantined)
            assert con.execute("SELECT sum(unknown_events) FROM idx.ingest_state").fetchone()[0] == unknown
            _assert_landed(con, valid)
        # And a rebuild gives the same index
        store.rebuild()
        assert _snapshot(store) == before
    finally:
        store.close()
        Store.forget(store.root)


def _assert_landed(con: Any, valid: list[dict[str, Any]]) -> None:
    """Every valid event is in the index (append-only tables: exactly as many rows)."""
    def has(sql: str, *args: Any) -> bool:
        return con.execute(sql, list(args)).fetchone()[0] > 0

    def count(table: str) -> int:
        return con.execute(f"SELECT count(*) FROM idx.{table}").fetchone()[0]

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in valid:
        by_kind.setdefault(event["e"], []).append(event)
    for ev in by_kind.get("run_start", []) + by_kind.get("run_end", []):
        assert has("SELECT count(*) FROM idx.runs WHERE run_id = ?", ev["run"]), ev
    for ev in by_kind.get("params", []):
        for item in ev["p"]:
            assert has("SELECT count(*) FROM idx.params WHERE run_id = ? AND key = ?", ev["run"], item["k"]), ev
    assert count("metrics") == sum(len(ev["m"]) for ev in by_kind.get("metrics", []))
    for ev in by_kind.get("tags", []):
        for item in ev["tags"]:
            assert has("SELECT count(*) FROM idx.tags WHERE run_id = ? AND key = ?", ev["run"], item["k"]), ev
    for ev in by_kind.get("artifact", []):
        assert has("SELECT count(*) FROM idx.artifacts WHERE run_id = ? AND path = ?", ev["run"], ev["path"]), ev
    for ev in by_kind.get("cell", []):
        assert has("SELECT count(*) FROM idx.cells WHERE run_id = ? AND seq = ?", ev["run"], ev["seq"]), ev
    for ev in by_kind.get("dataset", []):
        assert has("SELECT count(*) FROM idx.datasets WHERE fingerprint = ?", ev["fp"]), ev
    assert count("lineage") == len(by_kind.get("lineage", []))
    for ev in by_kind.get("model_version", []):
        assert has("SELECT count(*) FROM idx.model_versions WHERE name = ? AND version = ?",
                   ev["name"], ev["version"]), ev
    assert count("alias_history") == len(by_kind.get("alias", []))
    assert count("profiles") == len(by_kind.get("profile", []))
    for ev in by_kind.get("monitor", []):
        assert has("SELECT count(*) FROM idx.monitoring WHERE check_id = ?", ev["id"]), ev
    for kind, table, column, field in (("serve_answer", "serve_answers", "request_id", "id"),
                                       ("serve_feedback", "serve_feedback", "request_id", "id"),
                                       ("serve_status", "serve_status", "server", "server")):
        for ev in by_kind.get(kind, []):
            assert has(f"SELECT count(*) FROM idx.{table} WHERE {column} = ?", ev[field]), ev
    assert count("serve_switches") == len(by_kind.get("serve_switch", []))
