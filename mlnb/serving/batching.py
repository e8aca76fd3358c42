"""Adaptive micro-batching of one version's predict calls, in a small worker pool.

No batching timer: a request that finds a worker free is predicted at once (zero added latency when
idle); requests arriving while every worker is busy wait in a queue and go together, up to
`max_rows` rows, into the next predict call. The predict runs in a thread so the event loop
never blocks; results come back to the loop in one `call_soon_threadsafe` per batch.

Shadows yield to the first preference: while its predict runs, a shadow's requests wait (at most
`gate_s`, so a slow first preference never holds the fallbacks back from the deadline) and go
when it is done. The threads share one GIL; predicting both at once would slow the answer that
is returned by the shadow's work.

A batch whose predict raises is retried one request at a time, so one request's bad rows never
fail its neighbours, and outputs are always those of a request scored alone.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlnb.serving.live import LiveVersion, first_line, predict_rows
from mlnb.serving.rendezvous import Rendezvous


class _Item:
    __slots__ = ("columns", "frame", "index", "rows", "rv")

    def __init__(self, frame: Any, columns: dict[str, list[Any]] | None, rows: int, rv: Rendezvous, index: int) -> None:
        self.frame = frame  # None: build it from `columns` with this version's own schema
        self.columns = columns
        self.rows = rows
        self.rv = rv  # whose version `index` this is
        self.index = index

    @property
    def expired(self) -> bool:
        """The rendezvous gave up on this version (timeout, stop): no need to predict it."""
        return self.rv.results[self.index] is not None


class Batcher:
    """Queues one version's requests and runs them as vectorised predicts in `threads` threads."""

    def __init__(self, live: LiveVersion, max_rows: int, threads: int = 1) -> None:
        self.live = live
        self.max_rows = max_rows
        self.threads = threads
        self.batches = 0  # predict calls made (for tests and the bench)
        self._pending: deque[_Item] = deque()
        self._running = 0
        self._retired = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.gate: Batcher | None = None  # a shadow's: the first preference's batcher, which goes first
        self.gate_s = 0.0  # how long a shadow's requests wait at most for the gate
        self.followers: list[Batcher] = []  # the first preference's: the shadows waiting for it
        self._timer: asyncio.TimerHandle | None = None
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"mlnb-predict-{live.name}-{live.version}")

    @property
    def queued(self) -> int:
        """Requests waiting for a worker."""
        return len(self._pending)

    @property
    def idle(self) -> bool:
        return not self._pending and not self._running

    def submit(self, frame: Any, columns: dict[str, list[Any]] | None, rows: int, rv: Rendezvous, index: int) -> None:
        """Queue one request (call on the event loop); its result goes to `rv.settle(index, ...)`."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        pending = self._pending
        while pending and pending[0].expired:  # a stuck predict: the queue stays bounded by the timeout
            pending.popleft()
        pending.append(_Item(frame, columns, rows, rv, index))
        if self._running < self.threads:
            if self.gate is None or not self.gate._running:
                self._dispatch()
            elif self._timer is None:
                self._timer = self._loop.call_later(self.gate_s, self.kick)

    def kick(self) -> None:
        """Predict what is queued if a worker is free (the gate opened, or its wait is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending and self._running < self.threads:
            self._dispatch()

    def retire(self) -> None:
        """No new requests come: finish what is queued, then release the threads."""
        self._retired = True
        if self.idle:
            self._pool.shutdown(wait=False)

    def _dispatch(self) -> None:
        pending = self._pending
        while pending and pending[0].expired:
            pending.popleft()
        if not pending:
            return
        batch = [pending.popleft()]
        rows = batch[0].rows
        while pending and rows + pending[0].rows <= self.max_rows:
            item = pending.popleft()
            if not item.expired:
                batch.append(item)
                rows += item.rows
        self._running += 1
        self.batches += 1
        self._pool.submit(self._work, batch)

    def _work(self, batch: list[_Item]) -> None:
        """In a worker thread: predict the batch, hand the results to the loop."""
        try:
            results = self._predict(batch)
        except BaseException as exc:  # even then the loop must hear back, or this version would stall
            results = [(None, first_line(exc))] * len(batch)
        loop = self._loop
        assert loop is not None
        try:
            loop.call_soon_threadsafe(self._delivered, batch, results)
        except RuntimeError:  # the loop is closed (the process is ending): nobody waits for these
            pass

    def _predict(self, batch: list[_Item]) -> list[tuple[list[Any] | None, str | None]]:
        try:
            frames = [self._frame(item) for item in batch]
            if len(batch) == 1:
                return [(predict_rows(self.live.model, frames[0], batch[0].rows, self.live.plain_input), None)]
            import pandas as pd

            outputs = predict_rows(self.live.model, pd.concat(frames, ignore_index=True), sum(i.rows for i in batch),
                                   self.live.plain_input)
        except Exception as exc:
            if len(batch) == 1:
                return [(None, first_line(exc))]
            return [self._predict([item])[0] for item in batch]  # isolate the request that fails
        results: list[tuple[list[Any] | None, str | None]] = []
        start = 0
        for item in batch:
            results.append((outputs[start:start + item.rows], None))
            start += item.rows
        return results

    def _frame(self, item: _Item) -> Any:
        if item.frame is not None:
            return item.frame
        schema = self.live.schema
        assert schema is not None and item.columns is not None
        frame, problems = schema.check(item.columns)
        if frame is None:
            raise ValueError(f"the input does not fit version {self.live.version}: {'; '.join(problems)}")
        return frame

    def _delivered(self, batch: list[_Item], results: list[tuple[list[Any] | None, str | None]]) -> None:
        self._running -= 1
        now = time.perf_counter()
        for item, (outputs, error) in zip(batch, results):
            try:
                item.rv.settle(item.index, outputs, error, now)
            except Exception:  # noqa: S110 - one request's bookkeeping must not cost the others their results
                pass
        if self._pending and self._running < self.threads:
            self._dispatch()
        elif self._retired and self.idle:
            self._pool.shutdown(wait=False)
        if not self._running and self.followers and self._loop is not None:
            for follower in self.followers:  # the shadows' turn, once the answer's waiter has run
                self._loop.call_soon(follower.kick)
