"""Small picklable models for the serving tests (register with `flavor="pickle"`, load with
allow_pickle=True): importable by path (`tests.serving_models`), so worker processes load them too."""
from __future__ import annotations

import time
from typing import Any


class Linear:
    """predict = the row sum times `scale` plus `shift` (vectorised; one output per row)."""

    def __init__(self, scale: float = 1.0, shift: float = 0.0) -> None:
        self.scale = scale
        self.shift = shift

    def predict(self, frame: Any) -> Any:
        return frame.to_numpy(dtype=float).sum(axis=1) * self.scale + self.shift


class Slow(Linear):
    """A Linear whose predict calls first sleep `delay_s` (a slow champion or shadow), except the
    first call of each object: registration's signature check and the engine's warm-up stay quick."""

    def __init__(self, delay_s: float, scale: float = 1.0, shift: float = 0.0) -> None:
        super().__init__(scale, shift)
        self.delay_s = delay_s
        self.calls = 0

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "calls": 0}  # a loaded copy starts afresh

    def predict(self, frame: Any) -> Any:
        self.calls += 1
        if self.calls > 1:
            time.sleep(self.delay_s)
        return super().predict(frame)


class Failing:
    """A model whose predict always raises (after `delay_s`)."""

    def __init__(self, message: str = "model exploded", delay_s: float = 0.0) -> None:
        self.message = message
        self.delay_s = delay_s

    def predict(self, frame: Any) -> Any:
        if self.delay_s:
            time.sleep(self.delay_s)
        raise RuntimeError(self.message)


class FailsOnNegative(Linear):
    """A Linear that refuses any row whose first column is negative (one bad request in a batch)."""

    def predict(self, frame: Any) -> Any:
        if (frame.iloc[:, 0] < 0).any():
            raise ValueError("negative input")
        return super().predict(frame)


class Unloadable(Linear):
    """Registers fine, but loading it fails (a version the server cannot switch to)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        raise RuntimeError("this model cannot be restored")
