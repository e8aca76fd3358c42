"""Batch execution of notebooks as tracked runs (papermill)."""
from __future__ import annotations

from mlnb.batch.runner import BatchResult, run

__all__ = ["BatchResult", "run"]
