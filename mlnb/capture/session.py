"""Automatic cell records: the IPython `pre_run_cell` / `post_run_cell` hooks.

On the cell's path we only take what cannot wait (timings, which names were rebound, data
fingerprints of objects the cell touched, small values); building and writing the record
happens on a background thread. Every hook is guarded: a failure inside capture is shown
once as a short warning and never touches the user's cell.

`CaptureSession` is the hooks plus the collaborators it owns: the run's lifecycle
(`lifecycle.py`), the history of captured cells (`history.py`), papermill's parameters
(`parameters.py`) and the queue that turns records into events off the cell's path
(`record_queue.py`, `records.py`).
"""
from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from mlnb.capture.analysis import CellNames, analyse, analyse_tree
from mlnb.capture.history import CellHistory
from mlnb.capture.lifecycle import RunLifecycle
from mlnb.capture.limits import MAX_STREAM_CHARS, MAX_VALUE_CHARS
from mlnb.capture.parameters import PapermillParams, python_source
from mlnb.capture.record_queue import RecordQueue

DATA_TYPES = frozenset({"DataFrame", "Series", "ndarray", "Table", "RecordBatch", "Index"})
_UNPARSED = CellNames(frozenset(), frozenset(), parsed=False)


def is_data(obj: Any) -> bool:
    """True for pandas / numpy / pyarrow containers that get a data fingerprint."""
    kind = type(obj)
    return kind.__name__ in DATA_TYPES and kind.__module__.partition(".")[0] in ("pandas", "numpy", "pyarrow")


class _Tee:
    """Writes through to the real stream and keeps a capped copy."""

    def __init__(self, target: Any, cap: int) -> None:
        self.target, self.cap, self.parts, self.size = target, cap, [], 0

    def write(self, text: str) -> int:
        if self.size < self.cap:
            self.parts.append(text[: self.cap - self.size])
            self.size += len(self.parts[-1])
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _Pending:
    """What the pre hook saw of a cell."""

    raw: str
    names: CellNames
    cell_id: str | None
    started: float
    perf: float
    ids_before: dict[str, int]
    stdout: _Tee | None = None
    stderr: _Tee | None = None
    displays: list[dict[str, Any]] = field(default_factory=list)
    wrapper: bool = False  # a %%track cell whose body was recorded by the nested run_cell
    extra_reads: set[str] = field(default_factory=set)  # names read by magics (%track params x)
    analysed: bool = False


@dataclass
class _Known:
    """The last fingerprint taken of the object bound to a name."""

    obj_id: int
    fingerprint: Any


