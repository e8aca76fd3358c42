"""The Store: a project's backend (event log, blobs, claims), its DuckDB index, and who may open what.

The backend (`mlnb.store.backends`, chosen by the store URL's scheme) holds the source of truth;
the index is a local cache in `backend.index_dir` (for the local backend: the `.mlnb` folder),
fed only through the backend's event-log interface.

Writers only append events. Reading goes through `Store.index()`, which takes an OS file
lock (so no two processes ever race to open the DuckDB file read-write), ingests new
events, marks runs whose process died as `crashed`, and yields the connection. Processes take
the lock in turn (`mlnb.store.turns`): a holder that sees a waiter releases it after its
current query instead of lingering. User SQL runs on a snapshot of the index, outside the lock.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlnb import shutdown
from mlnb.errors import IndexDamagedError, MlnbError, NewerFormatWarning, StaleIndexWarning
from mlnb.events import FORMAT_VERSION, event
from mlnb.store.backends.base import Backend
from mlnb.store.backends.registry import open_backend
from mlnb.store.events import EventWriter
from mlnb.store.processes import process_alive
from mlnb.store.turns import Turns

DB_FILENAME = "mlnb.duckdb"
SNAPSHOTS_DIRNAME = "snapshots"
LOCK_TIMEOUT_S = float(os.environ.get("MLNB_LOCK_TIMEOUT", "120"))
# How long an idle index connection stays open when no other process waits for the index.
LINGER_S = float(os.environ.get("MLNB_INDEX_LINGER", "0.5"))
# When others wait: a process that keeps querying may keep the index this long (a burst of quick
# queries shares one DuckDB open), and one that pauses between queries releases it after IDLE_GAP_S.
TURN_S = 0.1
IDLE_GAP_S = 0.03

# Read-only connections for user SQL: no file access, no extension loading, config frozen.
SAFE_READ_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class Store:
    """A project's store. Get one with `Store.open()`; instances are shared per store (`backend.key`).

    `writer` (this process's event appender), `events` (the event log), `blobs` and `claims`
    come from the backend; `root` is the local folder of the index (the `.mlnb` folder itself
    for the local backend) and `url` what the store is reopened from.
    """

    _instances: dict[Any, "Store"] = {}
    _instances_lock = threading.Lock()

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url = backend.url
        self.root = root = backend.index_dir
        self.db_path = root / DB_FILENAME
        self.events = backend.events
        self.writer = backend.events.open_appender()
        self.blobs = backend.blobs
        self.claims = backend.claims
        self._lock = threading.RLock()
        self._con: Any = None
        self._depth = 0
        self._held_lock: Any = None
        self._owner_pid = os.getpid()
        self._idle_since = 0.0
        self._turn_since = 0.0
        self._closer: threading.Thread | None = None
        self.linger_s = LINGER_S  # how long an idle index connection (and the lock) is kept
        self.lock_timeout_s = LOCK_TIMEOUT_S  # how long to wait for our turn at the index lock
        self._turns = Turns(root)
        self._format_marked = False
        self._newer_format_warned = False
        _open_stores.add(self)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, create: bool = False) -> "Store":
        """The store at `path` (a folder, its `.mlnb`, or a backend URL such as `file:///...`), or
        found from $MLNB_HOME / the cwd; `create` makes a missing one."""
        backend = open_backend(path, create=create)
        with cls._instances_lock:
            store = cls._instances.get(backend.key)
            if store is None:
                store = cls._instances[backend.key] = Store(backend)
                backend.tidy()  # e.g. what writers killed mid-artifact left
        if create:
            store.init()
        return store

    @classmethod
    def forget(cls, where: "str | os.PathLike[str] | Store") -> None:
        """Stop sharing the instance of `where` (a Store, its root folder or its URL): the next
        `open` builds a fresh one."""
        with cls._instances_lock:
            for key, store in list(cls._instances.items()):
                if isinstance(where, Store):
                    if store is where:
                        del cls._instances[key]
                elif store.url == str(where) or store.root == Path(where):
                    del cls._instances[key]

    def init(self) -> None:
        """Create the store's layout (idempotent, safe when many processes do it at once), and
        record that this mlnb's event format is written here (`claims/format/<version>`)."""
        self.backend.init()
        if not self._format_marked:
            try:
                self.claims.create(f"format/{FORMAT_VERSION}", b"")
            except OSError:  # a read-only folder: nothing is written here, so nothing to mark
                pass
            self._format_marked = True

    def exists(self) -> bool:
        """True when the store has been created (`init`)."""
        return self.backend.exists()

    @contextmanager
    def index(self, refresh: bool = True) -> Iterator[Any]:
        """A read-write connection to the up-to-date index, held under the index lock.

        After use the connection lingers for `linger_s` (a burst of queries opens DuckDB once),
        then a timer closes it and releases the lock; it is released at once if another process
        waits for its turn.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._con
                finally:
                    self._depth -= 1
                return
            if self._con is None or self._owner_pid != os.getpid():
                self._open_index()
            self._depth = 1
            try:
                if refresh:
                    self.refresh(self._con)
                yield self._con
            except MlnbError:
                raise
            except BaseException:
                self._close_index()  # never keep a connection in an unknown state
                raise
            finally:
                self._depth = 0
                self._idle_since = time.monotonic()
                if self._con is not None:
                    if self.linger_s <= 0 or (time.monotonic() - self._turn_since >= TURN_S
                                              and self._turns.others_waiting()):
                        self._close_index()
                    else:
                        self._start_closer()

    def close(self) -> None:
        """Close the index connection now and release the lock (the store stays usable)."""
        with self._lock:
            if not self._depth:
                self._close_index()

    def _open_index(self) -> None:
        if self._owner_pid != os.getpid():  # forked child: the parent's handles are not ours
            self._con, self._held_lock = None, None
        self._held_lock = self._acquire_file_lock()
        try:
            self._con = self._connect()
        except BaseException:
            self._held_lock.release()
            self._held_lock = None
            raise
        self._owner_pid = os.getpid()
        self._turn_since = time.monotonic()

    def _close_index(self) -> None:
        con, self._con = self._con, None
        lock, self._held_lock = self._held_lock, None
        try:
            if con is not None:
                con.close()
        finally:
            if lock is not None:
                lock.release()

    def _start_closer(self) -> None:
        if self._closer is not None and self._closer.is_alive():
            return
        self._closer = threading.Thread(target=self._close_when_idle, name="mlnb-index-closer", daemon=True)
        self._closer.start()

    def _close_when_idle(self) -> None:
        while True:
            time.sleep(min(self.linger_s / 4, 0.02))  # often: a waiting process should not wait out the linger
            with self._lock:
                if self._con is None:
                    return
                idle = time.monotonic() - self._idle_since
                if not self._depth and (idle >= self.linger_s or (idle >= IDLE_GAP_S and self._turns.others_waiting())):
                    self._close_index()
                    return

    def refresh(self, con: Any) -> None:
        """Ingest new events (ours included) and mark runs of dead processes as crashed."""
        from mlnb.store.ingest import ingest

        if self.read_only_folder():
            self._warn_stale()  # nothing can be ingested into a read-only folder: the index is read as it is
            return
        self.writer.flush(sync=False)  # read your own writes
        self._warn_newer_format()
        ingest(con, self.events)
        if self._mark_crashed(con):
            self.writer.flush(sync=True)
            source = self.writer.source
            ingest(con, self.events, only=[source] if source else None)

    @contextmanager
    def read_only(self) -> Iterator[Any]:
        """A read-only connection to a snapshot of the refreshed index, with file access and
        extensions disabled (for user SQL).

        The snapshot is a copy made under the index lock; the query then runs without it, so a
        slow query never keeps other processes from the index. (DuckDB cannot share the file:
        any open connection, read-only too, blocks a process that opens it read-write.)
        """
        import duckdb

        # on a read-only folder nobody can write the index, so it is read in place (no copy possible)
        snapshot = None if self.read_only_folder() else self._snapshot()
        if snapshot is None:
            self._connect_read_only_folder().close()  # the one-line errors: no index yet, damaged
            self._warn_stale()
        source = snapshot or self.db_path
        try:
            try:
                safe = duckdb.connect(str(source), read_only=True, config=dict(SAFE_READ_CONFIG))
            except duckdb.Error as exc:
                raise index_damaged(source, exc) from None
            try:
                safe.execute("SET enable_progress_bar = false")  # no bar drawn on the user's stderr
                safe.execute("SET lock_configuration = true")
                yield safe
            finally:
                safe.close()
        finally:
            if snapshot is not None:
                snapshot.unlink(missing_ok=True)

    def _snapshot(self) -> Path:
        """Copy the up-to-date index to `.mlnb/snapshots/` (removing copies left by dead processes)."""
        folder = self.root / SNAPSHOTS_DIRNAME
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("sql-*.duckdb"):
            pid = old.name.split("-")[1]
            if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid), None):
                old.unlink(missing_ok=True)
        path = folder / f"sql-{os.getpid()}-{secrets.token_hex(4)}.duckdb"
        with self.index() as con:
            con.execute("CHECKPOINT")  # everything in the main file: the copy needs no WAL
            try:
                shutil.copyfile(self.db_path, path)
            except OSError as exc:
                path.unlink(missing_ok=True)
                raise MlnbError(f"cannot copy the index to {folder} for the query ({exc.strerror or exc}); "
                                "free some disk space and try again") from None
        return path

    def rebuild(self) -> dict[str, int]:
        """Rebuild the index from the event logs into a new file, then swap it in."""
        import duckdb

        from mlnb.store.ingest import ingest
        from mlnb.store.schema import migrate

        if self.read_only_folder():
            raise MlnbError(f"the store at {self.root} is read-only; rebuild its index where it can be written")
        with self._lock:
            self._close_index()
        with self._lock, self._file_lock():
            self.backend.tidy()
            fresh = self.db_path.with_name(DB_FILENAME + ".rebuild")
            fresh.unlink(missing_ok=True)
            con = duckdb.connect(str(fresh))
            try:
                migrate(con)
                self.writer.flush(sync=True)
                report = ingest(con, self.events)
                self._mark_crashed(con)
                self.writer.flush(sync=True)
                ingest(con, self.events)
                counted = con.execute("SELECT count(*) FROM idx.runs").fetchone()
                runs = int(counted[0]) if counted else 0
            finally:
                con.close()
            Path(str(self.db_path) + ".wal").unlink(missing_ok=True)
            os.replace(fresh, self.db_path)
        return {"files": report.files, "events": report.events, "bad_lines": report.bad_lines, "runs": runs}

    def _connect(self) -> Any:
        import duckdb

        from mlnb.store.schema import SCHEMA_VERSION, forget_ingested, migrate

        if self.read_only_folder():
            return self._connect_read_only_folder()
        self.root.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                con = duckdb.connect(str(self.db_path))
                break
            except duckdb.IOException as exc:  # a tool outside mlnb holds the file
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise index_damaged(self.db_path, exc) from None
                time.sleep(0.05)
            except duckdb.Error as exc:  # a truncated or garbled file fails its checksums here
                raise index_damaged(self.db_path, exc) from None
        try:
            try:
                found = migrate(con)
            except duckdb.Error as exc:
                raise index_damaged(self.db_path, exc) from None
            unknown = con.execute("SELECT coalesce(sum(unknown_events), 0) FROM idx.ingest_state").fetchone()
            if 0 < found < SCHEMA_VERSION and unknown and unknown[0]:
                forget_ingested(con)  # an older mlnb skipped events this version understands
        except BaseException:
            con.close()
            raise
        return con

    def read_only_folder(self) -> bool:
        """True when this process cannot write the store folder (a read-only mount, no permission).

        Then no process can write the index either, so it is read without the lock and without
        ingesting: results may miss the newest events (said once, as a StaleIndexWarning).
        """
        return self.root.is_dir() and not os.access(self.root, os.W_OK)

    def _warn_newer_format(self) -> None:
        """Say once when a newer mlnb has written events in a format this one cannot fully read
        (they stay in the log, counted as unknown, and are read after an upgrade)."""
        if self._newer_format_warned or self.claims.read(f"format/{FORMAT_VERSION + 1}") is None:
            return
        self._newer_format_warned = True
        import warnings

        warnings.warn(NewerFormatWarning(
            f"the store at {self.url} holds events in format {FORMAT_VERSION + 1}, written by a newer mlnb; "
            "they are kept but not shown: upgrade mlnb (pip install -U mlnb)"), stacklevel=4)

    def _warn_stale(self) -> None:
        if not getattr(self, "_stale_warned", False):
            self._stale_warned = True
            import warnings

            warnings.warn(StaleIndexWarning(f"the store at {self.root} is read-only: showing its index as last "
                                            "written (results may be stale)"), stacklevel=3)

    def _connect_read_only_folder(self) -> Any:
        import duckdb

        if not self.db_path.is_file():
            raise MlnbError(f"the store at {self.root} is read-only and has no index yet; "
                            "copy it somewhere writable and run `mlnb store rebuild` there")
        try:
            return duckdb.connect(str(self.db_path), read_only=True)
        except duckdb.Error as exc:
            raise index_damaged(self.db_path, exc) from None

    def _acquire_file_lock(self) -> Any:
        if self.read_only_folder():
            return _NoLock()  # nobody can write the index on a read-only folder: nothing to guard
        self.root.mkdir(parents=True, exist_ok=True)
        return self._turns.acquire(self.lock_timeout_s, stale_after=max(LOCK_TIMEOUT_S, self.lock_timeout_s))

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        lock = self._acquire_file_lock()
        try:
            yield
        finally:
            lock.release()

    def _mark_crashed(self, con: Any) -> int:
        """Emit a `crashed` end for running runs whose process on this host is gone.

        The verdict is marked `inferred`: the run's own end, if one turns up later, outranks it.
        """
        from mlnb.store.ingest import ingest

        rows = con.execute(
            "SELECT run_id, pid, pid_start FROM idx.runs WHERE status = 'running' AND host = ?",
            [socket.gethostname()],
        ).fetchall()
        dead = [run_id for run_id, pid, started in rows if not process_alive(pid, started)]
        if not dead:
            return 0
        # The process may have ended its run and exited after our last ingest: its end is on
        # disk now (Run.end fsyncs), so read again and judge only runs still without an end.
        ingest(con, self.events)
        dead = [r[0] for r in con.execute(
            "SELECT run_id FROM idx.runs WHERE status = 'running' AND list_contains(?, run_id)", [dead]).fetchall()]
        now = time.time()
        for run_id in dead:
            self.writer.emit(event("run_end", run=run_id, status="crashed", t=now, inferred=True))
        return len(dead)


class _NoLock:
    def release(self) -> None:
        pass


def index_damaged(path: Path, exc: Exception) -> IndexDamagedError:
    """The one-line error for an index file DuckDB cannot open, with the way out."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return IndexDamagedError(f"cannot open the index {path}: {first}; if it is damaged, run `mlnb store rebuild` "
                             "(it re-creates the index from the event logs)")


_open_stores: "weakref.WeakSet[Store]" = weakref.WeakSet()


def close_all_indexes() -> None:
    """Close every index connection of this process (releasing the lock) and end its closer thread.

    The `index` shutdown phase, last: run ends and event flushes come first. Stores stay usable;
    the next query reopens the index.
    """
    for store in list(_open_stores):
        if store._owner_pid != os.getpid():
            continue
        try:
            with store._lock:
                store._close_index()
            closer = store._closer
            if closer is not None and closer.is_alive() and closer is not threading.current_thread():
                closer.join(timeout=2)
        except Exception:  # noqa: BLE001 - the other stores still close
            pass


def close_other_appenders() -> None:
    """Flush and close the appenders of this process that are not EventWriters (a backend's own).

    In the `writers` shutdown phase, with `mlnb.store.events.flush_all_writers` (which does the same
    for every EventWriter).
    """
    for store in list(_open_stores):
        if isinstance(store.writer, EventWriter):
            continue
        try:
            store.writer.close()
        except Exception:  # noqa: BLE001 - the other stores still flush
            pass


shutdown.register("writers", close_other_appenders)
shutdown.register("index", close_all_indexes)
