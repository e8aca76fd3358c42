"""What every side-by-side benchmark needs around the peer: its own virtualenv, and a
description of the machine the table was measured on."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


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
