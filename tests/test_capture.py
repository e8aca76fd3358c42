"""Notebook capture in a real kernel: %track magics, cell records, fingerprints, lineage."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlnb
from mlnb.store.store import Store
from tests.nbutil import execute, make_notebook, stdout_of

pytestmark = pytest.mark.slow

CELLS = [
    "%load_ext mlnb",
    "%track start --experiment capture --name first --tag team=ml",
    "import pandas as pd\nimport numpy as np\ndf = pd.DataFrame({'a': range(1000), 'b': ['x', 'y'] * 500})\nprint('rows', len(df))",
    "df['c'] = df['a'] * 2",  # in-place mutation of df
    "import mlnb\ntotal = int(df['c'].sum())\nmlnb.log_metric('total', total)\ntotal",
    "1 / 0",
    "lr = 0.05\n%track params lr total",
    "%track status",
    "%track stop",
]


@pytest.fixture
def executed(store: Store, tmp_path: Path) -> tuple[object, Store]:
    path = make_notebook(CELLS, tmp_path / "capture.ipynb")
    nb = execute(path, {"MLNB_HOME": str(store.root)})
    return nb, store


def _cells(run_id: str) -> list[dict]:
    frame = mlnb.sql("SELECT * FROM cells WHERE run_id = ? ORDER BY seq", [run_id])
    rows = frame.to_dict("records")
    for row in rows:
        row["details"] = json.loads(row["details"])
    return rows


def test_cells_are_recorded_in_order_with_status_and_output(executed) -> None:
    nb, _ = executed
    run = mlnb.runs(experiment="capture").iloc[0]
    assert run["status"] == "finished" and run["tags.team"] == "ml"
    cells = _cells(run["run_id"])
    codes = [c["code"] for c in cells]
    assert codes[0].startswith("import pandas") and codes[1] == "df['c'] = df['a'] * 2"
    assert [c["execution_count"] for c in cells] == sorted(c["execution_count"] for c in cells)
    assert cells[0]["details"]["stdout"] == "rows 1000\n"
    failing = next(c for c in cells if c["code"] == "1 / 0")
    assert failing["status"] == "error"
    assert failing["details"]["error"]["type"] == "ZeroDivisionError"
    ok = [c for c in cells if c["code"] != "1 / 0"]
    assert {c["status"] for c in ok} == {"ok"}
    assert all(c["duration_s"] >= 0 for c in cells)
    result = next(c for c in cells if c["code"].startswith("import mlnb"))
    assert result["details"]["outputs"][0]["text/plain"] == str(sum(range(1000)) * 2)


def test_fingerprints_change_exactly_when_data_changes(executed) -> None:
    _, _ = executed
    run_id = mlnb.runs(experiment="capture").iloc[0]["run_id"]
    cells = _cells(run_id)
    created = {v["name"]: v for v in cells[0]["details"]["variables"]}
    mutated = {v["name"]: v for v in cells[1]["details"]["variables"]}
    assert created["df"]["shape"] == [1000, 2] and created["df"]["mutated"] is False
    assert mutated["df"]["mutated"] is True and mutated["df"]["shape"] == [1000, 3]
    assert mutated["df"]["fingerprint"] != created["df"]["fingerprint"]
    # the cell that only reads df does not report it as written
    reader = next(c for c in cells if c["code"].startswith("import mlnb"))
    assert "df" not in {v["name"] for v in reader["details"]["variables"]}
    assert reader["details"]["inputs"]["df"] == mutated["df"]["fingerprint"]
    datasets = mlnb.sql("SELECT fingerprint, n_rows, n_cols FROM datasets ORDER BY n_cols")
    assert datasets[["n_rows", "n_cols"]].values.tolist() == [[1000, 2], [1000, 3]]


def test_lineage_links_data_cells_and_metrics(executed) -> None:
    run_id = mlnb.runs(experiment="capture").iloc[0]["run_id"]
    cells = _cells(run_id)
    before = cells[0]["details"]["variables"][0]["fingerprint"] if cells[0]["details"]["variables"][0]["name"] == "df" \
        else next(v["fingerprint"] for v in cells[0]["details"]["variables"] if v["name"] == "df")
    after = next(v["fingerprint"] for v in cells[1]["details"]["variables"] if v["name"] == "df")
    edges = mlnb.sql("SELECT src_kind, src_id, dst_kind, dst_id, relation FROM lineage WHERE run_id = ?", [run_id])
    edge_set = {tuple(e) for e in edges.values.tolist()}
    mutate_cell = f"{run_id}:{cells[1]['seq']}"
    assert ("dataset", before, "cell", mutate_cell, "read:df") in edge_set
    assert ("cell", mutate_cell, "dataset", after, "wrote:df") in edge_set
    metric_cell = next(f"{run_id}:{c['seq']}" for c in cells if c["code"].startswith("import mlnb"))
    assert ("cell", metric_cell, "metric", f"{run_id}:total", "logged") in edge_set
    # "which input data produced this metric?" is one query
    upstream = mlnb.sql(
        "SELECT l1.src_id FROM lineage l1 JOIN lineage l2 ON l1.dst_id = l2.src_id "
        "WHERE l2.dst_kind = 'metric' AND l2.dst_id = ? AND l1.src_kind = 'dataset'", [f"{run_id}:total"])
    assert upstream["src_id"].tolist() == [after]


def test_magics_params_status_environment_and_snapshot(executed) -> None:
    nb, store = executed
    run_id = mlnb.runs(experiment="capture").iloc[0]["run_id"]
    record = mlnb.get_run(run_id)
    assert record.params == {"lr": "0.05", "total": str(sum(range(1000)) * 2)}
    assert record.metrics["total"] == sum(range(1000)) * 2
    status = stdout_of(nb, 7)
    assert "cells captured: " in status and "hidden state: clean" in status
    assert record.tags["mlnb.hidden_state"] == "clean"
    assert record.tags["mlnb.env.python"].count(".") == 2
    paths = {a["path"]: a for a in record.artifacts}
    assert {"environment/packages.txt", "notebook.ipynb"} <= set(paths)
    packages = store.blobs.read_bytes(paths["environment/packages.txt"]["hash"]).decode()
    assert "duckdb==" in packages
    snapshot = json.loads(store.blobs.read_bytes(paths["notebook.ipynb"]["hash"]))
    assert any("df['c'] = df['a'] * 2" in "".join(c["source"]) for c in snapshot["cells"])


def test_bad_magic_arguments_print_usage_not_traceback(store: Store, tmp_path: Path) -> None:
    path = make_notebook(["%load_ext mlnb", "%track bogus", "%track start --tag nokey", "%track params missing_var",
                          "%track stop"], tmp_path / "bad.ipynb")
    nb = execute(path, {"MLNB_HOME": str(store.root)}, allow_errors=False)
    assert "usage: %track" in stdout_of(nb, 1)
    assert "--tag takes key=value" in stdout_of(nb, 2)
    assert "no tracked run" in stdout_of(nb, 3) or "no variable named missing_var" in stdout_of(nb, 3)
    for cell in nb.cells:
        assert not any(o.get("output_type") == "error" for o in cell.outputs)


def test_a_failing_hook_never_breaks_the_cell(store: Store, tmp_path: Path) -> None:
    path = make_notebook([
        "%load_ext mlnb",
        "%track start --name broken-hook",
        "import mlnb.capture.session as s\ndef boom(*a, **k):\n    raise RuntimeError('capture bug')\ns.analyse = s.analyse_tree = boom",
        "x = 41 + 1\nprint(x)",
        "print('still fine')",
    ], tmp_path / "hook.ipynb")
    nb = execute(path, {"MLNB_HOME": str(store.root)}, allow_errors=False)
    assert stdout_of(nb, 3).strip() == "42"
    assert stdout_of(nb, 4).strip() == "still fine"
    warnings = "".join(o.get("text", "") for c in nb.cells for o in c.outputs if o.get("name") == "stderr")
    assert warnings.count("mlnb: capture problem") == 1


def test_sql_cell_magic_returns_a_dataframe(store: Store, tmp_path: Path) -> None:
    path = make_notebook([
        "%load_ext mlnb",
        "import mlnb\nwith mlnb.start_run(name='q1'):\n    mlnb.log_metric('acc', 0.9)",
        "%%mlnb_sql top\nSELECT r.name, m.value FROM runs r JOIN latest_metrics m USING (run_id)",
        "print(type(top).__name__, top.values.tolist())",
        "%%mlnb_sql\nDELETE FROM runs",
    ], tmp_path / "sql.ipynb")
    nb = execute(path, {"MLNB_HOME": str(store.root)}, allow_errors=False)
    assert stdout_of(nb, 3).strip() == "DataFrame [['q1', 0.9]]"
    assert "%%mlnb_sql: SQL failed" in stdout_of(nb, 4)


SECRETS = {
    "API_KEY": "sk-live-abcdefghijklmnopqrstuvwx",
    "DB_PASSWORD": "hunter2hunter2",
    "bearer": "abcdef1234567890abcdef",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "env": "envtok-9f8e7d6c5b4a3210",
}


def test_secrets_never_reach_the_store(store: Store, tmp_path: Path) -> None:
    # Given a notebook that plants secrets in code, outputs, params, variables and the environment
    path = make_notebook([
        "%load_ext mlnb",
        "%track start --name secrets",
        f"import os\nAPI_KEY = \"{SECRETS['API_KEY']}\"\nDB_PASSWORD = '{SECRETS['DB_PASSWORD']}'\n"
        f"headers = {{'Authorization': 'Bearer {SECRETS['bearer']}'}}\nprint(os.environ['MY_SERVICE_TOKEN'])\n"
        "print('key is', API_KEY)",
        f"aws = '{SECRETS['aws']}'\ngh = '{SECRETS['github']}'\ngh",
        "%track params API_KEY DB_PASSWORD gh",
        "import mlnb\nmlnb.set_tags(deploy_token=os.environ['MY_SERVICE_TOKEN'])",
        "%track stop",
    ], tmp_path / "secrets.ipynb")
    nb = execute(path, {"MLNB_HOME": str(store.root), "MY_SERVICE_TOKEN": SECRETS["env"]}, allow_errors=False)
    assert SECRETS["env"] in stdout_of(nb, 2)  # the user still sees their own output
    run_id = mlnb.runs(filter="name = 'secrets'").iloc[0]["run_id"]
    assert mlnb.get_run(run_id).params == {"API_KEY": "***", "DB_PASSWORD": "***", "gh": "***"}
    assert mlnb.sql("SELECT count(*) AS n FROM cells WHERE run_id = ?", [run_id])["n"][0] >= 3
    store.close()
    # Then a byte search of every file under .mlnb finds none of them
    for file in store.root.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            for name, secret in SECRETS.items():
                assert secret.encode() not in data, f"{name} found in {file.relative_to(store.root)}"


def test_papermill_parameters_become_params(store: Store, tmp_path: Path) -> None:
    import papermill

    source = make_notebook([
        "lr = 0.1\nepochs = 2\noptimizer = 'sgd'",
        "%load_ext mlnb\n%track start --experiment pm",
        "score = lr * epochs\n%track metrics score",
        "%track stop",
    ], tmp_path / "train.ipynb", tags={0: ["parameters"]})
    import os

    os.environ["MLNB_HOME"] = str(store.root)
    try:
        papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"), parameters={"lr": 0.5, "epochs": 3},
                                   kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    finally:
        os.environ.pop("MLNB_HOME", None)
    run = mlnb.runs(experiment="pm").iloc[0]
    assert mlnb.get_run(run["run_id"]).params == {"lr": "0.5", "epochs": "3", "optimizer": "sgd"}
    assert run["metrics.score"] == pytest.approx(1.5)


def test_images_become_artifacts(store: Store, tmp_path: Path) -> None:
    path = make_notebook([
        "%load_ext mlnb",
        "%track start --name plots",
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
        "%track stop",
    ], tmp_path / "plots.ipynb")
    execute(path, {"MLNB_HOME": str(store.root)}, allow_errors=False)
    run_id = mlnb.runs(filter="name = 'plots'").iloc[0]["run_id"]
    images = [a for a in mlnb.get_run(run_id).artifacts if a["media_type"] == "image/png"]
    assert len(images) == 1 and images[0]["path"].startswith("outputs/")
    assert store.blobs.read_bytes(images[0]["hash"])[:8] == b"\x89PNG\r\n\x1a\n"
