"""End-to-end browser tests: a real JupyterLab server plus headless Chromium driven by playwright-core.

Usage (see tests/test_browser_harness.py)::

    from tests.browser.jupyterlab import jupyterlab_server, require_browser, run_in_browser

    def test_x(tmp_path):
        require_browser()                        # skip early (or fail when MLNB_REQUIRE_BROWSER=1)
        write_notebook(tmp_path / "x.ipynb")
        with jupyterlab_server(tmp_path) as server:
            result = run_in_browser(server, "x.ipynb", [".probe-table"], screenshot_path)
        assert result["ok"], result["error"]

The server is `python -m jupyterlab` from this interpreter's environment, on a free loopback port,
with a random token and private Jupyter config/data/runtime/IPython dirs (so the user's own config
does not leak in). Lab extensions and kernelspecs installed in sys.prefix (anywidget,
@jupyter-widgets, jupyterlab-plotly, python3) are still found: sys.prefix/share/jupyter stays on
the Jupyter path. The browser side is tests/browser/run_notebook.mjs (run it with --help).
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DRIVER = HERE / "run_notebook.mjs"
PLAYWRIGHT_CORE = REPO_ROOT / "node_modules" / "playwright-core"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# JupyterLab user settings written into the private settings dir: no news/update toasts; every
# cell attached to the DOM (the default "contentVisibility" windowing mode and "full"/"defer" leave
# off-screen cells unrendered, which makes visibility checks flaky); no autosave, so the notebook
# file on disk stays as the test wrote it.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/docmanager-extension/plugin": {
        "autosave": False,
    },
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
    },
}


def chromium_path() -> str:
    return os.environ.get("CHROMIUM") or DEFAULT_CHROMIUM


def browser_missing_reason() -> str | None:
    """Why a browser test cannot run here, or None when jupyterlab, node, playwright-core and
    Chromium are all there."""
    missing = []
    if importlib.util.find_spec("jupyterlab") is None:
        missing.append("jupyterlab is not installed in this environment (pip install -e '.[test]')")
    if shutil.which("node") is None:
        missing.append("`node` is not on PATH")
    if not (PLAYWRIGHT_CORE / "package.json").is_file():
        missing.append(f"{PLAYWRIGHT_CORE.relative_to(REPO_ROOT)} is missing (run `make install`, which runs `jlpm install`)")
    chromium = chromium_path()
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        missing.append(f"no Chromium at {chromium} (apt-get install chromium, or set CHROMIUM=...)")
    return "; ".join(missing) or None


def require_browser() -> None:
    """Skip the calling test when the browser toolchain is missing, unless MLNB_REQUIRE_BROWSER=1
    (CI), where a missing toolchain is a failure instead."""
    reason = browser_missing_reason()
    if reason is None:
        return
    if os.environ.get("MLNB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (MLNB_REQUIRE_BROWSER=1) but {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason} (set MLNB_REQUIRE_BROWSER=1 to make this a failure)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterLabServer:
    """A running JupyterLab (see `jupyterlab_server`)."""

    root_dir: Path
    port: int
    token: str
    process: subprocess.Popen
    home: Path  # private Jupyter dirs, server log
    log_path: Path
    _children: dict[int, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def api(self, path: str, method: str = "GET", data: Any = None, timeout: float = 5.0) -> Any:
        """Call the server's REST API with the token; returns the decoded JSON (or None)."""
        body = None if data is None else json.dumps(data).encode()
        request = urllib.request.Request(
            self.url + path.lstrip("/"), data=body, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def kernel_processes(self) -> list[dict[str, Any]]:
        """The kernels this server started: [{pid, cmdline}] (kernels run in their own sessions,
        so they are found as children of the server process)."""
        import psutil

        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []
        found = []
        for child in children:
            try:
                cmdline = child.cmdline()
            except psutil.Error:
                continue
            self._children[child.pid] = child
            if any("ipykernel" in part for part in cmdline):
                found.append({"pid": child.pid, "cmdline": cmdline})
        return found

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down kernels and server: API shutdown, then SIGTERM/SIGKILL to the process group,
        then any descendant (kernel) still alive."""
        import psutil

        if self.process.poll() is None:
            self.kernel_processes()  # remember the descendants while the server still knows them
            with contextlib.suppress(Exception):
                self.api("api/shutdown", method="POST", timeout=3)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(self.process.pid, sig)
                    try:
                        self.process.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        # The server's process group is gone; also make sure no kernel outlives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        leftovers = [p for p in self._children.values() if p.is_running()]
        for proc in leftovers:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(leftovers, timeout=3)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()


def _private_env(home: Path, python: str = sys.executable) -> dict[str, str]:
    """Environment for the server (and its kernels): private Jupyter/IPython dirs."""
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "IPYTHONDIR": home / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": home / "config" / "lab" / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "config" / "lab" / "workspaces",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # Extra search paths from the user's environment would bring their extensions/kernels in.
    for name in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTERLAB_DIR", "JUPYTER_PLATFORM_DIRS"):
        env.pop(name, None)
    env.update({name: str(path) for name, path in dirs.items()})
    env["PYTHONUNBUFFERED"] = "1"
    # Kernels start from this interpreter's environment even if PATH says otherwise.
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", "")])
    return env


def _write_config(home: Path, root_dir: Path, port: int, token: str) -> None:
    config = {
        "ServerApp": {
            "ip": "127.0.0.1",
            "port": port,
            "port_retries": 0,
            "open_browser": False,
            "allow_root": True,
            "root_dir": str(root_dir),
            "preferred_dir": str(root_dir),
        },
        "IdentityProvider": {"token": token},
        "LabApp": {
            "expose_app_in_browser": True,  # window.jupyterapp: the driver runs cells via commands
            "news_url": None,
            "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        },
        "LabServerApp": {"open_browser": False},
    }
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(config, indent=1))
    settings_dir = home / "config" / "lab" / "user-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1))


@contextlib.contextmanager
def jupyterlab_server(root_dir: Path, home: Path | None = None, startup_timeout: float = 60.0,
                      attempts: int = 3, python: str = sys.executable) -> Iterator[JupyterLabServer]:
    """Start `python -m jupyterlab` serving `root_dir`; yields a JupyterLabServer; stops it after.

    `home` holds the private Jupyter dirs, the driver configs and the server log (default: a new
    temporary folder, removed afterwards). Keep it outside root_dir so it does not show up in Lab.
    """
    root_dir = Path(root_dir).resolve()
    own_home = home is None
    home = Path(tempfile.mkdtemp(prefix="mlnb-jupyter-")) if own_home else Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    try:
        with _serve(root_dir, home, startup_timeout, attempts, python) as server:
            yield server
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def _serve(root_dir: Path, home: Path, startup_timeout: float, attempts: int,
           python: str = sys.executable) -> Iterator[JupyterLabServer]:
    env = _private_env(home, python)
    token = secrets.token_hex(24)
    server: JupyterLabServer | None = None
    errors = []
    for _attempt in range(attempts):  # the free port can be taken between probe and bind
        port = _free_port()
        _write_config(home, root_dir, port, token)
        log_path = home / f"jupyterlab-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [python, "-m", "jupyterlab", "--no-browser", "--ServerApp.allow_root=True",
                 f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root_dir}"],
                cwd=root_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # own process group: stop() can signal the whole group
        candidate = JupyterLabServer(root_dir, port, token, process, home, log_path)
        if _wait_ready(candidate, startup_timeout):
            server = candidate
            break
        errors.append(f"port {port}: exit code {process.poll()}\n{candidate.log_tail()}")
        candidate.stop(timeout=3)
    if server is None:
        raise RuntimeError("JupyterLab did not start:\n" + "\n---\n".join(errors))
    try:
        yield server
    finally:
        server.stop()


def _wait_ready(server: JupyterLabServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            status = server.api("api/status", timeout=2)
            if isinstance(status, dict):
                return True
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            pass
        time.sleep(0.2)
    return False


def run_in_browser(server: JupyterLabServer, notebook: str | os.PathLike, selectors: Sequence[str | dict],
                   screenshot: str | os.PathLike, actions: Sequence[dict] = (), timeout: float = 150.0,
                   **options: Any) -> dict[str, Any]:
    """Open `notebook` (a path relative to the server's root) in JupyterLab in headless Chromium,
    run all cells, wait for each selector to be visible, take a full-page screenshot.

    `selectors`: CSS selectors, or dicts {"selector", "timeout" (ms), "min_count"}. `actions`: see
    `node tests/browser/run_notebook.mjs --help`. Further `options` go into the driver's JSON config
    (e.g. failOnCellErrors=False, viewport={"width": 1600, "height": 1000}).
    Returns the driver's JSON result; result["ok"] is False (with result["error"]) on any failure.
    """
    require_browser()
    notebook = Path(notebook)
    if notebook.is_absolute():
        notebook = notebook.resolve().relative_to(server.root_dir)
    screenshot = Path(screenshot).resolve()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "baseUrl": server.url,
        "token": server.token,
        "notebook": notebook.as_posix(),
        "selectors": [s if isinstance(s, dict) else {"selector": s} for s in selectors],
        "screenshot": str(screenshot),
        "actions": list(actions),
        # The driver's own limit leaves time for its failure screenshot and report.
        "timeout": max(int(timeout * 1000) - 15000, int(timeout * 500)),
        **options,
    }
    config_path = server.home / f"driver-{screenshot.stem}.json"
    config_path.write_text(json.dumps(config, indent=1))
    env = dict(os.environ)
    env.setdefault("CHROMIUM", chromium_path())
    # The driver enforces its own overall timeout (and still screenshots); this one is the backstop.
    proc = subprocess.Popen(["node", str(DRIVER), "--config", str(config_path)], cwd=REPO_ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        stdout, stderr = proc.communicate()
        return {"ok": False, "error": f"browser driver killed after {timeout:.0f} s", "returncode": None,
                "stdout": stdout[-4000:], "stderr": stderr[-4000:], "server_log": server.log_tail()}
    try:
        result = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else None
    except (json.JSONDecodeError, IndexError):
        result = None
    if not isinstance(result, dict):
        result = {"ok": False, "error": f"browser driver exited {proc.returncode} without a JSON result",
                  "stdout": stdout[-4000:]}
    result["returncode"] = proc.returncode
    result["stderr"] = stderr[-4000:]
    if not result.get("ok"):
        result["server_log"] = server.log_tail()
    return result


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill node and its Chromium (playwright starts the browser in its own process group, so a
    killed node would leave it behind)."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        family = []
    proc.kill()
    for child in family:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(family, timeout=3)


def describe_failure(result: dict[str, Any]) -> str:
    """A readable assertion message for a failed run_in_browser result."""
    parts = [f"browser run failed: {result.get('error')}"]
    for key in ("selectors", "cellErrors", "dialogs", "consoleErrors", "pageErrors", "screenshot"):
        if result.get(key):
            parts.append(f"{key}: {json.dumps(result[key], indent=1)[:3000]}")
    for key in ("stderr", "server_log"):
        if result.get(key):
            parts.append(f"--- {key} ---\n{result[key]}")
    return "\n".join(parts)
