"""What every side-by-side benchmark needs around the peer: its own virtualenv, and a
description of the machine the table was measured on."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venv-mlflow"
MLFLOW_REQUIREMENT = "mlflow>=3,<4"


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtualenv at `venv`."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def create_venv(venv: Path, requirements: tuple[str, ...], upgrade_pip: bool = False) -> Path:
    """Make `venv` afresh with `requirements` installed; returns its python."""
    python = venv_python(venv)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if upgrade_pip:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
    return python


def can_import(python: Path, module: str) -> bool:
    """Whether `python` finds `module` (without importing it)."""
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", code], check=False, capture_output=True).returncode == 0


def ensure_mlflow_venv() -> Path:
    """The MLflow virtualenv's python, creating the venv and installing MLflow the first time."""
    python = venv_python(MLFLOW_VENV)
    if python.exists() and can_import(python, "mlflow"):
        return python
    print(f"creating {MLFLOW_VENV} and installing {MLFLOW_REQUIREMENT} (first run only)", file=sys.stderr, flush=True)
    return create_venv(MLFLOW_VENV, (MLFLOW_REQUIREMENT,), upgrade_pip=True)


def package_versions(python: Path, packages: tuple[str, ...], sqlite: bool = False) -> dict[str, str]:
    """Installed versions of `packages` as seen by `python`, plus that Python's version (and
    SQLite's with `sqlite=True`)."""
    code = ("import importlib.metadata as m, json, platform, sqlite3\n"
            f"out = {{p: m.version(p) for p in {list(packages)!r}}}\n"
            "out.update(python=platform.python_version())\n"
            + ("out.update(sqlite=sqlite3.sqlite_version)\n" if sqlite else "")
            + "print(json.dumps(out))")
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory and OS of this machine."""
    info: dict[str, Any] = {"cores": os.cpu_count(), "os": platform.platform()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                           if line.startswith("model name"))
        meminfo = Path("/proc/meminfo").read_text().split()
        info["memory_gb"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        info["cpu"] = platform.processor() or "unknown"
    return info
