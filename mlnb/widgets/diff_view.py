"""`mlnb.diff(a, b)`: two runs side by side as one HTML view (works live, saved and converted alike)."""
from __future__ import annotations

import base64
import html
from typing import Any

from mlnb.comparison.run_diff import RunDiff, diff_runs
from mlnb.project import ProjectLike, resolve

MAX_IMAGES = 6
MAX_IMAGE_BYTES = 400_000
MAX_CODE_CHARS = 20_000
COLORS = {"added": "#e6ffed", "removed": "#ffeef0", "changed": "#fff8c5", "upgraded": "#fff8c5",
          "downgraded": "#fff8c5", "same": "transparent"}
STYLE = """<style>
.mlnb-diff table { border-collapse: collapse; margin-bottom: 8px; font-size: 12px; }
.mlnb-diff th, .mlnb-diff td { padding: 2px 8px; border-top: 1px solid #ddd; text-align: left; vertical-align: top; }
.mlnb-diff pre { margin: 2px 0; font-size: 11px; max-height: 320px; overflow: auto; }
.mlnb-diff .del { color: #b31d28; } .mlnb-diff .ins { color: #22863a; } .mlnb-diff .hunk { color: #6f42c1; }
</style>"""


class DiffView:
    """The diff of two runs; `.data` holds every entry (see `RunDiff`)."""

    def __init__(self, data: RunDiff, store: Any) -> None:
        self.data, self._store = data, store

    def _repr_html_(self) -> str:
        return render_html(self.data, self._store)

    def __repr__(self) -> str:
        d = self.data
        counts = ", ".join(f"{len(d.changed(s))} {s}" for s in ("params", "metrics", "cells", "outputs", "data",
                                                              "environment"))
        return f"<mlnb diff {d.a.run_id[:8]} -> {d.b.run_id[:8]}: {counts} differ>"


def diff(run_a: Any, run_b: Any, project: ProjectLike = None) -> DiffView:
    """Side by side: params, metrics with deltas, code per cell, outputs, data fingerprints, environment.
    Both runs are read from `project` (default: the current project)."""
    store = resolve(project).store
    return DiffView(diff_runs(store, run_a, run_b), store)


def render_html(d: RunDiff, store: Any) -> str:
    esc = html.escape
    label_a, label_b = _label(d.a), _label(d.b)
    parts = [STYLE, f"<div class='mlnb-diff'><h4>Diff: <span class='del'>a = {esc(label_a)}</span> &rarr; "
                    f"<span class='ins'>b = {esc(label_b)}</span></h4>"]
    parts.append(_section("Params", ["param", "a", "b"], [
        (e["change"], [e["key"], e["a"], e["b"]]) for e in d.changed("params")], len(d.params)))
    parts.append(_section("Metrics", ["metric", "a", "b", "delta"], [
        (e["change"],
         [e["key"], _num(e["a"]), _num(e["b"]), _delta(e)]) for e in d.metrics], len(d.metrics), show_same=True))
    parts.append(_cells_html(d))
    parts.append(_outputs_html(d, store))
    parts.append(_section("Data", ["variable", "a", "b", "what changed"], [
        (e["change"], [e["name"], _fp(e["a"], e["a_shape"]), _fp(e["b"], e["b_shape"]), _data_note(e)])
        for e in d.changed("data")], len(d.data)))
    parts.append(_section("Environment", ["item", "a", "b", "change"], [
        (e["change"], [e["item"], e["a"], e["b"], e["change"]]) for e in d.changed("environment")],
        len(d.environment)))
    parts.append("</div>")
    return "".join(parts)


def _label(record: Any) -> str:
    return f"{record.run_id[:8]}" + (f" ({record.name})" if record.name else "")


def _section(title: str, head: list[str], rows: list[tuple[str, list[Any]]], total: int,
             show_same: bool = False) -> str:
    esc = html.escape
    if not rows:
        return f"<h5>{title}</h5><p>{'identical' if total else 'nothing recorded'}</p>"
    header = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        f"<tr style='background:{COLORS.get(change, 'transparent')}' data-change='{esc(change)}'>"
        + "".join(f"<td>{esc('' if v is None else str(v))}</td>" for v in values) + "</tr>"
        for change, values in rows)
    same = "" if show_same else f" <small>({total - len(rows)} identical not shown)</small>"
    return f"<h5>{title}{same}</h5><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def _delta(entry: dict[str, Any]) -> str:
    if entry.get("delta") is None:
        return entry["change"] if entry["change"] != "same" else ""
    relative = f" ({entry['relative']:+.1%})" if entry.get("relative") is not None else ""
    return f"{entry['delta']:+.6g}{relative}"


