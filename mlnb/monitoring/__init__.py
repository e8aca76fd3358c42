"""Monitoring: data profiles, drift, validation and the history of checks of a model version.

Layout (one job per module):
  sketch       the mergeable log-bucket histogram behind numeric profiles
  profile      Profile, build_profile, merge_profiles (exact, mergeable per-column profiles)
  drift        drift(reference_profile, current_profile) -> DriftReport; calibration: its thresholds
  validation   validate_against(profile, data_profile) -> ValidationReport
  api          the public functions (mlnb.profile, mlnb.drift, mlnb.validate, mlnb.monitor,
               mlnb.monitoring) and MonitorResult
  inputs       what is accepted as data, argument checks, fingerprints
  records      profiles and check reports stored (blobs + events, secrets masked) and read back
  queries      every monitoring query against the index
  tables       the index tables (profiles, monitoring), their ingest handlers and migrations
  views        JSON view-models for the REST handlers, the widget and the CLI

Every public function takes `project=`. Names resolve lazily, so `import mlnb` stays light.
The package itself is callable: `mlnb.monitoring("churn")` is the history of model churn (the
package and the function share the name `mlnb.monitoring`).
"""
from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlnb.monitoring.api import MonitorResult, as_profile, monitor, monitoring, validate
    from mlnb.monitoring.drift import DriftReport
    from mlnb.monitoring.profile import Profile, build_profile, merge_profiles
    from mlnb.monitoring.validation import ValidationReport, validate_against

# `profile` and `drift` are also submodules: as attributes of this package they would become the
# modules once imported, so the functions are reached as mlnb.profile / mlnb.drift (or via `api`).
_HOMES: dict[str, str] = {
    **{name: "api" for name in ("MonitorResult", "monitor", "monitoring", "validate", "as_profile")},
    **{name: "profile" for name in ("Profile", "build_profile", "merge_profiles")},
    "DriftReport": "drift",
    **{name: "validation" for name in ("ValidationReport", "validate_against")},
}

__all__ = ["DriftReport", "MonitorResult", "Profile", "ValidationReport", "as_profile", "build_profile",
           "merge_profiles", "monitor", "monitoring", "validate", "validate_against"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mlnb.monitoring' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"mlnb.monitoring.{home}"), name)


class _CallablePackage(types.ModuleType):
    """This package, callable as `mlnb.monitoring(model, project=None)`."""

    def __call__(self, model: str, project: Any = None) -> Any:
        from mlnb.monitoring.api import monitoring

        return monitoring(model, project=project)


sys.modules[__name__].__class__ = _CallablePackage
