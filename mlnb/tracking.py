"""The tracking API: runs, params, metrics, tags and artifacts.

State lives in explicit `Run` objects; the active run is a context variable, so threads
never see each other's runs. Logging only queues events (see `store.events`); nothing
here waits on the disk except `Run.end()`, which makes the run durable.
"""
from __future__ import annotations

import contextvars
import math
import mimetypes
import numbers
import os
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlnb import runinfo, shutdown
from mlnb.errors import InvalidValueError, NoActiveRunError
from mlnb.events import event, metrics_event
from mlnb.project import Project, ProjectLike, resolve
from mlnb.store.events import clean_text
from mlnb.store.store import Store

MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
_INT64 = (-(2**63), 2**63 - 1)
RUN_STATUSES = ("running", "finished", "failed", "crashed", "killed")

_active_run: contextvars.ContextVar["Run | None"] = contextvars.ContextVar("mlnb_active_run", default=None)
_open_runs: "weakref.WeakSet[Run]" = weakref.WeakSet()
_uncaught: list[BaseException] = []


class Run:
    """One tracked execution. Use as a context manager, or call `end()` yourself."""

    def __init__(self, store: Store | Project, run_id: str, experiment: str, name: str | None,
                 parent_id: str | None) -> None:
        self.store = store.store if isinstance(store, Project) else store
        self.id = run_id
        self.experiment = experiment
        self.name = name
        self.parent_id = parent_id
        self.status = "running"
        self._steps: dict[str, int] = {}
        self._previous: Run | None = None
        self._lock = threading.Lock()
        self._logged_keys: set[str] = set()

    @property
    def project(self) -> Project:
        """The project this run logs to."""
        return Project.of(self.store)

    def __repr__(self) -> str:
        return f"<mlnb.Run {self.id[:8]} {self.experiment}/{self.name or '-'} {self.status}>"

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.end("finished")
        else:
            self.end("killed" if issubclass(exc_type, KeyboardInterrupt) else "failed")

    def log_params(self, params: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Record params (last value wins when a key is logged again)."""
        values = {**(params or {}), **more}
        items = []
        for key, value in values.items():
            key = _check_key(key, "param")
            text = _param_text(key, value)
            safe = _redacted(text, key)
            items.append({"k": key, "v": safe, "n": _param_number(value, text) if safe == text else None})
        self._emit(event("params", run=self.id, p=items))

    def log_param(self, key: str, value: Any) -> None:
        """Record one param."""
        self.log_params({key: value})

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values at `step` (default: one past the last step logged for each key)."""
        now = time.time()
        points = []
        with self._lock:
            for key, value in metrics.items():
                key = _check_key(key, "metric")
                number = _metric_value(key, value)
                at = self._steps.get(key, 0) if step is None else _check_step(step)
                self._steps[key] = max(self._steps.get(key, 0), at + 1)
                self._logged_keys.add(key)
                if math.isfinite(number):
                    points.append({"k": key, "v": number, "s": at})
                else:  # JSON has no NaN/inf literal
                    points.append({"k": key, "v": None, "x": str(number), "s": at})
        self._emit(metrics_event(self.id, points, now))

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Record one metric value."""
        self.log_metrics({key: value}, step=step)

    def take_logged_metric_keys(self) -> set[str]:
        """Metric keys logged since the last call (notebook capture links them to the cell)."""
        with self._lock:
            keys, self._logged_keys = self._logged_keys, set()
        return keys

    def set_tags(self, tags: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Attach free-form labels (values stored as text)."""
        items = []
        for key, value in {**(tags or {}), **more}.items():
            key = _check_key(key, "tag")
            items.append({"k": key, "v": _redacted(clean_text(str(value)), key)})
        self._emit(event("tags", run=self.id, tags=items))

    def set_tag(self, key: str, value: Any) -> None:
        """Attach one tag."""
        self.set_tags({key: value})

    def log_artifact(self, obj: Any, name: str | None = None) -> list[dict[str, Any]]:
        """Store a file, a folder, bytes, or a matplotlib/plotly figure; returns what was stored."""
        records = []
        name = _text_arg(name, "artifact name")
        for path, digest, size, media in _store_artifact(self.store, obj, name):
            path = clean_text(path)
            self._emit(event("artifact", run=self.id, path=path, hash=digest, size=size, media=media,
                             t=time.time()))
            records.append({"path": path, "hash": digest, "size": size, "media_type": media})
        return records

    def end(self, status: str = "finished") -> None:
        """Mark the run ended and make everything it logged durable (idempotent)."""
        if status not in RUN_STATUSES or status == "running":
            raise InvalidValueError(f"unknown run status {status!r}; use one of finished, failed, killed")
        with self._lock:
            if self.status != "running":
                return
            self.status = status
        self.store.writer.emit(event("run_end", run=self.id, status=status, t=time.time()))
        self.store.writer.flush(sync=True)
        _open_runs.discard(self)
        if _active_run.get() is self:
            _active_run.set(self._previous if self._previous and self._previous.status == "running" else None)

    def _emit(self, ev: dict[str, Any]) -> None:
        if self.status != "running":
            raise InvalidValueError(f"run {self.id[:8]} has ended ({self.status}); start a new run to log more")
        self.store.writer.emit(ev)


def start_run(experiment: str | None = None, name: str | None = None,
              params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
              parent: "Run | str | None" = None, run_id: str | None = None, project: ProjectLike = None) -> Run:
    """Start a run and make it the active one. Inside another active run it becomes its child.

    `with mlnb.start_run(...) as run:` ends it as `finished`, or `failed` on an exception.
    `run_id` is for callers that allocated the id beforehand (batch runs); normally leave it out.
    `project` is where the run is logged (a Project, a path or URL; default: the current project).
    `experiment` and `name` are text: a number or a path is stored as its text (`str`/`os.fspath`),
    anything else raises InvalidValueError. Lone surrogates in any text (undecodable file names)
    are stored escaped (`\\xff`), see `mlnb.store.events.clean_text`.
    """
    experiment = _text_arg(experiment, "experiment")
    name = _text_arg(name, "run name")
    if parent is not None and not isinstance(parent, (Run, str)):
        raise InvalidValueError(f"parent must be a Run or a run id, got {type(parent).__name__}")
    store = resolve(project, create=True).store
    previous = _active_run.get()
    if parent is None and previous is not None and previous.status == "running" and previous.store is store:
        parent = previous  # a run of another project is never the parent
    parent_id = parent.id if isinstance(parent, Run) else _text_arg(parent, "parent")
    experiment = experiment or (parent.experiment if isinstance(parent, Run) else None) \
        or os.environ.get("MLNB_EXPERIMENT") or "Default"
    if run_id is not None and (not isinstance(run_id, str) or len(run_id) != 32
                               or any(c not in "0123456789abcdef" for c in run_id)):
        raise InvalidValueError(f"run_id must be 32 lowercase hex characters, got {run_id!r}")
    run = Run(store, run_id or uuid.uuid4().hex, experiment, name, parent_id)
    pid = os.getpid()
    store.writer.emit(event(
        "run_start", run=run.id, exp=experiment, name=name, parent=parent_id,
        t=time.time(), user=runinfo.user_name(), host=runinfo.host_name(), pid=pid,
        pid_start=runinfo.process_start_time(pid), nb=runinfo.notebook_path(),
        git=runinfo.git_commit(),
    ))
    if params:
        run.log_params(params)
    if tags:
        run.set_tags(tags)
    run._previous = previous
    _active_run.set(run)
    _open_runs.add(run)
    _install_exit_hooks()
    return run


def active_run(project: ProjectLike = None) -> Run | None:
    """The active run in this thread/context, if any; with `project`, the innermost one logging there."""
    run = _active_run.get()
    if project is None:
        return run if run is not None and run.status == "running" else None
    store = resolve(project).store
    while run is not None and run.status == "running":
        if run.store is store:
            return run
        run = run._previous
    return None


def _require_run(project: ProjectLike = None) -> Run:
    run = active_run(project)
    if run is None:
        where = "" if project is None else f" in {resolve(project).url}"
        raise NoActiveRunError(f"no active run{where}; start one with `with mlnb.start_run():` (or `%track start`)")
    return run


def log_params(params: Mapping[str, Any] | None = None, project: ProjectLike = None, **more: Any) -> None:
    """Record params on the active run (of `project`, when given)."""
    _require_run(project).log_params(params, **more)


def log_param(key: str, value: Any, project: ProjectLike = None) -> None:
    """Record one param on the active run (of `project`, when given)."""
    _require_run(project).log_param(key, value)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None, project: ProjectLike = None) -> None:
    """Record metrics on the active run (of `project`, when given)."""
    _require_run(project).log_metrics(metrics, step=step)


