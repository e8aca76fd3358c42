"""The rendezvous comparison as figures and static HTML, from its view-model alone
(`mlnb.serving.views.rendezvous_view`): `table_rows` and `over_time_figure` are pure (data in,
rows or a plotly figure dict out); `render_html` is the static view (a table and inline SVG line
charts, no JavaScript), so saved and converted notebooks show it. The live widget
(`mlnb.widgets.rendezvous_view`) composes them.
"""
from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Any

__all__ = ["CHARTS", "over_time_figure", "render_html", "table_rows"]

# The charts over time: name -> (columns drawn, y-axis title, as a share?)
CHARTS: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "agreement": (("agreement",), "agreement with the returned answer", True),
    "latency": (("p50_ms", "p99_ms"), "latency (ms)", False),
    "accuracy": (("accuracy",), "accuracy (where feedback exists)", True),
    "mae": (("mae",), "mean absolute error (where feedback exists)", False),
}
TABLE_COLUMNS = ("version", "alias", "requests", "returned", "agreement", "p50_ms", "p95_ms", "p99_ms", "errors",
                 "timeouts", "labelled")
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
DASH = {"p50_ms": "solid", "p99_ms": "dot"}


def number(value: Any) -> float | None:
    """A view-model number as a float; None when missing (or NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def cell_text(column: str, value: Any) -> str:
    x = number(value)
    if value is None or (x is None and isinstance(value, float)):
        return "–"
    if x is None:
        return str(value).split("@", 1)[-1] if column == "alias" else str(value)  # `champion` of `churn@champion`
    if column in ("agreement", "accuracy"):
        return f"{x:.1%}"
    if column.endswith("_ms") or column == "mae":
        return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
    return str(int(x)) if x.is_integer() else f"{x:.4g}"


def charts_for(view: dict[str, Any]) -> list[str]:
    """The charts that apply: agreement and latency always, accuracy or mae when feedback exists."""
    names = ["agreement", "latency"]
    if view.get("metric") in ("accuracy", "mae"):
        names.append(str(view["metric"]))
    return names


def table_rows(view: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per version (preference order as the view gives it), with the feedback metric last."""
    columns = (*TABLE_COLUMNS, *([view["metric"]] if view.get("metric") else []))
    return [{c: row.get(c) for c in columns} for row in view.get("versions", [])]


def _series(view: dict[str, Any], column: str) -> dict[int, tuple[list[Any], list[float | None]]]:
    """version -> (times, values of `column`) from the view's rows over time, oldest first."""
    found: dict[int, tuple[list[Any], list[float | None]]] = {}
    for row in sorted(view.get("over_time", []), key=lambda r: str(r.get("t"))):
        xs, ys = found.setdefault(int(row["version"]), ([], []))
        xs.append(row.get("t"))
        ys.append(number(row.get(column)))
    return found


def _label(view: dict[str, Any], version: int) -> str:
    alias = next((r.get("alias") for r in view.get("versions", []) if r.get("version") == version), None)
    alias = str(alias).split("@", 1)[-1] if alias else None  # `champion` of `churn@champion`
    return f"v{version} ({alias})" if alias else f"v{version}"


def over_time_figure(view: dict[str, Any], chart: str) -> dict[str, Any]:
    """One line per version (and per column: p50 and p99 for latency) over the time buckets."""
    columns, title, share = CHARTS[chart]
    traces = []
    for version, _ in sorted(_series(view, columns[0]).items()):
        for column in columns:
            xs, ys = _series(view, column)[version]
            name = _label(view, version) + (f" {column.removesuffix('_ms')}" if len(columns) > 1 else "")
            traces.append({"type": "scatter", "mode": "lines+markers", "name": html.escape(name), "x": xs, "y": ys,
                           "line": {"color": _color(view, version), "dash": DASH.get(column, "solid")}})
    every = view.get("every") or "bucket"
    layout: dict[str, Any] = {
        "height": 300, "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "title": {"text": f"{html.escape(str(view.get('model')))}: {title}, per {html.escape(str(every))}"},
        "yaxis": {"title": {"text": title}}, "xaxis": {"title": {"text": "time (UTC)"}},
    }
    if share:
        layout["yaxis"].update({"tickformat": ".0%", "range": [0, 1.05]})
    return {"data": traces, "layout": layout}


# --- static HTML ------------------------------------------------------------------------------

def _x_positions(times: list[Any]) -> dict[Any, float]:
    """0..1 positions of the time buckets (by their time when it parses, else by their order)."""
    unique = sorted(set(times), key=str)
    try:
        stamps = {t: datetime.fromisoformat(str(t)).timestamp() for t in unique}
    except ValueError:
        stamps = {t: float(i) for i, t in enumerate(unique)}
    low, high = min(stamps.values(), default=0.0), max(stamps.values(), default=0.0)
    return {t: (s - low) / (high - low) if high > low else 0.5 for t, s in stamps.items()}


