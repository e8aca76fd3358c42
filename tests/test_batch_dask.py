"""Scale-out on Dask: a real `dask scheduler` + `dask worker` on loopback run tracked notebooks."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import mlnb
from mlnb.batch import tasks
from mlnb.batch.executors import get_executor
from mlnb.errors import MlnbError
from mlnb.store.store import Store
from tests.nbutil import make_notebook

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path: Path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = open(tmp_path / "dask.log", "w")
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=logs, stderr=logs)
    worker = subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "2",
                               "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(tmp_path / "w")],
                              stdout=logs, stderr=logs)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            from distributed import Client

            with Client(address, timeout="2s") as client:
                if client.scheduler_info()["workers"]:
                    break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        pytest.fail("dask cluster did not start: " + (tmp_path / "dask.log").read_text()[-2000:])
    yield address, worker.pid
    worker.terminate()
    scheduler.terminate()
    worker.wait(30)
    scheduler.wait(30)
    logs.close()


def test_notebooks_run_on_a_dask_worker_into_the_same_store(store: Store, tmp_path: Path, dask_cluster) -> None:
    address, worker_pid = dask_cluster
    notebook = make_notebook(["k = 1", "import mlnb, psutil\nmlnb.log_metric('k2', k * 2)\n"
                              "mlnb.set_tag('ancestors', ' '.join(str(p.pid) for p in psutil.Process().parents()))"],
                             tmp_path / "square.ipynb", tags={0: ["parameters"]})
    specs = [{"store": str(store.root), "notebook": str(notebook), "parameters": {"k": k}, "experiment": "dask",
              "run_id": uuid.uuid4().hex} for k in (1, 2, 3)]
    executor = get_executor("dask", address=address)
    try:
        results = [result for _, result in executor.run_all(tasks.execute, specs)]
    finally:
        executor.close()
    assert sorted(r["status"] for r in results) == ["finished"] * 3
    runs = mlnb.runs(experiment="dask", order_by="params.k")
    assert runs["metrics.k2"].tolist() == [2.0, 4.0, 6.0]
    assert set(runs["run_id"]) == {s["run_id"] for s in specs}
    # each kernel descends from the `dask worker` process, so the worker ran the task (not this process)
    for ancestors in runs["tags.ancestors"]:
        assert str(worker_pid) in ancestors.split(), ancestors


def test_unreachable_scheduler_is_a_one_line_error() -> None:
    with pytest.raises(MlnbError, match="cannot reach the Dask scheduler"):
        get_executor("dask", address=f"tcp://127.0.0.1:{_free_port()}", timeout=2)
    with pytest.raises(MlnbError, match="needs --address"):
        get_executor("dask")
