"""Model loading trust: a planted pickle never runs without an opt-in, skops for scikit-learn,
verified unpack cache, and who registered each version.

The attacker here can write to the store (append a blob and event lines), as a teammate on a
shared folder or a compromised job can; the hash check alone cannot stop that.
"""
from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

import mlnb
from mlnb import model_registry as reg
from mlnb.cli import cli
from mlnb.errors import MlnbError
from mlnb.store.backends.local import EVENTS_DIRNAME
from mlnb.store.store import Store


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "model-cache"
    monkeypatch.setenv("MLNB_MODEL_CACHE", str(cache))
    monkeypatch.delenv("MLNB_ALLOW_PICKLE", raising=False)
    return cache


@pytest.fixture
def iris_xy():
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    return frame.drop(columns=["target"]), frame["target"]


def _tree(iris_xy, depth: int = 2):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris_xy
    return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)


class _Payload:
    """Unpickling this writes a marker file: stands in for any code an attacker wants run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def _plant(store: Store, name: str, version: int, payload: bytes, flavor: str = "pickle") -> None:
    """What a hostile writer does: a new blob, then a version event and an alias event, by hand."""
    digest, size = store.blobs.put_bytes(payload)
    events = [
        {"e": "model_version", "name": name, "version": version, "run": None, "hash": digest,
         "path": f"models/{name}/{version}/model.pkl", "flavor": flavor, "size": size, "signature": {},
         "description": None, "labels": {}, "data": {"fingerprints": []}, "nb": None, "hidden": None,
         "t": 1.0e9, "user": "mallory"},
        {"e": "alias", "name": name, "alias": "champion", "version": version, "from": 1, "user": "mallory",
         "t": 1.0e9, "reason": None, "seq": 2},  # the next step of champion's history (the genuine move was 1)
    ]
    folder = store.root / EVENTS_DIRNAME
    folder.mkdir(exist_ok=True)
    with open(folder / "zz-planted.jsonl", "ab") as handle:
        handle.write(b"".join(orjson.dumps(e) + b"\n" for e in events))


@pytest.fixture
def planted(store: Store, iris_xy, tmp_path: Path) -> Path:
    """iris/1 is a genuine model and champion; then iris/2, a malicious pickle, is made champion."""
    import pickle

    reg.register_model(_tree(iris_xy), "iris")
    reg.set_alias("iris", "champion", 1)
    marker = tmp_path / "marker"
    _plant(store, "iris", 2, pickle.dumps(_Payload(marker)))
    assert reg.model_version("iris@champion")["version"] == 2
    return marker


def test_a_planted_pickle_does_not_run_on_load(planted: Path) -> None:
    # When the champion is loaded without an opt-in
    with pytest.raises(MlnbError) as refused:
        reg.load_model("iris@champion")
    # Then nothing ran, and the one-line error says why and exactly how to opt in
    assert not planted.exists()
    message = str(refused.value)
    assert "\n" not in message and "runs code" in message and "mallory" in message
    assert "load_model('iris/2', allow_pickle=True)" in message and "MLNB_ALLOW_PICKLE=1" in message
    # The genuine version still loads with no opt-in (skops), and opting in does run the payload
    assert reg.load_model("iris/1").predict is not None
    reg.load_model("iris@champion", allow_pickle=True)
    assert planted.read_text() == "pwned"


def test_load_check_reads_a_planted_pickle_without_running_it(planted: Path, store: Store) -> None:
    result = CliRunner().invoke(cli, ["--store", str(store.root), "models", "load-check", "iris@champion"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert not planted.exists()
    assert result.exit_code == 1 and len(lines) == 1 and "ok" not in lines[0].split(":")[0], result.output
    # it says what it checked: the hash, and the imports a static read of the pickle found
    assert "sha256 matches the record" in lines[0] and "builtins.exec" in lines[0] and "--allow-pickle" in lines[0]


def test_the_environment_variable_opts_in(planted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLNB_ALLOW_PICKLE", "0")
    with pytest.raises(MlnbError):
        reg.load_model("iris@champion")
    assert not planted.exists()
    monkeypatch.setenv("MLNB_ALLOW_PICKLE", "1")
    reg.load_model("iris@champion")
    assert planted.exists()


def test_pickled_models_from_before_still_load_with_the_opt_in(store: Store, iris_xy) -> None:
    # Given a scikit-learn model stored as a joblib pickle (the format before skops, or a fallback)
    X, _ = iris_xy
    record = reg.register_model(_tree(iris_xy), "old", flavor="sklearn")
    assert record["flavor"] == "sklearn"
    with pytest.raises(MlnbError, match="allow_pickle=True"):
        reg.load_model("old/1")
    assert (reg.load_model("old/1", allow_pickle=True).predict(X) == _tree(iris_xy).predict(X)).all()
    runner = CliRunner()
    refused = runner.invoke(cli, ["--store", str(store.root), "models", "load-check", "old/1"])
    assert refused.exit_code == 1 and "sklearn.tree._classes.DecisionTreeClassifier" in refused.output
    loaded = runner.invoke(cli, ["--store", str(store.root), "models", "load-check", "old/1", "--allow-pickle"])
    assert loaded.exit_code == 0 and loaded.output.startswith("ok: old/1 (sklearn, DecisionTreeClassifier")


def test_skops_round_trip_for_a_pipeline(store: Store, iris_xy) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer, StandardScaler

    X, y = iris_xy
    columns = list(X.columns)
    model = make_pipeline(
        ColumnTransformer([("scaled", StandardScaler(), columns[:2]),
                           ("binned", KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf"),
                            columns[2:])]),
        LogisticRegression(max_iter=500)).fit(X, y)
    record = reg.register_model(model, "pipe", data=X)
    assert record["flavor"] == "skops" and record["artifact_path"].endswith("model.skops")
    loaded = reg.load_model("pipe@latest")  # no opt-in needed: skops runs no code from the file
    assert type(loaded).__name__ == "Pipeline"
    assert (loaded.predict_proba(X) == model.predict_proba(X)).all()


class ShiftBy1:
    """A user-defined transformer: skops can save it, but its type is not on the allow list."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X + 1

    def get_params(self, deep: bool = True) -> dict:
        return {}


