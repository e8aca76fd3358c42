"""The environment of a notebook run (recorded at start) and its code snapshot (at stop)."""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlnb import runinfo


def installed_packages() -> str:
    """`name==version` lines of every installed distribution, sorted."""
    from importlib import metadata

    seen = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            seen[name.lower()] = f"{name}=={dist.version}"
    return "\n".join(seen[k] for k in sorted(seen)) + "\n"


def git_diff(folder: Path) -> str | None:
    """Uncommitted changes of the repository containing `folder` (None outside a repository)."""
    try:
        done = subprocess.run(["git", "diff", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def record_environment(run: Any, kernel: str | None) -> None:
    """Python, platform, packages (stored once per distinct set), git state, notebook path, kernel."""
    from mlnb.redact import environment_secrets, redact_text

    notebook = runinfo.notebook_path()
    folder = Path(notebook).parent if notebook else Path.cwd()
    packages = run.log_artifact(installed_packages().encode(), name="environment/packages.txt")[0]
    tags = {"mlnb.env.python": platform.python_version(), "mlnb.env.platform": platform.platform(),
            "mlnb.env.packages": packages["hash"], "mlnb.env.executable": sys.executable,
            "mlnb.env.kernel": kernel or "", "mlnb.env.notebook": notebook or "",
            "mlnb.env.git_commit": runinfo.git_commit(folder) or ""}
    diff = git_diff(folder)
    if diff:
        run.log_artifact(redact_text(diff, environment_secrets()).encode(), name="environment/git.diff")
        tags["mlnb.env.git_dirty"] = "true"
    run.set_tags(tags)


def notebook_snapshot(cells: list[dict[str, Any]]) -> bytes:
    """The notebook file when it can be found, else one rebuilt from the captured cells; redacted."""
    import nbformat

    notebook = runinfo.notebook_path()
    if notebook and Path(notebook).is_file():
        nb = nbformat.read(notebook, as_version=4)
    else:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c["code"], execution_count=c["execution_count"]) for c in cells]
    return redact_notebook(nb)


def redact_notebook(nb: Any) -> bytes:
    """A notebook's JSON with secrets masked in every cell's source and text outputs."""
    import nbformat

    from mlnb.redact import environment_secrets, redact_text

    secrets = environment_secrets()
    for cell in nb.cells:
        cell.source = redact_text(cell.source, secrets)
        for output in cell.get("outputs", []):
            if isinstance(output.get("text"), str):
                output["text"] = redact_text(output["text"], secrets)
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    output["data"][mime] = redact_text(value, secrets)
    return nbformat.writes(nb).encode()
