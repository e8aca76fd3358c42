"""Code that runs inside the kernel of a batch execution (called from the injected setup cell)."""
from __future__ import annotations

import os
from typing import Any


def setup(run_id: str, experiment: str | None, name: str | None, parent: str | None, notebook: str,
          secrets_file: str | None = None) -> None:
    """Load capture, and open the batch run under the id the caller allocated (and tell the
    session where to leave the secrets it learns, for the caller's redaction)."""
    from IPython import get_ipython

    from mlnb import capture

    shell = get_ipython()
    os.environ["MLNB_NOTEBOOK"] = notebook  # snapshot + hidden-state check read the source notebook
    os.environ["MLNB_BATCH"] = "1"  # a run still open when this kernel exits did not complete
    capture.load_ipython_extension(shell)
    session = capture.session_for(shell)
    session.secrets_file = secrets_file
    session.start(experiment=experiment, name=name, tags={"mlnb.kind": "batch"}, run_id=run_id, parent=parent)
    session.batch = True  # the notebook's own %track start/stop must not end this run


def teardown() -> None:
    """End the batch run normally (only reached when every cell succeeded)."""
    from IPython import get_ipython

    from mlnb import capture

    session = capture.session_for(get_ipython())
    if session is not None and session.run is not None and session.run.status == "running":
        session.batch = False
        session.stop("finished")


def setup_source(**values: Any) -> str:
    """The source of the hidden first cell."""
    args = ", ".join(f"{key}={value!r}" for key, value in values.items())
    return f"import mlnb.batch.kernel as _mlnb_batch\n_mlnb_batch.setup({args})"


TEARDOWN_SOURCE = "import mlnb.batch.kernel as _mlnb_batch\n_mlnb_batch.teardown()"
