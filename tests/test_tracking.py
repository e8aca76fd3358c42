"""The tracking API and queries against a real store in a temporary folder."""
from __future__ import annotations

import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import mlnb
from mlnb.errors import InvalidValueError, NoActiveRunError, ReadOnlySQLError, RunNotFoundError, MlnbError
from mlnb.store.store import Store


def test_run_context_marks_finished_and_failed(store: Store) -> None:
    with mlnb.start_run(experiment="e", name="ok") as ok:
        mlnb.log_param("lr", 0.1)
    with pytest.raises(ZeroDivisionError):
        with mlnb.start_run(experiment="e", name="boom") as boom:
            1 / 0
    assert mlnb.get_run(ok.id).status == "finished"
    assert mlnb.get_run(boom.id).status == "failed"
    assert mlnb.active_run() is None


def test_runs_table_has_documented_columns_and_typed_params(store: Store) -> None:
    for i, opt in enumerate(["adam", "sgd", "adam"]):
        with mlnb.start_run(experiment="sweep", name=f"r{i}", params={"lr": 0.1 * (i + 1), "depth": i, "opt": opt}):
            mlnb.log_metrics({"acc": 0.5 + i / 10})
            mlnb.set_tags(team="vision")
    table = mlnb.runs(experiment="sweep", order_by="params.depth")
    assert list(table.columns[:7]) == ["run_id", "experiment", "name", "status", "start", "end", "parent_run_id"]
    assert {"params.lr", "params.depth", "params.opt", "metrics.acc", "tags.team"} <= set(table.columns)
    assert table["name"].tolist() == ["r0", "r1", "r2"]
    assert table["params.depth"].tolist() == [0, 1, 2]
    assert table["params.lr"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert table["params.opt"].tolist() == ["adam", "sgd", "adam"]


def test_filter_order_limit_offset(store: Store) -> None:
    for i in range(6):
        with mlnb.start_run(experiment="f", name=f"r{i}", params={"lr": [0.1, 0.01][i % 2]}):
            mlnb.log_metric("acc", i / 10)
    best = mlnb.runs(filter="params.lr = 0.1 and metrics.acc > 0.1", order_by=["-metrics.acc"])
    assert best["name"].tolist() == ["r4", "r2"]
    page = mlnb.runs(order_by="metrics.acc", limit=2, offset=2)
    assert page["name"].tolist() == ["r2", "r3"]
    assert mlnb.runs(filter="name in ('r1', 'r5') or status = 'nope'")["name"].tolist() == ["r5", "r1"]
    with pytest.raises(mlnb.MlnbError, match="column"):
        mlnb.runs(filter="metrics.acc >")


def test_metric_steps_history_latest_and_nan(store: Store) -> None:
    with mlnb.start_run() as run:
        for value in (3.0, 2.0, 1.0):
            mlnb.log_metric("loss", value)  # steps 0, 1, 2
        mlnb.log_metric("loss", 9.0, step=1)  # a late point at an old step does not become "latest"
        mlnb.log_metric("score", float("nan"))
    history = mlnb.metric_history(run.id, "loss")
    assert history["step"].tolist() == [0, 1, 1, 2]
    record = mlnb.get_run(run.id)
    assert record.metrics["loss"] == 1.0
    assert math.isnan(record.metrics["score"])
    with pytest.raises(MlnbError, match="has no metric 'acc'; it has: loss, score"):
        mlnb.metric_history(run.id, "acc")


def test_nested_runs_get_their_parent(store: Store) -> None:
    with mlnb.start_run(experiment="sweep", name="parent") as parent:
        with mlnb.start_run(name="child") as child:
            assert mlnb.active_run() is child
        assert mlnb.active_run() is parent
    children = mlnb.runs(filter=f"parent_run_id = '{parent.id}'")
    assert children["name"].tolist() == ["child"]
    assert children["experiment"].tolist() == ["sweep"]


def test_bad_values_give_clear_errors(store: Store) -> None:
    with pytest.raises(NoActiveRunError, match="start_run"):
        mlnb.log_metric("acc", 1.0)
    with mlnb.start_run() as run:
        with pytest.raises(InvalidValueError, match="must be a number"):
            mlnb.log_metric("acc", "high")
        with pytest.raises(InvalidValueError, match="non-empty"):
            mlnb.log_param("", 1)
        with pytest.raises(InvalidValueError, match="step must be an integer"):
            mlnb.log_metric("acc", 1.0, step=1.5)
    with pytest.raises(InvalidValueError, match="has ended"):
        run.log_metric("acc", 1.0)


def test_params_last_value_wins_and_numpy_values(store: Store) -> None:
    import numpy as np

    with mlnb.start_run() as run:
        mlnb.log_params(lr=0.1, layers=[64, 32])
        mlnb.log_params({"lr": np.float32(0.5), "seed": np.int64(7)})
    params = mlnb.get_run(run.id).params
    assert params == {"lr": "0.5", "layers": "[64, 32]", "seed": "7"}


def test_artifacts_are_content_addressed_and_verified(store: Store, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"w" * 100)
    (tmp_path / "notes.txt").write_text("hello")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with mlnb.start_run() as run:
        mlnb.log_artifact(tmp_path / "notes.txt")
        mlnb.log_artifact(b"hello", name="copy.txt")
        mlnb.log_artifact(tmp_path / "model")
        mlnb.log_artifact(fig, name="curve.png")
        with pytest.raises(InvalidValueError, match="no file or folder"):
            mlnb.log_artifact("missing.txt")
    artifacts = {a["path"]: a for a in mlnb.get_run(run.id).artifacts}
    assert set(artifacts) == {"notes.txt", "copy.txt", "model/weights.bin", "curve.png"}
    assert artifacts["notes.txt"]["hash"] == artifacts["copy.txt"]["hash"]  # stored once
    assert artifacts["curve.png"]["media_type"] == "image/png"
    blob = store.blobs.path_of(artifacts["notes.txt"]["hash"])
    assert store.blobs.read_bytes(artifacts["notes.txt"]["hash"]) == b"hello"
    blob.write_bytes(b"tampered")
    with pytest.raises(MlnbError, match="corrupted"):
        store.blobs.read_bytes(artifacts["notes.txt"]["hash"])
    with pytest.raises(MlnbError, match="not an artifact hash"):
        store.blobs.path_of("../../etc/passwd")


def test_run_ids_resolve_by_unique_prefix(store: Store) -> None:
    with mlnb.start_run(name="only") as run:
        pass
    assert mlnb.get_run(run.id[:6]).name == "only"
    with pytest.raises(RunNotFoundError, match="no run 'zzzzzz'"):
        mlnb.get_run("zzzzzz")


def test_sql_is_read_only_and_sandboxed(store: Store) -> None:
    with mlnb.start_run(experiment="q", params={"a": 1}) as run:
        mlnb.log_metric("m", 2.0)
    frame = mlnb.sql("SELECT r.name, p.key, p.value FROM runs r JOIN params p USING (run_id) WHERE r.run_id = ?",
                     [run.id])
    assert frame[["key", "value"]].values.tolist() == [["a", "1"]]
    for query in ("DELETE FROM idx.runs", "CREATE TABLE x (a INT)", "SELECT * FROM read_csv('/etc/passwd')",
                  "COPY (SELECT 1) TO 'out.csv'", "INSTALL httpfs", "SET enable_external_access = true"):
        with pytest.raises(ReadOnlySQLError):
            mlnb.sql(query)
    assert len(mlnb.runs()) == 1
    assert not Path("out.csv").exists()


def test_active_run_does_not_leak_between_threads(store: Store) -> None:
    seen: list[object] = []
    with mlnb.start_run():
        thread = threading.Thread(target=lambda: seen.append(mlnb.active_run()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_reingest_is_idempotent_and_torn_lines_are_skipped(store: Store) -> None:
    with mlnb.start_run(params={"x": 1}) as run:
        mlnb.log_metrics({"a": 1.0, "b": 2.0})
    before = mlnb.sql("SELECT count(*) AS n FROM metrics")["n"][0]
    # a crash mid-write leaves half a line at the end of some event file
    torn = store.root / "events" / "torn-writer.jsonl"
    torn.write_bytes(b'{"e":"run_start","run":"x1","t":1.0}\n{"e":"metrics","run":"x1","m":[{"k":"a"')
    (store.root / "events" / "garbage.jsonl").write_bytes(b"not json at all\n{\"e\":\"from_the_future\"}\n")
    for _ in range(3):
        assert mlnb.sql("SELECT count(*) AS n FROM metrics")["n"][0] == before
    assert set(mlnb.runs()["run_id"]) == {run.id, "x1"}
    state = mlnb.sql("SELECT 1")  # still healthy
    assert len(state) == 1
    report = store.rebuild()
    assert report["bad_lines"] == 1 and report["runs"] == 2
    assert mlnb.sql("SELECT count(*) AS n FROM metrics")["n"][0] == before


def test_store_discovery_walks_up_and_errors_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlnb.project import forget_current

    monkeypatch.delenv("MLNB_HOME", raising=False)
    forget_current()
    project = tmp_path / "project"
    (project / "notebooks" / "deep").mkdir(parents=True)
    monkeypatch.chdir(project / "notebooks" / "deep")
    with pytest.raises(mlnb.MlnbError, match="no mlnb store found .* run `mlnb init`"):
        mlnb.runs()
    Store.open(project / ".mlnb", create=True)
    with mlnb.start_run(name="found"):
        pass
    assert (project / ".mlnb" / "events").is_dir()
    assert mlnb.runs()["name"].tolist() == ["found"]
    monkeypatch.setenv("MLNB_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(mlnb.MlnbError, match="MLNB_HOME points to .* not an mlnb store"):
        mlnb.runs()
    forget_current()


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_runs_left_open_at_exit_are_ended(store: Store, tmp_path: Path) -> None:
    root = store.root
    ok = _python(f"import mlnb; mlnb.connect({str(root)!r}); mlnb.start_run(name='open-at-exit')", tmp_path)
    bad = _python(f"import mlnb; mlnb.connect({str(root)!r}); mlnb.start_run(name='uncaught'); 1/0", tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert bad.returncode == 1 and "ZeroDivisionError" in bad.stderr
    statuses = dict(mlnb.runs()[["name", "status"]].values.tolist())
    assert statuses == {"open-at-exit": "finished", "uncaught": "failed"}


def test_import_mlnb_loads_no_heavy_library(tmp_path: Path) -> None:
    probe = _python(
        "import sys, mlnb; heavy = [m for m in ('duckdb', 'pandas', 'pyarrow', 'numpy', 'IPython', 'psutil') "
        "if m in sys.modules]; print(heavy)", tmp_path)
    assert probe.stdout.strip() == "[]", probe.stderr


def test_public_names_stay_functions_after_every_submodule_is_imported() -> None:
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(mlnb.__path__, "mlnb."):
        importlib.import_module(module.name)
    not_callable = [name for name in mlnb.__all__ if name != "__version__" and not callable(getattr(mlnb, name))]
    assert not_callable == []


def test_upgrade_reingests_events_an_older_version_skipped(store: Store) -> None:
    import duckdb

    from mlnb import model_registry as reg

    reg.register_model({"rule": 1}, "rules")
    with mlnb.start_run(name="kept"):
        mlnb.log_metric("m", 1.0)
    assert len(reg.model_versions("rules")) == 1
    store.close()
    # Given an index left by an older mlnb (schema v1) that skipped the registry events as unknown
    con = duckdb.connect(str(store.db_path))
    con.execute("DELETE FROM idx.model_versions")
    con.execute("UPDATE idx.ingest_state SET unknown_events = 1")
    con.execute("UPDATE idx.meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    # When this version opens it, everything is read again: nothing lost, nothing doubled
    assert len(reg.model_versions("rules")) == 1
    assert mlnb.runs()["name"].tolist() == ["kept"]
    assert mlnb.sql("SELECT count(*) AS n FROM metrics")["n"][0] == 1
