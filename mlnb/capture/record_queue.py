"""The record queue: cell records wait here and are turned into events on a background thread."""
from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from mlnb.capture.limits import IDLE_S, MAX_WAITING, WORKER_POLL_S


class RecordQueue:
    """Cell records of a session, handed to `records.emit_cell` one at a time, in order, off the
    cell's path. `warn` is told of a record that could not be emitted (the others go on)."""

    def __init__(self, warn: Callable[[BaseException], None]) -> None:
        self._warn = warn
        self._records: collections.deque[tuple[Any, dict[str, Any]]] = collections.deque()
        self._emit_lock = threading.Lock()  # records are emitted one at a time, in order
        self._stopping = False
        self._last_cell = 0.0
        self._worker: threading.Thread | None = None

    def submit(self, run: Any, record: dict[str, Any]) -> None:
        """Queue one record of `run` (cheap: no per-cell wake-up, the worker polls)."""
        self._records.append((run, record))
        self._last_cell = time.monotonic()
        if self._worker is None or not self._worker.is_alive():
            self._stopping = False
            self._worker = threading.Thread(target=self._drain, name="mlnb-capture", daemon=True)
            self._worker.start()

    def flush(self) -> None:
        """Emit every waiting record, and let one the worker took finish, before returning."""
        self._emit_pending()
        with self._emit_lock:
            pass

    def stop(self) -> None:
        """Stop the worker (at interpreter exit); `flush` then emits whatever still waits."""
        worker = self._worker
        if worker is not None and worker.is_alive():
            self._stopping = True
            worker.join(timeout=5)

    def _drain(self) -> None:
        while not self._stopping:
            time.sleep(WORKER_POLL_S)
            if time.monotonic() - self._last_cell < IDLE_S and len(self._records) < MAX_WAITING:
                continue
            self._emit_pending()

    def _emit_pending(self) -> None:
        from mlnb.capture.records import emit_cell

        while True:
            with self._emit_lock:
                try:
                    run, record = self._records.popleft()
                except IndexError:
                    return
                try:
                    emit_cell(run, record)
                except Exception as exc:
                    self._warn(exc)
            time.sleep(0)  # let the kernel's thread have the GIL between records
