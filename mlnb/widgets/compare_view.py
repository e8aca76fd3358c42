"""`mlnb.compare()`: a runs table, parallel coordinates, metric curves and a scatter, live in the notebook.

`Comparison` holds the data and builds every figure and the static HTML; `CompareWidget` wires it
to ipywidgets controls. Saved or converted notebooks show the static HTML (table + charts).
"""
from __future__ import annotations

import copy
import html
from collections.abc import Sequence
from typing import Any

from mlnb.comparison import charts
from mlnb.comparison.run_table import (
    ATTRIBUTE_COLUMNS,
    PAGE_SIZE,
    Selection,
    load_runs,
    pick_columns,
    run_ids,
)
from mlnb.errors import MlnbError
from mlnb.store import queries
from mlnb.project import ProjectLike
from mlnb.store.store import Store
from mlnb.views.runs import table_page

DEFAULT_CURVE_RUNS = 5
MAX_CURVE_METRICS = 6
STATIC_ROWS = 50
STATIC_RUNS = 1_000
AUTO_REFRESH_SECONDS = 3.0
PLOTLY_MIME = "application/vnd.plotly.v1+json"


class Comparison:
    """The runs of a selection and every view of them, without any widget."""

    def __init__(self, store: Store, selection: Selection, metrics: Sequence[str] | None = None,
                 params: Sequence[str] | None = None) -> None:
        self.store, self.selection = store, selection
        self._wanted = (metrics, params)
        self.sort_by, self.descending, self.page, self.page_size = "", False, 0, PAGE_SIZE
        self.selected: list[str] = []
        self.metric: str | None = None
        self.scatter_x, self.scatter_y = "", ""
        self._loads = 0  # how many times the runs were read: part of the page cache's key
        self._page: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.reload()

    def reload(self) -> None:
        """Read the runs again (new runs, finished runs); keeps the selection and the chosen
        columns that still exist, and picks new ones for those that do not."""
        self.frame = load_runs(self.store, self.selection)
        self._loads += 1
        metrics, params = self._wanted
        self.metrics = pick_columns(self.frame, metrics, "metrics")
        self.params = pick_columns(self.frame, params, "params")
        self.columns = [*ATTRIBUTE_COLUMNS, *self.params, *self.metrics]
        present = set(self.frame["run_id"])
        self.selected = [r for r in self.selected if r in present]
        if self.metric not in self.metrics:
            self.metric = self.metrics[0] if self.metrics else None
        numeric = [c for c in self.params if _numeric(self.frame[c])] + self.metrics
        if self.scatter_x not in self.axis_columns():
            self.scatter_x = numeric[0] if numeric else "start"
        if self.scatter_y not in self.axis_columns():
            self.scatter_y = self.metrics[0] if self.metrics else (numeric[-1] if numeric else "duration_s")

    def axis_columns(self) -> list[str]:
        """Columns a scatter axis can show."""
        return ["start", "duration_s", *self.params, *self.metrics]

    def table(self) -> dict[str, Any]:
        """The current page; kept until the runs, sort or page change (the table and the curves both ask)."""
        key = (self._loads, self.sort_by, self.descending, self.page, self.page_size)
        if self._page is None or self._page[0] != key:
            self._page = (key, table_page(self.frame, self.columns, self.sort_by or None, self.descending, self.page,
                                          self.page_size))
        return self._page[1]

    def shown_runs(self) -> Any:
        """The runs the charts draw: the selected ones, or all when nothing is selected."""
        if not self.selected:
            return self.frame
        return self.frame[self.frame["run_id"].isin(self.selected)]

    def curve_runs(self) -> list[str]:
        """Runs whose curves are drawn: the selected ones, else the first runs of the current page."""
        return list(self.selected) or self.table()["run_ids"][:DEFAULT_CURVE_RUNS]

    def parcoords_figure(self) -> Any:
        return charts.parallel_coordinates(self.shown_runs(), self.params, self.metric)

    def scatter_figure(self) -> Any:
        return charts.scatter(self.frame, self.scatter_x, self.scatter_y, self.selected)

    def curves_figure(self) -> dict[str, Any]:
        """One panel per metric (at most MAX_CURVE_METRICS) with the curve runs as lines."""
        shown = self.curve_runs()
        keys = [charts.short(m) for m in self.metrics[:MAX_CURVE_METRICS]]
        histories = queries.metric_histories(self.store, shown, keys)
        names = dict(zip(self.frame["run_id"], self.frame["name"]))
        labels = {r: f"{r[:8]} {names.get(r) or ''}".strip() for r in shown}
        return charts.metric_curves(histories, keys, labels)

    def describe(self) -> str:
        parts = [f"{len(self.frame)} runs"]
        if self.selection.experiment:
            parts.append(f"experiment {self.selection.experiment!r}")
        if self.selection.filter:
            parts.append(f"filter {self.selection.filter!r}")
        return ", ".join(parts)

    def render_html(self) -> str:
        """A self-contained static view: the first rows of the table and every chart (capped)."""
        esc = html.escape
        page = table_page(self.frame, self.columns, self.sort_by or None, self.descending, 0, STATIC_ROWS)
        head = "".join(f"<th>{esc(charts.short(c))}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{esc(_text(v, c))}</td>" for v, c in zip(row, self.columns))
                       + "</tr>" for row in page["rows"])
        more = f"<p>... {page['total'] - len(page['rows'])} more runs not shown</p>" if page["pages"] > 1 else ""
        static = copy.copy(self)
        static.frame, static._page = self.frame.head(STATIC_RUNS), None
        figures = [static.parcoords_figure(), static.curves_figure(), static.scatter_figure()] if len(self.frame) else []
        plots = "".join(figure_html(f, first=i == 0) for i, f in enumerate(figures))
        return (f"<div class='mlnb-compare'><h4>mlnb.compare: {esc(self.describe())}</h4>"
                f"<table class='mlnb-run-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"
                f"{plots}</div>")


