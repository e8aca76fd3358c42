"""`mlnb.batch.run` / `mlnb run`: papermill executions as tracked runs."""
from __future__ import annotations

from pathlib import Path

import pytest

import mlnb
from mlnb.batch import run
from mlnb.store.store import Store
from tests.cliutil import assert_one_line_error
from tests.nbutil import make_notebook

pytestmark = pytest.mark.slow


@pytest.fixture
def train_nb(tmp_path: Path) -> Path:
    return make_notebook([
        "lr = 0.1\nepochs = 2",
        "import pandas as pd\nframe = pd.DataFrame({'x': range(100)})\nscore = lr * epochs\n"
        "import mlnb\nmlnb.log_metric('score', score)\nprint('score', score)",
        "if lr > 1:\n    raise ValueError('lr too big')",
        "with open('model.txt', 'w') as f:\n    f.write(str(score))",
    ], tmp_path / "train.ipynb", tags={0: ["parameters"]})


def test_run_records_params_cells_and_the_executed_notebook(store: Store, train_nb: Path) -> None:
    result = run(train_nb, {"lr": 0.5}, experiment="batch")
    assert result.ok and result.error is None
    record = mlnb.get_run(result.run_id)
    assert record.status == "finished" and record.name == "train" and record.experiment == "batch"
    assert record.params == {"lr": "0.5", "epochs": "2"} and record.metrics["score"] == 1.0
    assert record.tags["mlnb.kind"] == "batch" and record.notebook == str(train_nb)
    executed = {a["path"] for a in record.artifacts}
    assert {"executed.ipynb", "notebook.ipynb", "environment/packages.txt"} <= executed
    codes = mlnb.sql("SELECT code FROM cells WHERE run_id = ? ORDER BY seq", [result.run_id])["code"].tolist()
    assert codes[0] == "lr = 0.1\nepochs = 2" and codes[1].startswith("# Parameters")
    assert not any("mlnb_batch" in code for code in codes)  # the hidden cells are not the user's
    import nbformat

    output = nbformat.read(result.output, as_version=4)
    assert not any("mlnb_batch" in c.source for c in output.cells)
    assert "score 1.0" in "".join(o.get("text", "") for o in output.cells[2].outputs)
    assert (train_nb.parent / "model.txt").read_text() == "1.0"  # cwd is the notebook's folder


def test_failing_cell_marks_the_run_failed(store: Store, train_nb: Path) -> None:
    result = run(train_nb, {"lr": 5}, experiment="batch")
    assert not result.ok and result.status == "failed"
    assert result.error == "cell 3 (execution 4) raised ValueError: lr too big" or \
        result.error.startswith("cell 3 ") and "ValueError: lr too big" in result.error
    record = mlnb.get_run(result.run_id)
    assert record.status == "failed" and "ValueError: lr too big" in record.tags["mlnb.error"]
    cells = mlnb.sql("SELECT status FROM cells WHERE run_id = ? ORDER BY seq", [result.run_id])["status"].tolist()
    assert cells[-1] == "error"


def test_cli_run_exit_codes_and_messages(store: Store, train_nb: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlnb.cli import cli

    runner = CliRunner()
    ok = runner.invoke(cli, ["--store", str(store.root), "run", str(train_nb), "-p", "lr=0.25", "-p", "epochs=4",
                             "-o", str(tmp_path / "out.ipynb")])
    assert ok.exit_code == 0, ok.output
    assert "finished" in ok.output and (tmp_path / "out.ipynb").exists()
    params_file = tmp_path / "params.yaml"
    params_file.write_text("lr: 3\nepochs: 1\n")
    bad = runner.invoke(cli, ["--store", str(store.root), "run", str(train_nb), "-f", str(params_file)])
    assert_one_line_error(bad, "ValueError: lr too big")
    missing = runner.invoke(cli, ["--store", str(store.root), "run", str(tmp_path / "nope.ipynb")])
    assert_one_line_error(missing, "error: no notebook at")
    badparam = runner.invoke(cli, ["--store", str(store.root), "run", str(train_nb), "-p", "lr"])
    assert_one_line_error(badparam, "use -p name=value")
    statuses = sorted(mlnb.runs()["status"].tolist())
    assert statuses == ["failed", "finished"]
    assert mlnb.runs(filter="status = 'finished'")["params.lr"].tolist() == [0.25]
