"""`mlnb sweep`: parallel child runs under one parent, best run, resume, random search, failures."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import mlnb
from mlnb.batch.sweeps import combinations, sweep
from mlnb.cli import cli
from mlnb.errors import MlnbError
from mlnb.store.store import Store
from tests.cliutil import assert_one_line_error
from tests.nbutil import make_notebook

pytestmark = pytest.mark.slow


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return make_notebook([
        "lr = 0.1\ndepth = 3\nepochs = 1",
        "if depth > 8:\n    raise ValueError('depth too large')",
        "import mlnb\nmlnb.log_metric('score', lr * depth)",
    ], tmp_path / "train.ipynb", tags={0: ["parameters"]})


def test_grid_with_two_workers_best_and_resume(store: Store, notebook: Path) -> None:
    grid = {"lr": [0.1, 0.2], "depth": [3, 5]}
    result = sweep(notebook, grid, workers=2, metric="score", progress=False)
    assert [r["params"] for r in result.rows] == combinations(grid)
    assert {r["status"] for r in result.rows} == {"finished"} and not any(r["skipped"] for r in result.rows)
    children = mlnb.runs(filter=f"parent_run_id = '{result.parent_run_id}'")
    assert len(children) == 4 and set(children["status"]) == {"finished"}
    assert sorted(children["metrics.score"].round(3)) == [0.3, 0.5, 0.6, 1.0]
    assert mlnb.get_run(result.parent_run_id).status == "finished"
    assert result.best["params"] == {"lr": 0.2, "depth": 5}
    low = sweep(notebook, grid, metric="score", maximize=False, progress=False)
    assert all(r["skipped"] for r in low.rows) and low.best["params"] == {"lr": 0.1, "depth": 3}
    assert len(mlnb.runs(filter="parent_run_id is not null")) == 4  # nothing ran again
    forced = sweep(notebook, grid, force=True, progress=False)
    assert not any(r["skipped"] for r in forced.rows)
    assert len(mlnb.runs(filter="parent_run_id is not null")) == 8


def test_random_search_is_reproducible() -> None:
    grid = {"lr": [0.1, 0.01, 0.001], "depth": [2, 4, 6, 8]}
    first, again = combinations(grid, random=5, seed=3), combinations(grid, random=5, seed=3)
    assert first == again and len(first) == 5 and len({tuple(c.items()) for c in first}) == 5
    assert len(combinations(grid, random=50, seed=1)) == 12


def test_a_failing_combination_does_not_stop_the_others(store: Store, notebook: Path) -> None:
    result = sweep(notebook, {"depth": [3, 9]}, metric="score", progress=False)
    statuses = {r["params"]["depth"]: r["status"] for r in result.rows}
    assert statuses == {3: "finished", 9: "failed"}
    failed = next(r for r in result.rows if r["status"] == "failed")
    assert "ValueError: depth too large" in failed["error"]
    assert mlnb.get_run(result.parent_run_id).status == "failed"
    assert "1 failed" in result.summary() and "best: run" in result.summary()


def test_cli_sweep(store: Store, notebook: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["--store", str(store.root), "sweep", str(notebook), "--grid", "lr=0.1,0.3",
                             "--metric", "score"])
    assert ok.exit_code == 0, ok.output
    assert "2 combinations, 0 failed" in ok.output and "best: run" in ok.output and "lr=0.3" in ok.output
    bad = runner.invoke(cli, ["--store", str(store.root), "sweep", str(notebook), "--grid", "lr"])
    assert_one_line_error(bad, "error: bad --grid 'lr'")
    all_failed = runner.invoke(cli, ["--store", str(store.root), "sweep", str(notebook), "--grid", "depth=10"])
    assert_one_line_error(all_failed, "every run of sweep")
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]
    unreachable = runner.invoke(cli, ["--store", str(store.root), "sweep", str(notebook), "--grid", "lr=0.1",
                                      "--executor", "dask", "--address", f"tcp://127.0.0.1:{nobody}"])
    assert_one_line_error(unreachable, "cannot reach the Dask scheduler")
    with pytest.raises(MlnbError, match="at least one --grid"):
        combinations({})