def figure_html(figure: Any, first: bool = True) -> str:
    """A figure as an HTML fragment; plotly.js comes from its CDN, once per output."""
    import plotly.io as pio

    return pio.to_html(figure, full_html=False, include_plotlyjs="cdn" if first else False, default_width="100%",
                       validate=False)


def _numeric(column: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _text(value: Any, column: str) -> str:
    if value is None:
        return ""
    if column == "run_id":
        return str(value)[:8]
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class CompareWidget:
    """The live comparison: table selection drives the charts; refresh picks up new runs."""

    def __init__(self, comparison: Comparison) -> None:
        import ipywidgets as w

        from mlnb.widgets.run_table import RunTableWidget

        self.data = comparison
        self.filter = w.Text(value=comparison.selection.filter or "", placeholder="filter, e.g. metrics.acc > 0.9",
                             description="filter", continuous_update=False, layout=w.Layout(width="420px"))
        self.apply_button = w.Button(description="Apply", icon="filter")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.auto_refresh = w.Checkbox(value=False, description="auto-refresh while runs are running",
                                       indent=False, style={"description_width": "initial"})
        self.message = w.HTML()
        self.table = RunTableWidget()
        self.metric = w.Dropdown(description="color by")
        self.scatter_x = w.Dropdown(description="x")
        self.scatter_y = w.Dropdown(description="y")
        self._syncing = False
        self._sync_controls()
        self.parcoords_box, self.curves_box, self.scatter_box = w.Output(), w.Output(), w.Output()
        self.figures: dict[str, dict[str, Any]] = {}  # name -> the plotly figure JSON on show
        self.view = w.VBox([
            w.HBox([self.filter, self.apply_button, self.refresh_button, self.auto_refresh]), self.message,
            self.table, w.HTML("<b>Parallel coordinates</b>"), self.metric, self.parcoords_box,
            w.HTML("<b>Metric curves</b> (selected runs, or the first rows of the page)"), self.curves_box,
            w.HTML("<b>Scatter</b>"), w.HBox([self.scatter_x, self.scatter_y]), self.scatter_box,
        ], layout=w.Layout(width="100%"))
        self.apply_button.on_click(lambda _: self.apply_filter())
        self.filter.observe(lambda _: self.apply_filter(), names="value")  # Enter or leaving the box
        self.refresh_button.on_click(lambda _: self.refresh())
        self.auto_refresh.observe(lambda change: self._schedule() if change["new"] else None, names="value")
        self.table.observe(self._on_table, names=["sort_by", "descending", "page"])
        self.table.observe(self._on_select, names="selected")
        self.metric.observe(self._on_metric, names="value")
        self.scatter_x.observe(self._on_axis, names="value")
        self.scatter_y.observe(self._on_axis, names="value")
        self._draw_all()

    # --- reactions -------------------------------------------------------------------------
    def apply_filter(self) -> None:
        """Re-select the runs with the filter box's text (store filter language)."""
        old = self.data.selection
        text = self.filter.value.strip() or None
        if text == old.filter:
            return  # Enter or leaving the box already applied it (clicking Apply does both)
        self.data.selection = Selection(old.runs, old.experiment, text)
        try:
            self.data.reload()
        except MlnbError as exc:
            self.data.selection = old
            self._error(str(exc).splitlines()[0])
            return
        self.data.page = 0
        self.message.value = ""
        self._draw_all()

    def refresh(self) -> None:
        """Read the store again: new runs appear, running runs update."""
        try:
            self.data.reload()
        except MlnbError as exc:
            self._error(str(exc).splitlines()[0])
            return
        self._draw_all()

    def _on_table(self, _change: dict[str, Any]) -> None:
        state = (self.table.sort_by, self.table.descending, self.table.page)
        if state == (self.data.sort_by, self.data.descending, self.data.page):
            return  # one click changes up to three traits: the first notification did the work
        self.data.sort_by, self.data.descending, self.data.page = state
        self._draw_table()
        if not self.data.selected:
            self._draw_curves()

    def _on_select(self, change: dict[str, Any]) -> None:
        self.data.selected = list(change["new"])
        self._draw_charts()

    def _on_metric(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self.data.metric = change["new"]
        self._show(self.parcoords_box, "parcoords", self.data.parcoords_figure())

    def _on_axis(self, _change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self.data.scatter_x, self.data.scatter_y = self.scatter_x.value, self.scatter_y.value
        self._show(self.scatter_box, "scatter", self.data.scatter_figure())

    # --- drawing ---------------------------------------------------------------------------
    def _draw_all(self) -> None:
        self._sync_controls()
        self._draw_table()
        self._draw_charts()

    def _sync_controls(self) -> None:
        """Dropdowns offer the columns the current runs have (without redrawing on the way)."""
        self._syncing = True
        try:
            self.metric.options = [(charts.short(m), m) for m in self.data.metrics]
            self.metric.value = self.data.metric
            axes = [(charts.short(c), c) for c in self.data.axis_columns()]
            for dropdown, value in ((self.scatter_x, self.data.scatter_x), (self.scatter_y, self.data.scatter_y)):
                dropdown.options = axes
                dropdown.value = value
        finally:
            self._syncing = False

    def _draw_table(self) -> None:
        page = self.data.table()
        with self.table.hold_sync():
            self.table.columns = self.data.columns
            self.table.rows, self.table.run_ids = page["rows"], page["run_ids"]
            self.table.total, self.table.pages, self.table.page = page["total"], page["pages"], page["page"]
            self.table.sort_by, self.table.descending = self.data.sort_by, self.data.descending
            self.table.selected = list(self.data.selected)

    def _draw_charts(self) -> None:
        if self.data.frame.empty:
            self.message.value = "<i>No runs match. Log some with mlnb.start_run() or %track start.</i>"
            for box in (self.parcoords_box, self.curves_box, self.scatter_box):
                box.outputs = ()
            self.figures.clear()
            return
        self._show(self.parcoords_box, "parcoords", self.data.parcoords_figure())
        self._draw_curves()
        self._show(self.scatter_box, "scatter", self.data.scatter_figure())

    def _draw_curves(self) -> None:
        if self.data.metrics:
            self._show(self.curves_box, "curves", self.data.curves_figure())

    def _show(self, box: Any, name: str, figure: dict[str, Any]) -> None:
        """Show a figure through plotly's mime renderer: no FigureWidget, so no per-kernel plotly set-up
        (~1.5 s) and no validation; each redraw replaces the output."""
        self.figures[name] = charts.plain(figure)
        box.outputs = ({"output_type": "display_data", "metadata": {},
                        "data": {PLOTLY_MIME: self.figures[name], "text/plain": f"<{name} chart>"}},)

    def _error(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00'>{html.escape(text)}</span>"

    def _schedule(self) -> None:
        """While the box is ticked, refresh every few seconds as long as some run is still running."""
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._error("auto-refresh needs a running kernel; use Refresh")
            self.auto_refresh.value = False
            return

        def tick() -> None:
            if not self.auto_refresh.value:
                return
            self.refresh()
            if (self.data.frame["status"] == "running").any():
                loop.call_later(AUTO_REFRESH_SECONDS, tick)
            else:
                self.auto_refresh.value = False
                self.message.value = "<i>auto-refresh stopped: no run is running</i>"

        loop.call_later(AUTO_REFRESH_SECONDS, tick)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs) or {}
        bundle = dict(bundle[0]) if isinstance(bundle, tuple) else dict(bundle)
        bundle["text/html"] = self.data.render_html()  # what saved and converted notebooks show
        return bundle


class StaticComparison:
    """The fallback without ipywidgets/anywidget: the static HTML view."""

    def __init__(self, comparison: Comparison) -> None:
        self.data = comparison

    def _repr_html_(self) -> str:
        return self.data.render_html()


def compare(runs: Sequence[Any] | Any | None = None, experiment: str | None = None, filter: str | None = None,
            metrics: Sequence[str] | None = None, params: Sequence[str] | None = None,
            project: ProjectLike = None) -> Any:
    """Compare runs in the notebook: a sortable, filterable, pageable runs table; parallel coordinates
    of params -> a metric; metric curves of the selected runs; a scatter of any two columns.

    `runs` (Runs, ids or a runs DataFrame), `experiment` and `filter` (the store's filter language)
    choose the runs; `metrics`/`params` (short names) narrow the columns. `project`: whose runs
    (default: the current project).
    """
    from mlnb.project import resolve

    if isinstance(metrics, str) or isinstance(params, str):
        raise MlnbError("metrics and params take lists of names, e.g. metrics=['accuracy']")
    comparison = Comparison(resolve(project).store, Selection(run_ids(runs), experiment, filter), metrics, params)
    try:
        import anywidget  # noqa: F401
        import ipywidgets  # noqa: F401
    except ImportError:
        import warnings

        warnings.warn('the live compare widget needs ipywidgets and anywidget: pip install "mlnb[notebook]"',
                      stacklevel=2)
        return StaticComparison(comparison)
    return CompareWidget(comparison)
