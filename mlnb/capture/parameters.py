"""Papermill's parameters as run params: the cell tagged `parameters` and the injected cell after it."""
from __future__ import annotations

from typing import Any

from mlnb.capture.analysis import analyse

PAPERMILL_HEADER = "# Parameters"


def python_source(shell: Any, raw: str) -> str:
    """The Python IPython runs for a cell's text (magics and `!cmd` transformed)."""
    if not any(c in raw for c in "%!?"):  # plain Python: IPython's transforms would not change it
        return raw
    try:
        return shell.transform_cell(raw)
    except Exception:
        return raw


class PapermillParams:
    """Finds the names papermill's parameter cells bind, and their values once the cells ran.

    `pending` keeps every value seen, so a run started later still logs them.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.pending: dict[str, Any] = {}
        self._names: frozenset[str] = frozenset()
        self._last_raw = ""

    def see(self, raw: str) -> None:
        """Called before every cell with its text."""
        if raw.lstrip().startswith(PAPERMILL_HEADER):
            # papermill's injected-parameters cell; the cell run just before it is the one
            # tagged `parameters`, whose defaults it overrides: both are the run's params
            previous = self._writes(self._last_raw) if self._last_raw else frozenset()
            self._names = self._writes(raw) | previous
        self._last_raw = raw

    def take(self) -> dict[str, Any]:
        """After a cell: the values of the parameter names just bound (empty for most cells)."""
        if not self._names:
            return {}
        ns = self.shell.user_ns
        values = {name: ns[name] for name in self._names if name in ns}
        self._names = frozenset()
        self.pending.update(values)
        return values

    def from_history(self) -> dict[str, Any]:
        """Parameters run before capture was loaded, found in the shell's input history."""
        inputs = list(self.shell.user_ns.get("In", []) or [])
        for index in range(len(inputs) - 1, 0, -1):
            if isinstance(inputs[index], str) and inputs[index].lstrip().startswith(PAPERMILL_HEADER):
                names = self._writes(inputs[index])
                if index > 1 and isinstance(inputs[index - 1], str):
                    names |= self._writes(inputs[index - 1])
                ns = self.shell.user_ns
                return {name: ns[name] for name in names if name in ns}
        return {}

    def all(self) -> dict[str, Any]:
        """Every parameter known now: from the input history, then those seen since."""
        return {**self.from_history(), **self.pending}

    def _writes(self, raw: str) -> frozenset[str]:
        return analyse(python_source(self.shell, raw)).writes
