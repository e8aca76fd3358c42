"""sha256 of a file, streamed in chunks (`hashlib.file_digest` only exists from Python 3.11)."""
from __future__ import annotations

import hashlib
from typing import IO, Any

_CHUNK = 1 << 20


def sha256_of(handle: IO[bytes]) -> Any:
    """The sha256 hash object of everything `handle` yields from its current position."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        digest.update(chunk)
    return digest
