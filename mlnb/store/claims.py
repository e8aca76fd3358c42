"""Claims: named immutable objects created only if absent, the store's one consensus primitive.

This is the local backend's implementation of `mlnb.store.backends.base.Claims`.

Whoever creates `claims/<key>` first owns what the key names (a model version number, a step in
an alias's history); every later attempt sees it taken. Locally that is `O_CREAT | O_EXCL`; an
object store does the same with a conditional put (`If-None-Match: *`), so the decision holds
across machines without any lock.
"""
from __future__ import annotations

import os
from pathlib import Path

from mlnb.store.backends.base import check_claim_key

CLAIMS_DIRNAME = "claims"


class Claims:
    """Create-if-absent objects under `<store>/claims/`."""

    def __init__(self, store_root: Path) -> None:
        self.root = store_root / CLAIMS_DIRNAME

    def create(self, key: str, data: bytes) -> bool:
        """Create `key` holding `data`; False if it exists already (someone else holds it)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def read(self, key: str) -> bytes | None:
        """What `key` holds, or None if nobody created it."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def _path(self, key: str) -> Path:
        return self.root / check_claim_key(key)
