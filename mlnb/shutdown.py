"""One shutdown path: what mlnb does at interpreter exit and on `mlnb.close()`, in a fixed order.

Modules do not call `atexit` themselves; each registers its step under a named phase, and one
routine runs the phases in the order of `PHASES`, whatever order the modules were imported in:

1. `capture` - capture sessions hand over the cells they still hold (they may log to open runs);
2. `runs`    - runs left open are ended (`failed` after an uncaught exception, else `finished`);
3. `writers` - every event writer writes and fsyncs its queue, and its thread stops;
4. `index`   - index connections close (releasing the index lock) and their closer threads end.

A step that fails is skipped so the later phases still run: at exit nothing may be lost because an
earlier step raised.
"""
from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

PHASES = ("capture", "runs", "writers", "index")

Step = Callable[[], None]


class ShutdownSequence:
    """Named phases of steps, run in phase order (steps in a phase in registration order)."""

    def __init__(self, phases: tuple[str, ...] = PHASES) -> None:
        self.phases = phases
        self._steps: dict[str, list[Step]] = {phase: [] for phase in phases}
        self._lock = threading.RLock()

    def register(self, phase: str, step: Step) -> Step:
        """Add `step` to `phase` (once: registering the same step again does nothing); returns it."""
        if phase not in self._steps:
            raise ValueError(f"unknown shutdown phase {phase!r}; use one of {', '.join(self.phases)}")
        with self._lock:
            if step not in self._steps[phase]:
                self._steps[phase].append(step)
        return step

    def unregister(self, phase: str, step: Step) -> None:
        """Remove `step` from `phase` (no error if it is not there)."""
        with self._lock:
            steps = self._steps.get(phase, [])
            if step in steps:
                steps.remove(step)

    def steps(self) -> list[tuple[str, Step]]:
        """Every (phase, step) in the order `run` calls them."""
        with self._lock:
            return [(phase, step) for phase in self.phases for step in self._steps[phase]]

    def run(self) -> None:
        """Call every step in order; a step that raises does not stop the ones after it."""
        with self._lock:  # two closes at once (a thread and exit) run one after the other
            for _phase, step in self.steps():
                try:
                    step()
                except Exception:  # noqa: BLE001 - at exit, the later phases must still run
                    pass


_sequence = ShutdownSequence()


def register(phase: str, step: Step) -> Step:
    """Run `step` in `phase` at exit and on `mlnb.close()` (see `PHASES`)."""
    return _sequence.register(phase, step)


def unregister(phase: str, step: Step) -> None:
    """Stop running `step` at exit (e.g. when a capture session is unloaded)."""
    _sequence.unregister(phase, step)


def steps() -> list[tuple[str, Step]]:
    """The registered steps of this process, in the order they run."""
    return _sequence.steps()


def close() -> None:
    """End open runs, make every logged event durable and close the index (idempotent).

    What mlnb does at exit, done now: call it before handing the store to another tool, or at
    the end of a long-lived process. mlnb stays usable afterwards; logging again starts a fresh
    writer and reopens the index when needed.
    """
    _sequence.run()


_exiting: list[bool] = []


def exiting() -> bool:
    """True while the interpreter-exit routine runs (False during `mlnb.close()`)."""
    return bool(_exiting)


def _at_exit() -> None:
    _exiting.append(True)
    _sequence.run()


atexit.register(_at_exit)
