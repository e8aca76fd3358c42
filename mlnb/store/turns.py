"""Fair turns at the index lock: a waiter takes a ticket, and the holder gives way to it.

`.mlnb/index.lock` (an OS file lock) guards the DuckDB index. A process keeps it while it
queries in a burst (the linger), so a burst opens DuckDB once. An OS lock alone is not fair: a
process that queries more often than the linger never lets go, and one that releases and
re-takes the lock in a loop wins every race against a waiter that polls. So:

- Every process that wants the lock first puts a ticket in `.mlnb/index.queue/`: an empty file
  named by its arrival time, its pid and the start time of that process.
- It takes the lock only when its ticket is the oldest live one (first come, first served),
  then removes the ticket.
- A holder looks for tickets after each use of the index and while it lingers: if anyone
  waits, it closes DuckDB and releases the lock at once, and its own next query queues behind.

A reader therefore waits for at most one turn of each process ahead of it in the queue, however
often they query. The ticket of a process that died, or that is older than the lock timeout (a
stopped process), is skipped and removed, so no crash can block the queue. A process of an older
mlnb that takes no ticket still excludes and is excluded through the same OS lock.
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlnb.errors import StoreBusyError

if TYPE_CHECKING:
    from filelock import FileLock

LOCK_FILENAME = "index.lock"
QUEUE_DIRNAME = "index.queue"
POLL_S = 0.005
_start_ms: dict[int, int] = {}  # pid -> this process's start time (ms), computed once per process


class Turns:
    """The index lock of the store at `root`, taken in turn (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.queue = root / QUEUE_DIRNAME
        self.lock_path = root / LOCK_FILENAME

    def acquire(self, timeout: float, stale_after: float) -> FileLock:
        """Wait for our turn and take the lock (returned; call `.release()`); StoreBusyError after `timeout` s.

        Tickets older than `stale_after` s are ignored (their process has given up or is stopped).
        """
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.lock_path), thread_local=False)
        ticket = self._take_ticket()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._first_in_line(ticket.name, stale_after):
                    try:
                        lock.acquire(timeout=0)  # one try: an older mlnb (no tickets) may hold it
                        return lock
                    except Timeout:
                        pass
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"the mlnb index in {self.root} stayed locked by other processes for {timeout:.0f} s; "
                        "try again, or raise MLNB_LOCK_TIMEOUT")
                time.sleep(POLL_S)
        finally:
            ticket.unlink(missing_ok=True)

    def others_waiting(self) -> bool:
        """True if a process has a ticket: a holder should release the lock now."""
        try:
            with os.scandir(self.queue) as entries:
                return any(not entry.name.startswith(".") for entry in entries)
        except FileNotFoundError:
            return False

    def _take_ticket(self) -> Path:
        self.queue.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        path = self.queue / f"{time.time_ns():020d}-{pid}-{_own_start_ms(pid)}-{secrets.token_hex(4)}"
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return path

    def _first_in_line(self, mine: str, stale_after: float) -> bool:
        # names start with the arrival time, zero-padded: sorted names are the queue's order
        for name in sorted(n for n in os.listdir(self.queue) if not n.startswith(".")):
            if name >= mine:
                return True
            if _ticket_alive(name, stale_after):
                return False
            (self.queue / name).unlink(missing_ok=True)  # its process died or gave up long ago
        return True


def _ticket_alive(name: str, stale_after: float) -> bool:
    try:
        arrived_ns, pid, start_ms = (int(part) for part in name.split("-")[:3])
    except ValueError:
        return False  # not a ticket
    if time.time_ns() - arrived_ns > stale_after * 1e9:
        return False  # its process would have given up by now: stopped, or a leftover
    if pid == os.getpid():
        return True
    from mlnb.store.processes import process_alive

    return process_alive(pid, start_ms / 1000)


def _own_start_ms(pid: int) -> int:
    if pid not in _start_ms:
        import psutil

        _start_ms[pid] = int(psutil.Process(pid).create_time() * 1000)
    return _start_ms[pid]