def test_untrusted_types_in_a_skops_file_are_refused(store: Store, iris_xy) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris_xy
    custom = make_pipeline(ShiftBy1(), DecisionTreeClassifier(random_state=0)).fit(X, y)
    assert reg.register_model(custom, "custom")["flavor"] == "skops"
    with pytest.raises(MlnbError, match=r"outside the allow list.*tests\.test_model_trust\.ShiftBy1"):
        reg.load_model("custom/1")
    assert (reg.load_model("custom/1", allow_pickle=True).predict(X) == custom.predict(X)).all()
    # a function is never on the allow list: FunctionTransformer would call it on predict
    calls_system = FunctionTransformer(os.system)
    assert reg.register_model(calls_system, "shell")["flavor"] == "skops"
    with pytest.raises(MlnbError, match=r"\bposix\.system|\bnt\.system"):
        reg.load_model("shell/1")
    result = CliRunner().invoke(cli, ["--store", str(store.root), "models", "load-check", "shell/1"])
    assert result.exit_code == 1 and "system" in result.output and not result.output.startswith("ok")


def test_a_swapped_file_in_the_unpack_cache_is_detected(store: Store, tmp_path: Path, private_cache: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"genuine weights")
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "config.json").write_text('{"layers": 3}')
    (tmp_path / "bundle" / "vocab.txt").write_text("a\nb\n")
    reg.register_model(tmp_path / "weights.bin", "weights")
    reg.register_model(tmp_path / "bundle", "bundle")
    first = reg.load_model("weights/1")
    assert first.read_bytes() == b"genuine weights" and private_cache in first.parents
    # When someone swaps the unpacked file, the next load notices and returns the genuine bytes
    first.write_bytes(b"evil weights!!!")  # same size: only the content differs
    assert reg.load_model("weights/1").read_bytes() == b"genuine weights"
    folder = reg.load_model("bundle/1")
    (folder / "config.json").write_text('{"layers": 99}')
    (folder / "extra.py").write_text("print('planted')")
    again = reg.load_model("bundle/1")
    assert (again / "config.json").read_text() == '{"layers": 3}' and not (again / "extra.py").exists()
    # a link planted in place of the file is replaced too
    cached = reg.load_model("weights/1")
    cached.unlink()
    (tmp_path / "elsewhere").write_bytes(b"genuine weights")
    cached.symlink_to(tmp_path / "elsewhere")
    assert not reg.load_model("weights/1").is_symlink()


