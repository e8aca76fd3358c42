"""Opening and closing a tracked notebook run: environment, params, snapshot, verdict."""
from __future__ import annotations

import os
import platform
import sys
import threading
from collections.abc import Callable
from typing import Any

from mlnb.capture.hidden_state import notebook_positions
from mlnb.capture.history import CellHistory
from mlnb.errors import NoActiveRunError


class RunLifecycle:
    """The run a notebook session records into: opened with its environment and params, closed
    with the notebook snapshot and the hidden-state verdict.

    `flush` hands every captured cell to the event writer (called before the verdict is taken);
    `warn` reports a problem once without touching the user's cell.
    """

    def __init__(self, shell: Any, history: CellHistory, flush: Callable[[], None],
                 warn: Callable[[BaseException], None]) -> None:
        self.shell = shell
        self.history = history
        self._flush = flush
        self._warn = warn
        self.run: Any = None
        self.environment: threading.Thread | None = None

    def start(self, experiment: str | None, name: str | None, tags: dict[str, str],
              run_id: str | None = None, parent: str | None = None,
              params: Callable[[], dict[str, Any]] | None = None) -> Any:
        """Open a run (ending one still open), record its environment and log `params()`."""
        from mlnb import tracking
        from mlnb.capture.environment import record_environment

        if self.run is not None and self.run.status == "running":
            self.stop("finished")
        self.run = tracking.start_run(experiment=experiment, name=name, tags=tags, parent=parent, run_id=run_id)
        _learn_earlier_secrets(self.shell)
        self.history.clear()
        # reading every installed package's metadata takes ~0.1 s: do it beside the first cells
        self.environment = threading.Thread(target=self._record_environment, args=(record_environment,),
                                            name="mlnb-environment", daemon=True)
        self.environment.start()
        values = params() if params is not None else {}
        if values:
            self.run.log_params(values)
        return self.run

    def stop(self, status: str = "finished") -> Any:
        """End the run: wait for captured cells, store the snapshot and the hidden-state verdict."""
        from mlnb.capture.environment import notebook_snapshot

        run = self.require_run()
        self.wait_for_environment()
        self._flush()
        state, problems = self.hidden_state()
        run.set_tags({"mlnb.hidden_state": state, "mlnb.hidden_state.details": "\n".join(problems[:20])})
        snapshot = notebook_snapshot(self.history.cells())
        run.log_artifact(snapshot, name="notebook.ipynb")
        run.end(status)
        return run

    def wait_for_environment(self, timeout_s: float = 60) -> None:
        """Until the run's environment (packages, git state) is logged, at most `timeout_s`."""
        if self.environment is not None:
            self.environment.join(timeout=timeout_s)

    def hidden_state(self) -> tuple[str, list[str]]:
        """The verdict for what has run so far."""
        from mlnb import runinfo

        return self.history.verdict(notebook_positions(runinfo.notebook_path()))

    def require_run(self) -> Any:
        """The open run, or a clear error."""
        if not self.running():
            raise NoActiveRunError("no tracked run; start one with %track start")
        return self.run

    def running(self) -> bool:
        """True while a run is open (not ended, not crashed)."""
        return self.run is not None and self.run.status == "running"

    def _record_environment(self, record_environment: Any) -> None:
        try:
            record_environment(self.run, kernel=_kernel_name(self.shell))
        except Exception as exc:  # the run goes on without it
            self._warn(exc)


def _learn_earlier_secrets(shell: Any) -> None:
    """Secrets defined before the run started (`API_KEY = "..."` run before `%track start`, or a
    key read into a variable): their values are masked when a tracked cell prints them."""
    from mlnb.redact import is_sensitive_name, learn_secrets, secrets_in_code

    ns = shell.user_ns
    history = ns.get("In") or []
    learn_secrets(secrets_in_code("\n".join(code for code in history if isinstance(code, str))))
    learn_secrets(value for name, value in list(ns.items())
                  if isinstance(value, (str, int)) and not name.startswith("_") and is_sensitive_name(name))


def _kernel_name(shell: Any) -> str:
    """Which kernel runs the notebook: `MLNB_KERNEL` if set, else the kernel class and interpreter."""
    named = os.environ.get("MLNB_KERNEL")
    if named:
        return named
    kernel = getattr(shell, "kernel", None)
    implementation = type(kernel).__module__.split(".")[0] if kernel is not None else "IPython"
    return f"{implementation} on {platform.python_implementation()} {platform.python_version()} ({sys.executable})"