def _fp(fingerprint: str | None, shape: tuple[Any, Any]) -> str:
    if fingerprint is None:
        return "-"
    rows, cols = shape
    return f"{fingerprint[:12]} ({rows} x {cols})" if rows is not None else fingerprint[:12]


def _data_note(entry: dict[str, Any]) -> str:
    notes = []
    if entry["change"] == "changed":
        for axis, what in enumerate(("rows", "cols")):
            if entry["a_shape"][axis] != entry["b_shape"][axis]:
                notes.append(f"{what} {entry['a_shape'][axis]} -> {entry['b_shape'][axis]}")
    if entry["schema_changed"]:
        notes.append("schema changed")
    if entry["columns_added"]:
        notes.append("added columns: " + ", ".join(entry["columns_added"]))
    if entry["columns_removed"]:
        notes.append("removed columns: " + ", ".join(entry["columns_removed"]))
    for change in entry["profile_changes"][:8]:
        notes.append(f"{change['column']}.{change['field']}: {_num(change['a'])} -> {_num(change['b'])}")
    if len(entry["profile_changes"]) > 8:
        notes.append(f"... {len(entry['profile_changes']) - 8} more profile changes")
    if entry["change"] == "changed" and not notes:
        notes.append("values changed (same schema and profile)")
    return "; ".join(notes) or entry["change"]


def _unified(diff_text: str) -> str:
    """A unified diff, coloured line by line."""
    lines = []
    for line in diff_text[:MAX_CODE_CHARS].splitlines():
        css = "hunk" if line.startswith("@@") else "del" if line.startswith("-") else \
            "ins" if line.startswith("+") else ""
        lines.append(f"<span class='{css}'>{html.escape(line)}</span>" if css else html.escape(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def _cells_html(d: RunDiff) -> str:
    if not d.cells:
        return "<h5>Code</h5><p>no captured cells in either run (capture with <code>%track start</code>)</p>"
    changed = d.changed("cells")
    if not changed:
        return f"<h5>Code</h5><p>all {len(d.cells)} cells identical</p>"
    blocks = [f"<h5>Code <small>({len(d.cells) - len(changed)} identical cells not shown)</small></h5>"]
    for entry in changed:
        where = f"cell a#{entry['a_seq'] or '-'} / b#{entry['b_seq'] or '-'}"
        blocks.append(f"<div data-change='{entry['change']}' style='background:{COLORS[entry['change']]}'>"
                      f"<b>{entry['change']}</b> {where}{_unified(entry['diff'])}</div>")
    return "".join(blocks)


def _outputs_html(d: RunDiff, store: Any) -> str:
    if not d.outputs:
        return "<h5>Outputs</h5><p>no differences in text or image outputs of matching cells</p>"
    blocks, shown = ["<h5>Outputs</h5>"], 0
    for entry in d.outputs:
        blocks.append(f"<div><b>cell a#{entry['a_seq']} / b#{entry['b_seq']}</b> "
                      f"<code>{html.escape(entry['code'][:80])}</code>")
        if entry["diff"]:
            blocks.append(_unified(entry["diff"]))
        if entry["images_changed"] and shown < MAX_IMAGES:
            cells = []
            for side in ("a_images", "b_images"):
                cells.append("<td>" + "".join(_image(store, i) for i in entry[side][:2]) + "</td>")
            blocks.append(f"<table><tr><th>a</th><th>b</th></tr><tr>{''.join(cells)}</tr></table>")
            shown += 1
        blocks.append("</div>")
    return "".join(blocks)


def _image(store: Any, artifact: dict[str, Any]) -> str:
    """An image artifact inline (small ones only; the notebook file must stay small)."""
    size = artifact.get("size") or 0
    if size > MAX_IMAGE_BYTES:
        return f"<i>image {artifact['hash'][:12]} ({size} bytes, too large to embed)</i>"
    try:
        raw = store.blobs.read_bytes(artifact["hash"])
    except (OSError, ValueError):
        return f"<i>image {artifact['hash'][:12]} missing from the artifact store</i>"
    encoded = base64.b64encode(raw).decode()
    return f"<img style='max-width:360px' src='data:{html.escape(artifact['media_type'])};base64,{encoded}'/>"
