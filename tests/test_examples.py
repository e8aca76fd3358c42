"""The example notebooks run top to bottom in a real kernel and leave the expected record."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mlnb
from mlnb.store.store import Store

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run_example(name: str, out: Path) -> None:
    """Execute one example notebook with the runner `make demo` uses; fail with its output."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_examples.py"), "--out", str(out),
         str(ROOT / "example-notebooks" / name)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_quickstart_notebook_fills_the_store(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an empty store the kernel will find through MLNB_HOME
    monkeypatch.setenv("MLNB_HOME", str(store.root))
    # When the runner executes the quickstart notebook
    _run_example("01-quickstart.ipynb", tmp_path / "out")
    # Then six training runs and a report run are recorded, with params, metrics and artifacts
    runs = mlnb.runs(experiment="digits-quickstart", order_by="name")
    assert len(runs) == 7 and set(runs["status"]) == {"finished"}
    training = runs[runs["tags.model"] == "random-forest"]
    assert sorted(training["params.n_estimators"].tolist()) == [10, 10, 10, 50, 50, 50]
    assert training["metrics.accuracy"].between(0.5, 1.0).all()
    steps = mlnb.metric_history(training["run_id"].iloc[0], "test_accuracy")
    assert len(steps) >= 2
    report = mlnb.get_run(runs[runs["name"] == "report"]["run_id"].iloc[0])
    assert {a["path"] for a in report.artifacts} == {"learning-curve.png", "leaderboard.csv"}
    # And the executed notebook shows the leaderboard it queried
    assert (tmp_path / "out" / "01-quickstart.ipynb").exists()


def test_failing_notebook_gives_one_line_error(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    monkeypatch.setenv("MLNB_HOME", str(store.root))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('bad data')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_examples.py"), "--out", str(tmp_path / "o"),
                             str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "error: broken.ipynb failed in cell 1: ValueError: bad data" in result.stderr


def test_capture_notebook_records_cells_and_lineage(store: Store, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLNB_HOME", str(store.root))
    _run_example("02-capture-and-lineage.ipynb", tmp_path / "out")
    run = mlnb.runs(experiment="capture-demo").iloc[0]
    assert run["status"] == "finished" and run["tags.mlnb.hidden_state"] == "clean"
    assert run["params.C"] == 0.5 and 0.8 < run["metrics.accuracy"] <= 1.0
    cells = mlnb.sql("SELECT code FROM cells WHERE run_id = ? ORDER BY seq", [run["run_id"]])["code"].tolist()
    assert cells[0].startswith("from sklearn.datasets import load_breast_cancer")
    # the raw frame (31 columns) and the clipped features (30) are both upstream of the metric
    upstream = mlnb.sql(
        "WITH RECURSIVE up(kind, id) AS (SELECT src_kind, src_id FROM lineage WHERE dst_kind = 'metric' "
        "AND dst_id = ? UNION SELECT l.src_kind, l.src_id FROM lineage l JOIN up ON l.dst_kind = up.kind "
        "AND l.dst_id = up.id) SELECT DISTINCT d.n_cols FROM up JOIN datasets d ON up.kind = 'dataset' "
        "AND d.fingerprint = up.id ORDER BY 1", [f"{run['run_id']}:accuracy"])
    assert upstream["n_cols"].tolist() == [30, 31]


def test_registry_notebook_promotes_the_better_model(store: Store, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from mlnb import model_registry as reg

    monkeypatch.setenv("MLNB_HOME", str(store.root))
    _run_example("03-model-registry.ipynb", tmp_path / "out")
    versions = reg.model_versions("digits-classifier")
    assert versions["version"].tolist() == [1, 2] and set(versions["hidden_state"]) == {"clean"}
    assert set(versions["flavor"]) == {"skops"}  # loaded back without the pickle opt-in
    evaluation = mlnb.runs(filter="tags.`mlnb.kind` = 'evaluation'").iloc[0]
    scores = {v: evaluation[f"metrics.digits-classifier/{v}.f1_macro"] for v in (1, 2)}
    best = max(scores, key=lambda v: (scores[v], -v))
    assert reg.model_version("digits-classifier@champion")["version"] == best
    assert len(reg.alias_history("digits-classifier")) in (2, 4)
    # each version links back to the data the notebook's cells read
    assert all(reg.model_version(f"digits-classifier/{v}")["data"]["fingerprints"] for v in (1, 2))
    # and the saved notebook shows the registry widget's static view
    import nbformat

    executed = nbformat.read(tmp_path / "out" / "03-model-registry.ipynb", as_version=4)
    html_outputs = [o["data"]["text/html"] for o in executed.cells[-1].outputs if "text/html" in o.get("data", {})]
    assert html_outputs and "Alias history" in html_outputs[0]


def test_compare_notebook_sweeps_then_compares_and_diffs(store: Store, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    monkeypatch.setenv("MLNB_HOME", str(store.root))
    _run_example("04-compare-runs.ipynb", tmp_path / "out")
    children = mlnb.runs(experiment="digits-sweep", filter="parent_run_id != ''")
    assert len(children) == 6 and set(children["status"]) == {"finished"}
    assert children["metrics.val_accuracy"].notna().all()
    executed = nbformat.read(tmp_path / "out" / "04-compare-runs.ipynb", as_version=4)
    compare_output, diff_output, lineage_output = (executed.cells[i].outputs[0]["data"] for i in (3, 5, 7))
    assert "application/vnd.jupyter.widget-view+json" in compare_output
    assert "text/html" in compare_output and all(r[:8] in compare_output["text/html"] for r in children["run_id"])
    assert "-train_fraction = 0.3" in diff_output["text/html"] and "rows 377 -&gt; 1257" in diff_output["text/html"]
    assert "application/vnd.plotly.v1+json" in lineage_output
    # without a kernel (nbconvert to HTML, GitHub previews) the static view still shows table and charts
    page, _ = HTMLExporter().from_notebook_node(executed)
    assert "mlnb.compare: 6 runs" in page and page.count("plotly-graph-div") >= 4
    assert (tmp_path / "out" / "04-compare-runs.ipynb").stat().st_size < 1_500_000


def test_monitoring_notebook_checks_a_clean_and_a_perturbed_batch(store: Store, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    monkeypatch.setenv("MLNB_HOME", str(store.root))
    _run_example("05-monitoring.ipynb", tmp_path / "out")
    # three checks of the registered version: the training data itself, the perturbed copy, the CLI gate
    history = mlnb.monitoring("cancer-screening")
    assert history["name"].tolist() == ["same data", "perturbed", "cli gate"]
    assert history["status"].tolist() == ["ok", "drift", "drift"]
    assert history["validation"].tolist() == ["pass", "fail", "fail"]  # radii 20% beyond the training range
    assert "mean radius" in history["drifted_columns"].iloc[1] and history["drifted"].iloc[0] == 0
    executed = nbformat.read(tmp_path / "out" / "05-monitoring.ipynb", as_version=4)
    # the saved notebook shows the drift report (static HTML for viewers without a kernel)
    report_cell = next(c for c in executed.cells if c.source.startswith("mlnb.drift_report"))
    html = "".join(o["data"].get("text/html", "") for o in report_cell.outputs if "data" in o)
    assert "mean radius" in html and "drift" in html
    # and the CLI gate exits 1
    gate_cell = executed.cells[-1]
    assert "exit code: 1" in "".join(o.get("text", "") for o in gate_cell.outputs)


def test_serving_notebook_shadows_promotes_and_archives(store: Store, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    from mlnb import model_registry as reg

    monkeypatch.setenv("MLNB_HOME", str(store.root))
    _run_example("03-model-registry.ipynb", tmp_path / "out")  # registers champion and challenger
    first = {alias: reg.model_version(f"digits-classifier@{alias}")["version"] for alias in ("champion", "challenger")}
    _run_example("06-serving.ipynb", tmp_path / "out")
    # the aliases were swapped from the notebook, and the server switched both live
    assert reg.model_version("digits-classifier@champion")["version"] == first["challenger"]
    switches = mlnb.sql("SELECT alias, from_version, to_version, status FROM serve_switches ORDER BY alias")
    assert switches.values.tolist() == [["challenger", first["challenger"], first["champion"], "switched"],
                                        ["champion", first["champion"], first["challenger"], "switched"]]
    # every request was archived: one refusal, the rest answered by both versions (champion returned)
    answers = mlnb.sql("SELECT request_id, status, returned, n_rows FROM serve_answers ORDER BY ts")
    assert answers["status"].value_counts().to_dict().get("invalid") == 1
    ok = answers[answers["status"] == "ok"]
    assert len(ok) >= 62 and ok["n_rows"].sum() == 2 + 300 + 3  # first call, the traffic, the call after the switch
    results = mlnb.sql("SELECT request_id, version, returned FROM serve_results WHERE status = 'ok'")
    assert (results.groupby("request_id")["version"].nunique() == 2).all() and set(results["request_id"]) == set(ok["request_id"])
    assert int(ok["returned"].iloc[-1]) == first["challenger"] and int(ok["returned"].iloc[0]) == first["champion"]
    # feedback for every traffic request, and the comparison scored both versions with it
    labelled = mlnb.sql("SELECT count(*) AS n FROM serve_feedback")["n"].iloc[0]
    assert labelled == len(ok) - 2
    table = mlnb.rendezvous("digits-classifier").set_index("version")
    assert set(table.index) == set(first.values())
    assert (table["labelled"] == labelled).all() and table["accuracy"].between(0.8, 1.0).all()
    # the live traffic was checked as a monitoring batch of every archived row
    check = mlnb.monitoring("digits-classifier").query("name == 'live traffic'")
    assert len(check) == 1 and check["rows"].iloc[0] == 305
    executed = nbformat.read(tmp_path / "out" / "06-serving.ipynb", as_version=4)
    sources = [c.source for c in executed.cells]

    def output_text(prefix: str) -> str:
        cell = executed.cells[next(i for i, s in enumerate(sources) if s.startswith(prefix))]
        return "".join(o.get("text", "") + o.get("data", {}).get("text/html", "") + o.get("data", {}).get("text/plain", "")
                       for o in cell.outputs)

    # the refused request said what was wrong, one line per problem
    refused = output_text("post(X.iloc[:1].drop")
    assert "422" in refused and "pixel_0_0" in refused and "pixel_3_3" in refused
    # the report's static copy and the replay of the new candidate (version 3) are in the saved notebook
    assert "text/html" in executed.cells[sources.index("mlnb.rendezvous_report('digits-classifier')")].outputs[0]["data"]
    replay = output_text("from sklearn.neighbors")
    assert "accuracy" in replay and "agreement" in replay
    assert "answered by version " + str(first["challenger"]) in output_text("def served()")
