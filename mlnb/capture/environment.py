"""The environment of a notebook run (recorded at start) and its code snapshot (at stop)."""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlnb import runinfo


def installed_packages() -> str:
    """`name==version` lines of every installed distribution, sorted.

    Read from the `*.dist-info` folder names on sys.path (a directory listing), which is
    ~30x cheaper than loading every distribution's metadata.
    """
    import os
    import re
    import sys

    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                stem = name[: -len(".dist-info")]
                dist, _, version = stem.partition("-")
                if version:
                    key = re.sub(r"[-_.]+", "-", dist).lower()
                    found.setdefault(key, f"{dist}=={version}")
    return "\n".join(found[k] for k in sorted(found)) + "\n"


def git_diff(folder: Path) -> str | None:
    """Uncommitted changes of the repository containing `folder` (None outside a repository)."""
    try:
        done = subprocess.run(["git", "diff", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def record_environment(run: Any, kernel: str | None) -> None:
    """Python, platform, packages (stored once per distinct set), git state, notebook path, kernel."""
    from mlnb.capture.redaction import redact_diff

    notebook = runinfo.notebook_path()
    folder = Path(notebook).parent if notebook else Path.cwd()
    packages = run.log_artifact(installed_packages().encode(), name="environment/packages.txt")[0]
    tags = {"mlnb.env.python": platform.python_version(), "mlnb.env.platform": platform.platform(),
            "mlnb.env.packages": packages["hash"], "mlnb.env.executable": sys.executable,
            "mlnb.env.kernel": kernel or "", "mlnb.env.notebook": notebook or "",
            "mlnb.env.git_commit": runinfo.git_commit(folder) or ""}
    diff = git_diff(folder)
    if diff:
        run.log_artifact(redact_diff(diff).encode(), name="environment/git.diff")
        tags["mlnb.env.git_dirty"] = "true"
    run.set_tags(tags)


def notebook_snapshot(cells: list[dict[str, Any]]) -> bytes:
    """The notebook file when it can be found, else one rebuilt from the captured cells; redacted
    everywhere (sources, every output, error values and tracebacks, metadata).

    Plain JSON on purpose: this runs in the user's kernel at `%track stop`, and loading nbformat
    with its schema costs more than the rest of stopping.
    """
    import json

    from mlnb.capture.redaction import redact_notebook

    notebook = runinfo.notebook_path()
    nb: dict[str, Any] | None = None
    if notebook and Path(notebook).is_file():
        try:
            nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
        except ValueError:
            nb = None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": c["execution_count"],
             "source": c["code"], "outputs": []} for i, c in enumerate(cells)]}
    return redact_notebook(nb)
