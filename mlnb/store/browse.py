"""The registry's JSON reads for the server extension and the sidebar panel (until they move into
the registry's package; every other view-model is in `mlnb.views`)."""
from __future__ import annotations

from typing import Any

from mlnb.store.store import Store
from mlnb.views.json import records


def models_overview(store: Store) -> list[dict[str, Any]]:
    """Every model with its versions (aliases, status, run, key metrics)."""
    from mlnb import model_registry

    out = []
    for model in records(model_registry.models(store)):
        versions = records(model_registry.model_versions(model["name"], store))
        for version in versions:
            version["aliases"] = [a for a in (version.get("aliases") or "").split(", ") if a]
            version["metrics"] = {k[8:]: v for k, v in list(version.items()) if k.startswith("metrics.") and v is not None}
            for key in [k for k in version if k.startswith("metrics.")]:
                del version[key]
        model["versions"] = versions
        model["aliases"] = {a: v["version"] for v in versions for a in v["aliases"]}
        out.append(model)
    return out


def move_alias(store: Store, name: str, alias: str, version: int, force: bool = False,
               reason: str | None = None) -> dict[str, Any]:
    """Point an alias at a version (the registry's checks apply); returns the recent history."""
    from mlnb import model_registry

    model_registry.set_alias(name, alias, version, force=force, reason=reason, store=store)
    history = records(model_registry.alias_history(name, store))
    return {"name": name, "alias": alias, "version": version, "history": history[-20:]}
