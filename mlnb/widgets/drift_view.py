"""`mlnb.drift_report(...)`: a drift report as a sortable column table, overlaid reference vs current
histograms for a chosen column and, given a model, the drift score history over its checks.

The data, figures and static HTML come from `mlnb.model_monitoring.report_html` (pure, from the report
dict); `DriftWidget` only wires them to ipywidgets controls, and `drift_report` reads a stored
check or a model's history through the monitoring view-models.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlnb.model_monitoring import report_html as drift_html
from mlnb.model_monitoring.report_html import (
    SORT_KEYS,
    column_entry,
    histogram_figure,
    history_figure,
    render_html,
    table_rows,
)

__all__ = ["DriftWidget", "StaticDriftReport", "drift_report", "report_state"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def report_state(obj: Any, project: Any = None) -> dict[str, Any]:
    """`drift_html.report_state` of a DriftReport, a MonitorResult, their dicts, or a stored check id
    (a unique prefix of 6+ characters)."""
    if isinstance(obj, str):
        from mlnb.model_monitoring import views

        obj = views.check_detail(project, obj)
    return drift_html.report_state(obj)


# --- the widget -------------------------------------------------------------------------------

class DriftWidget:
    """The live report: sort the column table, pick a column to see its histograms, see the history."""

    def __init__(self, state: dict[str, Any], history: Sequence[dict[str, Any]] | None = None) -> None:
        import ipywidgets as w

        self.state = state
        self.history = list(history) if history is not None else None
        self.figures: dict[str, dict[str, Any]] = {}  # name -> the plotly figure dict on show
        columns = [r["column"] for r in table_rows(state["drift"], "status")]
        self.sort = w.Dropdown(options=list(SORT_KEYS), value="status", description="sort by")
        self.descending = w.Checkbox(value=False, description="descending")
        self.table = w.HTML()
        self.column = w.Dropdown(options=columns, value=columns[0] if columns else None, description="column")
        self.histogram = w.Output()
        self.history_box = w.Output()
        self.sort.observe(lambda _: self._draw_table(), names="value")
        self.descending.observe(lambda _: self._draw_table(), names="value")
        self.column.observe(lambda _: self._draw_charts(), names="value")
        parts = [w.HBox([self.sort, self.descending]), self.table, self.column, self.histogram]
        if self.history is not None:
            parts.append(self.history_box)
        self.view = w.VBox(parts)
        self._draw_table()
        self._draw_charts()

    def _draw_table(self) -> None:
        self.table.value = render_html(self.state, self.sort.value, self.descending.value, histograms=())

    def _draw_charts(self) -> None:
        if self.column.value is None:
            return
        self._show(self.histogram, "histogram", histogram_figure(column_entry(self.state["drift"], self.column.value)))
        if self.history is not None:
            self._show(self.history_box, "history", history_figure(self.history, self.column.value))

    def _show(self, box: Any, name: str, figure: dict[str, Any]) -> None:
        """Through plotly's mime renderer (as mlnb.compare does): no FigureWidget, no plotly import."""
        self.figures[name] = figure
        box.outputs = ({"output_type": "display_data", "metadata": {},
                        "data": {PLOTLY_MIME: figure, "text/plain": f"<{name} chart>"}},)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs) or {}
        bundle = dict(bundle[0]) if isinstance(bundle, tuple) else dict(bundle)
        bundle["text/html"] = render_html(self.state, self.sort.value, self.descending.value)  # saved notebooks
        return bundle


class StaticDriftReport:
    """The fallback without ipywidgets: the HTML view only."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def _repr_html_(self) -> str:
        return render_html(self.state)


def drift_report(report: Any, model: str | None = None, project: Any = None) -> Any:
    """The drift report widget for a DriftReport, a MonitorResult or a check id (its static HTML
    view without ipywidgets). With `model` (`churn`, or one version: `churn/3`), also the drift
    score history of its checks."""
    state = report_state(report, project=project)
    history = None
    if model is not None:
        from mlnb.model_monitoring import views

        history = views.monitoring_history(project, model)["checks"]
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        import warnings

        warnings.warn('the live drift report needs ipywidgets: pip install "mlnb[notebook]"', stacklevel=2)
        return StaticDriftReport(state)
    return DriftWidget(state, history)
