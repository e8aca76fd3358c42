"""Content-addressed blob store: `.mlnb/artifacts/<first 2 hex>/<sha256>`.

Identical bytes are stored once; the hash doubles as an integrity check on read.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from mlnb.errors import MlnbError

ARTIFACTS_DIRNAME = "artifacts"
_CHUNK = 1 << 20


class BlobStore:
    """Stores and fetches immutable blobs by their sha256."""

    def __init__(self, store_root: Path) -> None:
        self.root = store_root / ARTIFACTS_DIRNAME

    def path_of(self, digest: str) -> Path:
        """Where the blob with this digest lives; refuses anything that is not a sha256 hex."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise MlnbError(f"not an artifact hash: {digest[:80]!r}; expected 64 lowercase hex characters")
        return self.root / digest[:2] / digest

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
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        target = self.path_of(digest)
        if not target.exists():
            def copy(out) -> None:
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            self._write_atomically(target, copy)
        return digest, source.stat().st_size

    def read_bytes(self, digest: str, verify: bool = True) -> bytes:
        """The blob's bytes; with `verify`, raise if they no longer match the digest."""
        path = self.path_of(digest)
        if not path.exists():
            raise MlnbError(f"artifact {digest[:12]} is missing from {self.root}; was the store copied partially?")
        data = path.read_bytes()
        if verify and hashlib.sha256(data).hexdigest() != digest:
            raise MlnbError(f"artifact {digest[:12]} is corrupted (hash mismatch); refusing to use it")
        return data

    def _write_atomically(self, target: Path, write) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)  # concurrent writers of the same blob write the same bytes
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
