"""What a session ran, in order: the input of the hidden-state verdict and the notebook snapshot."""
from __future__ import annotations

import hashlib
from typing import Any

from mlnb.capture.hidden_state import verdict


class CellHistory:
    """The captured cells of the open run, which execution last bound each variable, and the
    latest code of each notebook cell."""

    def __init__(self) -> None:
        self.seq = 0  # the sequence number of the last record taken
        self.cells_captured = 0
        self.entries: list[dict[str, Any]] = []
        self.writers: dict[str, dict[str, Any]] = {}  # variable -> the execution that last bound it
        self.cell_code: dict[str, str] = {}  # cell id -> code hash of its latest execution

    def clear(self) -> None:
        """Forget everything (a new run starts)."""
        self.seq, self.cells_captured = 0, 0
        self.entries.clear()
        self.writers.clear()
        self.cell_code.clear()

    def next_seq(self) -> int:
        """The sequence number of the record being built."""
        self.seq += 1
        return self.seq

    def note(self, record: dict[str, Any], raw: str, cell_id: str | None) -> None:
        """Add one executed cell; sets the record's `code_hash` and `upstream` (earlier cells it read from)."""
        code_hash = hashlib.sha256(raw.encode()).hexdigest()[:16]
        record["code_hash"] = code_hash
        entry = {"seq": record["seq"], "cell_id": cell_id, "code_hash": code_hash, "code": raw,
                 "execution_count": record["execution_count"], "reads": [], "stale": []}
        for name in record["reads"]:
            writer = self.writers.get(name)
            if writer is not None and writer["seq"] != record["seq"]:
                entry["reads"].append((name, writer))
        record["upstream"] = [(name, writer["seq"]) for name, writer in entry["reads"]]
        if cell_id:
            self.cell_code[cell_id] = code_hash
        for variable in record["variables"]:
            self.writers[variable["name"]] = entry
        self.entries.append(entry)
        self.cells_captured += 1

    def cells(self) -> list[dict[str, Any]]:
        """Captured cells in execution order (for the rebuilt notebook snapshot)."""
        return [{"code": e["code"], "execution_count": e["execution_count"]} for e in self.entries]

    def verdict(self, positions: dict[str, int] | None) -> tuple[str, list[str]]:
        """The hidden-state verdict for what has run so far (see `hidden_state.verdict`)."""
        return verdict(self.entries, self.cell_code, positions)
