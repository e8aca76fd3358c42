"""`mlnb pipeline`: validation, dependency order, content-hash cache, failures, the DAG view."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlnb
from mlnb.batch.pipelines import load_pipeline, pipeline_view, run_pipeline
from mlnb.cli import cli
from mlnb.errors import MlnbError
from mlnb.store.store import Store
from tests.cliutil import assert_one_line_error
from tests.nbutil import make_notebook

EXAMPLE = Path(__file__).resolve().parent.parent / "example-notebooks" / "pipeline"
pytestmark = pytest.mark.slow


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    folder = tmp_path / "pipeline"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("data", "model.joblib"))
    return folder / "pipeline.yaml"


def _statuses(result) -> dict[str, str]:
    return {name: row["status"] for name, row in result.rows.items()}


def test_validation_errors_name_the_place(pipeline: Path) -> None:
    text = pipeline.read_text()
    cases = {
        "steps:\n  a: [unclosed\n": "pipeline.yaml line 3",
        text.replace("needs: [train]", "needs: [training]"): "needs unknown step 'training'",
        text.replace("needs: [prepare]", "needs: [evaluate]"): "cycle: train -> evaluate -> train",
        text.replace("notebook: train.ipynb", "notebook: missing.ipynb"): "notebook missing.ipynb not found",
        text.replace("params: {C: 1.0}", "params: [1, 2]"): "'params' must be a mapping",
        text.replace("name: digits", "nmae: digits"): "unknown key(s) nmae",
    }
    for content, expected in cases.items():
        pipeline.write_text(content)
        with pytest.raises(MlnbError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            load_pipeline(pipeline)


def test_run_cache_change_force_and_failure(store: Store, pipeline: Path) -> None:
    first = run_pipeline(pipeline, workers=2)
    assert _statuses(first) == {"prepare": "ran", "train": "ran", "evaluate": "ran"}
    steps = mlnb.runs(filter=f"parent_run_id = '{first.parent_run_id}'")
    assert len(steps) == 3 and 0.9 < steps["metrics.test_accuracy"].max() <= 1.0
    train_run = mlnb.get_run(first.rows["train"]["run_id"])
    assert {a["path"] for a in train_run.artifacts} >= {"outputs/model.joblib"}
    # nothing changed: every step is a cache hit and deleted outputs come back
    (pipeline.parent / "model.joblib").unlink()
    shutil.rmtree(pipeline.parent / "data")
    second = run_pipeline(pipeline)
    assert _statuses(second) == {"prepare": "cached", "train": "cached", "evaluate": "cached"}
    assert (pipeline.parent / "model.joblib").is_file() and (pipeline.parent / "data" / "test.csv").is_file()
    # a changed param reruns that step and its dependents only
    third = run_pipeline(pipeline, params_override={"train": {"C": 0.5}})
    assert _statuses(third) == {"prepare": "cached", "train": "ran", "evaluate": "ran"}
    assert mlnb.get_run(third.rows["train"]["run_id"]).params["C"] == "0.5"
    forced = run_pipeline(pipeline, force=["evaluate"], params_override={"train": {"C": 0.5}})
    assert _statuses(forced) == {"prepare": "cached", "train": "cached", "evaluate": "ran"}
    # a failing step stops its dependents and fails the pipeline run
    failed = run_pipeline(pipeline, params_override={"train": {"C": -1}})
    assert _statuses(failed) == {"prepare": "cached", "train": "failed", "evaluate": "skipped"}
    assert "ValueError: C must be positive" in failed.rows["train"]["error"]
    assert mlnb.get_run(failed.parent_run_id).status == "failed"
    figure = pipeline_view(failed)
    nodes = figure.data[1]
    assert list(nodes.text) == ["prepare", "train", "evaluate"]
    assert list(nodes.customdata) == ["cached", "failed", "skipped"]


def test_independent_steps_both_run_and_cli(store: Store, pipeline: Path) -> None:
    # evaluate no longer waits for train and fails on its own (a deterministic error: reading a
    # placeholder model raced with train writing the real one); report still needs train
    text = pipeline.read_text().replace("    needs: [train]\n", "    needs: [prepare]\n").replace(
        "inputs: [model.joblib, data/test.csv]", "inputs: [data/test.csv]").replace(
        "notebook: evaluate.ipynb", "notebook: broken.ipynb")
    make_notebook(["raise ValueError('this step is broken')"], pipeline.parent / "broken.ipynb")
    pipeline.write_text(text + "  report:\n    notebook: evaluate.ipynb\n    needs: [train]\n"
                               "    inputs: [model.joblib, data/test.csv]\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", str(store.root), "pipeline", str(pipeline), "--workers", "2"])
    assert_one_line_error(result, "error: pipeline digits failed at step evaluate")
    assert "train" in result.output and "report" in result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("  ")}
    assert "ran in" in rows["train"] and "ran in" in rows["report"] and "FAILED" in rows["evaluate"]
    bad = runner.invoke(cli, ["--store", str(store.root), "pipeline", str(pipeline), "--set", "trainC=1"])
    assert_one_line_error(bad, "use --set step.param=value")
