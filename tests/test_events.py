"""The event format is declared once (mlnb/events.py): what mlnb writes is what it declares, writers
build events only through it, ingest types values as declared, and docs/EVENTS.md says the same.

Wrong-typed lines in hand-written logs are also covered by
tests/test_hardening_records.py::test_wrong_typed_lines_are_quarantined_and_the_rest_ingested and the
property test tests/test_ingest_hostile.py; the test here derives its lines from the declarations.
"""
from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import mlnb
from mlnb import events
from mlnb.store import queries
from mlnb.store.store import Store

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mlnb"
ALLOWED_EVENT_DICTS = {PACKAGE / "events.py"}


def _event_lines(store: Store) -> list[tuple[str, int, Any]]:
    """(file, line number, decoded JSON) of every line of the store's event logs."""
    store.writer.flush(sync=True)
    out = []
    for path in sorted((store.root / "events").glob("*.jsonl")):
        for number, line in enumerate(path.read_bytes().split(b"\n")[:-1], 1):
            out.append((path.name, number, orjson.loads(line)))
    return out


class _Shell:
    """A real in-process IPython shell with mlnb's capture loaded (as tests/test_capture_shell.py)."""

    def __init__(self) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.sh = InteractiveShell.instance()
        self.sh.run_line_magic("load_ext", "mlnb")
        self.session = mlnb.capture.session_for(self.sh)

    def run(self, code: str, cell_id: str) -> None:
        result = self.sh.run_cell(code, store_history=True, cell_id=cell_id)
        assert result.success, result.error_in_exec

    def close(self) -> None:
        self.session.wait()
        if self.session.run is not None and self.session.run.status == "running":
            self.session.stop("killed")
        self.session.run, self.session.paused = None, False
        self.session.pending_params.clear()


def test_everything_a_workload_writes_is_declared_and_valid(store: Store, tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

    from mlnb import model_registry as reg

    # Given a workload that touches every writer that is cheap to drive in-process:
    # a run with params, metrics (nan, inf, -inf), tags and an artifact, a child run, a failed run
    with mlnb.start_run(experiment="events", name="train", params={"lr": 0.1, "opt": "adam"}) as run:
        mlnb.log_params({"depth": 3, "flag": True, "nan": float("nan")})
        for step, value in enumerate([0.5, float("nan"), float("inf"), float("-inf"), 0.25]):
            mlnb.log_metric("loss", value, step=step)
        mlnb.log_metrics({"acc": 0.9, "f1": 0.8})
        mlnb.set_tags({"team": "a", "n": 1})
        (tmp_path / "notes.txt").write_text("hello")
        run.log_artifact(tmp_path / "notes.txt")
        run.log_artifact(b"raw bytes", name="raw.bin")
        with mlnb.start_run(name="child"):
            mlnb.log_metric("x", 1)
    with pytest.raises(RuntimeError), mlnb.start_run(name="fails"):
        raise RuntimeError("boom")
    # a run of a process that is gone (this pid, another start time): a reader infers `crashed`
    store.writer.emit(events.event("run_start", run="c" * 32, exp="events", name="gone", t=time.time(),
                                   host=socket.gethostname(), pid=os.getpid(), pid_start=1.0))
    store.writer.flush(sync=True)
    assert queries.sql(store, "SELECT status FROM runs WHERE run_id = ?", ["c" * 32])["status"].tolist() \
        == ["crashed"]
    # a registered model (with its reference profile), a monitoring check, aliases, an update and an evaluation
    data = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0], "y": [0, 0, 1, 1]})
    with mlnb.start_run(name="fit"):
        model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(data[["a", "b"]], data["y"])
        reg.register_model(model, "tree", data=data[["a", "b"]], description="first")
    mlnb.monitor("tree/1", data[["a", "b"]], name="same data")  # the version's reference profile came with data=
    reg.set_alias("tree", "champion", 1, reason="only one")
    reg.update_version("tree", 1, description="updated", tags={"k": "v"})
    mlnb.evaluate(["tree@champion"], data=data, target="y")
    # a serving engine on the champion: one answer, one refusal, a switch, heartbeats; and feedback
    _serve_once(store, data[["a", "b"]])
    reg.delete_alias("tree", "champion")
    # and a captured notebook session whose cells read and write frames and log a metric
    shell = _Shell()
    try:
        shell.run("%track start --name captured", "c0")
        shell.run("import pandas as pd\nframe = pd.DataFrame({'a': [1, 2, 3]})", "c1")
        shell.run("doubled = frame * 2\nimport mlnb\nmlnb.log_metric('total', float(doubled['a'].sum()))", "c2")
        shell.run("print('out')", "c3")
        shell.run("%track stop", "c4")
    finally:
        shell.close()

    # When every line of the event logs is read back
    lines = _event_lines(store)

    # Then each is an event of a declared type whose fields have their declared types
    problems = [f"{name}:{number}: {problem}" for name, number, ev in lines for problem in events.validate(ev)]
    assert problems == []
    # And the workload did reach every writer it was meant to (so the check above checked them)
    written = {ev["e"] for _, _, ev in lines}
    assert written == set(events.EVENT_TYPES), set(events.EVENT_TYPES) - written
    assert any(ev["e"] == "run_end" and ev.get("inferred") is True for _, _, ev in lines)
    assert {p.get("x") for _, _, ev in lines if ev["e"] == "metrics" for p in ev["m"]} >= {"nan", "inf", "-inf"}
    # And nothing was quarantined or left unknown by ingest
    with store.index() as con:  # ingests what is new
        state = con.execute("SELECT sum(bad_lines), sum(unknown_events) FROM idx.ingest_state").fetchone()
    assert tuple(state) == (0, 0)


