"""Version numbers and alias steps, decided by claims (create-if-absent) instead of a lock.

A registration starts at the highest version the index knows + 1 and claims
`models/<name>/versions/<n>`, counting up while a claim is taken; an alias move claims
`models/<name>/aliases/<alias>/<seq>` the same way. A claim is decided by the store (an
exclusive create locally, a conditional put on an object store), so two machines never win
the same number. A process that dies between its claim and its event leaves a gap, never a
duplicate: the next caller finds the number taken and moves on.
"""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import orjson

from mlnb.errors import ConflictError

if TYPE_CHECKING:
    from mlnb.store.store import Store

MAX_TRIES = 100_000  # a runaway loop would mean a broken claims backend, not contention


def _claim_next(store: Store, prefix: str, start: int, note: dict[str, Any]) -> int:
    body = orjson.dumps({**note, "pid": os.getpid(), "t": time.time()})
    number = max(start, 1)
    for _ in range(MAX_TRIES):
        if store.claims.create(f"{prefix}/{number}", body):
            return number
        number += 1
    raise ConflictError(f"no free number under claims/{prefix} after {MAX_TRIES} tries; check the store's claims folder",
                        subject=prefix, reason="claims")


def claim_version(store: Store, name: str, start: int, note: dict[str, Any]) -> int:
    """The version number this registration owns: the first free one from `start`."""
    return _claim_next(store, f"models/{name}/versions", start, note)


def claim_alias_step(store: Store, name: str, alias: str, start: int, note: dict[str, Any]) -> int:
    """The step (`seq`) of `name@alias`'s history this move owns: the first free one from `start`."""
    return _claim_next(store, f"models/{name}/aliases/{alias}", start, note)
