"""`mlnb.lineage(obj)`: the lineage graph drawn with plotly, with a node table as the static fallback."""
from __future__ import annotations

import html
from typing import Any

from mlnb.comparison.lineage_graph import LineageGraph, build_graph, layers, to_json
from mlnb.project import ProjectLike, resolve

STYLES = {"dataset": ("#2ca02c", "square"), "cell": ("#1f77b4", "circle"), "metric": ("#ff7f0e", "diamond"),
          "run": ("#7f7f7f", "hexagon"), "model": ("#d62728", "star")}
MAX_ARROWS = 250


class LineageView:
    """A lineage graph; `.graph` has the nodes and edges, `.figure()` the plotly figure."""

    def __init__(self, graph: LineageGraph) -> None:
        self.graph = graph

    def to_json(self) -> dict[str, Any]:
        return to_json(self.graph)

    def figure(self) -> dict[str, Any]:
        return lineage_figure(self.graph)

    def _repr_mimebundle_(self, **_: Any) -> dict[str, Any]:
        import json

        import plotly.io as pio

        figure = json.loads(pio.to_json(self.figure(), validate=False))
        return {"application/vnd.plotly.v1+json": figure, "text/html": render_html(self.graph),
                "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"<mlnb lineage: {len(self.graph.nodes)} nodes, {len(self.graph.edges)} edges>"


def lineage(obj: Any, project: ProjectLike = None) -> LineageView:
    """Upstream and downstream of a run, a dataset fingerprint, a model version (name/3, name@champion)
    or a variable name: datasets, cells, metrics, runs and models as a graph, read from `project`
    (default: the current project)."""
    return LineageView(build_graph(resolve(project).store, obj))


def positions(graph: LineageGraph) -> dict[Any, tuple[float, float]]:
    """x = layer (sources on the left), y = rank within the layer."""
    columns: dict[int, list[Any]] = {}
    for node, layer in sorted(layers(graph).items(), key=lambda item: (item[1], item[0])):
        columns.setdefault(layer, []).append(node)
    placed = {}
    for layer, nodes in columns.items():
        for rank, node in enumerate(nodes):
            placed[node] = (float(layer), -(rank - (len(nodes) - 1) / 2))
    return placed


def lineage_figure(graph: LineageGraph) -> dict[str, Any]:
    """Nodes coloured by kind with hover details, edges as arrows; the start node(s) outlined."""
    where = positions(graph)
    edge_x: list[Any] = []
    edge_y: list[Any] = []
    arrows: list[dict[str, Any]] = []
    for src, dst, relation in graph.edges:
        if src not in where or dst not in where:
            continue
        (x0, y0), (x1, y1) = where[src], where[dst]
        edge_x += [x0, x1, None]
        edge_y += [y0, y1, None]
        if len(arrows) < MAX_ARROWS:
            arrows.append({"x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x", "ayref": "y",
                           "showarrow": True, "arrowhead": 2, "arrowsize": 1, "arrowwidth": 1, "opacity": 0.5,
                           "standoff": 8, "text": "", "hovertext": relation})
    traces: list[dict[str, Any]] = [{"type": "scatter", "x": edge_x, "y": edge_y, "mode": "lines", "hoverinfo": "skip",
                                     "line": {"color": "#bbb", "width": 1}, "showlegend": False}]
    for kind, (color, symbol) in STYLES.items():
        nodes = [n for n in graph.nodes if n[0] == kind and n in where]
        if not nodes:
            continue
        info = [graph.nodes[n] for n in nodes]
        traces.append({
            "type": "scatter", "mode": "markers+text", "name": kind,
            "x": [where[n][0] for n in nodes], "y": [where[n][1] for n in nodes],
            "text": [html.escape(i["label"]) for i in info], "textposition": "bottom center",
            "hovertext": [html.escape(i["detail"] or i["id"]).replace("\n", "<br>") for i in info],
            "hoverinfo": "text", "customdata": [i["id"] for i in info],
            "marker": {"color": color, "symbol": symbol, "size": 16,
                       "line": {"width": [3 if n in graph.start else 0 for n in nodes], "color": "black"}},
        })
    columns = max((x for x, _ in where.values()), default=0) + 1
    tallest = max((sum(1 for x, _ in where.values() if x == c) for c in range(int(columns))), default=1)
    layout = {"height": min(900, 160 + 60 * tallest), "showlegend": True, "hovermode": "closest",
              "margin": {"l": 20, "r": 20, "t": 40, "b": 20}, "annotations": arrows,
              "title": {"text": f"lineage: {len(graph.nodes)} nodes" + (" (truncated)" if graph.truncated else "")},
              "xaxis": {"visible": False, "range": [-0.5, columns - 0.5]}, "yaxis": {"visible": False},
              "plot_bgcolor": "white"}
    return {"data": traces, "layout": layout}


def render_html(graph: LineageGraph) -> str:
    """The graph as an HTML fragment (plotly from its CDN) plus a table of nodes and edges."""
    from mlnb.widgets.compare_view import figure_html

    esc = html.escape
    rows = "".join(f"<tr><td>{esc(info['kind'])}</td><td><code>{esc(info['id'][:24])}</code></td>"
                   f"<td><pre style='margin:0'>{esc(info['detail'])}</pre></td></tr>"
                   for info in graph.nodes.values())
    edges = "".join(f"<tr><td>{esc(graph.nodes.get(s, {}).get('label', s[1]))}</td><td>{esc(r)}</td>"
                    f"<td>{esc(graph.nodes.get(d, {}).get('label', d[1]))}</td></tr>" for s, d, r in graph.edges[:500])
    return (f"<div class='mlnb-lineage'>{figure_html(lineage_figure(graph))}"
            f"<details><summary>{len(graph.nodes)} nodes, {len(graph.edges)} edges</summary>"
            f"<table><thead><tr><th>kind</th><th>id</th><th>what</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<table><thead><tr><th>from</th><th>relation</th><th>to</th></tr></thead><tbody>{edges}</tbody></table>"
            f"</details></div>")
