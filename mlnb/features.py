"""The features whose events the index ingests.

Each module named here registers, on import, the index tables and `@handles` functions of its
feature (see `mlnb.store.handlers`). The store core never imports a feature: ingest loads this
list by name before its first pass, so a new feature adds one line here and the core stays as it is.
"""
from __future__ import annotations

import importlib

FEATURE_MODULES: tuple[str, ...] = (
    "mlnb.capture.tables",  # cells, datasets, lineage
    "mlnb.model_registry.tables",  # model versions, aliases
    "mlnb.model_monitoring.tables",  # stored profiles, monitoring checks
    "mlnb.serving.tables",  # the rendezvous archive: answers, results, feedback, switches, heartbeats
)


def load() -> None:
    """Import every feature module (idempotent: Python caches modules)."""
    for name in FEATURE_MODULES:
        importlib.import_module(name)
