"""The built wheel in a brand-new virtualenv: the server extension and the prebuilt labextension are
enabled by `pip install` alone (no Node.js), and the sidebar browser test passes against that install."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.jupyterlab import require_browser
from tests.test_browser_sidebar import SCREENSHOTS, exercise_sidebar

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str, timeout: float = 900, env: dict | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def test_wheel_in_a_fresh_virtualenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_browser()
    assert (ROOT / "mlnb" / "labextension" / "package.json").exists(), "build the labextension first (make install)"
    _run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"))
    wheel = next((tmp_path / "dist").glob("mlnb-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "mlnb-0.1.0.data/data/share/jupyter/labextensions/mlnb/package.json" in names
    assert "mlnb-0.1.0.data/data/etc/jupyter/jupyter_server_config.d/mlnb.json" in names
    assert not [n for n in names if "node_modules" in n or n.startswith("mlnb/labextension/")]  # the bundle once
    assert "mlnb/py.typed" in names  # type checkers use mlnb's annotations (PEP 561)
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "MLNB_HOME")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    _run(python, "-m", "pip", "install", "--quiet", f"{wheel}[notebook]", "jupyterlab>=4.6,<5", env=env)
    labextensions = _run(str(venv / "bin" / "jupyter"), "labextension", "list", env=env)
    assert any("mlnb v0.1.0" in line and "enabled" in line and "OK" in line for line in labextensions.splitlines()), \
        labextensions
    server_extensions = _run(str(venv / "bin" / "jupyter"), "server", "extension", "list", env=env)
    assert any("mlnb.server" in line and "enabled" in line for line in server_extensions.splitlines()), server_extensions
    assert "mlnb.server  \x1b[32mOK" in server_extensions or "mlnb.server  OK" in server_extensions
    installed = venv / "share" / "jupyter" / "labextensions" / "mlnb"
    assert (installed / "package.json").is_file() and not installed.is_symlink()
    exercise_sidebar(tmp_path / "lab-test", monkeypatch, python, SCREENSHOTS / "sidebar-from-wheel.png")
