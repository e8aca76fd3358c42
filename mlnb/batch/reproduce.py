"""`mlnb reproduce RUN`: re-execute a run's notebook snapshot in a fresh kernel and compare.

The reproduction is itself a run (tag `mlnb.reproduces`, lineage `run -> run`). Cells are
aligned by their code; for each we compare status, text output, the fingerprints of the data it
wrote and the metrics it logged. The verdict is `reproduced`, or the first diverging cell with
what differs and, when the code shows one, a likely cause (e.g. randomness without a seed).
"""
from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnb.errors import MlnbError
from mlnb.events import event
from mlnb.project import ProjectLike, resolve

# Calls whose result changes from run to run unless seeded.
_RANDOM_CALL = re.compile(
    r"(np\.random\.\w+|numpy\.random\.\w+|random\.(?:random|randint|choice|shuffle|sample|uniform|gauss)"
    r"|\.sample\(|train_test_split\(|shuffle\(|default_rng\(\s*\)|torch\.rand\w*|uuid4\(|time\.time\(|datetime\.now\()")
_SEEDED = re.compile(r"(random_state\s*=\s*\d|seed\s*\(\s*\d|default_rng\(\s*\d|manual_seed\(\s*\d)")


@dataclass
class ReproduceResult:
    """The outcome of one reproduction."""

    original_run_id: str
    reproduction_run_id: str | None
    verdict: str  # reproduced | diverged | failed
    cell: int | None = None
    code: str | None = None
    differences: list[str] = field(default_factory=list)
    cause: str | None = None
    error: str | None = None

    def summary(self) -> str:
        """One paragraph a person can read."""
        head = f"run {self.original_run_id[:8]}"
        if self.verdict == "reproduced":
            return f"{head} reproduced (run {self.reproduction_run_id[:8]}): every cell matched"
        if self.verdict == "failed":
            return f"{head} did not reproduce: the re-execution failed: {self.error}"
        text = f"{head} diverged at cell {self.cell}: " + "; ".join(self.differences)
        return text + (f"; cause: {self.cause}" if self.cause else "")


def reproduce(run: str, project: ProjectLike = None) -> ReproduceResult:
    """Re-execute the run's notebook snapshot with the same params and compare cell by cell; the run
    and its reproduction are in `project` (default: the current project)."""
    import nbformat

    from mlnb.batch.runner import run as execute
    from mlnb.store.queries import get_run

    chosen = resolve(project)
    store = chosen.store
    original = get_run(store, run)
    snapshot = next((a for a in original.artifacts if a["path"] == "notebook.ipynb"), None)
    if snapshot is None:
        raise MlnbError(f"run {original.run_id[:8]} has no notebook snapshot; only runs captured with "
                        "%track or executed with `mlnb run` can be reproduced")
    nb = nbformat.reads(store.blobs.read_bytes(snapshot["hash"]).decode(), as_version=4)
    params = _papermill_params(nb, original.params)
    workdir = Path(tempfile.mkdtemp(prefix="mlnb-reproduce-"))
    source = workdir / (Path(original.notebook).name if original.notebook else "notebook.ipynb")
    nbformat.write(nb, source)
    cwd = Path(original.notebook).parent if original.notebook and Path(original.notebook).parent.is_dir() else workdir
    result = execute(source, params, experiment=original.experiment, name=f"reproduce {original.name or ''}".strip(),
                     cwd=cwd, project=chosen)
    _link(store, original.run_id, result.run_id)
    if not result.ok:
        return ReproduceResult(original.run_id, result.run_id, "failed", error=result.error)
    return compare(store, original.run_id, result.run_id)


def _papermill_params(nb: Any, params: dict[str, str]) -> dict[str, Any]:
    """The original run's values for the names its `parameters` cell assigns (typed back from text)."""
    import ast

    import yaml

    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return {}
    try:
        names = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
    except SyntaxError:
        return {}
    values = {}
    for name in names & set(params):
        try:
            values[name] = yaml.safe_load(params[name])
        except yaml.YAMLError:
            values[name] = params[name]
    return values