class CaptureSession:
    """Per-shell capture: the cell hooks, composed with the run's lifecycle, the history of
    captured cells and the queue that turns records into events. The run itself is an
    ordinary `mlnb.Run`."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._warned = False
        self.paused = False
        self.datasets_seen: set[str] = set()
        self.known: dict[str, _Known] = {}
        self.history = CellHistory()
        self.records = RecordQueue(self.warn)
        self.lifecycle = RunLifecycle(shell, self.history, flush=self.wait, warn=self.warn)
        self._stack: list[_Pending | None] = []
        self.next_step: str | None = None
        self.batch = False  # inside `mlnb run`: the run's lifetime belongs to the batch runner
        self.params = PapermillParams(shell)
        self.secrets_file: str | None = None  # `mlnb run`: where to leave the secrets this kernel knows
        self._shared: Any = None

    # -- the run (owned by the lifecycle) ------------------------------------------------------
    @property
    def run(self) -> Any:
        return self.lifecycle.run

    @run.setter
    def run(self, run: Any) -> None:
        self.lifecycle.run = run

    @property
    def pending_params(self) -> dict[str, Any]:
        """Papermill parameters seen so far (logged by the next run started)."""
        return self.params.pending

    @property
    def cells_captured(self) -> int:
        return self.history.cells_captured

    def start(self, experiment: str | None, name: str | None, tags: dict[str, str],
              run_id: str | None = None, parent: str | None = None) -> Any:
        """Open a run for this notebook (ending one still open); params set so far are logged."""
        return self.lifecycle.start(experiment, name, tags, run_id=run_id, parent=parent,
                                    params=self.params.all)

    def stop(self, status: str = "finished") -> Any:
        """End the run: wait for captured cells, store the snapshot and the hidden-state verdict."""
        return self.lifecycle.stop(status)

    def require_run(self) -> Any:
        """The open run, or a clear error."""
        return self.lifecycle.require_run()

    def hidden_state(self) -> tuple[str, list[str]]:
        """The verdict for what has run so far."""
        return self.lifecycle.hidden_state()

    def status_text(self) -> str:
        """What `%track status` prints."""
        if self.run is None:
            return "mlnb: no run open; start one with %track start"
        state, problems = self.hidden_state()
        lines = [f"run {self.run.id[:8]} ({self.run.status}) in experiment {self.run.experiment!r}",
                 f"cells captured: {self.cells_captured}{' (paused)' if self.paused else ''}",
                 f"datasets seen: {len(self.datasets_seen)}", f"hidden state: {state}"]
        lines += [f"  - {p}" for p in problems[:10]]
        return "\n".join(lines)

    def track_data(self, name: str, value: Any) -> Any:
        """Fingerprint a variable now and record it as a dataset of the run."""
        from mlnb.capture.records import emit_dataset

        fp = self._fingerprint_known(name, value, force=True)
        if fp is not None and self.lifecycle.running():
            emit_dataset(self.run, name, fp)
        return fp

    # -- hooks ---------------------------------------------------------------------------------
    def pre_run_cell(self, info: Any) -> None:
        try:
            self._pre(info)
        except Exception as exc:
            self.warn(exc)

    def post_run_cell(self, result: Any) -> None:
        try:
            self._post(result)
        except Exception as exc:
            self.warn(exc)
        finally:
            if not self._stack:  # whatever happened, the user's streams are theirs again
                while isinstance(sys.stdout, _Tee):
                    sys.stdout = sys.stdout.target
                while isinstance(sys.stderr, _Tee):
                    sys.stderr = sys.stderr.target

    def _active(self) -> bool:
        run = self.lifecycle.run  # read once: the hooks run on every cell
        return run is not None and run.status == "running" and not self.paused

    @property
    def _pending(self) -> _Pending | None:
        return self._stack[-1] if self._stack else None

    def _pre(self, info: Any) -> None:
        raw = getattr(info, "raw_cell", "") or ""
        self.params.see(raw)
        if not self._active():
            self._stack.append(None)
            return
        # the names are read from the tree IPython parses next (see `analyse_parsed_cell`)
        pending = _Pending(raw, _UNPARSED, getattr(info, "cell_id", None), time.time(), time.perf_counter(), {})
        pending.stdout, pending.stderr = _Tee(sys.stdout, MAX_STREAM_CHARS), _Tee(sys.stderr, MAX_STREAM_CHARS)
        sys.stdout, sys.stderr = pending.stdout, pending.stderr
        for outer in self._stack:  # a magic running cells (%%track): the inner run is the record
            if outer is not None:
                outer.wrapper = True
        self._stack.append(pending)

    def analyse_parsed_cell(self, tree: Any) -> None:
        """Called with the syntax tree IPython parsed for the cell, just before it runs (an AST
        transformer): reusing IPython's parse keeps a second parse off the cell's path."""
        pending = self._pending
        if pending is not None and not pending.analysed:
            self._analyse_before_run(pending, analyse_tree(tree))

    def _analyse_before_run(self, pending: _Pending, names: CellNames) -> None:
        """What the cell reads and binds, the ids bound before it runs, fingerprints of data it reads."""
        pending.names, pending.analysed = names, True
        ns = self.shell.user_ns
        pending.ids_before = {name: id(ns[name]) for name in names.reads | names.writes if name in ns}
        for name in names.reads:  # data this cell may mutate in place: know its state before
            if name in ns and is_data(ns[name]):
                self._fingerprint_known(name, ns[name])

    def _post(self, result: Any) -> None:
        values = self.params.take()
        if values and self.lifecycle.running():
            self.run.log_params(values)
        if not self._stack:  # the cell that ran %load_ext has no pre event
            return
        pending = self._stack.pop()
        if pending is None:
            return
        if not pending.analysed and pending.raw.strip():  # IPython did not hand us its tree
            self._analyse_before_run(pending, analyse(python_source(self.shell, pending.raw)))
        sys.stdout, sys.stderr = pending.stdout.target, pending.stderr.target
        duration = time.perf_counter() - pending.perf
        run = self.lifecycle.run
        if pending.wrapper or run is None or run.status != "running":
            return
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        ns = self.shell.user_ns
        variables, inputs, outputs = [], [], []
        for name in sorted(pending.names.reads):
            if name in ns and is_data(ns[name]) and name in self.known:
                before = self.known[name].fingerprint
                if before is not None:
                    inputs.append((name, before))
        for name in sorted(pending.names.writes | pending.names.reads):
            if name not in ns:
                continue
            obj = ns[name]
            # an assignment at top level binds the name even when the object is the same (small ints)
            rebound = name in pending.names.writes
            mutated = False
            if is_data(obj) and (rebound or name in pending.names.reads):
                previous = self.known.get(name)
                fp = self._fingerprint_known(name, obj, force=True)
                mutated = not rebound and previous is not None and fp is not None and \
                    previous.fingerprint is not None and previous.fingerprint.hash != fp.hash
                if (rebound or mutated) and fp is not None:
                    outputs.append((name, fp))
            if rebound or mutated:
                variables.append(_describe(name, obj, self.known.get(name), mutated))
        record = {
            "seq": self.history.next_seq(), "execution_count": getattr(result, "execution_count", None),
            "cell_id": pending.cell_id, "raw": pending.raw, "started": pending.started,
            "duration": duration, "status": "error" if error is not None else "ok",
            "error": _error_details(error) if error is not None else None,
            "stdout": pending.stdout.text(), "stderr": pending.stderr.text(),
            "result": _result_bundle(self.shell, getattr(result, "result", None)),
            "displays": pending.displays, "variables": variables,
            "reads": sorted({n for n in pending.names.reads if n in pending.ids_before} | pending.extra_reads),
            "inputs": inputs, "outputs": outputs, "metrics": sorted(run.take_logged_metric_keys()),
            "step": self.next_step,
        }
        self.next_step = None
        self.history.note(record, pending.raw, pending.cell_id)
        self.records.submit(run, record)

    # -- helpers -------------------------------------------------------------------------------
    def add_reads(self, names: list[str]) -> None:
        """Names a magic read on the cell's behalf (so lineage sees `%track metrics acc`)."""
        pending = self._pending
        if pending is not None:
            pending.extra_reads.update(names)

    def _fingerprint_known(self, name: str, obj: Any, force: bool = False) -> Any:
        known = self.known.get(name)
        if known is not None and known.obj_id == id(obj) and not force:
            return known.fingerprint
        from mlnb.fingerprint import fingerprint_cached

        fp = fingerprint_cached(obj)
        self.known[name] = _Known(id(obj), fp)
        if fp is not None:
            self.datasets_seen.add(fp.hash)
        return fp

    def wait(self) -> None:
        """Hand every captured cell to the event writer before returning."""
        self.records.flush()
        if self.secrets_file is not None:
            self._share_secrets()

    def _share_secrets(self) -> None:
        """Tell `mlnb run` every secret this kernel knows, so its copy of the executed notebook
        is redacted with them too (values set by `load_dotenv()` or learned from the code)."""
        from mlnb.redact import known_secrets

        secrets = known_secrets()
        if secrets is not self._shared:
            from mlnb.capture.redaction import share_secrets

            share_secrets(self.secrets_file)
            self._shared = secrets

    def drain_now(self) -> None:
        """At interpreter exit: stop the worker, then emit whatever is still waiting (the run's
        environment too: its thread may still be reading package metadata when a short script
        ends, and what it logs after the writers' final flush would be lost)."""
        self.lifecycle.wait_for_environment()
        self.records.stop()
        self.wait()

    def warn(self, exc: BaseException) -> None:
        """Report a capture problem once; the user's cell is never affected."""
        if not self._warned:
            self._warned = True
            print(f"mlnb: capture problem ({type(exc).__name__}: {exc}); your cell is unaffected, "
                  "capture goes on", file=sys.stderr)


def _describe(name: str, obj: Any, known: _Known | None, mutated: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name, "type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple):
        item["shape"] = list(shape)
    if known is not None and known.fingerprint is not None and is_data(obj):
        item["fingerprint"] = known.fingerprint.hash
        item["mutated"] = mutated
    elif isinstance(obj, (bool, int, float, complex)) or obj is None:
        item["value"] = repr(obj)
    elif isinstance(obj, str) and len(obj) <= MAX_VALUE_CHARS:
        item["value"] = obj
    return item


def _error_details(error: BaseException) -> dict[str, Any]:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    # capped when the record is built, on the capture thread (see records.ERROR_CAPS)
    return {"type": type(error).__name__, "message": str(error)[:MAX_STREAM_CHARS],
            "traceback": "".join(lines[-6:])[:MAX_STREAM_CHARS]}


def _result_bundle(shell: Any, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        data, _ = shell.display_formatter.format(value)
    except Exception:
        return None
    return data
