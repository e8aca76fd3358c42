"""The model registry against a real store: versions, aliases, integrity, lineage, evaluation."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mlnb
from mlnb import model_registry as reg
from mlnb.errors import MlnbError
from mlnb.store.store import Store
from tests.nbutil import execute, make_notebook


@pytest.fixture
def iris():
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


def _train(iris, depth: int, name: str = "iris", hidden: str | None = None) -> dict:
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris.drop(columns=["target"]), iris["target"]
    with mlnb.start_run(experiment="train", name=f"tree-{depth}") as run:
        model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
        mlnb.log_metric("accuracy", model.score(X, y))
        if hidden:
            run.set_tags({"mlnb.hidden_state": hidden})
        return reg.register_model(model, name, data=X, description=f"depth {depth}")


def test_sklearn_round_trip_with_signature(store: Store, iris) -> None:
    first, second = _train(iris, 1), _train(iris, 3)
    assert (first["uri"], second["uri"]) == ("iris/1", "iris/2")
    loaded = reg.load_model("iris/2")
    X = iris.drop(columns=["target"])
    assert (loaded.predict(X) == reg.load_model("iris@latest").predict(X)).all()
    signature = second["signature"]
    assert signature["input"]["n_rows"] == 150 and ["sepal length (cm)", "float64"] in signature["input"]["columns"]
    assert signature["output"]["dtype"] == "int64"
    assert second["flavor"] == "skops" and second["run_id"] is not None  # loads without running code
    assert second["data"]["fingerprints"] == [mlnb.fingerprint(X).hash]


def test_files_folders_pickles_and_saveload_flavors(store: Store, tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01weights")
    (tmp_path / "bundle" / "sub").mkdir(parents=True)
    (tmp_path / "bundle" / "config.json").write_text('{"a": 1}')
    (tmp_path / "bundle" / "sub" / "vocab.txt").write_text("a\nb\n")
    reg.register_model(tmp_path / "weights.bin", "weights")
    reg.register_model(tmp_path / "bundle", "bundle")
    reg.register_model({"threshold": 0.7, "classes": ["a", "b"]}, "rules")
    reg.register_model(Echo("hello"), "echo")
    assert reg.load_model("weights/1").read_bytes() == b"\x00\x01weights"
    folder = reg.load_model("bundle@latest")
    assert (folder / "config.json").read_text() == '{"a": 1}' and (folder / "sub" / "vocab.txt").exists()
    assert reg.load_model("rules/1") == {"threshold": 0.7, "classes": ["a", "b"]}
    with pytest.raises(MlnbError, match="allow_pickle=True"):  # saveload imports and calls the class it names
        reg.load_model("echo/1")
    assert reg.load_model("echo/1", allow_pickle=True).text == "hello"
    assert {r["flavor"] for r in map(reg.model_version, ["weights/1", "bundle/1", "rules/1", "echo/1"])} == \
        {"path", "json", "saveload"}


class Echo:
    """A model type with its own save/load (the `saveload` flavor)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def save(self, path: str) -> None:
        Path(path).mkdir()
        (Path(path) / "text.txt").write_text(self.text)

    @classmethod
    def load(cls, path: str) -> "Echo":
        return cls((Path(path) / "text.txt").read_text())


def test_aliases_move_and_keep_history(store: Store, iris) -> None:
    _train(iris, 1), _train(iris, 2), _train(iris, 3)
    reg.set_alias("iris", "champion", 1)
    reg.set_alias("iris", "challenger", 3)
    moved = reg.set_alias("iris", "champion", 2)
    assert moved["version"] == 2 and moved["aliases"] == ["champion"]
    reg.delete_alias("iris", "challenger")
    history = reg.alias_history("iris")
    assert history[["alias", "from_version", "to_version"]].astype(object).where(history.notna(), None) \
        .values.tolist() == [["champion", None, 1], ["challenger", None, 3], ["champion", 1, 2], ["challenger", 3, None]]
    assert history["user"].notna().all()
    versions = reg.model_versions("iris")
    assert versions["aliases"].tolist()[1] == "champion" and "metrics.accuracy" in versions
    with pytest.raises(MlnbError, match="has no alias 'challenger'; aliases: champion, latest"):
        reg.load_model("iris@challenger")
    with pytest.raises(MlnbError, match="no version 7; versions: 1, 2, 3"):
        reg.set_alias("iris", "champion", 7)
    with pytest.raises(MlnbError, match="bad alias"):
        reg.set_alias("iris", "latest", 1)


def test_archived_versions_and_descriptions(store: Store, iris) -> None:
    _train(iris, 1), _train(iris, 2)
    reg.set_alias("iris", "champion", 1)
    with pytest.raises(MlnbError, match="still has alias"):
        reg.archive_version("iris", 1)
    archived = reg.archive_version("iris", 2)
    assert archived["status"] == "archived"
    with pytest.raises(MlnbError, match="archived"):
        reg.set_alias("iris", "champion", 2)
    updated = reg.update_version("iris", 1, description="baseline", tags={"reviewed": True})
    assert updated["description"] == "baseline" and updated["tags"] == {"reviewed": "True"}
    assert reg.load_model("iris/2") is not None  # archived stays loadable by number


