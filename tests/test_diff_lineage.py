"""mlnb.diff and mlnb.lineage on runs captured from real notebooks in real kernels."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import mlnb
from mlnb.store.store import Store
from tests.nbutil import execute, make_notebook

pytestmark = pytest.mark.slow

BASE = [
    "%load_ext mlnb",
    "%track start --experiment diffs --name {name}",
    "import pandas as pd\nimport mlnb\nraw = pd.DataFrame({'x': range(100), 'y': [i % 7 for i in range(100)]})",
    "features = raw[raw['x'] < {cut}].copy()\nfeatures['z'] = features['x'] * {scale}",
    "score = float(features['z'].mean())\nmlnb.log_metric('score', score)\nprint('score', score)",
    "mlnb.log_params({'cut': {cut}, 'scale': {scale}})",
    "%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom IPython.display import display\n"
    "figure, axes = plt.subplots(figsize=(2, 2))\naxes.plot(features['z'])\ndisplay(figure)\nplt.close(figure)",
]


def _fill(cells: list[str], **values: object) -> list[str]:
    filled = []
    for cell in cells:
        for key, value in values.items():
            cell = cell.replace("{" + key + "}", str(value))
        filled.append(cell)
    return filled


def _run(tmp_path: Path, store: Store, name: str, cells: list[str], packages: dict[str, str]) -> str:
    """Execute a notebook in a fresh kernel that sees `packages` as installed; returns its run id."""
    site = tmp_path / f"site-{name}"
    site.mkdir()
    for package, version in packages.items():
        (site / f"{package}-{version}.dist-info").mkdir()
    path = make_notebook([*cells, "%track stop"], tmp_path / f"{name}.ipynb")
    execute(path, {"MLNB_HOME": str(store.root), "PYTHONPATH": os.pathsep.join([str(site), os.environ.get(
        "PYTHONPATH", "")])}, allow_errors=False)
    return mlnb.runs(filter=f"name = '{name}'")["run_id"][0]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Store]:
    tmp_path = tmp_path_factory.mktemp("diffs")
    store = mlnb.connect(tmp_path / ".mlnb").store
    cells_a = _fill(BASE, name="base", cut=80, scale=2)
    cells_b = _fill(BASE, name="changed", cut=50, scale=3)
    cells_b.insert(4, "features = features.assign(w=features['y'] + 1)")  # a new cell, and a new column
    a = _run(tmp_path, store, "base", cells_a, {"mlnbfake_shared": "1.0", "mlnbfake_upgraded": "0.9",
                                               "mlnbfake_removed": "2.0"})
    b = _run(tmp_path, store, "changed", cells_b, {"mlnbfake_shared": "1.0", "mlnbfake_upgraded": "1.1",
                                                  "mlnbfake_added": "0.1"})
    return a, b, store


def test_diff_params_and_metric_deltas(two_runs) -> None:
    a, b, store = two_runs
    mlnb.connect(store.root)
    d = mlnb.diff(a, b).data
    params = {e["key"]: e for e in d.params}
    assert params["cut"]["change"] == "changed" and (params["cut"]["a"], params["cut"]["b"]) == ("80", "50")
    score = next(e for e in d.metrics if e["key"] == "score")
    expected_a, expected_b = sum(x * 2 for x in range(80)) / 80, sum(x * 3 for x in range(50)) / 50
    assert (score["a"], score["b"]) == pytest.approx((expected_a, expected_b))
    assert score["delta"] == pytest.approx(expected_b - expected_a)


def test_diff_aligns_cells_and_shows_changed_code(two_runs) -> None:
    a, b, store = two_runs
    mlnb.connect(store.root)
    d = mlnb.diff(a, b).data
    changes = [e["change"] for e in d.cells]
    assert changes.count("added") == 1 and "removed" not in changes
    added = next(e for e in d.cells if e["change"] == "added")
    assert added["b_code"].startswith("features = features.assign")
    changed = [e for e in d.cells if e["change"] == "changed"]
    feature_cell = next(e for e in changed if "features['z']" in e["a_code"])
    assert "-features = raw[raw['x'] < 80].copy()" in feature_cell["diff"]
    assert "+features = raw[raw['x'] < 50].copy()" in feature_cell["diff"]
    same = [e for e in d.cells if e["change"] == "same"]
    assert any(e["a_code"].startswith("import pandas") for e in same)  # the unchanged cell is aligned, not shifted


def test_diff_of_data_outputs_and_packages(two_runs) -> None:
    a, b, store = two_runs
    mlnb.connect(store.root)
    d = mlnb.diff(a, b).data
    data = {e["name"]: e for e in d.data}
    assert data["raw"]["change"] == "same"
    features = data["features"]
    assert features["change"] == "changed" and features["a_shape"] == (80, 3) and features["b_shape"] == (50, 4)
    assert features["columns_added"] == ["w"] and features["schema_changed"]
    assert any(c["column"] == "x" and c["field"] == "max" and (c["a"], c["b"]) == (79, 49)
               for c in features["profile_changes"])
    output = next(e for e in d.outputs if "score" in e["a_text"])
    assert f"score {sum(x * 2 for x in range(80)) / 80}" in output["a_text"] and "+score" in output["diff"]
    plot = next(e for e in d.outputs if e["images_changed"])
    assert plot["code"].startswith("%matplotlib") and len(plot["a_images"]) == len(plot["b_images"]) == 1
    assert plot["a_images"][0]["hash"] != plot["b_images"][0]["hash"]
    packages = {e["item"]: e["change"] for e in d.environment if e["item"].startswith("package mlnbfake")}
    assert packages == {"package mlnbfake-upgraded": "upgraded", "package mlnbfake-removed": "removed",
                        "package mlnbfake-added": "added"}


def test_diff_html_shows_every_section(two_runs) -> None:
    a, b, store = two_runs
    mlnb.connect(store.root)
    view = mlnb.diff(a[:8], b[:8])
    page = view._repr_html_()
    for title in ("Params", "Metrics", "Code", "Outputs", "Data", "Environment"):
        assert f"<h5>{title}" in page
    assert "mlnbfake-upgraded" in page and "0.9" in page and "1.1" in page
    assert "+features = raw[raw[&#x27;x&#x27;] &lt; 50].copy()" in page
    assert "data-change='added'" in page
    assert page.count("<img") == 2 and "data:image/png;base64," in page  # the two plots side by side
    assert "1 cells" not in repr(view) and "differ" in repr(view)


def test_lineage_of_a_variable_walks_the_chain_of_cells(two_runs) -> None:
    a, b, store = two_runs
    mlnb.connect(store.root)
    view = mlnb.lineage("features")  # the latest `features`: run b's
    graph = view.graph
    start = graph.start[0]
    assert start[0] == "dataset"
    upstream, downstream = graph.upstream(start), graph.downstream(start)
    kinds_up = {graph.nodes[n]["kind"] for n in upstream}
    assert {"cell", "dataset", "run"} <= kinds_up
    raw_nodes = [n for n in upstream if n[0] == "dataset" and graph.nodes[n]["label"].endswith("100x2")]
    assert raw_nodes, "the raw frame feeds features"
    metric = [n for n in downstream if n[0] == "metric"]
    assert [graph.nodes[n]["label"] for n in metric] == ["score"]
    assert graph.nodes[metric[0]]["detail"].endswith(f"= {sum(x * 3 for x in range(50)) / 50:.6g}")
    writer = next(n for n in upstream if n[0] == "cell" and "assign" in graph.nodes[n]["detail"])
    assert writer[1].startswith(b)
    figure = view.figure()
    drawn = {t["name"]: len(t["x"]) for t in figure["data"] if t.get("name")}
    assert drawn["dataset"] == sum(1 for n in graph.nodes if n[0] == "dataset")
    bundle = view._repr_mimebundle_()
    assert "application/vnd.plotly.v1+json" in bundle and "score" in bundle["text/html"]


def test_lineage_of_a_run_and_of_a_fingerprint(two_runs) -> None:
    a, b, store = two_runs
    mlnb.connect(store.root)
    graph = mlnb.lineage(a).graph
    runs = {n[1] for n in graph.nodes if n[0] == "run"}
    assert a in runs
    raw = next(n for n in graph.nodes if n[0] == "dataset" and graph.nodes[n]["label"].endswith("100x2"))
    by_fp = mlnb.lineage(raw[1][:16]).graph
    readers = {n[1].split(":")[0] for n in by_fp.downstream(raw) if n[0] == "cell"}
    assert readers == {a, b}  # both runs read the same raw data
    with pytest.raises(mlnb.MlnbError, match="nothing in this store is called"):
        mlnb.lineage("no_such_variable")


def test_lineage_of_a_model_version_reaches_its_run_and_data(store: Store) -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": range(10)})
    with mlnb.start_run(experiment="models") as run:
        version = mlnb.register_model({"weights": [1]}, "tiny", data=frame)
    graph = mlnb.lineage("tiny/1").graph
    model = ("model", "models:/tiny/1")
    assert graph.start == [model] and ("run", run.id) in graph.upstream(model)
    assert graph.nodes[model]["label"] == "tiny/1" and version["version"] == 1
    assert mlnb.lineage("tiny@latest").graph.start == [model]
