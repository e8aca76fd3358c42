"""The runs table widget: an anywidget whose state (one page of rows, sort, selection) lives in Python."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

HERE = Path(__file__).parent


class RunTableWidget(anywidget.AnyWidget):
    """Renders `rows` for `columns`; the browser writes back `sort_by`, `descending`, `page`, `selected`."""

    _esm = HERE / "run_table.js"
    _css = HERE / "run_table.css"
    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows: traitlets.List[Any] = traitlets.List().tag(sync=True)
    run_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    sort_by = traitlets.Unicode("").tag(sync=True)
    descending = traitlets.Bool(False).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    pages = traitlets.Int(1).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