def _serve_once(store: Store, frame: Any) -> None:
    import asyncio

    from mlnb.serving.archive import new_request_id
    from mlnb.serving.config import ServeConfig
    from mlnb.serving.engine import Engine

    async def serve() -> str:
        engine = Engine(ServeConfig("tree@champion"), store)
        await engine.start()
        request_id = new_request_id()
        answer = await engine.answer(frame, {k: frame[k].tolist() for k in frame.columns}, request_id, time.time())
        assert answer.status == "ok"
        engine.record_refusal(new_request_id(), time.time(), ["missing column 'a'"])
        engine.archive.record_switch("champion", 1, 1, 1.5, "switched")
        await engine.stop()
        return request_id

    request_id = asyncio.run(serve())
    mlnb.log_feedback(request_id, [0, 0, 1, 1], project=store)


def _event_dict_literals(path: Path) -> list[int]:
    """Line numbers of dict displays in `path` with an "e" key (an event built by hand)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Dict)
            and any(isinstance(key, ast.Constant) and key.value == "e" for key in node.keys)]


def test_no_event_is_built_by_hand_outside_mlnb_events() -> None:
    # Given every module of the package
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50
    # When they are scanned for dict displays with an "e" key
    found = [f"{path.relative_to(ROOT)}:{line}" for path in modules if path not in ALLOWED_EVENT_DICTS
             for line in _event_dict_literals(path)]
    # Then there are none: events are built with mlnb.events.event(...)
    assert found == []


def test_the_scan_finds_an_event_built_by_hand(tmp_path: Path) -> None:
    # Given a module that builds an event as a dict (as the writers once did)
    module = tmp_path / "writer.py"
    module.write_text('def f(w, r):\n    w.emit({"e": "tags", "run": r, "tags": []})\n')
    # Then the scan of the test above reports its line
    assert _event_dict_literals(module) == [2]


def test_event_refuses_what_is_not_declared() -> None:
    # Given the declarations, when an event of an undeclared type or with an undeclared field is built
    with pytest.raises(TypeError, match="undeclared event type 'runstart'"):
        events.event("runstart", run="a")
    with pytest.raises(TypeError, match=r"has no field\(s\) \['exp_name'\]"):
        events.event("run_start", run="a", exp_name="x")
    # Then a declared one is built with "e" first and the keys in the order given
    built = events.event("run_end", run="a", status="finished", t=1.0)
    assert list(built) == ["e", "run", "status", "t"] and built["e"] == "run_end"


def test_the_fast_metrics_event_is_the_declared_one() -> None:
    # Given the hand-written constructor of the log_metric path
    points = [{"k": "loss", "v": 0.5, "s": 0}]
    # When it builds an event, then it is the one event() builds, key order included, and it validates
    built = events.metrics_event("r" * 32, points, 2.0)
    assert orjson.dumps(built) == orjson.dumps(events.event("metrics", run="r" * 32, m=points, t=2.0))
    assert events.validate(built) == []


def test_validate_names_each_problem() -> None:
    # Given events with one problem each, then validate names it; a good event has none
    good = {"e": "metrics", "run": "r", "m": [{"k": "a", "v": None, "x": "nan", "s": 0}], "t": 1.0}
    assert events.validate(good) == []
    cases = {
        "not a JSON object": [1],
        'no "e"': {"run": "r"},
        "undeclared event type 'nope'": {"e": "nope"},
        "undeclared field 'extra'": {**good, "extra": 1},
        'no "run"': {**good, "run": None},
        '"t" is not number': {**good, "t": "yesterday"},
        '"s" is not int': {**good, "m": [{"k": "a", "v": 1.0, "s": 1.5}]},
        '"v" is null and "x" is not one of': {**good, "m": [{"k": "a", "v": None, "s": 0}]},
        "undeclared key 'y'": {**good, "m": [{"k": "a", "v": 1.0, "s": 0, "y": 1}]},
        '"m" is not a list': {**good, "m": {"k": "a"}},
        '"inferred" is not bool': {"e": "run_end", "run": "r", "t": 1.0, "status": "crashed", "inferred": 1},
        '"pid" is not int': {"e": "run_start", "run": "r", "t": 1.0, "pid": True},
    }
    for expected, ev in cases.items():
        problems = events.validate(ev)
        assert len(problems) == 1 and expected in problems[0], (expected, problems)


# --- decoding: ingest types every field as declared -----------------------------------------

_SAMPLE = {events.TEXT: "x", events.NUMBER: 1.5, events.INT: 1, events.BOOL: True, events.JSON: {"a": [1]},
           events.PARAMS: [{"k": "a", "v": "1", "n": 1.0}], events.METRICS: [{"k": "a", "v": 1.0, "s": 0}],
           events.TAGS: [{"k": "a", "v": "b"}]}
_WRONG = {events.TEXT: 12345, events.NUMBER: "x", events.INT: "x", events.BOOL: "x",
          events.PARAMS: "x", events.METRICS: "x", events.TAGS: "x"}  # json: any value is one


def _sample(spec: events.EventType) -> dict[str, Any]:
    """A valid event of `spec`: every field with a value of its declared type."""
    values = {f.name: _SAMPLE[f.type] for f in spec.fields}
    meaningful = {"t": 1.7e9, "status": "finished", "run": "d" * 32}  # a time, a run status, a run id
    return events.event(spec.name, **{k: meaningful.get(k, v) for k, v in values.items()})


def test_ingest_types_every_declared_field_as_declared(store: Store) -> None:
    # Given one valid event of every declared type, each followed by copies with one field wrong-typed
    lines, wrong = [], []
    for spec in events.EVENT_TYPES.values():
        good = _sample(spec)
        assert events.validate(good) == []
        lines.append(good)
        for field in spec.fields:
            if field.type in _WRONG:
                lines.append({**good, field.name: _WRONG[field.type]})
                wrong.append((len(lines), f"{spec.name}.{field.name}"))
    folder = store.root / "events"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "20260101T000000-declared-1-aaaaaaaa.jsonl").write_bytes(
        b"".join(orjson.dumps(ev) + b"\n" for ev in lines))
    # When the store is queried (which ingests the log)
    bad = queries.sql(store, "SELECT line FROM quarantined_events ORDER BY line")["line"].tolist()
    with store.index() as con:
        state = con.execute("SELECT lines, bad_lines, unknown_events FROM idx.ingest_state "
                            "WHERE file LIKE '%declared%'").fetchone()
    # Then exactly the wrong-typed lines are quarantined: every valid one is typed into the index
    assert [(line, what) for line, what in wrong if line not in bad] == []
    assert sorted(bad) == [line for line, _ in wrong]
    assert tuple(state) == (len(lines), len(wrong), 0)
    # And the valid events landed in their tables
    assert queries.sql(store, "SELECT status FROM runs WHERE run_id = ?", ["d" * 32])["status"].tolist() == \
        ["finished"]
    for table in ("params", "metrics", "tags", "artifacts", "cells", "datasets", "lineage", "model_versions",
                  "alias_history", "profiles", "monitoring", "serve_answers", "serve_feedback", "serve_switches",
                  "serve_status"):
        assert len(queries.sql(store, f"SELECT * FROM {table}")) == 1, table


def test_core_schema_and_core_events_come_from_the_declarations() -> None:
    from mlnb.store import ingest

    # Given the declarations, then ingest's core events and parse schema are derived from them
    assert ingest.CORE_EVENTS == tuple(n for n, s in events.EVENT_TYPES.items() if s.owner == "core")
    core_fields = {f.name for n in ingest.CORE_EVENTS for f in events.EVENT_TYPES[n].fields}
    assert set(ingest._event_schema().names) == core_fields | {"e"}
    # And a declaration that gave a core field another type is refused (it could never be ingested)
    original = events.EVENT_TYPES["cell"]
    clash = events.EventType("cell", "capture", original.doc,
                             (*original.fields[:1], events.Field("size", events.TEXT)))
    events.EVENT_TYPES["cell"] = clash
    try:
        with pytest.raises(TypeError, match="declares 'size' as text"):
            ingest._core_fields()
    finally:
        events.EVENT_TYPES["cell"] = original


def test_the_hostile_ingest_property_test_uses_only_declared_fields() -> None:
    from tests.test_ingest_hostile import SPECS

    # Given the field lists the property test draws events from, then each is declared
    assert set(SPECS) == set(events.EVENT_TYPES)
    assert {kind: sorted(set(fields) - events.EVENT_TYPES[kind].field_names) for kind, fields in SPECS.items()} \
        == {kind: [] for kind in SPECS}


# --- the documentation ------------------------------------------------------------------------

def test_events_doc_is_up_to_date_with_the_declarations() -> None:
    # Given docs/EVENTS.md, when its generator checks it, then it matches mlnb/events.py
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_events_doc.py"), "--check"],
                            check=False, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = (ROOT / "docs" / "EVENTS.md").read_text(encoding="utf-8")
    for name, spec in events.EVENT_TYPES.items():
        assert f"### `{name}`" in doc
        assert all(f"| `{f.name}` | {f.type} |" in doc for f in spec.fields), name
    assert f"Format version: **{events.FORMAT_VERSION}**" in doc


def test_events_doc_check_fails_when_a_declaration_changes(tmp_path: Path) -> None:
    # Given a copy of the doc with one field's type edited by hand
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_events_doc
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    doc = (ROOT / "docs" / "EVENTS.md").read_text(encoding="utf-8")
    edited = doc.replace("| `pid` | int |", "| `pid` | text |")
    assert edited != doc
    # Then rendering it again restores the declared type
    assert gen_events_doc.render(edited) == doc


def test_a_store_records_its_format_and_warns_of_a_newer_one(tmp_path: Path) -> None:
    """The format version is recorded in the store; events of a newer format are kept and said once."""
    import warnings

    from mlnb.errors import NewerFormatWarning
    from tests.projectutil import connected_project

    with connected_project(tmp_path / "p") as project:
        with mlnb.start_run(name="now"):
            mlnb.log_metric("m", 1.0)
        store = project.store
        assert store.claims.read(f"format/{events.FORMAT_VERSION}") == b""
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing to say while only this format was written
            assert len(mlnb.runs()) == 1
        # a newer mlnb writes an event type this one does not know, and marks its format
        assert store.claims.create(f"format/{events.FORMAT_VERSION + 1}", b"")
        with open(next((store.root / "events").glob("*.jsonl")), "ab") as handle:
            handle.write(b'{"e": "hologram", "run": "x", "t": 1.0}\n')
        with pytest.warns(NewerFormatWarning, match="newer mlnb"):
            assert len(mlnb.runs()) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # said once per process
            assert len(mlnb.runs()) == 1