def test_tampered_or_missing_artifacts_are_refused(store: Store, iris) -> None:
    record = _train(iris, 2)
    blob = store.blobs.path_of(record["artifact_hash"])
    original = blob.read_bytes()
    blob.write_bytes(original[:-10] + b"0123456789")
    with pytest.raises(MlnbError, match="corrupted"):
        reg.load_model("iris/1")
    blob.unlink()
    with pytest.raises(MlnbError, match="missing"):
        reg.load_model("iris/1")


def test_champion_from_a_run_with_hidden_state_needs_force(store: Store, iris) -> None:
    with pytest.warns(reg.HiddenStateWarning, match="stale-inputs"):
        record = _train(iris, 2, hidden="stale-inputs")
    assert record["hidden_state"] == "stale-inputs"
    reg.set_alias("iris", "challenger", 1)  # other aliases are fine
    with pytest.raises(MlnbError, match="force=True"):
        reg.set_alias("iris", "champion", 1)
    reg.set_alias("iris", "champion", 1, force=True, reason="reviewed by hand")
    assert reg.alias_history("iris")["reason"].tolist()[-1] == "reviewed by hand"


def test_evaluate_two_versions_on_the_same_data(store: Store, iris) -> None:
    _train(iris, 1), _train(iris, 3)
    reg.set_alias("iris", "champion", 1)
    reg.set_alias("iris", "challenger", 2)
    table = mlnb.evaluate(["iris@champion", "iris@challenger"], data=iris, target="target")
    assert table["version"].tolist() == ["iris/1", "iris/2"]
    assert table.loc[1, "accuracy"] > table.loc[0, "accuracy"]
    run = mlnb.get_run(table.attrs["run_id"])
    assert run.metrics["iris/2.accuracy"] == pytest.approx(table.loc[1, "accuracy"])
    links = mlnb.sql("SELECT src_id FROM lineage WHERE dst_id = ? AND relation = 'evaluated' ORDER BY 1", [run.run_id])
    assert links["src_id"].tolist() == ["iris/1", "iris/2"]
    with pytest.raises(MlnbError, match="target column 'y' is not in the data"):
        mlnb.evaluate(["iris/1"], data=iris, target="y")


def test_concurrent_registrations_get_distinct_versions(store: Store, tmp_path: Path) -> None:
    code = ("import sys, mlnb; from mlnb import model_registry as reg; mlnb.connect(sys.argv[1]); "
            "[reg.register_model({'worker': sys.argv[2], 'i': i}, 'shared') for i in range(5)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store.root), str(w)]) for w in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    versions = reg.model_versions("shared")["version"].tolist()
    assert versions == list(range(1, 21))


def test_version_lineage_reaches_notebook_cells_and_data(store: Store, tmp_path: Path) -> None:
    # Given a notebook that prepares data, trains and registers a model under %track
    path = make_notebook([
        "%load_ext mlnb",
        "%track start --experiment lineage --name trained-in-notebook",
        "from sklearn.datasets import load_iris\nframe = load_iris(as_frame=True).frame",
        "X = frame.drop(columns=['target'])\ny = frame['target']",
        "from sklearn.tree import DecisionTreeClassifier\nmodel = DecisionTreeClassifier(max_depth=2).fit(X, y)",
        "%track stop",
        "import mlnb\nfrom mlnb import model_registry as reg\n"
        "run_id = mlnb.runs(experiment='lineage').run_id[0]\nv = reg.register_model(model, 'nb-model', run=run_id, data=X)",
    ], tmp_path / "train.ipynb")
    execute(path, {"MLNB_HOME": str(store.root)}, allow_errors=False)
    record = reg.model_version("nb-model/1")
    # Then the version points at the run, its notebook snapshot and the data the cells read
    run = mlnb.get_run(record["run_id"])
    assert run.name == "trained-in-notebook"
    snapshot = next(a for a in run.artifacts if a["path"] == "notebook.ipynb")
    assert record["notebook_hash"] == snapshot["hash"]
    cells_source = json.loads(store.blobs.read_bytes(snapshot["hash"]))["cells"]
    assert any("DecisionTreeClassifier(max_depth=2)" in "".join(c["source"]) for c in cells_source)
    frame_fp = mlnb.sql("SELECT fingerprint FROM datasets WHERE n_cols = 5")["fingerprint"].tolist()
    assert set(frame_fp) <= set(record["data"]["fingerprints"])
    assert record["hidden_state"] == "clean"


def test_moving_an_alias_to_where_it_is_leaves_no_history(store: Store, iris) -> None:
    _train(iris, 1)
    reg.set_alias("iris", "champion", 1)
    reg.set_alias("iris", "champion", 1)
    assert len(reg.alias_history("iris")) == 1
    with pytest.raises(MlnbError, match="version must be a version number"):
        reg.set_alias("iris", "champion", None)
