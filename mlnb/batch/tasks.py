"""The unit of work executors ship to workers: one notebook execution, described by a plain dict."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `spec` = {project, notebook, parameters, experiment, name, parent, output, cwd, timeout, run_id}.

    `project` is the project's URL (`Project.url`; older specs call it `store`). Returns the
    BatchResult as a dict. Module-level, so process pools and Dask can pickle it.
    """
    from mlnb.batch.runner import run
    from mlnb.project import Project

    project = Project.open(spec["project"] if "project" in spec else spec["store"], create=True)
    result = run(spec["notebook"], spec.get("parameters"), experiment=spec.get("experiment"),
                 output=spec.get("output"), name=spec.get("name"), parent=spec.get("parent"),
                 kernel_name=spec.get("kernel_name"), timeout=spec.get("timeout"), cwd=spec.get("cwd"),
                 project=project, run_id=spec.get("run_id"))
    project.store.writer.flush(sync=True)
    return asdict(result)
