"""The drift report as data, figures and static HTML, built from the report dict alone
(`DriftReport.to_dict()`, the shape in mlnb.model_monitoring): `report_state` normalises what the user
passes; `table_rows`, `histogram_figure` and `history_figure` are pure (data in, rows or plotly
figure dicts out); `render_html` is the static view (inline SVG, no JavaScript, so saved and
converted notebooks show it). No store access here: `DriftReport._repr_html_` and the CLI use it
too, and the live widget (`mlnb.widgets.drift_view`) composes it.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from mlnb.errors import InvalidValueError

__all__ = ["histogram_figure", "history_figure", "overall_status", "render_html", "report_state", "table_rows"]

STATUS_COLORS = {"ok": "#2e7d32", "warn": "#ed6c02", "drift": "#c62828"}
STATUS_RANK = {"drift": 0, "warn": 1, "ok": 2}
SORT_KEYS = ("status", "column", "score", "psi", "js", "wasserstein", "ks", "ks_p_adjusted", "chi2",
             "missing_current")
TABLE_COLUMNS = ("column", "kind", "status", "statistic", "score", "warn_at", "drift_at", "psi", "js",
                 "wasserstein", "ks", "ks_p_adjusted", "chi2", "missing_reference", "missing_current", "unseen")
STATIC_HISTOGRAMS = 6  # columns drawn in the static view: the drifted ones first
HISTORY_COLUMNS = 5  # score lines in the history figure when no column is chosen
REFERENCE_COLOR, CURRENT_COLOR = "#1f77b4", "#ff7f0e"
MISSING_LABEL = "(missing)"


# --- the report, normalised -------------------------------------------------------------------

def report_state(obj: Any) -> dict[str, Any]:
    """{"drift": report dict, "validation": dict | None, "check": {check, model, version, t, ...}} from a
    DriftReport, a MonitorResult, their to_dict() or a check_detail answer."""
    found = _split(obj)
    if found is None:
        raise InvalidValueError("drift_report takes a DriftReport, a MonitorResult (mlnb.monitor(...)), "
                                f"their to_dict() or a check id; got {type(obj).__name__}", field="report")
    return found


def _split(obj: Any) -> dict[str, Any] | None:
    inner: Any
    validation: Any
    if not isinstance(obj, dict):
        if hasattr(obj, "to_dict"):
            return _split(obj.to_dict())
        parts = {k: getattr(obj, k) for k in ("drift", "report", "validation") if hasattr(obj, k)}
        return _split({k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in parts.items()}) if parts else None
    if isinstance(obj.get("columns"), list):
        return {"drift": obj, "validation": None, "check": {}}
    for key in ("drift", "report"):
        inner = obj.get(key)
        if hasattr(inner, "to_dict"):
            inner = inner.to_dict()
        if isinstance(inner, dict) and isinstance(inner.get("columns"), list):
            validation = obj.get("validation")
            if hasattr(validation, "to_dict"):
                validation = validation.to_dict()
            check = {k: v for k, v in obj.items() if k not in ("drift", "report", "validation")
                     and not isinstance(v, (dict, list))}
            return {"drift": inner, "validation": validation if isinstance(validation, dict) else None,
                    "check": check}
    return None


def overall_status(state: dict[str, Any]) -> str:
    """"drift" when the report drifts or validation failed, else the report's status."""
    validation = state.get("validation")
    if validation is not None and not validation.get("passed", True):
        return "drift"
    return str(state["drift"].get("status", "ok"))


# --- pure builders ----------------------------------------------------------------------------

