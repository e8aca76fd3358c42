"""A store written by the released mlnb (commit 0b555ec) still reads the same with today's code.

Every other test writes and reads with the same code, so a change that made existing `.mlnb`
folders unreadable, or silently changed fingerprints (lineage) or pipeline cache keys, would pass
them all. The fixture `fixtures/store_v0/` holds the old store's source of truth (event logs and
blobs, no index) and `fixtures/store_v0_expected.json` what the old code read from it; both were
written by `fixtures/make_store_v0.py` running on the old code. Regenerate them only on purpose.

To run this against another checkout, copy tests/ elsewhere first: pytest puts the rootdir (this
checkout, because of tests/__init__.py) ahead of PYTHONPATH, so this checkout's mlnb is imported.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlnb
from mlnb.store.store import Store
from tests.projectutil import connected_project

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "store_v0_expected.json").read_text(encoding="utf-8"))
_spec = importlib.util.spec_from_file_location("make_store_v0", FIXTURES / "make_store_v0.py")
v0 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(v0)  # the same read-back code the old version ran: collect(), reference_objects()


@pytest.fixture
def old_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The v0 fixture copied to tmp_path/.mlnb (events + blobs only), opened with today's code."""
    monkeypatch.delenv("MLNB_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES / "store_v0" / "mlnb", tmp_path / ".mlnb")
    shutil.copytree(FIXTURES / "store_v0" / "pipeline", tmp_path / "pipeline")
    assert not (tmp_path / ".mlnb" / "mlnb.duckdb").exists()  # the index is built from the old events
    with connected_project(tmp_path / ".mlnb", create=False) as connected:
        yield connected.store


def _assert_reads_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal results; a row may gain attribute columns, never params/metrics/tags or changed values."""
    assert set(actual) >= set(expected)
    for section, want in expected.items():
        got = actual[section]
        if section == "run_columns":
            grew = set(got) - set(want)
            assert not {c for c in grew if c.split(".")[0] in ("params", "metrics", "tags")}, grew
            assert set(want) <= set(got), set(want) - set(got)
            continue
        assert _trim(got, want) == want, f"{section} reads differently from the store written by the old mlnb"


def _trim(got: Any, want: Any) -> Any:
    """`got` without fields `want` lacks (new fields are allowed), except new params/metrics/tags."""
    if isinstance(want, dict) and isinstance(got, dict):
        keep = set(want) | {k for k in got if k.startswith(("params.", "metrics.", "tags."))}
        return {k: _trim(got[k], want.get(k)) for k in keep if k in got}
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [_trim(g, w) for g, w in zip(got, want)]
    return got


def _quarantined() -> int:
    try:
        return int(mlnb.sql("SELECT count(*) AS n FROM quarantined_events")["n"][0])
    except mlnb.MlnbError as exc:  # an mlnb without a quarantine view quarantines nothing
        assert "quarantined_events" in str(exc)
        return 0


def test_old_store_reads_the_same(old_store: Store) -> None:
    # Given a store written by mlnb 0b555ec, When today's mlnb builds its index and reads it
    results = v0.collect(mlnb)
    # Then every query result is the one the old code read, and no old event was refused
    _assert_reads_same(results, EXPECTED["results"])
    assert _quarantined() == 0
    assert len(results["runs"]) == 11 and results["lineage"] and results["datasets"] and results["cells"]


def test_old_store_captured_cells_and_dataset(old_store: Store) -> None:
    captured = [r for r in v0.collect(mlnb)["runs"] if r["name"] == "captured"]
    assert len(captured) == 1
    cells = [c for c in v0.collect(mlnb)["cells"] if c["run_id"] == captured[0]["run_id"]]
    assert [c["code"] for c in cells] == v0.CAPTURE_CELLS
    frame_fp = EXPECTED["fingerprints"]["capture_frame"]["fingerprint"]["hash"]
    assert cells[0]["details"]["writes"] == {"frame": frame_fp}
    assert {r["fingerprint"] for r in v0.collect(mlnb)["datasets"]} >= {frame_fp}


def test_rebuild_reads_the_same(old_store: Store, tmp_path: Path) -> None:
    v0.collect(mlnb)  # an index exists (built on open), then the real CLI rebuilds it from the events
    env = {**os.environ, "PYTHONPATH": str(Path(mlnb.__file__).resolve().parent.parent)}  # this mlnb
    cli = "from mlnb.cli import main; main()"  # what the `mlnb` console script runs
    done = subprocess.run([sys.executable, "-c", cli, "--store", str(tmp_path / ".mlnb"), "store", "rebuild"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    _assert_reads_same(v0.collect(mlnb), EXPECTED["results"])
    assert _quarantined() == 0


def test_old_models_load(old_store: Store) -> None:
    import numpy as np

    champion = mlnb.load_model("churn@champion", allow_pickle=True)
    assert type(champion).__name__ == "LogisticRegression" and champion.C == 0.5
    archived = mlnb.load_model("churn/1", allow_pickle=True)
    import pandas as pd

    frame = pd.DataFrame({"f1": np.linspace(0, 1, 20), "f2": np.linspace(1, 0, 20)})  # as trained
    assert archived.C == 1.0 and archived.predict(frame).tolist() == [0] * 10 + [1] * 10
    folder = mlnb.load_model("folder-model/1")  # a files-only model loads without opting in to pickles
    assert (Path(folder) / "weights" / "w.txt").read_text() == "0.5 0.25\n"


def test_old_pipeline_is_all_cache_hits(old_store: Store, tmp_path: Path) -> None:
    from mlnb.batch.pipelines import run_pipeline

    # Given the pipeline that ran under the old mlnb, with its outputs deleted
    pipeline = tmp_path / "pipeline"
    assert not (pipeline / "data").exists()
    # When it runs again, unchanged: every step is found by its cache key (no kernel starts)
    result = run_pipeline(pipeline / "pipeline.yaml", workers=1)
    rows = {name: (row["status"], row["run_id"]) for name, row in result.rows.items()}
    assert rows == {name: ("cached", run_id) for name, run_id in EXPECTED["pipeline"]["runs"].items()}
    assert (pipeline / "summary.txt").read_text() == "total=12\n"
    # and the keys computed today are the recorded ones
    assert v0.pipeline_keys(pipeline) == EXPECTED["pipeline"]["keys"]


def _fingerprints(group: str) -> tuple[dict[str, Any], dict[str, Any]]:
    expected = {k: v["fingerprint"] for k, v in EXPECTED["fingerprints"].items() if v["group"] == group}
    actual = {k: v["fingerprint"] for k, v in v0.fingerprints(mlnb).items() if v["group"] == group}
    return actual, expected


def test_numeric_reference_fingerprints_are_identical() -> None:
    # numeric, float with NaN/inf, bool, categorical frames and numpy arrays: these hashes key
    # lineage and dataset identity in every existing store; they must never change.
    # Note: a categorical's categories are hashed like any column of their dtype, so string
    # categories go through the string path: a new string scheme must leave this frame's hash alone.
    actual, expected = _fingerprints("stable")
    assert len(expected) >= 9
    assert actual == expected


def test_reference_fingerprints_are_unchanged() -> None:
    # Strings (object and default str), datetimes (naive, with NaT, tz-aware), nullable Int64,
    # Arrow tables and the captured frame. A DOCUMENTED fingerprint scheme version change (e.g.
    # issue 18's versioned scheme) may change these: then update this expectation deliberately,
    # keeping the old hashes readable/mapped as that scheme documents. Never regenerate it silently.
    actual, expected = _fingerprints("versioned")
    assert len(expected) >= 9
    # Fingerprint scheme 2 (issue 18, `mlnb.fingerprint.SCHEME`) changed exactly these, on purpose
    changed = EXPECTED["fingerprint_scheme_2"]["changed"]
    assert set(changed) == {"object_strings_frame", "mixed_frame", "tz_frame", "capture_frame"}
    assert actual == {**expected, **changed}
    assert all(actual[name]["hash"] != expected[name]["hash"] for name in changed)


def test_datasets_record_their_fingerprint_scheme(old_store: Store) -> None:
    # Given the old store (its dataset recorded before schemes were) and a dataset captured today
    import pandas as pd

    from mlnb.capture.records import emit_dataset
    from mlnb.fingerprint import SCHEME, fingerprint
    from mlnb.fingerprint_compat import scheme_of

    frame = pd.DataFrame({"s": pd.Series(["a", "b"], dtype=object), "n": [1, 2]})
    with mlnb.start_run(experiment="today") as run:
        emit_dataset(run, "frame", fingerprint(frame))
    # When the datasets are read back
    rows = {row["fingerprint"]: row for row in mlnb.sql("SELECT * FROM datasets").to_dict("records")}
    # Then today's carries the current scheme and the old ones read as scheme 1
    assert scheme_of(rows[fingerprint(frame).hash]) == SCHEME == 2
    old = [row for fp, row in rows.items() if fp != fingerprint(frame).hash]
    assert old and all(scheme_of(row) == 1 for row in old)
