"""Every error mlnb raises on purpose. Messages are one line that says what to do."""
from __future__ import annotations


class MlnbError(Exception):
    """Base of every mlnb error; message is one line saying what to do."""


class FilterError(MlnbError):
    """A run filter or order_by expression could not be parsed."""


class StoreNotFoundError(MlnbError):
    """No `.mlnb` store was found where one was expected."""


class StoreBusyError(MlnbError):
    """The store's index stayed locked by another process for too long."""


class IndexDamagedError(MlnbError):
    """The DuckDB index file cannot be opened (truncated, garbled); `mlnb store rebuild` fixes it."""


class StaleIndexWarning(UserWarning):
    """The store folder is read-only: its index is read as it is, without the newest events."""


class StoreVersionError(MlnbError):
    """The store was written by a newer mlnb than this one."""


class NotFoundError(MlnbError):
    """Something asked for by name or id does not exist (a run, model, version, metric, artifact)."""


class RunNotFoundError(NotFoundError):
    """A run id (or prefix) matched no run, or more than one."""


class NoActiveRunError(MlnbError):
    """A logging call was made with no active run."""


class InvalidValueError(MlnbError):
    """A param, metric, tag or artifact value cannot be recorded."""


class ReadOnlySQLError(MlnbError):
    """A query given to `mlnb.sql` failed or tried to write."""


class UntrustedModelError(MlnbError):
    """Loading a model would run code from its file (a pickle) or trust types nobody allowed."""


class SQLTimeoutError(ReadOnlySQLError):
    """A query given to `mlnb.sql` ran past its time limit ($MLNB_SQL_TIMEOUT or `timeout=`)."""
