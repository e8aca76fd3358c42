"""The one way tests connect a project and reset afterwards (public API only: `mlnb.connect`,
`mlnb.project.forget_current`, `Project.forget`), shared by every store fixture."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlnb
from mlnb.project import Project, forget_current


@contextmanager
def connected_project(root: str | os.PathLike[str], create: bool = True) -> Iterator[Project]:
    """Connect the project at `root` for one test; afterwards end runs it left open (as `killed`),
    forget it as the current project and drop its shared instances (the next test opens it afresh)."""
    forget_current()
    project = mlnb.connect(root, create=create)
    try:
        yield project
    finally:
        end_open_runs()
        forget_current()
        project.forget()


def end_open_runs() -> None:
    """End the active runs of this context (a test that failed midway leaves them open)."""
    run = mlnb.active_run()
    while run is not None:
        run.end("killed")
        run = mlnb.active_run()
