"""What differs between two runs: params, metrics, code per cell, outputs, data, environment.

Cells are aligned by their code (difflib over code hashes), so an inserted cell shows as added
instead of shifting every later cell into a "change".
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from mlnb.capture import queries as capture_queries
from mlnb.store import queries
from mlnb.store.store import Store

ENV_TAGS = {"mlnb.env.python": "python", "mlnb.env.platform": "platform", "mlnb.env.kernel": "kernel",
            "mlnb.env.notebook": "notebook", "mlnb.env.git_dirty": "uncommitted changes"}
PROFILE_FIELDS = ("nulls", "min", "max", "mean", "distinct")


@dataclass
class CellSide:
    """The last execution of one notebook cell in one run."""

    seq: int
    code: str
    code_hash: str
    status: str
    text: str
    images: list[dict[str, Any]]
    writes: dict[str, str]
    reads: dict[str, str]


@dataclass
class RunDiff:
    """Every difference between run `a` and run `b` (entries marked added/removed/changed)."""

    a: queries.RunRecord
    b: queries.RunRecord
    params: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    environment: list[dict[str, Any]] = field(default_factory=list)

    def changed(self, section: str) -> list[dict[str, Any]]:
        """Entries of a section that are not `same`."""
        return [e for e in getattr(self, section) if e.get("change") != "same"]


def diff_runs(store: Store, run_a: Any, run_b: Any) -> RunDiff:
    """Compare two runs (Runs, ids or unique id prefixes)."""
    a, b = queries.get_run(store, run_a), queries.get_run(store, run_b)
    result = RunDiff(a, b, params=_mapping_diff(a.params, b.params), metrics=_metric_diff(a.metrics, b.metrics))
    cells_a, cells_b = _cells(store, a.run_id), _cells(store, b.run_id)
    result.cells, result.outputs = _cell_diff(cells_a, cells_b)
    result.data = _data_diff(store, cells_a, cells_b)
    result.environment = _environment_diff(store, a, b)
    return result


def _mapping_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    entries = []
    for key in sorted(a.keys() | b.keys()):
        change = "added" if key not in a else "removed" if key not in b else "same" if a[key] == b[key] else "changed"
        entries.append({"key": key, "a": a.get(key), "b": b.get(key), "change": change})
    return entries


def _metric_diff(a: dict[str, float], b: dict[str, float]) -> list[dict[str, Any]]:
    entries = _mapping_diff(a, b)
    for entry in entries:
        va, vb = entry["a"], entry["b"]
        if entry["change"] == "changed" and all(isinstance(v, float) and math.isnan(v) for v in (va, vb)):
            entry["change"] = "same"
        numbers = isinstance(va, (int, float)) and isinstance(vb, (int, float))
        entry["delta"] = vb - va if numbers else None
        entry["relative"] = (vb - va) / abs(va) if numbers and va not in (0, 0.0) and math.isfinite(va) else None
    return entries


def _cells(store: Store, run_id: str) -> list[CellSide]:
    """The final execution of every cell of a run, in execution order of that final run.

    Cells with a frontend id keep only their last execution; without ids every execution counts.
    """
    last: dict[Any, CellSide] = {}
    for cell in capture_queries.cells(store, run_id):
        seq, cell_id, code, code_hash, status = (cell[k] for k in ("seq", "cell_id", "code", "code_hash", "status"))
        info = cell["details"]
        texts = [info.get("stdout") or ""]
        images = []
        for output in info.get("outputs") or []:
            if output.get("text/plain"):
                texts.append(output["text/plain"])
            artifact = output.get("artifact")
            if artifact and str(artifact.get("media_type", "")).startswith("image/"):
                images.append(artifact)
        if info.get("error"):
            error = info["error"]
            texts.append(f"{error.get('type', 'Error')}: {error.get('message', '')}")
        key = cell_id if cell_id else ("seq", seq)
        last.pop(key, None)  # re-insert: order by the latest execution
        last[key] = CellSide(seq, code or "", code_hash or "", status or "", "\n".join(t for t in texts if t),
                             images, dict(info.get("writes") or {}), dict(info.get("inputs") or {}))
    return sorted(last.values(), key=lambda c: c.seq)


def _cell_diff(a: list[CellSide], b: list[CellSide]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Aligned cells (same/changed/added/removed with a unified diff) and the cells whose outputs differ."""
    cells, outputs = [], []
    matcher = difflib.SequenceMatcher(a=[c.code_hash for c in a], b=[c.code_hash for c in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        pairs: list[tuple[CellSide | None, CellSide | None]] = []
        if tag == "equal":
            pairs = list(zip(a[i1:i2], b[j1:j2]))
        else:
            left, right = a[i1:i2], b[j1:j2]
            width = max(len(left), len(right))
            pairs = [(left[k] if k < len(left) else None, right[k] if k < len(right) else None) for k in range(width)]
        for left, right in pairs:
            change = "same" if tag == "equal" else "added" if left is None else "removed" if right is None \
                else "changed"
            entry = {"change": change, "a_seq": left.seq if left else None, "b_seq": right.seq if right else None,
                     "a_code": left.code if left else "", "b_code": right.code if right else "", "diff": ""}
            if change != "same":
                entry["diff"] = "".join(difflib.unified_diff(
                    entry["a_code"].splitlines(keepends=True), entry["b_code"].splitlines(keepends=True),
                    fromfile=f"a: cell {entry['a_seq'] or '-'}", tofile=f"b: cell {entry['b_seq'] or '-'}"))
            cells.append(entry)
            if left and right:
                image_change = [i["hash"] for i in left.images] != [i["hash"] for i in right.images]
                if left.text != right.text or image_change:
                    outputs.append({
                        "a_seq": left.seq, "b_seq": right.seq, "code": right.code.splitlines()[0] if right.code else "",
                        "a_text": left.text, "b_text": right.text, "images_changed": image_change,
                        "a_images": left.images, "b_images": right.images, "change": "changed",
                        "diff": "".join(difflib.unified_diff(left.text.splitlines(keepends=True),
                                                             right.text.splitlines(keepends=True), "a", "b")),
                    })
    return cells, outputs


def _data_by_name(cells: list[CellSide]) -> dict[str, str]:
    """Variable name -> the fingerprint it last had in the run (written, or read if never written)."""
    found: dict[str, str] = {}
    for cell in cells:
        for name, fingerprint in cell.reads.items():
            found.setdefault(name, fingerprint)
        found.update(cell.writes)
    return found


def _data_diff(store: Store, a: list[CellSide], b: list[CellSide]) -> list[dict[str, Any]]:
    data_a, data_b = _data_by_name(a), _data_by_name(b)
    fingerprints = sorted(set(data_a.values()) | set(data_b.values()))
    info = capture_queries.datasets(store, fingerprints)
    entries = []
    for name in sorted(data_a.keys() | data_b.keys()):
        fa, fb = data_a.get(name), data_b.get(name)
        change = "added" if fa is None else "removed" if fb is None else "same" if fa == fb else "changed"
        ia, ib = info.get(fa or "", {}), info.get(fb or "", {})
        entry: dict[str, Any] = {"name": name, "change": change, "a": fa, "b": fb,
                                 "a_shape": (ia.get("rows"), ia.get("cols")), "b_shape": (ib.get("rows"), ib.get("cols")),
                                 "schema_changed": bool(ia and ib and ia["schema"] != ib["schema"]),
                                 "columns_added": [], "columns_removed": [], "profile_changes": []}
        if change == "changed":
            pa, pb = ia.get("profile", {}), ib.get("profile", {})
            entry["columns_added"] = sorted(pb.keys() - pa.keys())
            entry["columns_removed"] = sorted(pa.keys() - pb.keys())
            for column in sorted(pa.keys() & pb.keys()):
                for key in PROFILE_FIELDS:
                    va, vb = pa[column].get(key), pb[column].get(key)
                    if va != vb:
                        entry["profile_changes"].append({"column": column, "field": key, "a": va, "b": vb})
        entries.append(entry)
    return entries


def _packages(store: Store, record: queries.RunRecord) -> dict[str, str]:
    """name -> version from the run's stored package list (empty when none was recorded)."""
    artifact = next((x for x in record.artifacts if x["path"] == "environment/packages.txt"), None)
    if artifact is None:
        return {}
    try:
        text = store.blobs.read_bytes(artifact["hash"]).decode()
    except (OSError, ValueError):
        return {}
    pairs = (line.partition("==") for line in text.splitlines() if "==" in line)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, _, version in pairs}  # PEP 503 names


def _environment_diff(store: Store, a: queries.RunRecord, b: queries.RunRecord) -> list[dict[str, Any]]:
    entries = []
    for tag, label in ENV_TAGS.items():
        va, vb = a.tags.get(tag), b.tags.get(tag)
        if va is not None or vb is not None:
            entries.append({"item": label, "a": va, "b": vb, "change": "same" if va == vb else "changed"})
    entries.append({"item": "git commit", "a": a.git_commit, "b": b.git_commit,
                    "change": "same" if a.git_commit == b.git_commit else "changed"})
    packages_a, packages_b = _packages(store, a), _packages(store, b)
    for name in sorted(packages_a.keys() | packages_b.keys()):
        va, vb = packages_a.get(name), packages_b.get(name)
        if va == vb:
            continue
        change = "added" if va is None else "removed" if vb is None else _version_change(va, vb)
        entries.append({"item": f"package {name}", "a": va, "b": vb, "change": change})
    return entries


def _version_change(a: str, b: str) -> str:
    """`upgraded` or `downgraded` by version order (PEP 440 when parseable)."""
    try:
        from packaging.version import Version

        return "upgraded" if Version(b) > Version(a) else "downgraded"
    except Exception:  # noqa: BLE001 - not a PEP 440 version: fall back to text order
        return "upgraded" if b > a else "downgraded"
