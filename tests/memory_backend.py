"""A second store backend, in memory, for the contract tests: it proves the core needs nothing of
the local folder. Registered under the test scheme `memtest://` by `install(index_root)`.

On purpose it differs from the local backend wherever the interfaces leave room: sources are named
`w1`, `w2`, ... (not file names), a cursor counts complete LINES read (not bytes), batches give no
positions (the core falls back to line numbers), and blobs are dict entries (no paths).
"""
from __future__ import annotations

import hashlib
import io
import itertools
import threading
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO

from mlnb.errors import IntegrityError, StoreNotFoundError
from mlnb.store.backends import registry
from mlnb.store.backends.base import Backend, Cursor, LogBatch, check_claim_key, check_digest
from mlnb.store.events import EventWriter

SCHEME = "memtest"
_stores: dict[str, "MemoryBackend"] = {}  # url -> its data: reopening a URL finds the same store
_lock = threading.Lock()


class MemoryEventLog:
    def __init__(self) -> None:
        self.data: dict[str, bytearray] = {}
        self._lock = threading.Lock()
        self._names = itertools.count(1)

    def open_appender(self) -> EventWriter:
        return EventWriter(self._open_sink, "memory")

    def _open_sink(self) -> "_Sink":
        with self._lock:
            name = f"w{next(self._names)}"
            self.data[name] = bytearray()
        return _Sink(self, name)

    def append(self, source: str, data: bytes) -> None:
        with self._lock:
            self.data.setdefault(source, bytearray()).extend(data)

    def read_new(self, cursors: Mapping[str, Cursor], only: Collection[str] | None = None) -> Iterator[LogBatch]:
        with self._lock:
            names = sorted(self.data) if only is None else [n for n in only if n in self.data]
            snapshot = {name: bytes(self.data[name]) for name in names}
        for name, data in snapshot.items():
            complete = data.split(b"\n")[:-1]  # the last piece is a partial line (or empty)
            read = int(cursors.get(name, 0))
            if len(complete) > read:
                yield LogBatch(name, complete[read:], len(complete))

    def sources(self) -> dict[str, int]:
        with self._lock:
            return {name: len(data) for name, data in self.data.items()}


class _Sink:
    def __init__(self, log: MemoryEventLog, source: str) -> None:
        self.log = log
        self.source = source

    def write(self, data: bytes) -> None:
        self.log.append(self.source, data)

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


class MemoryBlobs:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        self.data.setdefault(digest, bytes(data))
        return digest, len(data)

    def put_file(self, source: Path) -> tuple[str, int]:
        return self.put_bytes(Path(source).read_bytes())

    def open(self, digest: str, verify: bool = True) -> IO[bytes]:
        return io.BytesIO(self.read_bytes(digest, verify))

    def read_bytes(self, digest: str, verify: bool = True) -> bytes:
        check_digest(digest)
        if digest not in self.data:
            raise IntegrityError(f"artifact {digest[:12]} is missing", digest=digest, problem="missing")
        data = self.data[digest]
        if verify and hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"artifact {digest[:12]} is corrupted (hash mismatch)", digest=digest,
                                 problem="hash_mismatch")
        return data

    def exists(self, digest: str) -> bool:
        return check_digest(digest) in self.data


class MemoryClaims:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def create(self, key: str, data: bytes) -> bool:
        check_claim_key(key)
        with self._lock:
            if key in self.data:
                return False
            self.data[key] = bytes(data)
            return True

    def read(self, key: str) -> bytes | None:
        return self.data.get(check_claim_key(key))


class MemoryBackend(Backend):
    def __init__(self, url: str, index_root: Path) -> None:
        self.url = self.key = url
        self.events = MemoryEventLog()
        self.blobs = MemoryBlobs()
        self.claims = MemoryClaims()
        self.created = False
        self._index_dir = index_root / hashlib.sha256(url.encode()).hexdigest()[:12]

    @property
    def index_dir(self) -> Path:
        return self._index_dir

    def exists(self) -> bool:
        return self.created

    def init(self) -> None:
        self.created = True


def install(index_root: Path) -> None:
    """Register `memtest://` (index caches under `index_root`); `uninstall()` undoes it."""
    def open_memtest(url: str, create: bool) -> MemoryBackend:
        with _lock:
            backend = _stores.get(url)
            if backend is None:
                backend = _stores[url] = MemoryBackend(url, index_root)
        if not create and not backend.exists():
            raise StoreNotFoundError(f"no mlnb store at {url}")
        return backend

    registry.register(SCHEME, open_memtest)


def uninstall() -> None:
    registry.unregister(SCHEME)
    with _lock:
        _stores.clear()


def open_fresh(index_root: Path) -> MemoryBackend:
    """A new, created memtest backend (for the contract tests)."""
    url = f"{SCHEME}://store-{next(_fresh)}"
    backend = MemoryBackend(url, index_root)
    backend.init()
    with _lock:
        _stores[url] = backend
    return backend


_fresh = itertools.count(1)
