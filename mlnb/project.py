"""`Project`: one mlnb store and everything asked of it (tracking, queries, the registry).

`mlnb.connect(url)` opens a project and makes it current. The current project is a context
variable, so `with mlnb.connect(other):` (or `with project.use():`) scopes it to a block, a
thread or a task; outside any block the project last connected in this process is current, and
without one the store is found from the cwd (walking up like git finds `.git`).

Every public function of mlnb takes `project=`: a Project, a path or URL, or None for the
current one (`resolve`). Nothing outside this module reads or writes the current project.
"""
from __future__ import annotations

import contextvars
import functools
import importlib
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from mlnb.store.store import Store

ProjectLike = Union["Project", str, "os.PathLike[str]", None]

# The project of this context (a `with` block, a thread started inside one, an asyncio task).
_scoped: contextvars.ContextVar[Project | None] = contextvars.ContextVar("mlnb_project", default=None)
# What each `with project:` of this context has to undo on exit (a stack: blocks nest).
_entered: contextvars.ContextVar[tuple[tuple[Any, Any], ...]] = contextvars.ContextVar("mlnb_project_blocks",
                                                                                       default=())
# The project `connect()` chose for the whole process (new threads start with an empty context,
# so a context variable alone would lose it in worker threads).
_process_default: list[Project] = []
_connects = [0]  # how many connect() calls so far: tells `with mlnb.connect(b):` from a later `with b:`
_lock = threading.Lock()
_KEEP = object()  # a `with` block that leaves the process default alone


def _public_names() -> list[str]:
    # by name, like mlnb/__init__.py's lazy names: the package's API sits above this module
    return list(importlib.import_module("mlnb").__all__)


def _public_function(name: str) -> Callable[..., Any] | None:
    """The public function `mlnb.<name>` if it takes `project=`, else None."""
    if name.startswith("_") or name not in _public_names():
        return None
    value = getattr(importlib.import_module("mlnb"), name)
    if not callable(value) or isinstance(value, type):
        return None
    try:
        parameters = inspect.signature(value).parameters
    except (TypeError, ValueError):
        return None
    return value if "project" in parameters else None


class Project:
    """A project's store: its event log, blobs and index, and the API over them.

    Get one with `mlnb.connect(url)` or `Project.open(url)`; instances are shared per store.
    Pass it as `project=` to any public function of mlnb.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def open(cls, url: str | os.PathLike[str] | None = None, create: bool = False) -> Project:
        """The project at `url` (a folder, its `.mlnb`, or a backend URL), or found from the cwd."""
        from mlnb.store.store import Store

        store = Store.open(url, create=create)
        return cls.of(store)

    @classmethod
    def of(cls, store: Store) -> Project:
        """The project owning `store` (one Project per Store)."""
        with _lock:
            project = getattr(store, "_project", None)
            if project is None:
                project = cls(store)
                store._project = project  # type: ignore[attr-defined]
            return project

    @property
    def root(self) -> Any:
        """Where the store lives (a local path for the local backend)."""
        return self.store.root

    @property
    def url(self) -> str:
        """The store's location as text: what `connect()` and batch workers reopen it from."""
        return self.store.url

    def __repr__(self) -> str:
        return f"<mlnb.Project {self.url}>"

    def __getattr__(self, name: str) -> Any:
        """mlnb's public functions bound to this project: `project.runs(...)` is
        `mlnb.runs(..., project=project)`, `project.register_model(...)` registers here."""
        function = _public_function(name)
        if function is None:
            raise AttributeError(f"'Project' object has no attribute {name!r}")
        return functools.partial(function, project=self)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(n for n in _public_names() if _public_function(n) is not None)})

    def __fspath__(self) -> str:
        return self.url

    @contextmanager
    def use(self) -> Iterator[Project]:
        """Make this the current project inside the block (this context only)."""
        token = _scoped.set(self)
        try:
            yield self
        finally:
            _scoped.reset(token)

    def __enter__(self) -> Project:
        """`with project:` scopes it like `use()`; `with mlnb.connect(b):` also restores, on exit,
        the project connected before (the connect belongs to the block)."""
        undo: Any = _KEEP
        with _lock:
            pending = self.__dict__.pop("_connected_over", None)
            if pending is not None and pending[0] == _connects[0] and _process_default[:1] == [self]:
                undo = pending[1]
        token = _scoped.set(self)
        _entered.set((*_entered.get(), (token, undo)))
        return self

    def __exit__(self, *exc: object) -> None:
        blocks = _entered.get()
        token, undo = blocks[-1]
        _entered.set(blocks[:-1])
        _scoped.reset(token)
        if undo is not _KEEP:
            with _lock:
                if _process_default[:1] == [self]:  # unless another connect() came meanwhile
                    _process_default[:] = [] if undo is None else [undo]

    def close(self) -> None:
        """Flush this project's events and close its index connection (it stays usable)."""
        self.store.writer.flush(sync=True)
        self.store.close()

    def forget(self) -> None:
        """Stop sharing this project in this process: it is no longer the connected one, and the
        next open of its store builds fresh objects (tests and servers switching stores)."""
        from mlnb.store.store import Store

        with _lock:
            if _process_default[:1] == [self]:
                _process_default.clear()
        if _scoped.get() is self:
            _scoped.set(None)
        Store.forget(self.store)


def connect(url: ProjectLike = None, create: bool = True) -> Project:
    """Open the project at `url` (created if missing, unless `create=False`) and make it current
    for the process (worker threads included). `with mlnb.connect(url):` limits that to the block."""
    project = Project.open(None, create=create) if url is None else resolve(url, create=create)
    with _lock:
        _connects[0] += 1
        previous = _process_default[0] if _process_default else None
        _process_default[:] = [project]
        project._connected_over = (_connects[0], previous)  # type: ignore[attr-defined]
    return project


def current(create: bool = False) -> Project:
    """The current project: this context's, else the one `connect()` chose, else found from the cwd."""
    project = _scoped.get()
    if project is not None:
        return project
    if _process_default:
        return _process_default[0]
    return Project.open(None, create=create)


def check(project: Any) -> None:
    """Raise InvalidValueError unless `project` is something `project=` accepts (opens nothing)."""
    from mlnb.store.store import Store

    if project is None or isinstance(project, (Project, Store, str, os.PathLike)):
        return
    from mlnb.errors import InvalidValueError

    raise InvalidValueError(f"project= takes an mlnb.Project, a path or a URL (or None for the current "
                            f"project), got {type(project).__name__}")


def resolve(project: ProjectLike = None, create: bool = False) -> Project:
    """`project=` as every public function accepts it: a Project, a path/URL, or None (current)."""
    if project is None:
        return current(create=create)
    if isinstance(project, Project):
        return project
    check(project)
    from mlnb.store.store import Store

    if isinstance(project, Store):  # internal callers holding a Store
        return Project.of(project)
    return Project.open(project, create=create)


def forget_current() -> None:
    """Forget the project `connect()` chose (tests and long-lived servers switching stores)."""
    with _lock:
        _process_default.clear()
    _scoped.set(None)
