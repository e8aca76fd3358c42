"""The rendezvous archive: every answer (and every alias switch and heartbeat) as an event.

Events go through the store's own batching writer (`store.writer`): `emit` only encodes and
queues, a background thread appends in batches, so nothing here touches storage on the response
path. `flush()` (at a graceful stop) makes everything queued durable.
"""
from __future__ import annotations

import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from mlnb.events import event

if TYPE_CHECKING:
    from mlnb.store.store import Store


@dataclass
class VersionAnswer:
    """What one version did with one request."""

    version: int
    alias: str | None  # the alias (or URI) it is served under
    status: str  # ok, error, timeout
    ms: float
    outputs: list[Any] | None = None  # one per row
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": self.version, "alias": self.alias, "status": self.status, "ms": round(self.ms, 3)}
        if self.outputs is not None:
            out["out"] = self.outputs
        if self.error:
            out["err"] = self.error[:500]
        return out


@dataclass
class Answer:
    """One request's rendezvous: what was returned and what every version did."""

    request_id: str
    received: float  # time.time() when the request arrived
    model: str
    status: str  # ok, fallback, invalid, failed
    rows: int = 0
    returned: VersionAnswer | None = None
    answers: list[VersionAnswer] = field(default_factory=list)
    ms: float = 0.0
    error: str | None = None


def new_request_id() -> str:
    return uuid.uuid4().hex


class Archive:
    """Writes the serving events of one serving process to its store."""

    def __init__(self, store: Store, model: str, input_cap_bytes: int, input_sample: float,
                 server_id: str | None = None) -> None:
        self.store = store
        self.model = model
        self.input_cap_bytes = input_cap_bytes
        self.input_sample = input_sample
        self.server_id = server_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.recorded = 0

    def record(self, answer: Answer, columns: dict[str, list[Any]] | None) -> None:
        """Queue one answer; `columns` is the request's input as columns (None: not kept)."""
        kept = self._kept_input(columns)
        self.store.writer.emit(event(
            "serve_answer", id=answer.request_id, t=answer.received, model=answer.model, server=self.server_id,
            status=answer.status,
            returned=answer.returned.version if answer.returned is not None else None,
            alias=answer.returned.alias if answer.returned is not None else None,
            rows=answer.rows, input=kept, answers=[a.to_json() for a in answer.answers],
            ms=round(answer.ms, 3), err=answer.error))
        self.recorded += 1

    def _kept_input(self, columns: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if columns is None or self.input_cap_bytes == 0:
            return None
        if self.input_sample < 1.0 and random.random() >= self.input_sample:
            return None
        from mlnb.serving.secrets import masked_columns

        kept = masked_columns(columns)
        if len(orjson.dumps(kept, option=orjson.OPT_SERIALIZE_NUMPY)) > self.input_cap_bytes:
            return None
        return kept

    def record_switch(self, alias: str, before: int | None, after: int | None, ms: float, status: str,
                      error: str | None = None) -> None:
        self.store.writer.emit(event(
            "serve_switch", server=self.server_id, model=self.model, alias=alias, **{"from": before},
            version=after, t=time.time(), ms=round(ms, 3), status=status, err=error))

    def record_status(self, state: str, url: str | None, aliases: dict[str, int | None], shadows: list[str],
                      requests: int, deadline_ms: float, started: float) -> None:
        self.store.writer.emit(event(
            "serve_status", server=self.server_id, t=time.time(), model=self.model, url=url,
            host=socket.gethostname(), pid=os.getpid(), state=state, aliases=aliases, shadows=shadows,
            requests=requests, deadline=deadline_ms, started=started))

    def flush(self) -> None:
        """Make every queued event durable (a graceful stop calls this last)."""
        self.store.writer.flush(sync=True)