def number(value: Any) -> float | None:
    """A report number as a float (the JSON faces send infinities as "inf"); None when missing."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if value in ("inf", "-inf"):
        return float(value)
    return None


def number_text(value: Any) -> str:
    x = number(value)
    if x is None:
        return ""
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def table_rows(report: dict[str, Any], sort_by: str = "status", descending: bool = False) -> list[dict[str, Any]]:
    """One row per column of the report (TABLE_COLUMNS), sorted; missing numbers always last.

    `status` sorts by severity (drift, warn, ok; then by score, highest first), `column` by name,
    every other key by its value."""
    if sort_by not in SORT_KEYS:
        raise InvalidValueError(f"sort_by must be one of {', '.join(SORT_KEYS)}; got {sort_by!r}", field="sort_by")
    rows = []
    for col in report.get("columns", []):
        row = {key: col.get(key) for key in TABLE_COLUMNS if key != "unseen"}
        unseen = col.get("unseen_categories") or []
        row["unseen"] = ", ".join(map(str, unseen[:5])) + (", ..." if len(unseen) > 5 else "")
        rows.append(row)

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        if sort_by == "column":
            return (str(row["column"]),)
        if sort_by == "status":
            score = number(row["score"])
            return (STATUS_RANK.get(str(row["status"]), 3), -(score if score is not None else -math.inf))
        value = number(row[sort_by])
        return (value is None, value if value is not None else 0.0)

    if sort_by in ("status", "column"):
        rows.sort(key=key, reverse=descending)
    else:  # missing values stay at the end in both directions
        present = sorted((r for r in rows if number(r[sort_by]) is not None), key=key, reverse=descending)
        rows = present + [r for r in rows if number(r[sort_by]) is None]
    return rows


def bin_labels(hist: dict[str, Any], kind: str = "numeric") -> list[str]:
    """Labels of a histogram's bins: categories as they are, number bins as intervals. The outer
    number bins are open tails (the reference's min and max, when given as the outer edges, are
    not bounds: a current value beyond them falls in the tail), so they read `≤ e1` and `> ek`."""
    edges, counts = list(hist.get("categories") or hist.get("edges") or []), list(hist.get("counts") or [])
    n = len(counts)
    if kind == "categorical" or "categories" in hist or len(edges) == n:
        return [str(e) for e in edges[:n]] + [f"bin {i + 1}" for i in range(len(edges), n)]
    if len(edges) == n - 1:  # inner cut points only: the tails are open
        edges = [-math.inf, *edges, math.inf]
    if len(edges) != n + 1:
        return [f"bin {i + 1}" for i in range(n)]

    def edge(value: Any) -> str:
        x = number(value)
        if x is None:
            return str(value)
        if kind == "datetime" and math.isfinite(x):
            from datetime import datetime, timezone

            return datetime.fromtimestamp(x, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        return number_text(x)

    if n == 1:
        return ["all values"]
    return [f"≤ {edge(edges[1])}"] + [f"({edge(lo)}, {edge(hi)}]" for lo, hi in zip(edges[1:-2], edges[2:-1])] \
        + [f"> {edge(edges[-2])}"]


def histogram_shares(col: dict[str, Any]) -> tuple[list[str], list[float], list[float]]:
    """(bin labels, reference shares, current shares): both sides on the union of their bins."""
    kind = str(col.get("kind") or "numeric")
    sides = []
    for key in ("reference_hist", "current_hist"):
        hist = col.get(key) or {}
        counts = [number(c) or 0.0 for c in hist.get("counts") or []]
        side = dict(zip(bin_labels(hist, kind), counts))
        missing = number(hist.get("missing")) or 0.0
        if missing:  # missing values are a bin of their own: their share moves too
            side[MISSING_LABEL] = side.get(MISSING_LABEL, 0.0) + missing
        sides.append(side)
    labels = list(sides[0]) + [label for label in sides[1] if label not in sides[0]]
    shares = []
    for side in sides:
        total = sum(side.values())
        shares.append([side.get(label, 0.0) / total if total else 0.0 for label in labels])
    return labels, shares[0], shares[1]


def column_entry(report: dict[str, Any], column: str) -> dict[str, Any]:
    for col in report.get("columns", []):
        if col.get("column") == column:
            return dict(col)
    names = ", ".join(str(c.get("column")) for c in report.get("columns", [])[:20])
    raise InvalidValueError(f"no column {column!r} in the report; columns are: {names}", field="column")


def histogram_figure(col: dict[str, Any]) -> dict[str, Any]:
    """Reference vs current share of rows per reference bin, overlaid (a plotly figure dict)."""
    labels, ref, cur = histogram_shares(col)
    if col.get("kind") == "categorical":  # user text; plotly renders a little HTML in tick labels
        labels = [html.escape(label) for label in labels]
    score = number_text(col.get("score"))
    title = f"{html.escape(str(col.get('column')))}: {html.escape(str(col.get('status')))}"
    if score:
        title += f" ({html.escape(str(col.get('statistic') or 'score'))} = {score})"
    return {"data": [{"type": "bar", "name": "reference", "x": labels, "y": ref, "marker": {"color": REFERENCE_COLOR},
                      "opacity": 0.6},
                     {"type": "bar", "name": "current", "x": labels, "y": cur, "marker": {"color": CURRENT_COLOR},
                      "opacity": 0.6}],
            "layout": {"barmode": "overlay", "height": 320, "margin": {"l": 50, "r": 20, "t": 50, "b": 80},
                       "title": {"text": title}, "yaxis": {"title": {"text": "share of rows"}, "tickformat": ".0%"},
                       "xaxis": {"type": "category"}, "legend": {"orientation": "h", "y": 1.12}}}


def history_points(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{t, version, status, drifted, scores: {column: score}}] from history records (mlnb.monitoring
    rows, or monitoring_history items), oldest first."""
    import json

    points = []
    for record in history:
        summary = record.get("summary")
        if isinstance(summary, str):
            try:
                summary = json.loads(summary)
            except ValueError:
                summary = None
        scores: dict[str, float] = {}
        items: list[tuple[Any, Any]] = []
        if isinstance(summary, dict):
            items = list(summary.items())
        elif isinstance(summary, list):
            items = [(s.get("column"), s) for s in summary if isinstance(s, dict)]
        for name, entry in items:
            value = number(entry.get("score")) if isinstance(entry, dict) else number(entry)
            if name is not None and value is not None and math.isfinite(value):
                scores[str(name)] = value
        points.append({"t": str(record.get("t") or ""), "version": record.get("version"),
                       "status": record.get("status"), "drifted": number(record.get("drifted")), "scores": scores})
    return sorted(points, key=lambda p: p["t"])


