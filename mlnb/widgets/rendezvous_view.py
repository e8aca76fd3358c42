"""`mlnb.rendezvous_report(model)`: the versions of a served model compared on live traffic: a table
per version (agreement, latency percentiles, errors, timeouts, accuracy or mae where feedback
exists) and, over time, one chart per measure; a Refresh button reads the archive again.

The data comes from `mlnb.serving.views.rendezvous_view`; the figures and the static HTML (what a
saved notebook shows) from `mlnb.serving.report_html`. The widget only wires them to controls.
"""
from __future__ import annotations

from typing import Any

from mlnb.serving.report_html import charts_for, over_time_figure, render_html, table_rows

__all__ = ["RendezvousWidget", "StaticRendezvousReport", "rendezvous_report"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"


class RendezvousWidget:
    """The live comparison: pick the measure to chart over time; Refresh reads the archive again."""

    def __init__(self, view: dict[str, Any], reload: Any = None) -> None:
        import ipywidgets as w

        self.view = view
        self.reload = reload  # () -> a new view (None: no Refresh button)
        self.figures: dict[str, dict[str, Any]] = {}  # chart name -> the plotly figure dict shown
        self.table = w.HTML()
        self.chart = w.Dropdown(options=charts_for(view), value="agreement", description="over time")
        self.plot = w.Output()
        self.refresh_button = w.Button(description="Refresh", tooltip="read the archive again")
        self.chart.observe(lambda _: self._draw_chart(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        tools = [self.chart] + ([self.refresh_button] if reload is not None else [])
        self.box = w.VBox([self.table, w.HBox(tools), self.plot])
        self._draw()

    def refresh(self) -> None:
        """Read the comparison again (new traffic, new feedback) and redraw."""
        if self.reload is None:
            return
        self.view = self.reload()
        options = charts_for(self.view)
        if tuple(options) != tuple(self.chart.options):
            chosen = self.chart.value if self.chart.value in options else "agreement"
            with self.chart.hold_trait_notifications():
                self.chart.options = options
                self.chart.value = chosen
        self._draw()

    def _draw(self) -> None:
        self.table.value = render_html({**self.view, "over_time": []})  # the table; charts below are live
        self._draw_chart()

    def _draw_chart(self) -> None:
        figure = over_time_figure(self.view, self.chart.value)
        self.figures[self.chart.value] = figure
        # through plotly's mime renderer (as mlnb.compare does): no FigureWidget, no plotly import
        self.plot.outputs = ({"output_type": "display_data", "metadata": {},
                              "data": {PLOTLY_MIME: figure, "text/plain": f"<{self.chart.value} chart>"}},)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The table's rows (one per version)."""
        return table_rows(self.view)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.box._repr_mimebundle_(**kwargs) or {}
        bundle = dict(bundle[0]) if isinstance(bundle, tuple) else dict(bundle)
        bundle["text/html"] = render_html(self.view)  # what a saved notebook shows
        return bundle


class StaticRendezvousReport:
    """The fallback without ipywidgets: the HTML view only."""

    def __init__(self, view: dict[str, Any]) -> None:
        self.view = view

    def _repr_html_(self) -> str:
        return render_html(self.view)


def rendezvous_report(model: str, since: Any = None, every: str | None = "1min", until: Any = None,
                      project: Any = None) -> RendezvousWidget | StaticRendezvousReport:
    """The rendezvous comparison of `model`'s served versions on live traffic (`mlnb.rendezvous`
    as a widget): per version agreement with the returned answer, p50/p99 latency and accuracy (or
    mae) where feedback exists, over time in buckets of `every`, and the table. `since`/`until`: a
    datetime, ISO text or a duration back from now ("15min", "2h", "7d")."""
    from mlnb.serving.views import rendezvous_view

    def read() -> dict[str, Any]:
        return rendezvous_view(project, model, since=since, until=until, every=every)

    view = read()
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        import warnings

        warnings.warn('the live rendezvous report needs ipywidgets: pip install "mlnb[notebook]"', stacklevel=2)
        return StaticRendezvousReport(view)
    return RendezvousWidget(view, reload=read)
