"""One tracked papermill execution: `mlnb run NB.ipynb -p lr=0.1`.

The executed copy gets a hidden first cell that loads capture and opens the run (under an id
allocated here, so the caller can link it as a child), and a last cell that ends it; both are
removed from the output notebook. Every cell is captured as in interactive use.

The parameters reach the kernel as given; what reaches the store is redacted: the executed
notebook is kept there only after redaction (papermill's cell-by-cell saves go to a private
folder outside the store), with the secrets the kernel learned while running it.
"""
from __future__ import annotations

import random
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnb.batch.kernel import TEARDOWN_SOURCE, setup_source
from mlnb.capture.redaction import read_shared_secrets, redact_notebook
from mlnb.errors import MlnbError
from mlnb.project import ProjectLike, resolve
from mlnb.redact import learn_secrets, secret_values

BATCH_TAG = "mlnb-batch"
START_RETRIES = 3
# Kernel start-up races when many start at once (ports taken between pick and bind).
_STARTUP_ERRORS = ("Address already in use", "Kernel died before replying", "Kernel didn't respond")


@dataclass
class BatchResult:
    """What one execution produced."""

    run_id: str
    status: str
    notebook: str
    output: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "finished"


def run(notebook: str | Path, parameters: dict[str, Any] | None = None, experiment: str | None = None,
        output: str | Path | None = None, name: str | None = None, parent: str | None = None,
        kernel_name: str | None = None, timeout: float | None = None, cwd: str | Path | None = None,
        run_id: str | None = None, project: ProjectLike = None) -> BatchResult:
    """Execute `notebook` with papermill as a tracked run in `project` (default: the current one);
    never raises for a failing cell."""
    import nbformat

    chosen = resolve(project, create=True)
    store = chosen.store
    source = Path(notebook).resolve()
    if not source.is_file():
        raise MlnbError(f"no notebook at {notebook}; give the path of an .ipynb file")
    try:
        nb = nbformat.read(source, as_version=4)
    except Exception as exc:
        raise MlnbError(f"{source.name} is not a readable notebook: {str(exc).splitlines()[0]}") from None
    run_id = run_id or uuid.uuid4().hex
    parameters = dict(parameters or {})
    target = Path(output) if output else store.root / "batch" / run_id / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    # papermill saves the notebook after every cell, unredacted: inside the store it works on a
    # private copy elsewhere, and only the redacted notebook is written to the store
    work = Path(tempfile.mkdtemp(prefix="mlnb-run-"))
    secrets_file = str(work / "secrets.json")
    executing = work / source.name if _inside(target, store.root) else target
    nb.cells.insert(0, _hidden_cell(setup_source(
        run_id=run_id, experiment=experiment, name=name or source.stem, parent=parent, notebook=str(source),
        secrets_file=secrets_file)))
    nb.cells.insert(0, _hidden_cell(f"import mlnb as _mlnb\n_mlnb.connect({chosen.url!r})"))
    nb.cells.append(_hidden_cell(TEARDOWN_SOURCE))
    started = time.perf_counter()
    try:
        error = _execute(nb, executing, parameters, kernel_name, timeout, Path(cwd) if cwd else source.parent)
        seconds = time.perf_counter() - started
        executed = _strip_hidden(executing)
        # what the kernel learned (values from load_dotenv(), sensitive variables) and the
        # values given to sensitive parameter names are masked in what this process stores
        learn_secrets(read_shared_secrets(secrets_file))
        learn_secrets(secret_values(parameters))
        redacted = redact_notebook(executed) if executed is not None else None
        if redacted is not None and executing != target:
            target.write_bytes(redacted)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    status = "finished" if error is None else "failed"
    _record(store, run_id, redacted, parameters, error, status)
    return BatchResult(run_id, status, str(source), str(target) if target.exists() else None, parameters, error,
                       seconds)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(Path(folder).resolve())


def _hidden_cell(source: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [BATCH_TAG]
    return cell


def _execute(nb: Any, target: Path, parameters: dict[str, Any], kernel_name: str | None, timeout: float | None,
             cwd: Path) -> str | None:
    """Run papermill (retrying kernel start-up collisions); returns a one-line error or None."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    for attempt in range(START_RETRIES):
        try:
            papermill.execute_notebook(
                nb, str(target), parameters=parameters, kernel_name=kernel_name or nb.metadata.get(
                    "kernelspec", {}).get("name", "python3"), progress_bar=False, cwd=str(cwd),
                execution_timeout=timeout, store_widget_state=False)
            return None
        except PapermillExecutionError as exc:
            index = exc.cell_index - 2  # our two hidden cells come first
            return f"cell {index} (execution {exc.exec_count}) raised {exc.ename}: {exc.evalue}"[:1000]
        except Exception as exc:  # kernel start-up and infrastructure problems
            text = str(exc)
            if attempt + 1 < START_RETRIES and any(marker in text for marker in _STARTUP_ERRORS):
                time.sleep(0.5 + random.random())
                continue
            return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:1000]
    return "kernel did not start"


def _strip_hidden(target: Path) -> Any:
    """Remove the hidden cells from the output notebook (the user's notebook stays as it was)."""
    import nbformat

    if not target.exists():
        return None
    nb = nbformat.read(target, as_version=4)
    nb.cells = [c for c in nb.cells if BATCH_TAG not in c.metadata.get("tags", [])]
    nbformat.write(nb, target)
    return nb


def _record(store: Any, run_id: str, executed: bytes | None, parameters: dict[str, Any], error: str | None,
            status: str) -> None:
    """Params, the (redacted) executed notebook and the outcome, written by the runner itself."""
    from mlnb.tracking import Run

    run = Run(store, run_id, "", None, None)  # a handle on the run the kernel opened
    if parameters:
        run.log_params(parameters)
    if executed is not None:
        run.log_artifact(executed, name="executed.ipynb")
    if error is not None:
        run.set_tags({"mlnb.error": error})
        run.end("failed")  # the kernel could not end it: it stopped at the failing cell
    else:
        run.store.writer.flush(sync=True)
