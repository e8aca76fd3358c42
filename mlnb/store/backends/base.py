"""The backend seam: what a store's storage must provide, whatever it is stored on.

A backend holds a project's source of truth: an append-only EVENT LOG, content-addressed BLOBS
and CLAIMS (create-if-absent objects, the one consensus primitive). The DuckDB index is not part
of it: it is a local cache the core rebuilds from the event log (`Backend.index_dir` says where).

The core (`mlnb.store.store`, `mlnb.store.ingest`) uses only what is declared here. A backend for
another medium (an object store, a table format) implements these interfaces and is registered
under a URL scheme (`mlnb.store.backends.registry`); nothing in the core changes. The contract
every backend must meet is tested by `tests/test_backend_contract.py`.
"""
from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from mlnb.errors import MlnbError

# A position in one source of the event log, as the backend understands it (a byte offset, a
# table version, a count of rows read). The core never interprets it: it stores the cursor that
# `read_new` returned (in `idx.ingest_state."offset"`, a BIGINT) and hands it back next time.
Cursor = int


class EventAppender(Protocol):
    """One process's writer to the event log (create one per store and process).

    `emit` must be cheap and never touch storage on the caller's thread; events of one appender
    are read back in emit order. `flush(sync=True)` returns only once everything emitted before it
    is durable (it survives this process being killed); `flush(sync=False)` only has to make it
    visible to `EventLog.read_new` in this process (read-your-own-writes).
    """

    @property
    def source(self) -> str | None:
        """The id of the source this appender writes (None until it has written anything)."""
        ...

    def emit(self, event: dict[str, Any]) -> bool:
        """Queue one event; False if it cannot be encoded (it is dropped with a warning)."""
        ...

    def flush(self, sync: bool = True) -> None:
        """Write everything queued so far; with `sync`, make it durable before returning."""
        ...

    def close(self) -> None:
        """Flush durably and release resources (the appender may be used again afterwards)."""
        ...


class EventSink(Protocol):
    """Where one `mlnb.store.events.EventWriter` puts its batches: one source of the log.

    Backends that reuse EventWriter (its queue, background thread, encoding, fork handling) only
    provide this. A sink is opened on the writer's first write, in the writing process.
    """

    source: str

    def write(self, data: bytes) -> None:
        """Append whole JSON lines (each ends with b"\\n"), after everything written before."""
        ...

    def sync(self) -> None:
        """Make every write so far durable."""
        ...

    def close(self) -> None:
        """Release the sink (after a final `sync`)."""
        ...


@dataclass(frozen=True)
class LogBatch:
    """New complete lines of one source of the event log, read by `EventLog.read_new`.

    `cursor` is where the next read of `source` continues (opaque to the core). A batch may have
    no lines: it then only moves the cursor (a backend that tracks, say, a log version). `locate`
    gives each line a position unique within its source (used to key quarantined lines); without
    it the core uses line numbers.
    """

    source: str
    lines: list[bytes]
    cursor: Cursor
    locate: Callable[[], list[int]] | None = None

    def positions(self, first_line: int) -> list[int]:
        """A position per line: the backend's, else line numbers counted from `first_line`."""
        if self.locate is not None:
            return self.locate()
        return list(range(first_line, first_line + len(self.lines)))


class EventLog(Protocol):
    """The store's append-only event log: many sources (one or more per writing process)."""

    def open_appender(self) -> EventAppender:
        """A new appender for this process (it creates its own source when it first writes)."""
        ...

    def read_new(self, cursors: Mapping[str, Cursor], only: Collection[str] | None = None) -> Iterator[LogBatch]:
        """Complete lines appended since `cursors` (source id -> cursor from an earlier batch).

        Sources missing from `cursors` are read from their start; with `only`, just those sources.
        A trailing partial line (a write in progress or torn by a crash) is never returned: the
        cursor stops before it, so it is read once it is complete. Sources with nothing new may
        be skipped. Reading must not depend on listing a whole prefix where that is slow.
        """
        ...

    def sources(self) -> dict[str, int]:
        """Every source id with its size in bytes (for `mlnb store status`)."""
        ...


