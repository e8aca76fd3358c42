"""Build and execute small notebooks in a real kernel for the capture tests."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def make_notebook(cells: list[str], path: Path, tags: dict[int, list[str]] | None = None) -> Path:
    """Write a notebook of code cells (with nbformat 4.5 cell ids) to `path`."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    for index, names in (tags or {}).items():
        nb.cells[index].metadata["tags"] = names
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def execute(path: Path, env: dict[str, str], allow_errors: bool = True, autosave: bool = False) -> Any:
    """Execute a notebook file in a fresh kernel with extra environment variables; returns it.

    With `autosave` the file is written after every cell (as JupyterLab saves) and at the end."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    hooks: dict[str, Any] = {}
    if autosave:
        def save(cell: object, cell_index: int, execute_reply: object) -> None:
            nbformat.write(nb, path)
        hooks["on_cell_executed"] = save
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, kernel_name="python3", timeout=300, allow_errors=allow_errors,
                       resources={"metadata": {"path": str(path.parent)}}, **hooks).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if autosave:
        nbformat.write(nb, path)
    return nb


def stdout_of(nb: Any, index: int) -> str:
    """Text printed on stdout by one executed cell."""
    return "".join(o.get("text", "") for o in nb.cells[index].outputs if o.get("name") == "stdout")