def log_metric(key: str, value: Any, step: int | None = None, project: ProjectLike = None) -> None:
    """Record one metric on the active run (of `project`, when given)."""
    _require_run(project).log_metric(key, value, step=step)


def set_tags(tags: Mapping[str, Any] | None = None, project: ProjectLike = None, **more: Any) -> None:
    """Tag the active run (of `project`, when given)."""
    _require_run(project).set_tags(tags, **more)


def set_tag(key: str, value: Any, project: ProjectLike = None) -> None:
    """Tag the active run (of `project`, when given) with one key."""
    _require_run(project).set_tag(key, value)


def log_artifact(obj: Any, name: str | None = None, project: ProjectLike = None) -> list[dict[str, Any]]:
    """Store an artifact on the active run (of `project`, when given)."""
    return _require_run(project).log_artifact(obj, name)


def end_run(status: str = "finished", project: ProjectLike = None) -> None:
    """End the active run (of `project`, when given)."""
    _require_run(project).end(status)


def _check_key(key: Any, kind: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidValueError(f"{kind} names must be non-empty strings, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidValueError(f"{kind} name {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
    return clean_text(key)


def _text_arg(value: Any, what: str) -> str | None:
    """A name-like argument as text: str as is, a path via os.fspath, a number via str; else an error."""
    if value is None or isinstance(value, str):
        return clean_text(value) if value is not None else None
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        return clean_text(os.fsdecode(path) if isinstance(path, bytes) else path)
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return str(value)
    raise InvalidValueError(f"{what} must be text, got {type(value).__name__} {str(value)[:40]!r}; pass a str")


def _environment_secrets() -> frozenset[str]:
    """The secrets known now (re-read when the environment changes, plus learned values)."""
    from mlnb.redact import known_secrets

    return known_secrets()


def _redacted(text: str, key: str) -> str:
    """Params and tags never carry secrets: sensitive names, token formats, env values -> ***."""
    from mlnb.redact import redact_value

    return redact_value(text, name=key, extra_values=_environment_secrets())


def _param_text(key: str, value: Any) -> str:
    """A param as stored: its text (str for strings, repr for everything else)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalar -> Python scalar
    text = clean_text(value if isinstance(value, str) else repr(value))
    if len(text) > MAX_PARAM_LENGTH:
        raise InvalidValueError(
            f"param {key!r} is {len(text)} characters long (limit {MAX_PARAM_LENGTH}); log it as an artifact instead"
        )
    return text


def _param_number(value: Any, text: str) -> float | None:
    """The numeric reading of a param, for numeric filters (bools count as 1/0; None if not a number)."""
    if isinstance(value, (bool, int, float)) or hasattr(value, "__float__") and not isinstance(value, str):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    else:
        try:
            number = float(text)
        except (ValueError, OverflowError):
            return None
    return number if math.isfinite(number) else None


def _metric_value(key: str, value: Any) -> float:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise InvalidValueError(
            f"metric {key!r} must be a number, got {type(value).__name__}; log text as a tag or param"
        )
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidValueError(f"metric {key!r} must be a number that fits a float: {exc}") from None


def _check_step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int) and not hasattr(step, "__index__"):
        raise InvalidValueError(f"step must be an integer, got {step!r}")
    if not _INT64[0] <= int(step) <= _INT64[1]:
        raise InvalidValueError(f"step {step} does not fit in 64 bits; use a smaller step number")
    return int(step)


def _store_artifact(store: Store, obj: Any, name: str | None) -> list[tuple[str, str, int, str]]:
    """Put `obj` into the blob store; returns (artifact path, hash, size, media type) per file."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        if not name:
            raise InvalidValueError("give bytes a name: log_artifact(data, name='model.bin')")
        digest, size = store.blobs.put_bytes(bytes(obj))
        return [(name, digest, size, _media(name))]
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if path.is_file():
            digest, size = store.blobs.put_file(path)
            label = name or path.name
            return [(label, digest, size, _media(label))]
        if path.is_dir():
            prefix = name or path.name
            out = []
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                label = f"{prefix}/{file.relative_to(path).as_posix()}"
                digest, size = store.blobs.put_file(file)
                out.append((label, digest, size, _media(label)))
            return out
        raise InvalidValueError(f"no file or folder at {str(obj)[:200]!r}; to store text pass bytes: text.encode()")
    if hasattr(obj, "savefig"):  # matplotlib figure
        import io

        buffer = io.BytesIO()
        obj.savefig(buffer, format="png", bbox_inches="tight")
        label = name or "figure.png"
        digest, size = store.blobs.put_bytes(buffer.getvalue())
        return [(label, digest, size, "image/png")]
    if hasattr(obj, "to_plotly_json") and hasattr(obj, "to_json"):  # plotly figure
        label = name or "figure.plotly.json"
        digest, size = store.blobs.put_bytes(obj.to_json().encode())
        return [(label, digest, size, "application/vnd.plotly.v1+json")]
    raise InvalidValueError(
        f"cannot store a {type(obj).__name__} as an artifact; pass a path, bytes, or a matplotlib/plotly figure"
    )


def _media(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


_hooks_installed: list[bool] = []


def _install_exit_hooks() -> None:
    """Remember uncaught exceptions, so runs left open at exit end as `failed` (see `_end_open_runs`)."""
    if _hooks_installed:
        return
    _hooks_installed.append(True)
    previous_hook = sys.excepthook

    def remember(exc_type: Any, exc: BaseException, tb: Any) -> None:
        _uncaught.append(exc)
        previous_hook(exc_type, exc, tb)

    sys.excepthook = remember


def _end_open_runs() -> None:
    """The `runs` shutdown phase: end runs left open, before the writers' final flush.

    At exit: `failed` after an uncaught exception; a batch kernel that exits with its run open
    stopped before the last cell, so that is a failure too; otherwise `finished`. On
    `mlnb.close()` the process goes on, so its open runs are `finished`.
    """
    failed = shutdown.exiting() and (_uncaught or os.environ.get("MLNB_BATCH") == "1")
    status = "failed" if failed else "finished"
    for run in list(_open_runs):
        try:
            run.end(status)
        except Exception:  # noqa: BLE001 - the other runs still end
            pass


shutdown.register("runs", _end_open_runs)