def history_figure(history: Sequence[dict[str, Any]], column: str | None = None) -> dict[str, Any]:
    """Drift score over time: the chosen column's (else the highest-scoring few), one marker per check
    coloured by its overall status, plus the number of drifted columns on a second axis."""
    points = history_points(history)
    if column is not None and any(column in p["scores"] for p in points):
        names = [column]
    else:
        latest: dict[str, float] = max((p["scores"] for p in reversed(points) if p["scores"]), key=len, default={})
        names = sorted(latest, key=lambda c: -latest[c])[:HISTORY_COLUMNS]
    data: list[dict[str, Any]] = []
    for name in names:
        shown = [p for p in points if name in p["scores"]]
        data.append({"type": "scatter", "mode": "lines+markers", "name": html.escape(name),
                     "x": [p["t"] for p in shown], "y": [p["scores"][name] for p in shown],
                     "marker": {"color": [STATUS_COLORS.get(str(p["status"]), "#888") for p in shown], "size": 9}})
    data.append({"type": "bar", "name": "drifted columns", "x": [p["t"] for p in points],
                 "y": [p["drifted"] or 0 for p in points], "yaxis": "y2", "opacity": 0.25,
                 "marker": {"color": STATUS_COLORS["drift"]}})
    return {"data": data,
            "layout": {"height": 300, "margin": {"l": 50, "r": 50, "t": 40, "b": 40},
                       "title": {"text": f"drift history ({len(points)} check{'s' if len(points) != 1 else ''})"},
                       "yaxis": {"title": {"text": "score"}},
                       "yaxis2": {"title": {"text": "drifted"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
                       "legend": {"orientation": "h", "y": -0.2}}}


# --- the static view --------------------------------------------------------------------------

def _badge(status: Any) -> str:
    color = STATUS_COLORS.get(str(status), "#888")
    return (f"<span class='mlnb-drift-status' data-status='{html.escape(str(status))}' style='padding:1px 6px;"
            f"border-radius:8px;color:white;background:{color}'>{html.escape(str(status))}</span>")


def _svg_histogram(col: dict[str, Any], width: int = 320, height: int = 110) -> str:
    """Overlaid bars as inline SVG (no JavaScript, so it survives saving and converting)."""
    labels, ref, cur = histogram_shares(col)
    if not labels:
        return ""
    top = max([*ref, *cur, 1e-12])
    step = width / len(labels)
    bars = []
    for i, label in enumerate(labels):
        for share, color in ((ref[i], REFERENCE_COLOR), (cur[i], CURRENT_COLOR)):
            h = share / top * (height - 14)
            bars.append(f"<rect x='{i * step + 1:.1f}' y='{height - h:.1f}' width='{max(step - 2, 1):.1f}' "
                        f"height='{h:.1f}' fill='{color}' fill-opacity='0.55'><title>{html.escape(label)}: "
                        f"{share:.1%}</title></rect>")
    name = html.escape(str(col.get("column")))
    return (f"<figure class='mlnb-drift-hist' data-column='{name}' style='display:inline-block;margin:4px 12px'>"
            f"<svg width='{width}' height='{height}' role='img' aria-label='{name}'>{''.join(bars)}</svg>"
            f"<figcaption>{name} {_badge(col.get('status'))} <span style='color:{REFERENCE_COLOR}'>reference</span> "
            f"vs <span style='color:{CURRENT_COLOR}'>current</span></figcaption></figure>")


def render_html(state: dict[str, Any], sort_by: str = "status", descending: bool = False,
                histograms: Sequence[str] | None = None) -> str:
    """A self-contained HTML view of `report_state` (everything user-written is escaped)."""
    esc = html.escape
    report, validation, check = state["drift"], state.get("validation"), state.get("check") or {}
    rows = table_rows(report, sort_by, descending)
    head = "".join(f"<th>{esc(c)}</th>" for c in TABLE_COLUMNS)
    body = []
    for row in rows:
        cells = []
        for c in TABLE_COLUMNS:
            value = row[c]
            if c == "status":
                cells.append(f"<td>{_badge(value)}</td>")
            elif c in ("column", "kind", "statistic", "unseen"):
                cells.append(f"<td>{esc(str(value or ''))}</td>")
            else:
                cells.append(f"<td style='text-align:right'>{number_text(value)}</td>")
        body.append(f"<tr data-column='{esc(str(row['column']))}'>{''.join(cells)}</tr>")
    where = ""
    if check.get("model") is not None:
        where = f" · model <code>{esc(str(check['model']))}/{esc(str(check.get('version', '?')))}</code>"
    check_id = check.get("check") or check.get("id")
    if check_id:
        where += f" · check <code>{esc(str(check_id)[:12])}</code>"
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("drift", "warn")}
    summary = (f"<p>{_badge(overall_status(state))} {counts['drift']} drifted, {counts['warn']} warning, "
               f"{len(rows)} columns · {esc(number_text(report.get('rows_current')))} rows vs "
               f"{esc(number_text(report.get('rows_reference')))} in the reference{where}</p>")
    schema = report.get("schema") or {}
    changes = [f"added: {esc(', '.join(map(str, schema.get('added') or [])))}" if schema.get("added") else "",
               f"removed: {esc(', '.join(map(str, schema.get('removed') or [])))}" if schema.get("removed") else "",
               "retyped: " + esc(", ".join(f"{r.get('column')} ({r.get('reference')} → {r.get('current')})"
                                           for r in schema.get("retyped") or [])) if schema.get("retyped") else ""]
    schema_html = f"<p class='mlnb-drift-schema'>Schema changes: {'; '.join(c for c in changes if c)}</p>" \
        if any(changes) else ""
    validation_html = ""
    if validation is not None:
        failures = validation.get("failures") or []
        items = "".join(f"<tr><td>{esc(str(f.get('expectation')))}</td><td>{esc(str(f.get('column')))}</td>"
                        f"<td>{number_text(f.get('count'))}</td><td>{esc(', '.join(map(str, f.get('examples') or []))[:200])}"
                        f"</td><td>{esc(str(f.get('detail') or ''))}</td></tr>" for f in failures)
        validation_html = (f"<p class='mlnb-validation'>Validation: {'passed' if validation.get('passed') else 'failed'}"
                           f"</p>" + (f"<table><thead><tr><th>expectation</th><th>column</th><th>count</th>"
                                      f"<th>examples</th><th>detail</th></tr></thead><tbody>{items}</tbody></table>"
                                      if failures else ""))
    chosen = list(histograms) if histograms is not None else \
        [r["column"] for r in table_rows(report, "status")][:STATIC_HISTOGRAMS]
    figures = "".join(_svg_histogram(column_entry(report, c)) for c in chosen)
    method = f"<p style='color:#666;font-size:90%'>{esc(str(report['method']))}</p>" if report.get("method") else ""
    return (f"<div class='mlnb-drift-report'><h4>Drift report</h4>{summary}{schema_html}{validation_html}"
            f"<table class='mlnb-drift-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<div>{figures}</div>{method}</div>")
