"""One request's rendezvous: the versions' results as they come, the decision, the completion.

The decision (what is returned) is made as early as the rules allow:
- before the deadline: the most preferred version that answered, once every version preferred
  to it is done (with an error): the first preference answering returns at once (status ok);
- at the deadline: the most preferred version that has answered (status fallback);
- after it: the first answer to come (still the most preferred among those done);
- at the hard limit (`timeout_ms`), or when every version failed: status failed, one line.
The completion (every version done or timed out) hands the FULL answer to `on_complete` once.
Everything here runs on the event loop: no locks.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from mlnb.serving.archive import Answer, VersionAnswer
from mlnb.serving.live import LiveVersion


class Rendezvous:
    __slots__ = ("_deadline", "_timer", "answered", "columns", "done", "model", "on_complete", "received", "request_id",
                 "response", "results", "rows", "t0", "timeout_s", "versions")

    def __init__(self, versions: tuple[LiveVersion, ...], model: str, request_id: str, received: float, rows: int,
                 columns: dict[str, list[Any]] | None, on_complete: Callable[[Rendezvous, Answer], None]) -> None:
        self.versions = versions
        self.model = model
        self.request_id = request_id
        self.received = received
        self.rows = rows
        self.columns = columns
        self.on_complete = on_complete
        self.results: list[VersionAnswer | None] = [None] * len(versions)
        self.done = 0
        self.response: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.answered: Answer | None = None  # the decision (kept even if the waiting caller went away)
        self.t0 = time.perf_counter()
        self._deadline = False
        self._timer: asyncio.TimerHandle | None = None
        self.timeout_s = 0.0

    def start(self, deadline_s: float, timeout_s: float) -> None:
        """Arm the deadline (the hard limit is armed when the deadline passes with work left)."""
        self.timeout_s = timeout_s
        if self.done < len(self.versions):
            self._timer = asyncio.get_running_loop().call_later(deadline_s, self._at_deadline)

    def settle(self, index: int, outputs: list[Any] | None, error: str | None, now: float) -> None:
        """Version `index`'s result (a batcher calls this on the loop; `now`: perf_counter)."""
        if self.results[index] is not None:  # it timed out before: the late result is dropped
            return
        lv = self.versions[index]
        self.results[index] = VersionAnswer(lv.version, lv.alias, "ok" if error is None else "error",
                                            (now - self.t0) * 1e3, outputs, error)
        self.done += 1
        self._decide()
        if self.done == len(self.versions):
            self._complete()

    def _at_deadline(self) -> None:
        self._deadline = True
        self._decide()
        left = self.timeout_s - (time.perf_counter() - self.t0)
        self._timer = asyncio.get_running_loop().call_later(max(left, 0.0), self.expire)

    def expire(self, why: str = "timeout") -> None:
        """Every version still busy counts as a timeout; the request completes now."""
        if self.done == len(self.versions):
            return
        ms = (time.perf_counter() - self.t0) * 1e3
        self._deadline = True
        for index, lv in enumerate(self.versions):
            if self.results[index] is None:
                self.results[index] = VersionAnswer(lv.version, lv.alias, "timeout", ms,
                                                    error=f"no answer within {ms:.0f} ms ({why})")
                self.done += 1
        self._decide()
        self._complete()

    def _decide(self) -> None:
        if self.answered is not None:
            return
        chosen = None
        for index, result in enumerate(self.results):
            if result is None:
                if not self._deadline:
                    return  # a more preferred version may still answer in time
                continue
            if result.status == "ok":
                chosen = index
                break
        if chosen is not None:
            status = "ok" if chosen == 0 else "fallback"
            self._respond(status, self.results[chosen], None)
        elif self.done == len(self.versions):
            failed = [r for r in self.results if r is not None]
            why = (failed[0].error or "") if len(failed) == 1 else "; ".join(f"version {r.version}: {r.error}" for r in failed)
            self._respond("failed", None, why[:2000])

    def _respond(self, status: str, returned: VersionAnswer | None, error: str | None) -> None:
        self.answered = Answer(self.request_id, self.received, self.model, status, self.rows, returned,
                               [r for r in self.results if r is not None], (time.time() - self.received) * 1e3, error)
        if not self.response.done():  # done: the caller was cancelled (a client that went away)
            self.response.set_result(self.answered)

    def _complete(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        answered = self.answered
        assert answered is not None  # every version is done, so _decide has decided
        full = Answer(answered.request_id, answered.received, answered.model, answered.status, answered.rows,
                      answered.returned, [r for r in self.results if r is not None], answered.ms, answered.error)
        self.on_complete(self, full)