class BlobStore(Protocol):
    """Immutable blobs addressed by the sha256 of their bytes (64 lowercase hex characters).

    Reads check integrity: a missing blob, or bytes that no longer match their digest, raise
    `mlnb.errors.IntegrityError` (`problem` = `missing`, `hash_mismatch`, ...). A digest that is
    not a sha256 hex raises MlnbError before storage is touched (`check_digest`). Local backends may
    also offer `path_of(digest) -> Path`; the core never relies on it.
    """

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes (once per content); returns (sha256 hex, size)."""
        ...

    def put_file(self, source: Path) -> tuple[str, int]:
        """Store a file's bytes, streamed; returns (sha256 hex, size)."""
        ...

    def open(self, digest: str, verify: bool = True) -> IO[bytes]:
        """The blob as a binary file at offset 0; with `verify`, checked before it is returned."""
        ...

    def read_bytes(self, digest: str, verify: bool = True) -> bytes:
        """The blob's bytes; with `verify`, raise IntegrityError if they do not match the digest."""
        ...

    def exists(self, digest: str) -> bool:
        """True when a blob with this digest is stored (its bytes are not checked)."""
        ...


class Claims(Protocol):
    """Named immutable objects, created only if absent: the store's consensus primitive.

    Of any number of concurrent `create(key, ...)` calls (threads, processes, machines) exactly one
    returns True; the others return False and `read(key)` gives them the winner's data. Keys are
    paths of `[A-Za-z0-9_.@-]` segments joined by `/` (`check_claim_key`).
    """

    def create(self, key: str, data: bytes) -> bool:
        """Create `key` holding `data`; False if it exists already."""
        ...

    def read(self, key: str) -> bytes | None:
        """What `key` holds, or None if nobody created it."""
        ...


class Backend(ABC):
    """One store's storage, opened from a URL by the factory registered for its scheme.

    Subclasses set `url` (what `mlnb.connect()` and batch workers reopen the store from), `key`
    (its identity: one Store object per key and process), `events`, `blobs` and `claims`.
    """

    url: str
    key: Any
    events: EventLog
    blobs: BlobStore
    claims: Claims

    @property
    def index_dir(self) -> Path:
        """The local folder of the DuckDB index cache, its lock and snapshots.

        The default is a folder per store URL under `$MLNB_CACHE` (else `~/.cache/mlnb`); the
        local backend keeps its index inside the store folder.
        """
        import hashlib

        base = Path(os.environ.get("MLNB_CACHE") or Path.home() / ".cache" / "mlnb").expanduser()
        return base / "index" / hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:24]

    @abstractmethod
    def exists(self) -> bool:
        """True when a store exists at this location (`init` ran there)."""

    @abstractmethod
    def init(self) -> None:
        """Create the store's layout; idempotent, and safe when many processes do it at once."""

    def tidy(self) -> None:
        """Remove what killed writers left behind (called on first open and by `rebuild`)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


# (url, create) -> Backend: what a scheme is registered with (and what an entry point names).
BackendFactory = Callable[[str, bool], Backend]

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CLAIM_KEY = re.compile(r"[A-Za-z0-9_.@\-]+(/[A-Za-z0-9_.@\-]+)*")


def check_digest(digest: str) -> str:
    """`digest` if it is a sha256 hex; else the one-line MlnbError every blob store raises."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise MlnbError(f"not an artifact hash: {str(digest)[:80]!r}; expected 64 lowercase hex characters")
    return digest


def check_claim_key(key: str) -> str:
    """`key` if it is a valid claim key; else ValueError."""
    if not isinstance(key, str) or not _CLAIM_KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"bad claim key {key!r}")
    return key

