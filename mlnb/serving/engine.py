"""The rendezvous engine of one serving process: the live versions, the fan-out, the deadline.

Every request goes to every live version at once (each through its own micro-batcher and worker
threads, `batching`); the rendezvous (`rendezvous`) returns the first preference's answer, or past
the deadline the most preferred one that answered; shadows never delay the response. When every
version is done (or timed out) the full answer is archived once and handed to `on_complete`.
The alias watcher (`watcher`) swaps versions live; a heartbeat says the process is alive.

Each uvicorn worker process runs its own Engine (its own watcher: every worker switches).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlnb.errors import MlnbError
from mlnb.serving.archive import Answer, Archive
from mlnb.serving.batching import Batcher
from mlnb.serving.config import ServeConfig
from mlnb.serving.live import LiveVersion, first_line, load_version
from mlnb.serving.rendezvous import Rendezvous
from mlnb.serving.watcher import AliasWatcher

if TYPE_CHECKING:
    from mlnb.model_monitoring.input_schema import InputSchema
    from mlnb.store.store import Store

__all__ = ["Engine", "LiveVersion"]

HEARTBEAT_S = 5.0  # the sidebar counts a server as running while its heartbeats are recent


class Engine:
    """Loads the versions of a ServeConfig and answers requests by rendezvous.

    Lifecycle: `await start()` (load and warm everything; raises a one-line MlnbError when a URI
    cannot be served), `await answer(...)` per request, `await stop()` (drain and flush).
    """

    def __init__(self, config: ServeConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.archive = Archive(store, config.name, config.input_cap_bytes, config.input_sample)
        self.live: dict[str, LiveVersion] = {}  # uri -> live version (a deleted shadow alias is absent)
        self.started = time.time()
        self.requests = 0  # requests answered
        self.url: str | None = None  # set by the runner once it listens
        self.on_complete: list[Callable[[Answer], None]] = []  # called once per request with the full answer
        self.watcher = AliasWatcher(self)
        self.heartbeat_s = HEARTBEAT_S
        self._order: tuple[LiveVersion, ...] = ()  # live versions in preference order (replaced, never mutated)
        self._own_frame: tuple[bool, ...] = ()  # per version: its schema differs, it builds its own frame
        self._inflight: set[Rendezvous] = set()
        self._drained: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        try:
            for uri in self.config.uris:
                self.go_live(await asyncio.to_thread(self._load, uri))
        except BaseException:
            for live in self.live.values():
                assert live.batcher is not None
                live.batcher.retire()
            raise
        self._status("running")
        self._tasks = [asyncio.create_task(self.watcher.run()), asyncio.create_task(self._heartbeat())]

    def _load(self, uri: str) -> LiveVersion:
        try:
            return load_version(self.store, uri, self.config.allow_pickle)
        except MlnbError:
            raise
        except Exception as exc:  # a broken artifact: one line naming the URI
            raise MlnbError(f"cannot serve {uri}: {first_line(exc)}") from None

    # --- the live set -------------------------------------------------------------------------------

    def go_live(self, live: LiveVersion) -> None:
        """Serve `live` under its URI from now on (atomic on the event loop); the version it
        replaces finishes the requests it already has, then releases its threads."""
        live.batcher = Batcher(live, self.config.max_batch_rows, self.config.predict_threads)
        old = self.live.get(live.uri)
        self.live[live.uri] = live
        self._reorder()
        if old is not None and old.batcher is not None:
            old.batcher.retire()

    def withdraw(self, uri: str) -> None:
        """Stop asking `uri` (a shadow whose alias was deleted)."""
        old = self.live.pop(uri, None)
        self._reorder()
        if old is not None and old.batcher is not None:
            old.batcher.retire()

    def loaded(self, version: int) -> LiveVersion | None:
        """A live version with this number (its model object can be shared), or None."""
        return next((lv for lv in self.live.values() if lv.version == version), None)

    def _reorder(self) -> None:
        order = tuple(self.live[uri] for uri in self.config.uris if uri in self.live)
        first = order[0].schema_columns() if order else []
        self._order = order
        # shadows yield to the first preference, waiting for it at most a quarter of the deadline (<= 10 ms)
        head = order[0].batcher if order else None
        if head is not None:
            head.gate, head.followers = None, []
        for live in order[1:]:
            assert live.batcher is not None
            live.batcher.gate, live.batcher.gate_s = head, min(self.config.deadline_ms / 4e3, 0.01)
            if head is not None:
                head.followers.append(live.batcher)
        self._own_frame = tuple(bool(lv.schema_columns()) and lv.schema_columns() != first for lv in order)

    def champion(self) -> LiveVersion:
        """The version that answers (the first URI)."""
        return self.live[self.config.model]

    def schema(self) -> InputSchema:
        """The input schema of the version that answers now (what requests are validated against)."""
        schema = self.champion().schema
        if schema is None:
            from mlnb.model_monitoring.input_schema import InputSchema

            schema = InputSchema([])
        return schema

    def aliases(self) -> dict[str, int | None]:
        """URI served -> version, in preference order (None: a shadow alias that was deleted)."""
        return {uri: (self.live[uri].version if uri in self.live else None) for uri in self.config.uris}

    def describe(self) -> dict[str, Any]:
        """What GET /models shows."""
        return {"model": self.config.name, "deadline_ms": self.config.deadline_ms,
                "timeout_ms": self.config.timeout_ms,
                "served": [{"uri": uri, "alias": lv.alias, "version": lv.version,
                            "role": "answers" if uri == self.config.model else "shadow"}
                           for uri, lv in ((u, self.live[u]) for u in self.config.uris if u in self.live)]}

    # --- requests -----------------------------------------------------------------------------------

    async def answer(self, frame: Any, columns: dict[str, list[Any]] | None, request_id: str,
                     received: float) -> Answer:
        """Score `frame` (a validated pandas DataFrame) on every live version and return the
        rendezvous result as soon as it is decided. `columns` is the input to archive; the full
        answer (every version) is archived once every version is done or timed out."""
        if self._stopping:
            refused = Answer(request_id, received, self.config.name, "failed", len(frame), None, [],
                             (time.time() - received) * 1e3, "the server is stopping; retry on another")
            self.archive.record(refused, columns)
            return refused
        order, own = self._order, self._own_frame
        rows = len(frame)
        rv = Rendezvous(order, self.config.name, request_id, received, rows, columns, self._completed)
        self._inflight.add(rv)
        for index, live in enumerate(order):
            assert live.batcher is not None
            live.batcher.submit(None if own[index] and columns is not None else frame, columns, rows, rv, index)
        rv.start(self.config.deadline_ms / 1e3, self.config.timeout_ms / 1e3)
        answer = await rv.response
        self.requests += 1
        return answer

    def _completed(self, rv: Rendezvous, full: Answer) -> None:
        self._inflight.discard(rv)
        try:
            self.archive.record(full, rv.columns)
        except Exception:  # noqa: S110 - encoding never fails on JSON-ready outputs; never break the loop
            pass
        for callback in self.on_complete:
            try:
                callback(full)
            except Exception:  # a subscriber's bug must not cost the archive or the others
                pass
        if self._drained is not None and not self._inflight:
            self._drained.set()

    def record_refusal(self, request_id: str, received: float, problems: list[str]) -> None:
        """Archive a refused (4xx) request: no input, the problems as its error."""
        self.archive.record(Answer(request_id, received, self.config.name, "invalid", 0, None, [],
                                   (time.time() - received) * 1e3, "; ".join(problems)[:2000]), None)

    # --- lifecycle ----------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self._status("running")

    def _status(self, state: str) -> None:
        self.archive.record_status(state, self.url, self.aliases(), list(self.config.shadows), self.requests,
                                   self.config.deadline_ms, self.started)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop watching, wait up to `timeout_s` for in-flight requests (versions still busy are
        then recorded as timeouts), write the final status and flush the archive (once: a second
        call returns at once)."""
        if self._stopping:
            return
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._inflight:
            self._drained = asyncio.Event()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout_s)
            for rv in list(self._inflight):
                rv.expire("the server stopped")
        for live in self.live.values():
            if live.batcher is not None:
                live.batcher.retire()
        self._status("stopped")
        await asyncio.to_thread(self.archive.flush)