def test_a_swapped_saveload_class_file_is_not_loaded(store: Store, private_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_registry import Echo

    monkeypatch.setenv("MLNB_ALLOW_PICKLE", "1")  # saveload imports the class its archive names
    reg.register_model(Echo("genuine"), "echo")
    assert reg.load_model("echo/1").text == "genuine"
    entry = next(p for p in private_cache.iterdir() if not p.name.startswith("."))
    (entry / "files" / "model" / "text.txt").write_text("swapped")
    assert reg.load_model("echo/1").text == "genuine"


def test_the_cache_is_private_and_not_in_the_shared_temp_folder(store: Store, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    (tmp_path / "weights.bin").write_bytes(b"w")
    reg.register_model(tmp_path / "weights.bin", "weights")
    monkeypatch.delenv("MLNB_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    loaded = reg.load_model("weights/1")
    root = tmp_path / "xdg" / "mlnb" / "models"
    assert root in loaded.parents and Path(tempfile.gettempdir()) / "mlnb-models" not in loaded.parents
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    # a cache folder others can write to is made private before use
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    monkeypatch.setenv("MLNB_MODEL_CACHE", str(shared))
    reg.load_model("weights/1")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700
    if os.getuid() == 0:  # as root, a folder owned by another user can be made: it is refused
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o700)
        os.chown(foreign, 65534, 65534)
        monkeypatch.setenv("MLNB_MODEL_CACHE", str(foreign))
        with pytest.raises(MlnbError, match="not a folder of your own"):
            reg.load_model("weights/1")


def test_plain_data_is_json_and_other_objects_need_the_opt_in(store: Store) -> None:
    record = reg.register_model({"threshold": 0.5, "labels": ["a", None, True], "n": 3}, "rules")
    assert record["flavor"] == "json"
    assert reg.load_model("rules/1") == {"threshold": 0.5, "labels": ["a", None, True], "n": 3}
    assert reg.register_model({"pair": (1, 2)}, "tupled")["flavor"] == "pickle"  # JSON would give a list back
    with pytest.raises(MlnbError):
        reg.load_model("tupled/1")
    assert reg.load_model("tupled/1", allow_pickle=True) == {"pair": (1, 2)}


def test_each_version_records_who_registered_it(store: Store, iris_xy) -> None:
    record = reg.register_model(_tree(iris_xy), "iris")
    assert record["user"] and record["host"] == socket.gethostname() and record["mlnb_version"] == mlnb.__version__
    shown = CliRunner().invoke(cli, ["--store", str(store.root), "models", "show", "iris"])
    assert shown.exit_code == 0 and "registered_by" in shown.output
    assert f"{record['user']}@{socket.gethostname()}"[:20] in shown.output
    data = orjson.loads(CliRunner().invoke(cli, ["--store", str(store.root), "models", "show", "iris",
                                                "--format", "json"]).output)
    assert data["versions"][0]["registered_by"] == f"{record['user']}@{record['host']} (mlnb {mlnb.__version__})"


def test_a_model_skops_cannot_save_falls_back_to_joblib_with_a_warning(store: Store, iris_xy,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import skops.io

    from mlnb.model_registry.flavors import PickleFallbackWarning

    def refuse(obj, **kwargs):
        raise TypeError("unsupported object")

    monkeypatch.setattr(skops.io, "dumps", refuse)  # as for a model holding something skops cannot save
    X, _ = iris_xy
    with pytest.warns(PickleFallbackWarning, match=r"skops could not save it \(unsupported object\).*allow_pickle"):
        record = reg.register_model(_tree(iris_xy), "fallback")
    assert record["flavor"] == "sklearn"
    assert (reg.load_model("fallback/1", allow_pickle=True).predict(X) == _tree(iris_xy).predict(X)).all()
