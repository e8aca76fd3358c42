"""Per-process event appenders: the store's source of truth is what they write.

Each writing process appends JSON lines to a source of its own (locally: its own file under
`.mlnb/events/`, see `mlnb.store.backends.local`), so writers never contend for a lock. Calls
encode their event at once (so a value that cannot be encoded costs that one event, named in a
warning, and never the rest of the queue) and queue the bytes; a background thread hands queued
lines in batches to the backend's sink. `flush(sync=True)` writes and syncs before returning
(used at run end and at exit), so a killed process loses at most what it logged since its last flush.
"""
from __future__ import annotations

import collections
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from mlnb import shutdown

if TYPE_CHECKING:
    from mlnb.store.backends.base import EventSink

FLUSH_INTERVAL_S = float(os.environ.get("MLNB_FLUSH_INTERVAL", "0.2"))
FLUSH_BATCH = 5000

_writers: "weakref.WeakSet[EventWriter]" = weakref.WeakSet()


class EventWriter:
    """Queues events and appends them, in order, to this process's own source of the event log.

    `open_sink` makes that source (on the first write, in the writing process: a forked child
    opens one of its own); `where` names the log in warnings.
    """

    def __init__(self, open_sink: "Callable[[], EventSink]", where: str) -> None:
        self.where = where
        self._open_sink = open_sink
        self._queue: collections.deque[bytes] = collections.deque()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._sink: EventSink | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._unsynced = False
        self._stopping = False
        _writers.add(self)

    @property
    def source(self) -> str | None:
        """The id of this process's source (None until the first event is written)."""
        return self._sink.source if self._sink is not None else None

    def emit(self, event: dict[str, Any]) -> bool:
        """Encode and queue one event; never touches storage on the caller's thread.

        Returns False if the event could not be encoded at all (it is dropped with a warning).
        """
        if self._pid != os.getpid():  # forked child: start a source of its own
            self._after_fork()
        line = encode_event(event)
        if line is None:
            return False
        self._queue.append(line)
        if self._thread is None:
            self._start_thread()
        elif len(self._queue) >= FLUSH_BATCH:
            self._wake.set()
        return True

    def flush(self, sync: bool = True) -> None:
        """Write everything queued so far; with `sync`, also make it durable (fsync)."""
        with self._write_lock:
            self._write_queued()
            if sync and self._unsynced and self._sink is not None:
                self._sink.sync()
                self._unsynced = False

    def _write_queued(self) -> None:
        if not self._queue:
            return
        chunks = []
        while self._queue:
            chunks.append(self._queue.popleft())
        if self._sink is None:
            self._sink = self._open_sink()
        self._sink.write(b"\n".join(chunks) + b"\n")
        self._unsynced = True

    def _start_thread(self) -> None:
        with self._write_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="mlnb-event-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            try:
                self.flush(sync=True)
            except Exception as exc:  # keep the thread alive; the next flush retries
                _warn_once(f"mlnb could not write events to {self.where}: {exc}")
                time.sleep(1.0)

    def stop_thread(self) -> None:
        """Let the background thread finish, so no thread of ours is alive at interpreter shutdown."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._stopping = True
            self._wake.set()
            thread.join(timeout=2)
            self._thread = None
            self._stopping = False

    def _after_fork(self) -> None:
        self._queue = collections.deque()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._sink = None  # the parent's: never written (nor closed) by the child
        self._thread = None
        self._pid = os.getpid()

    def close(self) -> None:
        """Flush and close the source (the writer may be used again afterwards: it opens a new one)."""
        self.flush(sync=True)
        with self._write_lock:
            if self._sink is not None:
                self._sink.close()
                self._sink = None


def encode_event(event: dict[str, Any]) -> bytes | None:
    """One event as a JSON line (without the newline), or None (with a warning) if it cannot be.

    Strings with lone surrogates (undecodable file names from `os.listdir`, say) are stored with
    the surrogates escaped as text (see `clean_text`) rather than dropped.
    """
    try:
        return orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, a huge int, an unknown type
        pass
    try:
        return orjson.dumps(_cleaned(event), option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        what = f"{event.get('e', '?')!s:.40} event" + (f" of run {str(event['run'])[:8]}" if event.get("run") else "")
        _warn_once(f"mlnb dropped one {what} it cannot encode ({exc}); other events are kept")
        return None


def _cleaned(value: Any) -> Any:
    """`value` with every string (keys included) passed through `clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: _cleaned(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cleaned(v) for v in value]
    return value


def clean_text(text: str) -> str:
    """`text` made encodable as UTF-8: a lone surrogate becomes visible escape text.

    A surrogate U+DC80..U+DCFF is how Python keeps an undecodable byte (`os.listdir`,
    `sys.argv` on a badly encoded name): it becomes `\\xNN` for that byte. Any other lone
    surrogate becomes `\\udNNN`. Proper surrogate pairs are joined into their character.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")  # join pairs
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        import warnings

        warnings.warn(message, RuntimeWarning, stacklevel=2)


def flush_all_writers() -> None:
    """Write and fsync every writer of this process, stop its thread and close its file.

    The `writers` shutdown phase (after open runs were ended, before the index closes). A writer
    may be used again afterwards: its next event opens a new file and starts a new thread.
    """
    for writer in list(_writers):
        if writer._pid != os.getpid():  # a forked child's copy of its parent's writer
            continue
        try:
            writer.flush(sync=True)
            writer.stop_thread()
            writer.close()  # flushes what arrived while the thread stopped, then closes the file
        except Exception:  # noqa: BLE001 - one broken writer must not cost the others their flush
            pass


shutdown.register("writers", flush_all_writers)

