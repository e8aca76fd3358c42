"""The model registry: versions, aliases, lineage, and loading with integrity and trust checks.

Layout (one job per module):
  names      URIs (`name/3`, `name@alias`) and the checks on names, aliases, versions, text
  versions   register_model, model_version, update/archive, models, model_versions
  aliases    set_alias, delete_alias, alias_history
  loading    load_model, check_model (hash verified; code-running formats need an opt-in)
  consensus  version numbers and alias steps decided by claims, not by a lock
  queries    every registry query against the index (and the statements ingest runs)
  tables     the registry's index tables, its ingest handlers and its migrations
  views      JSON view-models shared by the REST handlers, the widget and the CLI
  flavors    how a model is saved and loaded; trust: the pickle opt-in; cache: unpacked archives

Every public function takes `project=` (a Project, a path/URL, or None for the current one).
Names resolve lazily, so importing one submodule (say `flavors`) does not load the rest.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlnb.model_registry.aliases import alias_history, delete_alias, set_alias
    from mlnb.model_registry.loading import check_model, load_model
    from mlnb.model_registry.names import PROTECTED_ALIAS, ModelURI
    from mlnb.model_registry.queries import resolve_version
    from mlnb.model_registry.versions import (
        HiddenStateWarning,
        archive_version,
        model_version,
        model_versions,
        models,
        register_model,
        update_version,
    )

_HOMES: dict[str, str] = {
    **{name: "versions" for name in ("register_model", "model_version", "update_version", "archive_version",
                                     "models", "model_versions", "HiddenStateWarning")},
    **{name: "aliases" for name in ("set_alias", "delete_alias", "alias_history")},
    **{name: "loading" for name in ("load_model", "check_model")},
    **{name: "names" for name in ("ModelURI", "PROTECTED_ALIAS")},
    "resolve_version": "queries",
}

__all__ = [
    "PROTECTED_ALIAS",
    "HiddenStateWarning",
    "ModelURI",
    "alias_history",
    "archive_version",
    "check_model",
    "delete_alias",
    "load_model",
    "model_version",
    "model_versions",
    "models",
    "register_model",
    "resolve_version",
    "set_alias",
    "update_version",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mlnb.model_registry' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"mlnb.model_registry.{home}"), name)
