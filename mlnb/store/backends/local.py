"""The local backend: a project's `.mlnb` folder, the first (and default) backend.

Layout, unchanged since the first release (stores written by older versions read as they are):

    .mlnb/events/<UTC stamp>-<host>-<pid>-<random>.jsonl   one append-only file per writing process
    .mlnb/artifacts/<first 2 hex>/<sha256>                  content-addressed blobs (`store/blobs.py`)
    .mlnb/claims/<key>                                      create-if-absent objects (`store/claims.py`)
    .mlnb/mlnb.duckdb, index.lock, snapshots/               the index cache (owned by the core)

A source of the event log is one file, named by its file name; a cursor is a byte offset into it.
"""
from __future__ import annotations

import functools
import os
import socket
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mlnb.errors import MlnbError
from mlnb.store.backends.base import Backend, Cursor, LogBatch
from mlnb.store.blobs import ARTIFACTS_DIRNAME, BlobStore
from mlnb.store.claims import Claims
from mlnb.store.events import EventWriter
from mlnb.store.location import EVENTS_DIRNAME, is_store, resolve_store_root

EVENT_SUFFIX = ".jsonl"
__all__ = ["EVENTS_DIRNAME", "LocalBackend", "LocalEventLog", "is_store", "open_local", "read_new_lines"]


class LocalBackend(Backend):
    """A store folder on this machine (or a shared file system)."""

    events: "LocalEventLog"
    blobs: BlobStore  # the local blob store (it also offers path_of and temp-file cleanup)
    claims: Claims

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)
        self.key = root
        self.events = LocalEventLog(root / EVENTS_DIRNAME)
        self.blobs = BlobStore(root)
        self.claims = Claims(root)

    @property
    def index_dir(self) -> Path:
        """The store folder itself: `.mlnb/mlnb.duckdb` as ever."""
        return self.root

    def exists(self) -> bool:
        return is_store(self.root)

    def init(self) -> None:
        for sub in (EVENTS_DIRNAME, ARTIFACTS_DIRNAME):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# mlnb store: the event logs are the source of truth\n*\n")

    def tidy(self) -> None:
        self.blobs.remove_stale_temp_files()  # what writers killed mid-artifact left


def open_local(url: str | None, create: bool = False) -> LocalBackend:
    """The factory of scheme `file` and of plain paths: `file:///abs/path`, a path, or None (the
    store of $MLNB_HOME or found from the cwd)."""
    return LocalBackend(resolve_store_root(path_of_url(url), create=create))


def path_of_url(url: str | None) -> str | None:
    """The local path a `file://` URL (or a plain path) names."""
    if url is None or not url.startswith("file:"):
        return url
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise MlnbError(f"cannot open {url}: a file:// URL must name a path on this machine (file:///path)")
    return unquote(parts.path) or "/"


class LocalEventLog:
    """`.mlnb/events/`: one JSONL file per writing process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open_appender(self) -> EventWriter:
        return EventWriter(functools.partial(_FileSink, self.folder), str(self.folder))

    def read_new(self, cursors: Mapping[str, Cursor], only: Collection[str] | None = None) -> Iterator[LogBatch]:
        names = self._names() if only is None else sorted(n for n in only if _is_source_name(n))
        for name in names:
            offset = int(cursors.get(name, 0))
            path = self.folder / name
            try:
                if path.stat().st_size <= offset:
                    continue
                lines, cursor = read_new_lines(path, offset)
            except FileNotFoundError:
                continue
            if lines:
                yield LogBatch(name, lines, cursor, functools.partial(_byte_offsets, offset, lines))

    def sources(self) -> dict[str, int]:
        out = {}
        for name in self._names():
            try:
                out[name] = (self.folder / name).stat().st_size
            except OSError:
                continue
        return out

    def _names(self) -> list[str]:
        """Every event file's name, oldest first (names start with their UTC creation stamp)."""
        try:
            return sorted(name for name in os.listdir(self.folder) if name.endswith(EVENT_SUFFIX))
        except FileNotFoundError:
            return []


def _is_source_name(name: str) -> bool:
    return bool(name) and "/" not in name and os.sep not in name and name not in (".", "..")


def _byte_offsets(offset: int, lines: list[bytes]) -> list[int]:
    """The byte offset of each line (lines end at b"\\n" only)."""
    out = []
    for line in lines:
        out.append(offset)
        offset += len(line) + 1
    return out


class _FileSink:
    """This process's event file, opened for appending (created on the writer's first write)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.source = f"{stamp}-{_safe_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{EVENT_SUFFIX}"
        self.path = folder / self.source
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # O_APPEND keeps each write at the end; loop on short writes
            written = os.write(self._fd, view)
            view = view[written:]

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def _safe_host() -> str:
    host = socket.gethostname() or "host"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in host)[:40]


def read_new_lines(path: Path, offset: int) -> tuple[list[bytes], int]:
    """Complete lines of `path` after byte `offset`, and the offset just past the last one.

    A trailing partial line (a write in progress, or torn by a crash) is left for later.
    Lines end at b"\\n" only, so line i starts at `offset + sum(len(line) + 1 for earlier lines)`.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    return data[:end].split(b"\n"), offset + end + 1
