"""Is the process that wrote something still alive? (pid + start time, so a reused pid is not mistaken)."""
from __future__ import annotations


def process_alive(pid: int | None, started: float | None) -> bool:
    """True if process `pid` exists and is the same process (same start time, to the second) as recorded."""
    import psutil

    if pid is None:
        return True  # cannot tell; never declare a process dead on a guess
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True
