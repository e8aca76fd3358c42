"""Which runs a comparison shows (a sorted page of them as JSON is `mlnb.views.runs.table_page`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlnb.errors import MlnbError
from mlnb.store import queries
from mlnb.store.store import Store

ATTRIBUTE_COLUMNS = ("run_id", "name", "experiment", "status", "start", "duration_s")
PAGE_SIZE = 25


@dataclass(frozen=True)
class Selection:
    """What to compare: explicit runs, an experiment, a filter in the store's language."""

    runs: tuple[str, ...] | None = None
    experiment: str | None = None
    filter: str | None = None


def load_runs(store: Store, selection: Selection) -> Any:
    """The runs of a selection, newest first, with `params.*`, `metrics.*` and a duration column."""
    import pandas as pd

    frame = queries.runs(store, selection.experiment, selection.filter)
    if selection.runs is not None:
        with queries.one_view(store):
            wanted = [queries.resolve_run(store, run) for run in selection.runs]
        frame = frame[frame["run_id"].isin(wanted)]
        order = {run_id: i for i, run_id in enumerate(wanted)}
        frame = frame.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)
    end = frame["end"].fillna(pd.Timestamp.now()) if len(frame) else frame["end"]
    frame.insert(5, "duration_s", (end - frame["start"]).dt.total_seconds().round(2) if len(frame) else [])
    return frame


def run_ids(runs: Sequence[Any] | Any | None) -> tuple[str, ...] | None:
    """Run ids from Runs, ids, a runs DataFrame, or None."""
    if runs is None:
        return None
    if hasattr(runs, "columns") and "run_id" in getattr(runs, "columns", ()):
        return tuple(runs["run_id"].tolist())
    if isinstance(runs, (str, bytes)) or hasattr(runs, "id"):
        runs = [runs]
    ids = tuple(getattr(run, "id", run) for run in runs)
    bad = [run for run in ids if not isinstance(run, str)]
    if bad:
        raise MlnbError(f"runs must be Runs, run ids or a runs DataFrame; got {bad[0]!r}")
    return ids


def param_columns(frame: Any) -> list[str]:
    return [c for c in frame.columns if c.startswith("params.")]


def metric_columns(frame: Any) -> list[str]:
    return [c for c in frame.columns if c.startswith("metrics.")]


def pick_columns(frame: Any, wanted: Sequence[str] | None, prefix: str) -> list[str]:
    """`prefix.*` columns of the frame; `wanted` (short or full names) narrows and orders them."""
    present = [c for c in frame.columns if c.startswith(prefix + ".")]
    if wanted is None:
        return present
    chosen = []
    for name in wanted:
        column = name if name.startswith(prefix + ".") else f"{prefix}.{name}"
        if column not in present:
            have = ", ".join(c[len(prefix) + 1:] for c in present[:15]) or "none"
            raise MlnbError(f"no {prefix[:-1]} {name!r} in these runs; they have: {have}")
        chosen.append(column)
    return chosen
