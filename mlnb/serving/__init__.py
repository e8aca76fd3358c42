"""Serving with the rendezvous pattern: `mlnb serve` answers with the champion by a deadline,
scores shadows on the same traffic, archives every answer, and switches aliases live.

Names load on first use (Starlette and uvicorn only when a server starts).
"""
from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "serve": "mlnb.serving.runner",
    "ServeHandle": "mlnb.serving.runner",
    "ServeConfig": "mlnb.serving.config",
    "log_feedback": "mlnb.serving.feedback",
    "rendezvous": "mlnb.serving.comparison",
    "replay": "mlnb.serving.replay",
    "traffic": "mlnb.serving.traffic",
}

__all__ = ["ServeConfig", "ServeHandle", "log_feedback", "rendezvous", "replay", "serve", "traffic"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mlnb.serving' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
