"""Which optional part of mlnb (a pip "extra") brings which importable module.

The faces use it to turn a ModuleNotFoundError of an optional dependency into one line naming
the ``pip install "mlnb[...]"`` to run, instead of a traceback. Keep it in step with
``[project.optional-dependencies]`` in pyproject.toml (tests/test_cli_package.py checks it).
"""
from __future__ import annotations

# top-level module name -> the extra that installs it (directly or as a dependency of one)
MODULE_EXTRAS: dict[str, str] = {
    **dict.fromkeys(("IPython", "ipykernel", "nbformat", "nbclient", "papermill", "yaml", "tqdm",
                     "ipywidgets", "plotly", "anywidget", "jupyterlab", "jupyter_server", "jupyter_client",
                     "jupyter_core", "traitlets"), "notebook"),
    **dict.fromkeys(("dask", "distributed"), "dask"),
    "skops": "safe",
    **dict.fromkeys(("sklearn", "matplotlib"), "demo"),
}


def extra_for(module: str | None) -> str | None:
    """The extra that installs `module` (a dotted name is looked up by its top package), or None."""
    if not module:
        return None
    return MODULE_EXTRAS.get(module.partition(".")[0])


def install_hint(module: str | None, needed_by: str = "this") -> str | None:
    """One line saying which extra to install for the missing `module`, or None if none brings it."""
    extra = extra_for(module)
    if extra is None:
        return None
    top = (module or "").partition(".")[0]
    return f'{needed_by} needs {top}, which is not installed: pip install "mlnb[{extra}]"'
