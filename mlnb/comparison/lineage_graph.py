"""Lineage as a graph: datasets, cells, metrics, runs and models upstream and downstream of a start.

The edges are the `lineage` table's (dataset -> cell -> dataset, cell -> cell through a variable,
cell -> metric, model/run relations) plus run -> cell for the cells each run executed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mlnb.comparison import queries as lineage_queries
from mlnb.errors import MlnbError
from mlnb.store import queries
from mlnb.store.store import Store

MAX_NODES = 300
MAX_DEPTH = 8
Node = tuple[str, str]  # (kind, id)


@dataclass
class LineageGraph:
    """Nodes with what they are, directed edges with their relation, and the node(s) asked about."""

    start: list[Node]
    nodes: dict[Node, dict[str, Any]] = field(default_factory=dict)
    edges: list[tuple[Node, Node, str]] = field(default_factory=list)
    truncated: bool = False

    def upstream(self, node: Node) -> set[Node]:
        """Every node with a path to `node`."""
        return self._reach(node, reverse=True)

    def downstream(self, node: Node) -> set[Node]:
        return self._reach(node, reverse=False)

    def _reach(self, node: Node, reverse: bool) -> set[Node]:
        seen: set[Node] = set()
        frontier = [node]
        while frontier:
            current = frontier.pop()
            for src, dst, _ in self.edges:
                nxt = src if reverse and dst == current else dst if not reverse and src == current else None
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        return seen


def resolve_start(store: Store, obj: Any) -> list[Node]:
    """Nodes for a Run/run id, a dataset fingerprint, a Fingerprint, a model version or a variable name."""
    if hasattr(obj, "hash") and hasattr(obj, "schema_hash"):  # a Fingerprint
        return [("dataset", obj.hash)]
    if hasattr(obj, "id") and hasattr(obj, "log_metric"):  # a Run
        return [("run", obj.id)]
    if isinstance(obj, dict) and {"name", "version"} <= obj.keys():  # a model version record
        return [("model", f"models:/{obj['name']}/{int(obj['version'])}")]
    if not isinstance(obj, str) or not obj.strip():
        raise MlnbError(f"lineage() takes a run, run id, dataset fingerprint, model version or variable name; "
                        f"got {obj!r}")
    text = obj.strip()
    model = re.fullmatch(r"(?:models:/)?([^/@:]+)(?:/|:|@)(\S+)", text)
    with queries.one_view(store):
        fingerprints = lineage_queries.datasets_by_prefix(store, text) if len(text) >= 8 else []
        if len(fingerprints) == 1:
            return [("dataset", fingerprints[0])]
        try:
            return [("run", queries.resolve_run(store, text))]
        except MlnbError:
            pass
        if model:
            name, ref = model.groups()
            version = lineage_queries.model_version(store, name, ref)
            if version is not None:
                return [("model", f"models:/{name}/{version}")]
        written = lineage_queries.last_bound(store, text)
    if written is None:
        raise MlnbError(f"nothing in this store is called {text!r}: give a run id, a dataset fingerprint, "
                        "a model as name/version or name@alias, or a variable name a tracked cell wrote")
    return [written]


def build_graph(store: Store, obj: Any, depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> LineageGraph:
    """Walk the lineage upstream and downstream of `obj` (each direction on its own)."""
    graph = LineageGraph(resolve_start(store, obj))
    with queries.one_view(store):  # one connection, one state of the index for the whole walk
        seeds, edges = list(graph.start), set()
        for kind, ident in graph.start:
            if kind == "model":  # a model version stands for the run that registered it
                edges |= _model_edges(store, ident)
                seeds += [e[0] for e in edges]
        for kind, ident in list(seeds):
            if kind == "run":  # a run stands for everything it recorded
                seeds += lineage_queries.run_nodes(store, ident)
        for reverse in (True, False):
            frontier, seen = set(seeds), set(seeds)
            for _ in range(depth):
                if not frontier or len(seen) > max_nodes:
                    graph.truncated = graph.truncated or bool(frontier)
                    break
                found = _neighbours(store, frontier, reverse)
                edges |= found
                frontier = {e[0] if reverse else e[1] for e in found} - seen
                seen |= frontier
        graph.edges = sorted(edges)
        _add_run_edges(graph, {n for e in graph.edges for n in e[:2]} | set(seeds))
        graph.nodes = _describe(store, {n for e in graph.edges for n in e[:2]} | set(seeds))
    return graph


def _neighbours(store: Store, frontier: set[Node], reverse: bool) -> set[tuple[Node, Node, str]]:
    ids = sorted({ident for _, ident in frontier})
    found = set()
    for sk, si, dk, di, rel in lineage_queries.edges_into(store, ids, upstream=reverse):
        if ((dk, di) if reverse else (sk, si)) in frontier:
            found.add(((sk, si), (dk, di), rel))
    return found


def _model_edges(store: Store, uri: str) -> set[tuple[Node, Node, str]]:
    """run -> model for the run that registered this model version."""
    name, version = uri[len("models:/"):].rsplit("/", 1)
    run_id = lineage_queries.model_run(store, name, int(version))
    return {(("run", run_id), ("model", uri), "registered")} if run_id else set()


def _add_run_edges(graph: LineageGraph, nodes: set[Node]) -> None:
    """run -> cell for each cell in the graph, so every cell shows which run executed it."""
    extra = {(("run", ident.rsplit(":", 1)[0]), ("cell", ident), "executed") for kind, ident in nodes if kind == "cell"}
    graph.edges = sorted(set(graph.edges) | extra)


def _describe(store: Store, nodes: set[Node]) -> dict[Node, dict[str, Any]]:
    """What each node is: code excerpt of a cell, shape of a dataset, value of a metric, ..."""
    described: dict[Node, dict[str, Any]] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, ident in nodes:
        by_kind.setdefault(kind, []).append(ident)
        described[(kind, ident)] = {"kind": kind, "id": ident, "label": ident[:12], "detail": ""}
    for fp, kind, n_rows, n_cols in lineage_queries.dataset_shapes(store, by_kind.get("dataset", [])):
        described[("dataset", fp)].update(label=f"{kind} {n_rows}x{n_cols}", detail=f"{kind} {n_rows} rows x "
                                          f"{n_cols} cols, fingerprint {fp[:16]}")
    for run_id, seq, code, status, execution_count in lineage_queries.cell_summaries(store, by_kind.get("cell", [])):
        excerpt = "\n".join((code or "").strip().splitlines()[:4])[:160]
        described[("cell", f"{run_id}:{seq}")].update(
            label=f"[{execution_count}] {(code or '').strip().splitlines()[0][:24] if (code or '').strip() else ''}",
            detail=f"cell {seq} of run {run_id[:8]} ({status})\n{excerpt}", run=run_id)
    for run_id, name, experiment, status in queries.run_summaries(store, by_kind.get("run", [])):
        described[("run", run_id)].update(label=f"run {run_id[:8]}" + (f" {name}" if name else ""),
                                          detail=f"run {run_id} '{name or ''}' in {experiment} ({status})")
    metrics = by_kind.get("metric", [])
    values = queries.latest_metric_values(store, metrics)
    for ident in metrics:
        run_id, _, key = ident.partition(":")
        value = values.get(ident)
        described[("metric", ident)].update(label=key, detail=f"metric {key} of run {run_id[:8]}"
                                            + (f" = {value:.6g}" if value is not None else ""))
    for ident in by_kind.get("model", []):
        described[("model", ident)].update(label=ident[len("models:/"):], detail=f"model version {ident}")
    return described


def to_json(graph: LineageGraph) -> dict[str, Any]:
    """A JSON-friendly form of the graph (for tests, APIs and saving)."""
    return {"start": [list(n) for n in graph.start], "truncated": graph.truncated,
            "nodes": [dict(v) for v in graph.nodes.values()],
            "edges": [{"src": list(s), "dst": list(d), "relation": r} for s, d, r in graph.edges]}


def layers(graph: LineageGraph) -> dict[Node, int]:
    """Column of each node: the longest path from a source (nodes on a cycle go after the rest)."""
    incoming: dict[Node, int] = {n: 0 for n in graph.nodes}
    for src, dst, _ in graph.edges:
        if src in incoming and dst in incoming:
            incoming[dst] += 1
    layer = {n: 0 for n in graph.nodes}
    ready = [n for n, k in incoming.items() if k == 0]
    while ready:
        node = ready.pop()
        for src, dst, _ in graph.edges:
            if src == node and dst in incoming:
                layer[dst] = max(layer[dst], layer[node] + 1)
                incoming[dst] -= 1
                if incoming[dst] == 0:
                    ready.append(dst)
    last = max(layer.values(), default=0)
    return {n: (layer[n] if incoming[n] == 0 else last + 1) for n in graph.nodes}

