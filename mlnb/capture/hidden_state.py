"""The hidden-state check: would a top-to-bottom run reproduce what this session computed?"""
from __future__ import annotations

from typing import Any


def verdict(history: list[dict[str, Any]], cell_code: dict[str, str],
            positions: dict[str, int] | None = None) -> tuple[str, list[str]]:
    """`clean`, `out-of-order` or `stale-inputs`, with one line per problem found.

    stale-inputs: a cell read a variable last bound by a cell whose code has since changed
    (edited and re-run without re-binding it) or that is no longer in the notebook.
    out-of-order: a cell read a variable bound by a cell that sits below it in the notebook.
    """
    stale, disorder = [], []
    for entry in history:
        for name, writer in entry["reads"]:
            wid = writer["cell_id"]
            if wid is None:
                continue
            where = f"execution {entry['execution_count']} read {name!r} from execution {writer['execution_count']}"
            if cell_code.get(wid) != writer["code_hash"]:
                stale.append(f"{where}, whose cell was edited since")
            elif positions is not None and wid not in positions:
                stale.append(f"{where}, whose cell is no longer in the notebook")
            elif positions is not None and entry["cell_id"] in positions and \
                    positions[wid] > positions[entry["cell_id"]]:
                disorder.append(f"{where}, a cell further down the notebook")
    if stale:
        return "stale-inputs", stale + disorder
    if disorder:
        return "out-of-order", disorder
    return "clean", []


def notebook_positions(path: str | None) -> dict[str, int] | None:
    """Cell id -> index in the saved notebook, when the notebook file can be read."""
    if not path:
        return None
    import json

    try:  # plain JSON: nbformat's schema validation costs more than the whole check
        with open(path, encoding="utf-8") as handle:
            cells = json.load(handle).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    return {cell["id"]: i for i, cell in enumerate(cells) if isinstance(cell, dict) and cell.get("id")}
