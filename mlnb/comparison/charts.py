"""Plotly figures of a comparison: parallel coordinates, metric curves and a scatter.

Builders return plain figure dicts (numbers as numpy arrays, text as lists): `plain()` turns one
into JSON for plotly's own renderer in one fast pass, with no plotly validation on the way. Each builder caps what it draws,
so a figure embedded in a saved notebook stays small.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

MAX_PARCOORDS_RUNS = 5_000
MAX_CURVE_RUNS = 20
MAX_CURVE_POINTS = 1_000
MAX_DIMENSIONS = 12
SELECTED_COLOR = "#d62728"


def short(column: str) -> str:
    """`params.lr` -> `lr`; other names unchanged."""
    return column.split(".", 1)[1] if column.startswith(("params.", "metrics.")) else column


def label(column: str) -> str:
    """A column's short name for plotly text, which reads a little HTML: user text is escaped."""
    return html.escape(short(column))


def plain(figure: dict[str, Any]) -> dict[str, Any]:
    """The figure as plain JSON values (numpy arrays to lists, NaN to null)."""
    import numpy as np
    import orjson

    def fallback(value: Any) -> Any:  # arrays orjson cannot take as they are (strided, object)
        if isinstance(value, np.ndarray):
            return np.ascontiguousarray(value).tolist()
        raise TypeError(f"not JSON: {type(value).__name__}")

    return orjson.loads(orjson.dumps(figure, default=fallback, option=orjson.OPT_SERIALIZE_NUMPY))


def parallel_coordinates(frame: Any, params: Sequence[str], metric: str | None) -> Any:
    """One line per run through its params, ending in (and coloured by) the chosen metric."""
    frame = frame.head(MAX_PARCOORDS_RUNS)
    dimensions = [_dimension(frame[c], label(c)) for c in list(params)[:MAX_DIMENSIONS]]
    line: dict[str, Any] = {}
    if metric is not None and metric in frame:
        values = frame[metric].astype(float)
        dimensions.append(_dimension(frame[metric], label(metric)))
        line = {"color": values.fillna(values.min() if values.notna().any() else 0).to_numpy(),
                "colorscale": "Viridis", "showscale": True, "colorbar": {"title": {"text": label(metric)}}}
    title = f"{len(frame)} run{'s' if len(frame) != 1 else ''}: params → {label(metric) if metric else 'metric'}"
    return {"data": [{"type": "parcoords", "dimensions": dimensions, "line": line}],
            "layout": {"height": 400, "margin": {"l": 60, "r": 80, "t": 90, "b": 30},
                       "title": {"text": title, "y": 0.98, "yanchor": "top"}}}


def _dimension(column: Any, label: str) -> dict[str, Any]:
    """A parcoords axis; text columns become categories with their names as ticks."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return {"label": label, "values": column.astype(float).to_numpy()}
    text = column.astype("string").fillna("(none)")
    categories = sorted(text.unique().tolist())
    codes = {name: i for i, name in enumerate(categories)}
    return {"label": label, "values": text.map(codes).to_numpy(dtype=float), "tickvals": list(range(len(categories))),
            "ticktext": [html.escape(c) for c in categories]}


def metric_curves(histories: Any, keys: Sequence[str], labels: dict[str, str]) -> dict[str, Any]:
    """One panel per metric over steps, one line per run (a run keeps its colour in every panel);
    long histories are thinned to MAX_CURVE_POINTS."""
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf")
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"height": 60 + 220 * max(1, len(keys)), "margin": {"l": 50, "r": 20, "t": 30, "b": 40},
                              "legend": {"orientation": "h"}, "annotations": []}
    gap = 0.08
    height = (1 - gap * (len(keys) - 1)) / max(1, len(keys))
    for i, key in enumerate(keys):
        suffix = "" if i == 0 else str(i + 1)
        top = 1 - i * (height + gap)
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "title": {"text": "step"} if i == len(keys) - 1 else {}}
        if i:
            layout[f"xaxis{suffix}"]["matches"] = "x"
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [max(0.0, top - height), top]}
        layout["annotations"].append({"text": f"<b>{html.escape(key)}</b>", "xref": "paper", "yref": "paper", "x": 0, "y": top,
                                      "xanchor": "left", "yanchor": "bottom", "showarrow": False})
        rows = histories[histories["key"] == key]
        for n, run_id in enumerate(list(labels)[:MAX_CURVE_RUNS]):
            points = rows[rows["run_id"] == run_id]
            if points.empty:
                continue
            points = points.iloc[::max(1, -(-len(points) // MAX_CURVE_POINTS))]
            traces.append({"type": "scatter", "x": points["step"].to_numpy(), "y": points["value"].to_numpy(),
                           "mode": "lines+markers" if len(points) < 30 else "lines", "name": html.escape(labels[run_id]),
                           "legendgroup": run_id, "showlegend": i == 0, "line": {"color": palette[n % 10]},
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "meta": key})
    return {"data": traces, "layout": layout}


def scatter(frame: Any, x: str, y: str, selected: Sequence[str] = ()) -> Any:
    """Any column against any other; selected runs drawn on top in red."""
    traces = []
    chosen = frame["run_id"].isin(list(selected))
    for mask, name, color in ((~chosen, "runs", "#1f77b4"), (chosen, "selected", SELECTED_COLOR)):
        part = frame[mask]
        if part.empty:
            continue
        traces.append({
            "type": "scatter", "x": _axis(part[x]), "y": _axis(part[y]), "mode": "markers", "name": name,
            "marker": {"color": color, "size": 9 if name == "selected" else 7},
            "text": [html.escape(t) for t in (part["run_id"].str.slice(0, 8) + " " + part["name"].fillna(""))],
            "hoverinfo": "text+x+y"})
    return {"data": traces, "layout": {"height": 320, "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
                                       "title": {"text": f"{label(y)} vs {label(x)}"},
                                       "xaxis": {"title": {"text": label(x)}}, "yaxis": {"title": {"text": label(y)}}}}


def _axis(column: Any) -> Any:
    """Numbers as floats (missing -> NaN), anything else as text."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.astype(float).to_numpy()
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.astype(str).tolist()
    return column.astype("string").fillna("").tolist()
