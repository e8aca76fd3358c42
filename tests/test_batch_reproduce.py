"""`mlnb reproduce`: a seeded notebook reproduces; an unseeded one diverges at the right cell."""
from __future__ import annotations

from pathlib import Path

import pytest

import mlnb
from mlnb.batch import run
from mlnb.batch.reproduce import reproduce
from mlnb.store.store import Store
from tests.cliutil import assert_one_line_error
from tests.nbutil import make_notebook

pytestmark = pytest.mark.slow

CELLS = [
    "seed = 0\nrows = 1000",
    "import numpy as np\nimport pandas as pd\nframe = pd.DataFrame({'x': np.arange(rows), 'y': np.arange(rows) % 7})",
    "{split}",
    "import mlnb\nscore = float(train['y'].mean())\nmlnb.log_metric('score', score)\nprint(round(score, 6))",
]


def _notebook(tmp_path: Path, split: str) -> Path:
    cells = [c.replace("{split}", split) for c in CELLS]
    return make_notebook(cells, tmp_path / "split.ipynb", tags={0: ["parameters"]})


def test_seeded_notebook_reproduces(store: Store, tmp_path: Path) -> None:
    path = _notebook(tmp_path, "train = frame.sample(frac=0.7, random_state=seed)")
    original = run(path, {"rows": 500}, experiment="repro")
    assert original.ok
    result = reproduce(original.run_id)
    assert result.verdict == "reproduced", result.summary()
    again = mlnb.get_run(result.reproduction_run_id)
    assert again.params["rows"] == "500" and again.tags["mlnb.reproduces"] == original.run_id
    edge = mlnb.sql("SELECT src_id FROM lineage WHERE relation = 'reproduces' AND dst_id = ?", [again.run_id])
    assert edge["src_id"].tolist() == [original.run_id]


def test_unseeded_split_diverges_at_that_cell(store: Store, tmp_path: Path) -> None:
    path = _notebook(tmp_path, "train = frame.sample(frac=0.7)")
    original = run(path, {}, experiment="repro")
    result = reproduce(original.run_id)
    assert result.verdict == "diverged"
    assert result.cell == 3 and "train fingerprint differs" in result.differences[0]
    assert result.cause == "randomness without a seed (.sample)"
    assert "diverged at cell 3" in result.summary()


def test_reproduce_cli_exit_codes(store: Store, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlnb.cli import cli

    seeded = run(_notebook(tmp_path, "train = frame.sample(frac=0.7, random_state=1)"), {}, experiment="repro")
    runner = CliRunner()
    ok = runner.invoke(cli, ["--store", str(store.root), "reproduce", seeded.run_id[:10]])
    assert ok.exit_code == 0 and "reproduced" in ok.output
    unknown = runner.invoke(cli, ["--store", str(store.root), "reproduce", "ffffffffff"])
    assert_one_line_error(unknown, "error: no run")
