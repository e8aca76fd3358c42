"""The local backend's blob store (see `backends.base.BlobStore`): `.mlnb/artifacts/<first 2 hex>/<sha256>`.

Identical bytes are stored once; the hash doubles as an integrity check on read. Blobs are
written to `artifacts/tmp/<pid>-<process start>-<random>-<host tag>` first and renamed into place,
so the leftovers of a killed writer sit in one known place, named after a process that can be
checked (on this host only: a writer on another machine sharing the folder is never judged).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import IO, Callable

from mlnb.errors import IntegrityError
from mlnb.hashing import sha256_of
from mlnb.store.backends.base import check_digest

ARTIFACTS_DIRNAME = "artifacts"
TMP_DIRNAME = "tmp"
_CHUNK = 1 << 20


class BlobStore:
    """Stores and fetches immutable blobs by their sha256."""

    def __init__(self, store_root: Path) -> None:
        self.root = store_root / ARTIFACTS_DIRNAME
        self.tmp = self.root / TMP_DIRNAME

    def path_of(self, digest: str) -> Path:
        """Where the blob with this digest lives; refuses anything that is not a sha256 hex."""
        check_digest(digest)
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        """True when the blob is stored (its bytes are not checked)."""
        return self.path_of(digest).is_file()

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes; returns (sha256 hex, size)."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        if not target.exists():
            self._write_atomically(target, lambda handle: handle.write(data))
        return digest, len(data)

    def put_file(self, source: Path) -> tuple[str, int]:
        """Store a file's bytes (streamed); returns (sha256 hex, size)."""
        with open(source, "rb") as handle:
            digest = sha256_of(handle).hexdigest()
        target = self.path_of(digest)
        if not target.exists():
            def copy(out: IO[bytes]) -> None:
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            self._write_atomically(target, copy)
        return digest, source.stat().st_size

    def read_bytes(self, digest: str, verify: bool = True) -> bytes:
        """The blob's bytes; with `verify`, raise if they no longer match the digest."""
        with self.open(digest, verify=verify) as handle:
            return handle.read()

    def open(self, digest: str, verify: bool = True) -> IO[bytes]:
        """The blob as an open binary file at offset 0 (the caller closes it).

        Only a regular file is opened (a FIFO or device put in a blob's place would block or
        never end); with `verify` the bytes are hashed first, chunk by chunk, so a corrupted blob
        raises before anything is read from it.
        """
        path = self.path_of(digest)
        try:
            # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise IntegrityError(f"artifact {digest[:12]} is missing from {self.root}; was the store copied partially?",
                                 digest=digest, problem="missing") from None
        handle = os.fdopen(fd, "rb")
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise IntegrityError(f"artifact {digest[:12]} in {self.root} is not a regular file; "
                                     "restore the store's artifacts folder from a copy", digest=digest, problem="not_a_file")
            os.set_blocking(fd, True)
            if verify:
                if sha256_of(handle).hexdigest() != digest:
                    raise IntegrityError(f"artifact {digest[:12]} is corrupted (hash mismatch); refusing to use it",
                                         digest=digest, problem="hash_mismatch")
                handle.seek(0)
        except BaseException:
            handle.close()
            raise
        return handle

    def stale_temp_files(self) -> list[Path]:
        """Temp files left by writers that died mid-write (their process is gone)."""
        from mlnb.store.processes import process_alive

        try:
            entries = list(os.scandir(self.tmp))
        except OSError:
            return []
        stale = []
        for entry in entries:
            pid, started = _writer_of(entry.name)
            if pid is not None and not process_alive(pid, started):
                stale.append(Path(entry.path))
        return stale

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete the temp files of dead writers; returns what was removed (errors are skipped)."""
        removed = []
        for path in self.stale_temp_files():
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass  # e.g. a read-only store: the file is still reported by stale_temp_files()
        return removed

    def _write_atomically(self, target: Path, write: Callable[[IO[bytes]], object]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{os.getpid()}-{_process_start()}-{os.urandom(6).hex()}-{_host_tag()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)  # concurrent writers of the same blob write the same bytes
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


_START: dict[int, str] = {}


def _process_start() -> str:
    """This process's start time in ms, so a temp file's owner is told apart from a reused pid."""
    pid = os.getpid()
    if pid not in _START:
        import psutil

        _START[pid] = str(int(psutil.Process(pid).create_time() * 1000))
    return _START[pid]


def _host_tag() -> str:
    import socket

    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _writer_of(name: str) -> tuple[int | None, float | None]:
    """(pid, start time in s) of the writer of temp file `name`, or None if it was not written on
    this host (or is not named like ours)."""
    parts = name.split("-")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit() or parts[3] != _host_tag():
        return None, None
    return int(parts[0]), int(parts[1]) / 1000
