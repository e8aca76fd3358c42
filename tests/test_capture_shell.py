"""Capture driven through a real in-process IPython shell: magics and the hidden-state check."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlnb
from mlnb.store.store import Store


@pytest.fixture
def shell(store: Store):
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "mlnb")
    session = mlnb.capture.session_for(sh)
    yield sh
    if session.run is not None and session.run.status == "running":
        session.stop("killed")
    session.run, session.paused = None, False
    session.pending_params.clear()


def run(sh, code: str, cell_id: str | None = None):
    result = sh.run_cell(code, store_history=True, cell_id=cell_id)
    return result


def _session(sh):
    return mlnb.capture.session_for(sh)


def _cells(run_id: str) -> list[dict]:
    _session_wait()
    rows = mlnb.sql("SELECT * FROM cells WHERE run_id = ? ORDER BY seq", [run_id]).to_dict("records")
    for row in rows:
        row["details"] = json.loads(row["details"])
    return rows


def _session_wait() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    _session(InteractiveShell.instance()).wait()


def test_clean_top_to_bottom_session(shell, capsys) -> None:
    run(shell, "%track start --name clean")
    run(shell, "a = 1", cell_id="c1")
    run(shell, "b = a + 1", cell_id="c2")
    assert _session(shell).hidden_state() == ("clean", [])
    run(shell, "%track stop")
    record = mlnb.runs(filter="name = 'clean'").iloc[0]
    assert record["tags.mlnb.hidden_state"] == "clean"


def test_edited_and_rerun_cell_makes_inputs_stale(shell) -> None:
    run(shell, "%track start --name stale")
    run(shell, "x = 10", cell_id="load")
    run(shell, "y = x * 2", cell_id="use")
    run(shell, "z = 5  # the load cell was edited: it no longer sets x", cell_id="load")
    state, problems = _session(shell).hidden_state()
    assert state == "stale-inputs"
    assert "read 'x'" in problems[0] and "edited since" in problems[0]
    run(shell, "%track stop")
    tags = mlnb.get_run(mlnb.runs(filter="name = 'stale'").iloc[0]["run_id"]).tags
    assert tags["mlnb.hidden_state"] == "stale-inputs" and "read 'x'" in tags["mlnb.hidden_state.details"]


def test_reading_from_a_cell_further_down_is_out_of_order(shell, tmp_path: Path, monkeypatch) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("b = a + 1"), nbformat.v4.new_code_cell("a = 1")]
    nb.cells[0].id, nb.cells[1].id = "top", "bottom"
    path = tmp_path / "order.ipynb"
    nbformat.write(nb, path)
    monkeypatch.setenv("MLNB_NOTEBOOK", str(path))
    run(shell, "%track start --name disorder")
    run(shell, "a = 1", cell_id="bottom")
    run(shell, "b = a + 1", cell_id="top")
    state, problems = _session(shell).hidden_state()
    assert state == "out-of-order" and "further down" in problems[0]
    # deleting the writer cell from the notebook makes it stale
    nb.cells = nb.cells[:1]
    nbformat.write(nb, path)
    assert _session(shell).hidden_state()[0] == "stale-inputs"


def test_pause_resume_step_metrics_and_data_magics(shell, capsys) -> None:
    run(shell, "%track start --name magics")
    run(shell, "import numpy as np\narr = np.arange(10)")
    run(shell, "%track pause")
    run(shell, "hidden = 1")
    run(shell, "%track resume")
    run(shell, "%%track prepare\nprepared = arr * 2")
    run(shell, "acc = 0.75\n%track metrics acc --step 3")
    run(shell, "%track data arr")
    out = capsys.readouterr().out
    assert "numpy.ndarray 10x1 fingerprint" in out
    run(shell, "%track status")
    assert "cells captured:" in capsys.readouterr().out
    run_id = _session(shell).run.id
    run(shell, "%track stop")
    codes = [c["code"] for c in _cells(run_id)]
    assert "hidden = 1" not in codes
    step = next(c for c in _cells(run_id) if c["code"].strip() == "prepared = arr * 2")
    assert step["details"]["step"] == "prepare"
    history = mlnb.metric_history(run_id, "acc")
    assert history[["step", "value"]].values.tolist() == [[3, 0.75]]


def test_track_help_and_cell_magic_opens_a_run(shell, capsys) -> None:
    run(shell, "%track --help")
    assert "%track start" in capsys.readouterr().out
    run(shell, "%%track quick-step\nq = 1")
    session = _session(shell)
    assert session.run is not None and session.run.name == "quick-step"


def test_live_state_tells_the_capture_state_of_a_run_being_recorded(shell) -> None:
    # Given a tracked session whose second cell read a variable an edited cell then rebound
    run(shell, "%track start --name live")
    run_id = _session(shell).run.id
    run(shell, "a = 1", cell_id="c1")
    run(shell, "b = a + 1", cell_id="c2")
    run(shell, "a = 2", cell_id="c1")
    # When the registry (or anyone) asks through the public function
    state = mlnb.capture.live_state(run_id)
    # Then it gets the verdict so far and the cell count, and every cell is already in the store
    assert state is not None and state.run_id == run_id and state.cells_captured == 3
    assert state.hidden_state == "stale-inputs" and state.problems
    assert mlnb.sql("SELECT count(*) AS n FROM cells WHERE run_id = ?", [run_id])["n"][0] == 3
    # And a run this process does not record (unknown, or ended) has no live state
    assert mlnb.capture.live_state("no-such-run") is None
    run(shell, "%track stop")
    assert mlnb.capture.live_state(run_id) is None
