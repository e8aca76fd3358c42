"""The unit of work executors ship to workers: one notebook execution, described by a plain dict."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `spec` = {store, notebook, parameters, experiment, name, parent, output, cwd, timeout, run_id}.

    Returns the BatchResult as a dict. Module-level, so process pools and Dask can pickle it.
    """
    from mlnb.batch.runner import run
    from mlnb.store.store import Store

    store = Store.open(spec["store"], create=True)
    result = run(spec["notebook"], spec.get("parameters"), experiment=spec.get("experiment"),
                 output=spec.get("output"), name=spec.get("name"), parent=spec.get("parent"),
                 kernel_name=spec.get("kernel_name"), timeout=spec.get("timeout"), cwd=spec.get("cwd"),
                 store=store, run_id=spec.get("run_id"))
    store.writer.flush(sync=True)
    return asdict(result)
