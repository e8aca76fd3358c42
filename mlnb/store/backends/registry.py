"""Which backend opens a store URL: chosen by the URL's scheme.

Plain paths and `file://` URLs open the local backend. Other schemes come from `register()`
(tests, applications) or from installed packages through the entry-point group `mlnb.backends`,
as papermill finds its engines: the entry point's name is the scheme and its value a factory
`(url, create) -> Backend`, e.g. in a plugin's pyproject.toml:

    [project.entry-points."mlnb.backends"]
    s3 = "mlnb_team.backend:open_s3"

Entry points are read only when a URL names a scheme not registered yet, so opening a local
store never scans installed packages. A scheme nobody provides is a `BackendNotFoundError` (one
line naming what to install), never a local folder named after the URL.
"""
from __future__ import annotations

import os
import re
import threading

from mlnb.errors import BackendNotFoundError, MlnbError
from mlnb.store.backends.base import Backend, BackendFactory

ENTRY_POINT_GROUP = "mlnb.backends"
# `scheme://...`; a single letter is a Windows drive (`C://x` is not a URL anyone means).
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)://")
_MANGLED = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):/([^/].*)$")

_factories: dict[str, BackendFactory] = {}
_lock = threading.Lock()
_entry_points_read = False


def scheme_of(target: str | os.PathLike[str] | None) -> str | None:
    """The URL scheme of `target` in lower case, or None for a plain path (or None)."""
    if not isinstance(target, str):
        return None
    match = _URL.match(target)
    return match.group(1).lower() if match else None


def register(scheme: str, factory: BackendFactory) -> None:
    """Open URLs `scheme://...` with `factory(url, create)` (replacing any earlier one)."""
    with _lock:
        _factories[scheme.lower()] = factory


def unregister(scheme: str) -> None:
    """Forget the backend of `scheme` (no error if there is none); `file` cannot be removed."""
    if scheme.lower() != "file":
        with _lock:
            _factories.pop(scheme.lower(), None)


def schemes() -> list[str]:
    """Every scheme a backend is available for: registered ones and installed entry points."""
    _read_entry_points()
    with _lock:
        return sorted(_factories)


def factory_for(scheme: str) -> BackendFactory:
    """The factory of `scheme`; BackendNotFoundError if no installed backend provides it."""
    scheme = scheme.lower()
    found = _factories.get(scheme)
    if found is None:
        _read_entry_points()
        found = _factories.get(scheme)
    if found is None:
        raise BackendNotFoundError(scheme)
    return found


def open_backend(target: str | os.PathLike[str] | None = None, create: bool = False) -> Backend:
    """The backend of the store at `target`: a URL, a path, or None for $MLNB_HOME / the cwd's store."""
    from mlnb.store.location import ENV_HOME

    if target is None and scheme_of(os.environ.get(ENV_HOME)):
        target = os.environ[ENV_HOME]  # MLNB_HOME may name a store URL too
    scheme = scheme_of(target)
    if scheme is None and target is not None and not isinstance(target, str):
        mangled = _MANGLED.match(os.fspath(target))
        if mangled:  # Path("s3://b/x") is "s3:/b/x": refuse it rather than make a folder named "s3:"
            raise MlnbError(f"{os.fspath(target)!r} looks like a store URL that went through Path(); "
                            f"pass it as text: '{mangled.group(1)}://{mangled.group(2)}'")
    if scheme is None:  # a plain path, or None: the local backend finds the folder
        from mlnb.store.backends.local import open_local

        return open_local(None if target is None else os.fspath(target), create)
    return factory_for(scheme)(str(target), create)


def _read_entry_points() -> None:
    """Register every installed `mlnb.backends` entry point not registered yet (once per process)."""
    global _entry_points_read
    if _entry_points_read:
        return
    from importlib.metadata import entry_points

    found = entry_points(group=ENTRY_POINT_GROUP)
    with _lock:
        for point in found:
            if point.name.lower() not in _factories:
                _factories[point.name.lower()] = _lazy(point)
        _entry_points_read = True


def _lazy(point: object) -> BackendFactory:
    """A factory that imports the entry point's module on first use (not at lookup)."""
    def open_with(url: str, create: bool) -> Backend:
        try:
            factory: BackendFactory = point.load()  # type: ignore[attr-defined]
        except ImportError as exc:  # the plugin is installed but broken (a dependency missing)
            raise MlnbError(f"the backend for '{point.name}://' cannot be loaded ({exc}); "  # type: ignore[attr-defined]
                            "reinstall the package that provides it") from None
        return factory(url, create)
    return open_with


def _open_file_url(url: str, create: bool) -> Backend:
    from mlnb.store.backends.local import open_local

    return open_local(url, create)


register("file", _open_file_url)

__all__ = ["ENTRY_POINT_GROUP", "factory_for", "open_backend", "register", "scheme_of", "schemes",
           "unregister"]
