"""Opening and closing a tracked notebook run: environment, params, snapshot, verdict."""
from __future__ import annotations

import os
import platform
import sys
import threading
from typing import Any

from mlnb.capture.hidden_state import notebook_positions, verdict
from mlnb.errors import NoActiveRunError


def start(self: Any, experiment: str | None, name: str | None, tags: dict[str, str],
          run_id: str | None = None, parent: str | None = None) -> Any:
    """Open a run for this notebook (ending one still open) and record its environment."""
    from mlnb import tracking
    from mlnb.capture.environment import record_environment

    if self.run is not None and self.run.status == "running":
        self.stop("finished")
    self.run = tracking.start_run(experiment=experiment, name=name, tags=tags, parent=parent, run_id=run_id)
    _learn_earlier_secrets(self.shell)
    self.seq, self.cells_captured = 0, 0
    self.history.clear()
    self.writers.clear()
    self.cell_code.clear()
    # reading every installed package's metadata takes ~0.1 s: do it beside the first cells
    self.environment = threading.Thread(target=_record_environment_safely, args=(self, record_environment),
                                        name="mlnb-environment", daemon=True)
    self.environment.start()
    params = {**self.params_from_history(), **self.pending_params}
    if params:
        self.run.log_params(params)
    return self.run


def stop(self: Any, status: str = "finished") -> Any:
    """End the run: wait for captured cells, store the snapshot and the hidden-state verdict."""
    from mlnb.capture.environment import notebook_snapshot

    run = self.require_run()
    environment = getattr(self, "environment", None)
    if environment is not None:
        environment.join(timeout=60)
    self.wait()
    state, problems = self.hidden_state()
    run.set_tags({"mlnb.hidden_state": state, "mlnb.hidden_state.details": "\n".join(problems[:20])})
    snapshot = notebook_snapshot(self.history_cells())
    run.log_artifact(snapshot, name="notebook.ipynb")
    run.end(status)
    return run


def hidden_state(self: Any) -> tuple[str, list[str]]:
    """The verdict for what has run so far."""
    from mlnb import runinfo

    return verdict(self.history, self.cell_code, notebook_positions(runinfo.notebook_path()))


def status_text(self: Any) -> str:
    """What `%track status` prints."""
    if self.run is None:
        return "mlnb: no run open; start one with %track start"
    state, problems = self.hidden_state()
    lines = [f"run {self.run.id[:8]} ({self.run.status}) in experiment {self.run.experiment!r}",
             f"cells captured: {self.cells_captured}{' (paused)' if self.paused else ''}",
             f"datasets seen: {len(self.datasets_seen)}", f"hidden state: {state}"]
    lines += [f"  - {p}" for p in problems[:10]]
    return "\n".join(lines)


def require_run(self: Any) -> Any:
    """The open run, or a clear error."""
    if self.run is None or self.run.status != "running":
        raise NoActiveRunError("no tracked run; start one with %track start")
    return self.run


def track_data(self: Any, name: str, value: Any) -> Any:
    """Fingerprint a variable now and record it as a dataset of the run."""
    from mlnb.capture.records import emit_dataset

    fp = self._fingerprint_known(name, value, force=True)
    if fp is not None and self.run is not None and self.run.status == "running":
        emit_dataset(self.run, name, fp)
    return fp


def _learn_earlier_secrets(shell: Any) -> None:
    """Secrets defined before the run started (`API_KEY = "..."` run before `%track start`, or a
    key read into a variable): their values are masked when a tracked cell prints them."""
    from mlnb.redact import is_sensitive_name, learn_secrets, secrets_in_code

    ns = shell.user_ns
    history = ns.get("In") or []
    learn_secrets(secrets_in_code("\n".join(code for code in history if isinstance(code, str))))
    learn_secrets(value for name, value in list(ns.items())
                  if isinstance(value, (str, int)) and not name.startswith("_") and is_sensitive_name(name))


def _record_environment_safely(self: Any, record_environment: Any) -> None:
    try:
        record_environment(self.run, kernel=_kernel_name(self.shell))
    except Exception as exc:  # the run goes on without it
        self._warn(exc)


def _kernel_name(shell: Any) -> str:
    """Which kernel runs the notebook: `MLNB_KERNEL` if set, else the kernel class and interpreter."""
    named = os.environ.get("MLNB_KERNEL")
    if named:
        return named
    kernel = getattr(shell, "kernel", None)
    implementation = type(kernel).__module__.split(".")[0] if kernel is not None else "IPython"
    return f"{implementation} on {platform.python_implementation()} {platform.python_version()} ({sys.executable})"