def _svg_chart(view: dict[str, Any], chart: str, width: int = 360, height: int = 110) -> str:
    columns, title, share = CHARTS[chart]
    lines = [(version, column, xs, ys) for column in columns for version, (xs, ys) in _series(view, column).items()]
    values = [y for *_, ys in lines for y in ys if y is not None]
    if not values:
        return ""
    low, high = (0.0, 1.0) if share else (min(0.0, min(values)), max(values) or 1.0)
    pos = _x_positions([x for _, _, xs, _ in lines for x in xs])
    pad = 4
    plot_w, plot_h = width - 2 * pad, height - 2 * pad
    shapes = []
    for version, column, xs, ys in lines:
        color = _color(view, version)
        dash = " stroke-dasharray='3 3'" if DASH.get(column) == "dot" else ""
        points = [f"{pad + pos[x] * plot_w:.1f},{pad + plot_h - (y - low) / ((high - low) or 1) * plot_h:.1f}"
                  for x, y in zip(xs, ys) if y is not None]
        name = html.escape(_label(view, version) + (f" {column}" if len(columns) > 1 else ""), quote=True)
        if len(points) == 1:
            x, y = points[0].split(",")
            shapes.append(f"<circle cx='{x}' cy='{y}' r='2.5' fill='{color}'><title>{name}</title></circle>")
        elif points:
            shapes.append(f"<polyline points='{' '.join(points)}' fill='none' stroke='{color}' stroke-width='1.5'"
                          f"{dash}><title>{name}</title></polyline>")
    top = f"{high:.0%}" if share else f"{high:.3g}"
    note = " (solid p50, dotted p99)" if chart == "latency" else ""
    caption = f"{html.escape(title)}{note}; top {top}"
    return (f"<figure class='mlnb-rv-chart' data-chart='{chart}' style='margin:4px 12px 4px 0'>"
            f"<svg width='{width}' height='{height}' role='img' aria-label='{html.escape(title, quote=True)}'>"
            f"<rect x='0.5' y='0.5' width='{width - 1}' height='{height - 1}' fill='none' stroke='#ddd'/>"
            f"{''.join(shapes)}</svg><figcaption style='font-size:11px'>{caption}</figcaption></figure>")


def _color(view: dict[str, Any], version: int) -> str:
    """One color per version, the same in every chart and the legend (by the table's order)."""
    versions = sorted({int(r["version"]) for r in [*view.get("versions", []), *view.get("over_time", [])]
                       if r.get("version") is not None})
    return COLORS[versions.index(version) % len(COLORS)] if version in versions else COLORS[0]


def render_html(view: dict[str, Any]) -> str:
    """The comparison as static HTML: the per-version table and, over time, one small chart per measure."""
    rows = table_rows(view)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (rows[0] if rows else table_rows({"versions": [{}]})[0]))
    body = "".join(
        f"<tr data-version='{html.escape(str(r.get('version')), quote=True)}'>"
        + "".join(f"<td>{html.escape(cell_text(c, v))}</td>" for c, v in r.items()) + "</tr>" for r in rows)
    window = " · ".join(f"{k} {html.escape(str(view[k]))}" for k in ("since", "until") if view.get(k))
    total = sum(int(number(r.get("returned")) or 0) for r in rows)  # each answer was returned by one version
    legend = " ".join(f"<span style='color:{_color(view, int(r['version']))}'>&#9632;</span> "
                      f"{html.escape(_label(view, int(r['version'])))}" for r in rows if r.get("version") is not None)
    charts = "".join(_svg_chart(view, name) for name in charts_for(view))
    empty = "" if rows else "<p>no archived answers yet: serve the model with <code>mlnb serve</code> and send requests</p>"
    return (f"<div class='mlnb-rendezvous'><h4 style='margin:4px 0'>Rendezvous: <code>"
            f"{html.escape(str(view.get('model')))}</code> on live traffic</h4>"
            f"<p style='margin:2px 0'>{len(rows)} version{'s' if len(rows) != 1 else ''}; "
            f"{total} answer{'s' if total != 1 else ''} returned{'; ' + window if window else ''}</p>{empty}"
            f"<style>.mlnb-rendezvous-table td, .mlnb-rendezvous-table th {{padding: 2px 10px; text-align: right}}</style>"
            f"<table class='mlnb-rendezvous-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            + (f"<div style='display:flex;flex-wrap:wrap'>{charts}</div>"
               f"<p style='font-size:11px;margin:0'>per {html.escape(str(view.get('every') or 'bucket'))}: "
               f"{legend}</p>" if charts else "") + "</div>")
