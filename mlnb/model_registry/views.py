"""JSON view-models of the registry, shaped once for every face: the REST handlers
(mlnb/server/handlers.py), the widget (mlnb/widgets/registry_view.py) and the CLI.

Plain dicts and lists only (no pandas types, no NaN).
"""
from __future__ import annotations

from typing import Any

from mlnb.model_registry.access import ProjectArg
from mlnb.model_registry.aliases import alias_history, set_alias
from mlnb.model_registry.versions import model_versions, models
from mlnb.views.json import records

METRIC_PREFIX = "metrics."


def version_rows(frame: Any) -> list[dict[str, Any]]:
    """`model_versions(...)` as dicts: `aliases` a list, the run's metrics under `metrics`."""
    rows = records(frame)
    for row in rows:
        row["aliases"] = [a for a in (row.get("aliases") or "").split(", ") if a]
        row["metrics"] = {k[len(METRIC_PREFIX):]: row.pop(k) for k in [k for k in row if k.startswith(METRIC_PREFIX)]}
        row["metrics"] = {k: v for k, v in row["metrics"].items() if v is not None}
    return rows


def models_overview(project: ProjectArg = None) -> list[dict[str, Any]]:
    """Every model with its versions (aliases, status, run, key metrics) and `aliases` name -> version."""
    out = []
    for model in records(models(project=project)):
        versions = version_rows(model_versions(model["name"], project=project))
        model["versions"] = versions
        model["aliases"] = {a: v["version"] for v in versions for a in v["aliases"]}
        out.append(model)
    return out


def move_alias(project: ProjectArg, name: str, alias: str, version: int, force: bool = False,
               reason: str | None = None) -> dict[str, Any]:
    """Point an alias at a version (the registry's checks apply); returns the recent history."""
    set_alias(name, alias, version, force=force, reason=reason, project=project)
    history = records(alias_history(name, project=project))
    return {"name": name, "alias": alias, "version": version, "history": history[-20:]}


def registry_state(name: str | None = None, project: ProjectArg = None) -> dict[str, Any]:
    """Models, and for the selected one (default: the first) its versions and alias history."""
    overview = records(models(project=project))
    names = [m["name"] for m in overview]
    selected = name if name in names else (names[0] if names else None)
    state: dict[str, Any] = {
        "models": names, "selected": selected, "versions": [], "history": [],
        "model_rows": [{"name": m["name"], "versions": int(m["versions"]), "aliases": m["aliases"] or ""}
                       for m in overview],
    }
    if selected is None:
        return state
    for row in version_rows(model_versions(selected, project=project)):
        state["versions"].append({
            "version": int(row["version"]), "status": row["status"], "aliases": row["aliases"],
            "run_id": (row["run_id"] or "")[:8], "flavor": row["flavor"], "hidden_state": row["hidden_state"],
            "description": row["description"] or "", "metrics": row["metrics"],
        })
    state["history"] = records(alias_history(selected, project=project))
    return state
