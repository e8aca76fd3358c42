"""Every error mlnb raises on purpose. Messages are one line that says what to do.

Errors that callers may want to act on carry fields (`NotFoundError.kind`, `IntegrityError.digest`,
`MissingDependencyError.extra`, ...) besides their message. `HTTP_STATUS` is the one table that
turns an error into an HTTP status and a machine-readable code; the server's handlers use it
through `http_status`.
"""
from __future__ import annotations

from typing import Any


class MlnbError(Exception):
    """Base of every mlnb error; message is one line saying what to do."""


class FilterError(MlnbError):
    """A run filter or order_by expression could not be parsed."""


class StoreNotFoundError(MlnbError):
    """No `.mlnb` store was found where one was expected."""


class StoreBusyError(MlnbError):
    """The store's index stayed locked by another process for too long."""


class IntegrityError(MlnbError):
    """Stored data is damaged: a blob is missing, not a regular file, or no longer matches its hash.

    `digest` names the blob (when one is concerned), `problem` says what is wrong with it
    (`missing`, `not_a_file`, `hash_mismatch`, ...). The request was fine; the store is not.
    """

    def __init__(self, message: str, *, digest: str | None = None, problem: str | None = None) -> None:
        super().__init__(message)
        self.digest = digest
        self.problem = problem


class IndexDamagedError(IntegrityError):
    """The DuckDB index file cannot be opened (truncated, garbled); `mlnb store rebuild` fixes it."""


class StaleIndexWarning(UserWarning):
    """The store folder is read-only: its index is read as it is, without the newest events."""


class NewerFormatWarning(UserWarning):
    """A newer mlnb wrote events in a format this one does not know: they are kept, not read."""


class StoreVersionError(MlnbError):
    """The store was written by a newer mlnb than this one."""


class NotFoundError(MlnbError):
    """Something asked for by name or id does not exist (a run, model, version, metric, artifact).

    `kind` is what was looked for (`run`, `model`, `version`, ...) and `name` the name or id asked
    for, when the raiser knows them. Without a message, one is made from them.
    """

    def __init__(self, message: str | None = None, *, kind: str | None = None, name: str | None = None) -> None:
        if message is None:
            message = f"no {kind or 'item'} named {name!r}" if name is not None else f"no such {kind or 'item'}"
        super().__init__(message)
        self.kind = kind
        self.name = name


class RunNotFoundError(NotFoundError):
    """A run id (or prefix) matched no run, or more than one."""

    def __init__(self, message: str | None = None, *, kind: str | None = "run", name: str | None = None) -> None:
        super().__init__(message, kind=kind, name=name)


class ConflictError(MlnbError):
    """The request is valid but the current state refuses it (an archived version, a protected alias).

    `subject` names what refused (e.g. `churn/3`), `reason` says why in one word (`archived`,
    `hidden_state`, `has_aliases`, ...), so a caller can offer the way out (e.g. `force=True`).
    """

    def __init__(self, message: str, *, subject: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject
        self.reason = reason


class NoActiveRunError(MlnbError):
    """A logging call was made with no active run."""


class InvalidValueError(MlnbError):
    """A param, metric, tag or artifact value cannot be recorded.

    `field` names the argument or key at fault, when the raiser knows it (the value itself is not
    kept: it may be large, or a secret).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MissingDependencyError(MlnbError):
    """An optional package is not installed; the message names the `pip install "mlnb[extra]"` to run.

    Not an ImportError on purpose: code that falls back when an import fails must not swallow it.
    """

    def __init__(self, package: str, extra: str, needed_for: str = "this feature") -> None:
        self.package = package
        self.extra = extra
        self.needed_for = needed_for
        self.install = f'pip install "mlnb[{extra}]"'
        super().__init__(f"{needed_for} needs {package}: {self.install}")

    def __reduce__(self) -> Any:  # pickled across processes (Dask workers) with its fields
        return (type(self), (self.package, self.extra, self.needed_for))


# store URL scheme -> the mlnb extra that installs its backend
BACKEND_EXTRAS = {"s3": "team", "gs": "team", "gcs": "team", "az": "team", "abfs": "team"}


class BackendNotFoundError(MissingDependencyError):
    """A store URL names a scheme (`s3://`) no installed backend provides.

    `scheme` is the URL's scheme; `extra` the mlnb extra that provides it, when mlnb knows one.
    """

    def __init__(self, scheme: str, extra: str | None = None) -> None:
        extra = extra or BACKEND_EXTRAS.get(scheme)
        self.scheme = scheme
        self.package = f"a backend for {scheme}://"
        self.extra = extra or ""
        self.needed_for = f"a store at {scheme}://"
        if extra:
            self.install = f'pip install "mlnb[{extra}]"'
            message = f"no backend for '{scheme}://'; install \"mlnb[{extra}]\""
        else:
            self.install = ""
            message = (f"no backend for '{scheme}://'; install a package that provides it "
                       "(entry point group mlnb.backends)")
        MlnbError.__init__(self, message)

    def __reduce__(self) -> Any:
        return (type(self), (self.scheme, self.extra or None))


class ReadOnlySQLError(MlnbError):
    """A query given to `mlnb.sql` failed or tried to write."""


class UntrustedModelError(MlnbError):
    """Loading a model would run code from its file (a pickle) or trust types nobody allowed."""


class ServeError(MlnbError):
    """A model server could not start (port in use, a model that cannot be served) or answer."""


class SQLTimeoutError(ReadOnlySQLError):
    """A query given to `mlnb.sql` ran past its time limit ($MLNB_SQL_TIMEOUT or `timeout=`)."""


# error class -> (HTTP status, code in the JSON error shape). The most specific class of an
# exception wins (see `http_status`). A damaged store is not the client's fault, so integrity
# problems are 409 (the resource is in a state that cannot serve the request), not 400; mlnb
# answers no 500 on purpose. TimeoutError is a read that waited too long for the index.
HTTP_STATUS: dict[type[BaseException], tuple[int, str]] = {
    MlnbError: (400, "bad_request"),
    ValueError: (400, "bad_request"),
    FilterError: (400, "bad_request"),
    InvalidValueError: (400, "bad_request"),
    NoActiveRunError: (400, "bad_request"),
    ReadOnlySQLError: (400, "bad_request"),
    UntrustedModelError: (403, "untrusted_model"),
    ServeError: (503, "not_serving"),
    NotFoundError: (404, "not_found"),
    StoreNotFoundError: (404, "no_store"),
    ConflictError: (409, "conflict"),
    IntegrityError: (409, "integrity_error"),
    StoreVersionError: (409, "store_too_new"),
    MissingDependencyError: (501, "missing_dependency"),
    StoreBusyError: (503, "store_busy"),
    TimeoutError: (503, "store_busy"),
}


def http_status(exc: BaseException) -> tuple[int, str] | None:
    """(status, code) for `exc` from `HTTP_STATUS`, by its most specific listed class; None if unlisted."""
    for cls in type(exc).__mro__:
        found = HTTP_STATUS.get(cls)
        if found is not None:
            return found
    return None