def _link(store: Any, original: str, reproduction: str) -> None:
    from mlnb.tracking import Run

    handle = Run(store, reproduction, "", None, None)
    handle.set_tags({"mlnb.reproduces": original})
    store.writer.emit(event("lineage", run=reproduction, src_kind="run", src_id=original,
                            dst_kind="run", dst_id=reproduction, rel="reproduces", t=time.time()))
    store.writer.flush(sync=True)


def compare(store: Any, original: str, reproduction: str) -> ReproduceResult:
    """Align the two runs' cells by code and report the first that differs."""
    from mlnb.batch import queries

    def cells(run_id: str) -> list[dict[str, Any]]:
        rows = queries.cell_records(store, run_id)
        for row in rows:
            row["details"] = json.loads(row["details"]) if row["details"] else {}
        return [r for r in rows if not r["code"].lstrip().startswith("# Parameters")]

    metrics = {run_id: queries.latest_metrics(store, run_id) for run_id in (original, reproduction)}
    profiles = _profiles(store)
    theirs = cells(reproduction)
    position = 0
    for index, cell in enumerate(cells(original), 1):
        match = next((i for i in range(position, len(theirs)) if theirs[i]["code_hash"] == cell["code_hash"]), None)
        if match is None:
            return _diverged(original, reproduction, index, cell, ["the cell did not run in the reproduction"])
        position = match + 1
        differences = _cell_differences(cell, theirs[match], metrics, profiles)
        if differences:
            return _diverged(original, reproduction, index, cell, differences)
    return ReproduceResult(original, reproduction, "reproduced")


def _profiles(store: Any) -> dict[str, dict[str, Any]]:
    from mlnb.batch import queries
    from mlnb.fingerprint_compat import scheme_of

    return {row["fingerprint"]: {"rows": row["n_rows"], "cols": row["n_cols"], "scheme": scheme_of(row),
                                 "profile": json.loads(row["profile"]) if row["profile"] else {}}
            for row in queries.dataset_rows(store)}


def _cell_differences(mine: dict[str, Any], theirs: dict[str, Any], metrics: dict[str, dict[str, float]],
                      profiles: dict[str, dict[str, Any]]) -> list[str]:
    from mlnb.fingerprint_compat import same_data_across_schemes

    out = []
    if mine["status"] != theirs["status"]:
        out.append(f"status {mine['status']} -> {theirs['status']}")
    a, b = mine["details"], theirs["details"]
    for name, fp in (a.get("writes") or {}).items():
        other = (b.get("writes") or {}).get(name)
        if other != fp and not same_data_across_schemes(profiles.get(fp), profiles.get(other)):
            out.append(f"{name} fingerprint differs" + _data_change(profiles.get(fp), profiles.get(other)))
    if (a.get("stdout") or "") != (b.get("stdout") or ""):
        out.append("printed output differs")
    if _result_text(a) != _result_text(b):
        out.append(f"result {_result_text(a)[:60]!r} -> {_result_text(b)[:60]!r}")
    original_run, reproduction_run = list(metrics)
    for key in a.get("metrics") or []:
        before, after = metrics[original_run].get(key), metrics[reproduction_run].get(key)
        if before != after and not (before is not None and after is not None and abs(before - after) <= 1e-12):
            out.append(f"metric {key} {before} -> {after}")
    return out


def _data_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    if not before or not after:
        return ""
    if before["rows"] != after["rows"] or before["cols"] != after["cols"]:
        return f" (shape {before['rows']}x{before['cols']} -> {after['rows']}x{after['cols']})"
    changed = [col for col, stats in before["profile"].items() if after["profile"].get(col) != stats]
    if changed:
        return f" (same shape {before['rows']}x{before['cols']}; values changed in {', '.join(changed[:5])})"
    return " (same shape and column profiles; individual values differ)"


def _result_text(details: dict[str, Any]) -> str:
    return "".join(o.get("text/plain", "") for o in details.get("outputs") or [] if o.get("type") == "execute_result")


def _diverged(original: str, reproduction: str, index: int, cell: dict[str, Any], differences: list[str]) -> ReproduceResult:
    code = cell["code"]
    cause = None
    if _RANDOM_CALL.search(code) and not _SEEDED.search(code):
        call = _RANDOM_CALL.search(code).group(0).rstrip("(")
        cause = f"randomness without a seed ({call})"
    return ReproduceResult(original, reproduction, "diverged", cell=index, code=code[:200], differences=differences,
                           cause=cause)
