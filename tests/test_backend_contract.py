"""The backend contract: what every store backend must do, run against every registered backend.

`file` is the local `.mlnb` folder; `memtest` is an in-memory backend registered programmatically
(tests/memory_backend.py) that proves the seam: a store on it is logged to and queried end to end
without the core knowing. A URL whose backend is not installed is one line and never a folder.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

import mlnb
from mlnb.errors import BackendNotFoundError, IntegrityError, MissingDependencyError, MlnbError
from mlnb.project import Project, forget_current
from mlnb.store.backends import registry
from mlnb.store.backends.base import Backend
from mlnb.store.backends.local import LocalBackend, open_local
from mlnb.store.store import Store
from tests import memory_backend

REPO = Path(__file__).resolve().parent.parent
NO_S3 = "no backend for 's3://'; install \"mlnb[team]\""


@dataclass
class Harness:
    """How the tests make a fresh backend of one kind, and reach under it to damage it."""

    open: Callable[[Path], Backend]
    append_raw: Callable[[Backend, str, bytes], None]  # bytes at the end of one source, as a torn write leaves them
    corrupt: Callable[[Backend, str], None]  # change a stored blob's bytes
    shared_across_processes: bool


def _local_open(tmp: Path) -> Backend:
    backend = open_local(str(tmp / "store" / ".mlnb"), create=True)
    backend.init()
    return backend


def _local_append(backend: Backend, source: str, data: bytes) -> None:
    assert isinstance(backend, LocalBackend)
    with open(backend.events.folder / source, "ab") as handle:
        handle.write(data)


def _local_corrupt(backend: Backend, digest: str) -> None:
    backend.blobs.path_of(digest).write_bytes(b"tampered")  # type: ignore[attr-defined]


def _memory_append(backend: Backend, source: str, data: bytes) -> None:
    backend.events.append(source, data)  # type: ignore[attr-defined]


def _memory_corrupt(backend: Backend, digest: str) -> None:
    backend.blobs.data[digest] = b"tampered"  # type: ignore[attr-defined]


HARNESSES = {
    "file": Harness(_local_open, _local_append, _local_corrupt, shared_across_processes=True),
    "memtest": Harness(lambda tmp: memory_backend.open_fresh(tmp / "index"), _memory_append, _memory_corrupt,
                       shared_across_processes=False),
}


@pytest.fixture
def memtest(tmp_path: Path) -> Any:
    """`memtest://` registered for this test (index caches under tmp_path), then removed."""
    memory_backend.install(tmp_path / "memtest-index")
    yield tmp_path / "memtest-index"
    for key in [k for k in Store._instances if isinstance(k, str) and k.startswith("memtest://")]:
        Store._instances.pop(key).close()
    memory_backend.uninstall()


@pytest.fixture(params=sorted(HARNESSES))
def kind(request: pytest.FixtureRequest, memtest: Path) -> str:
    return request.param


@pytest.fixture
def backend(kind: str, tmp_path: Path) -> Backend:
    return HARNESSES[kind].open(tmp_path)


def test_every_registered_backend_runs_the_contract(memtest: Path) -> None:
    # Given memtest registered, when the registry lists its schemes, then each has a harness here
    assert "file" in registry.schemes() and "memtest" in registry.schemes()
    assert set(registry.schemes()) <= set(HARNESSES), "a backend without a contract harness"


# ---------------------------------------------------------------- event log

def _events(lines: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in lines]


def _read(backend: Backend, cursors: dict[str, Any], only: list[str] | None = None) -> dict[str, list[bytes]]:
    """New lines per source since `cursors`, which are moved on (as ingest keeps them)."""
    out: dict[str, list[bytes]] = {}
    for batch in backend.events.read_new(dict(cursors), only):
        out.setdefault(batch.source, []).extend(batch.lines)
        cursors[batch.source] = batch.cursor
    return {source: lines for source, lines in out.items() if lines}


def test_appended_events_are_read_once_and_resumed_from_the_cursor(backend: Backend) -> None:
    appender = backend.events.open_appender()
    for n in range(3):
        assert appender.emit({"e": "x", "n": n})
    appender.flush(sync=False)  # read-your-own-writes needs no sync
    cursors: dict[str, Any] = {}
    first = _read(backend, cursors)
    assert list(first) == [appender.source]
    assert [e["n"] for e in _events(first[appender.source])] == [0, 1, 2]

    assert _read(backend, cursors) == {}  # nothing new: nothing read again
    appender.emit({"e": "x", "n": 3})
    appender.emit({"e": "x", "n": 4})
    appender.flush(sync=True)
    assert [e["n"] for e in _events(_read(backend, cursors)[appender.source])] == [3, 4]
    assert len(_read(backend, {})[appender.source]) == 5  # from no cursor: everything
    source = appender.source
    appender.close()
    assert backend.events.sources()[source] > 0


def test_a_partial_last_line_is_read_only_once_complete(backend: Backend, kind: str) -> None:
    appender = backend.events.open_appender()
    appender.emit({"e": "x", "n": 1})
    appender.flush(sync=True)
    source = appender.source
    assert source is not None
    HARNESSES[kind].append_raw(backend, source, b'{"e": "x", "n": 2')  # a torn write
    cursors: dict[str, Any] = {}
    assert _events(_read(backend, cursors)[source]) == [{"e": "x", "n": 1}]
    HARNESSES[kind].append_raw(backend, source, b'}\n')
    assert _read(backend, cursors) == {source: [b'{"e": "x", "n": 2}']}
    appender.close()


def test_many_writers_each_keep_their_order(backend: Backend) -> None:
    appenders = [backend.events.open_appender() for _ in range(4)]

    def write(w: int) -> None:
        for n in range(200):
            appenders[w].emit({"e": "x", "w": w, "n": n})
        appenders[w].flush(sync=True)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    read = _read(backend, {})
    assert set(read) == {a.source for a in appenders} and len(read) == 4
    for appender in appenders:
        events = _events(read[appender.source])
        assert [e["n"] for e in events] == list(range(200)) and len({e["w"] for e in events}) == 1
    only = appenders[2].source
    assert list(_read(backend, {}, only=[only])) == [only]
    for appender in appenders:
        appender.close()


# ---------------------------------------------------------------- blobs

def test_blobs_round_trip_and_check_integrity(backend: Backend, kind: str, tmp_path: Path) -> None:
    blobs = backend.blobs
    digest, size = blobs.put_bytes(b"hello")
    assert (digest, size) == (hashlib.sha256(b"hello").hexdigest(), 5)
    assert blobs.put_bytes(b"hello") == (digest, 5)  # stored once
    assert blobs.exists(digest) and blobs.read_bytes(digest) == b"hello"
    with blobs.open(digest) as handle:
        assert handle.read() == b"hello"
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    big, big_size = blobs.put_file(source)
    assert big == hashlib.sha256(source.read_bytes()).hexdigest() and big_size == 3 << 20
    assert blobs.read_bytes(big) == source.read_bytes()

    HARNESSES[kind].corrupt(backend, digest)
    with pytest.raises(IntegrityError) as corrupted:
        blobs.read_bytes(digest)
    assert corrupted.value.problem == "hash_mismatch" and corrupted.value.digest == digest
    with pytest.raises(IntegrityError):
        blobs.open(digest)

    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not blobs.exists(missing)
    with pytest.raises(IntegrityError) as gone:
        blobs.read_bytes(missing)
    assert gone.value.problem == "missing"
    with pytest.raises(MlnbError, match="not an artifact hash"):
        blobs.read_bytes("../../etc/passwd")


# ---------------------------------------------------------------- claims

def test_the_first_claim_wins(backend: Backend) -> None:
    claims = backend.claims
    assert claims.read("models/iris/1") is None
    assert claims.create("models/iris/1", b"first") is True
    assert claims.create("models/iris/1", b"second") is False
    assert claims.read("models/iris/1") == b"first"
    with pytest.raises(ValueError):
        claims.create("../escape", b"x")


def test_concurrent_claims_from_threads_have_one_winner(backend: Backend) -> None:
    for round_ in range(5):
        key = f"race/{round_}"
        start = threading.Barrier(16)
        results: list[tuple[int, bool]] = []

        def claim(n: int, start: threading.Barrier = start, results: list[tuple[int, bool]] = results,
                  key: str = key) -> None:
            start.wait()
            results.append((n, backend.claims.create(key, str(n).encode())))

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [n for n, won in results if won]
        assert len(results) == 16 and len(winners) == 1
        assert backend.claims.read(key) == str(winners[0]).encode()


_CLAIM_IN_A_PROCESS = """
import sys, time
from pathlib import Path
from mlnb.store.backends.registry import open_backend
backend = open_backend(sys.argv[1], create=False)
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
print("won" if backend.claims.create("race/processes", sys.argv[3].encode()) else "lost")
"""


def test_concurrent_claims_from_processes_have_one_winner(backend: Backend, kind: str, tmp_path: Path) -> None:
    if not HARNESSES[kind].shared_across_processes:
        pytest.skip(f"{kind} keeps its data in one process")
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", _CLAIM_IN_A_PROCESS, backend.url, str(go), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for n in range(6)]
    time.sleep(1.0)  # let them all start and wait
    go.touch()
    outcomes = [proc.communicate(timeout=60) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outcomes]
    said = [out.decode().strip() for out, _ in outcomes]
    assert sorted(said) == ["lost"] * 5 + ["won"]
    assert backend.claims.read("race/processes") == str(said.index("won")).encode()


# ---------------------------------------------------------------- end to end on memtest

def test_a_run_logged_to_a_memtest_store_reads_back(memtest: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a store URL of a backend registered by code, in an empty folder
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLNB_HOME", raising=False)
    forget_current()
    (work / "notes.txt").write_text("hello")
    try:
        store = mlnb.connect("memtest://team/x").store
        # When a run with params, metrics and an artifact is logged to it
        with mlnb.start_run(name="remote", experiment="seam") as run:
            mlnb.log_params({"lr": 0.1, "opt": "adam"})
            mlnb.log_metric("acc", 0.5, step=1)
            mlnb.log_metric("acc", 0.9, step=2)
            mlnb.log_artifact(work / "notes.txt")
        # Then it reads back through the ordinary queries
        frame = mlnb.runs()
        assert list(frame["run_id"]) == [run.id]
        row = frame.iloc[0]
        assert (row["name"], row["status"], row["params.opt"], row["metrics.acc"]) == ("remote", "finished",
                                                                                        "adam", 0.9)
        assert float(row["params.lr"]) == 0.1
        assert list(mlnb.metric_history(run.id, "acc")["value"]) == [0.5, 0.9]
        [artifact] = mlnb.get_run(run.id).artifacts
        assert store.blobs.read_bytes(artifact["hash"]) == b"hello"
        # and the index is only a cache: rebuilt from the backend's event log, it reads the same
        assert store.rebuild()["runs"] == 1
        assert list(mlnb.runs()["run_id"]) == [run.id]
    finally:
        forget_current()
    # everything went to the backend: the events in memory, the index in its cache folder
    backend = store.backend
    assert isinstance(backend, memory_backend.MemoryBackend)
    assert sum(backend.events.sources().values()) > 0 and backend.blobs.data
    assert store.db_path.is_relative_to(memtest) and store.db_path.is_file()
    assert os.listdir(work) == ["notes.txt"]  # no folder made for the URL
    assert Project.open("memtest://team/x").store is store  # one Store per URL


def test_a_batch_without_lines_still_moves_the_cursor(memtest: Path, tmp_path: Path) -> None:
    """A backend may report a new cursor alone (e.g. a table version with no new rows for us)."""
    import duckdb

    from mlnb.store.backends.base import LogBatch
    from mlnb.store.ingest import ingest
    from mlnb.store.schema import migrate

    class VersionOnly:
        def read_new(self, cursors: Any, only: Any = None) -> Any:
            yield LogBatch("_log", [], int(cursors.get("_log", 0)) + 7)

    con = duckdb.connect(str(tmp_path / "i.duckdb"))
    migrate(con)
    ingest(con, VersionOnly())  # type: ignore[arg-type]
    ingest(con, VersionOnly())  # type: ignore[arg-type]
    assert con.execute('SELECT file, "offset", lines FROM idx.ingest_state').fetchall() == [("_log", 14, 0)]
    con.close()


def test_backends_come_from_entry_points(memtest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an installed package declaring scheme `eptest` in group mlnb.backends (faked here)
    from importlib import metadata

    point = metadata.EntryPoint(name="eptest", value="tests.test_backend_contract:_open_eptest",
                                group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [point] if group == point.group else [])
    monkeypatch.setattr(registry, "_entry_points_read", False)
    try:
        # When a store URL names it, then its factory opens the store
        backend = registry.open_backend("eptest://shared/x", create=True)
        assert isinstance(backend, memory_backend.MemoryBackend) and backend.url == "eptest://shared/x"
        assert "eptest" in registry.schemes()
    finally:
        registry.unregister("eptest")


def _open_eptest(url: str, create: bool) -> Backend:
    backend = memory_backend.MemoryBackend(url, Path(os.environ.get("TMPDIR", "/tmp")))
    if create:
        backend.init()
    return backend


def test_file_urls_open_the_local_store(store: Any, tmp_path: Path) -> None:
    # Given the local store at tmp_path/.mlnb, when it is opened by file:// URL, then it is the same store
    assert Store.open(f"file://{tmp_path / '.mlnb'}") is store
    assert Store.open((tmp_path / ".mlnb").as_uri()) is store
    with pytest.raises(MlnbError, match="on this machine"):
        Store.open("file://otherhost/x/.mlnb")


# ---------------------------------------------------------------- a backend that is not installed

def test_an_s3_url_without_its_backend_is_one_line_from_python(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLNB_HOME", raising=False)
    for open_it in (lambda: mlnb.connect("s3://bucket/x"), lambda: Project.open("s3://bucket/x"),
                    lambda: Store.open("s3://bucket/x", create=True)):
        with pytest.raises(BackendNotFoundError) as caught:
            open_it()
        assert str(caught.value) == NO_S3
        assert isinstance(caught.value, MissingDependencyError) and caught.value.extra == "team"
    with pytest.raises(MlnbError, match="pass it as text: 's3://bucket/x'"):
        mlnb.connect(Path("s3://bucket/x"))  # Path() made it 's3:/bucket/x'
    monkeypatch.setenv("MLNB_HOME", "s3://bucket/x")
    with pytest.raises(BackendNotFoundError, match="no backend for 's3://'"):
        mlnb.connect()
    assert os.listdir(tmp_path) == []  # no folder named `s3:`


@pytest.mark.parametrize("how", ["--store", "MLNB_HOME"])
@pytest.mark.parametrize("command", [["runs"], ["init"], ["store", "status"]])
def test_an_s3_url_without_its_backend_is_one_line_from_the_cli(tmp_path: Path, how: str, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLNB_HOME"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    args = [sys.executable, "-m", "mlnb.cli"]
    if how == "--store":
        args += ["--store", "s3://bucket/x"]
    else:
        env["MLNB_HOME"] = "s3://bucket/x"
    done = subprocess.run(args + command, cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode != 0
    assert done.stderr.decode().strip().splitlines() == [f"error: {NO_S3}"]
    assert os.listdir(tmp_path) == []



def test_appenders_of_other_kinds_are_closed_at_shutdown(memtest: Path) -> None:
    """A backend's own appender (not an EventWriter) is flushed and closed in the `writers` phase."""
    from mlnb.store.store import close_other_appenders

    class Recording:
        source = "r1"
        closed = 0

        def emit(self, event: dict[str, Any]) -> bool:
            return True

        def flush(self, sync: bool = True) -> None:
            pass

        def close(self) -> None:
            self.closed += 1

    store = Store.open("memtest://appenders", create=True)
    store.writer = Recording()  # type: ignore[assignment]
    close_other_appenders()
    assert store.writer.closed == 1  # type: ignore[attr-defined]
