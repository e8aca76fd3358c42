"""The monitoring API: store profiles, compare data (drift), validate it, and record monitoring checks.

A profile is stored as its JSON in the blob store plus a `profile` event linking it to the data's
fingerprint and, for a reference profile, to a model version. A check is a `monitor` event (the
full report in the blob store) plus lineage edges model -> check and data -> check (see `records`).

Heavy libraries (numpy, pandas) load inside the calls; importing this module is cheap.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlnb.errors import InvalidValueError, MlnbError, NotFoundError
from mlnb.model_registry import queries as registry_queries
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.model_registry.names import ModelURI, check_name
from mlnb.monitoring import queries
from mlnb.monitoring.inputs import build, check_columns, check_thresholds, fingerprint_of, first_line
from mlnb.monitoring.records import (
    drifted_columns, json_dict, jsonable, load_profile, store_check, store_profile,
)

if TYPE_CHECKING:
    from mlnb.monitoring.drift import DriftReport
    from mlnb.monitoring.profile import Profile
    from mlnb.monitoring.validation import ValidationReport
    from mlnb.store.store import Store

_HEX = frozenset("0123456789abcdef")


@dataclass
class MonitorResult:
    """One stored monitoring check: the drift report and the validation report of a batch of data
    against a model version's reference profile. `status` is the drift status (ok, warn, drift);
    `passed` is False when a column drifted or a validation expectation failed."""

    check_id: str
    model: str  # name/version
    status: str
    drift: DriftReport
    validation: ValidationReport
    rows: int
    t: float
    fingerprint: str | None = None
    reference: str | None = None
    name: str | None = None
    run: str | None = None

    @property
    def passed(self) -> bool:
        return self.status != "drift" and bool(_validation_dict(self.validation).get("passed"))

    @property
    def drifted(self) -> list[str]:
        """The columns whose status is drift."""
        return [c["column"] for c in _drift_dict(self.drift).get("columns", []) if c.get("status") == "drift"]

    def to_dict(self) -> dict[str, Any]:
        """The full report as JSON-safe values (what is stored in the blob store)."""
        name, _, version = self.model.rpartition("/")
        out: dict[str, Any] = jsonable({
            "check": self.check_id, "model": name, "version": int(version), "uri": self.model, "t": self.t,
            "rows": self.rows, "status": self.status, "passed": self.passed, "drifted": self.drifted,
            "validation": _validation_dict(self.validation), "drift": _drift_dict(self.drift),
            "fingerprint": self.fingerprint, "reference": self.reference, "name": self.name, "run": self.run,
        })
        return out

    def __repr__(self) -> str:
        verdict = "pass" if _validation_dict(self.validation).get("passed") else "fail"
        return (f"MonitorResult({self.model}, status={self.status!r}, validation={verdict!r}, rows={self.rows}, "
                f"drifted={self.drifted}, check={self.check_id[:12]!r})")


# --- public functions ------------------------------------------------------------------------

def profile(data: Any, model: str | None = None, project: ProjectArg = None) -> Profile:
    """Profile `data` and store the profile (linked to the data's fingerprint and, with
    `model="churn/3"`, as that version's reference profile); returns the Profile."""
    store = store_for(project, create=True)
    target = None
    if model is not None:
        with queries.session(store) as con:
            target = _resolve(con, model)
    built = build(data)
    store_profile(store, built, fingerprint_of(data), *(target or (None, None)))
    return built


def drift(reference: Any, current: Any, columns: Sequence[str] | None = None,
          thresholds: Mapping[str, Any] | None = None, project: ProjectArg = None) -> DriftReport:
    """Drift of `current` against `reference`; each a DataFrame (or other data), a Profile, a
    profile dict, a stored fingerprint (or profile id), or a model URI (its reference profile)."""
    from mlnb.monitoring.drift import drift as compare

    columns = check_columns(columns)
    thresholds = check_thresholds(thresholds)
    ref = as_profile(reference, "reference", project)
    cur = as_profile(current, "current", project)
    _check_known(columns, ref, cur)
    return compare(ref, cur, columns=columns, thresholds=thresholds)


def _check_known(columns: list[str] | None, ref: Profile, cur: Profile) -> None:
    if columns is None:
        return
    known = set(ref.columns) | set(cur.columns)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidValueError(f"unknown column(s) {', '.join(map(repr, unknown))}; the data has "
                                f"{', '.join(sorted(known)[:20])}", field="columns")


def validate(model_uri: str, data: Any, project: ProjectArg = None) -> ValidationReport:
    """Check `data` against what model version `model_uri` was trained on (columns, dtypes, nulls,
    ranges, categories); returns the failed expectations with counts and examples."""
    ref = _reference_of(store_for(project), model_uri)
    return _validate(ref, build(data), data)


def monitor(model_uri: str, data: Any, name: str | None = None, thresholds: Mapping[str, Any] | None = None,
            project: ProjectArg = None, columns: Sequence[str] | None = None) -> MonitorResult:
    """Drift and validation of `data` against the version's reference profile, stored as a check
    (a history entry of `mlnb.monitoring(model)`); returns the MonitorResult. `columns` limits the
    drift check to those columns (validation always checks the whole input)."""
    from mlnb.monitoring.drift import drift as compare

    if name is not None and not isinstance(name, str):
        raise InvalidValueError(f"name must be text, got {type(name).__name__}", field="name")
    thresholds = check_thresholds(thresholds)
    columns = check_columns(columns)
    store = store_for(project)
    ref = _reference_of(store, model_uri)
    current = build(data)
    _check_known(columns, ref.profile, current)
    report = compare(ref.profile, current, columns=columns, thresholds=thresholds)
    validation = _validate(ref, current, data)
    result = MonitorResult(
        check_id=uuid.uuid4().hex, model=ref.uri, status=str(_drift_dict(report)["status"]),
        drift=report, validation=validation, rows=current.rows, t=time.time(), fingerprint=fingerprint_of(data),
        reference=ref.profile_id, name=name, run=_active_run_id())
    store_check(store, result.to_dict(), ref.run)
    return result


def monitoring(model: str, project: ProjectArg = None) -> Any:
    """The monitoring history of a model (`churn`: every version; `churn/3`, `churn@champion`: one),
    one row per check, oldest first."""
    import pandas as pd

    store = store_for(project)
    with queries.session(store) as con:
        name, version = model_or_version(con, model)
        rows = queries.history(con, name, version)
    out = [{
        "check_id": r["check_id"], "version": r["version"], "time": r["ts"], "rows": r["n_rows"],
        "status": r["status"], "validation": r["validation"], "drifted": r["drifted"],
        "drifted_columns": drifted_columns(r["summary"]), "name": r["name"], "fingerprint": r["fingerprint"],
    } for r in rows]
    columns = ["check_id", "version", "time", "rows", "status", "validation", "drifted", "drifted_columns", "name",
               "fingerprint"]
    return pd.DataFrame(out, columns=columns)


# --- the registry's hook ---------------------------------------------------------------------------

def store_reference(store: Store, data: Any, name: str, version: int, fingerprint: str | None = None) -> str:
    """Store the reference profile of the data model version `name/version` was trained on (the
    registry's hook for `register_model(..., data=df)`)."""
    return store_profile(store, build(data), fingerprint if fingerprint is not None else fingerprint_of(data),
                         name, version)


def _active_run_id() -> str | None:
    from mlnb.tracking import active_run

    run = active_run()
    return run.id if run is not None else None


# --- resolving inputs --------------------------------------------------------------------------

def _resolve(con: Any, uri: Any) -> tuple[str, int]:
    if not isinstance(uri, str):
        raise InvalidValueError(f"a model URI is text like 'churn/3' or 'churn@champion', got {type(uri).__name__}",
                                field="model")
    return registry_queries.resolve_version(con, uri)


def model_or_version(con: Any, model: Any) -> tuple[str, int | None]:
    """(name, None) for a model name, (name, version) for a version URI; NotFoundError if unknown."""
    if isinstance(model, str) and "/" not in model and "@" not in model:
        check_name(model)
        registry_queries.resolve_version(con, ModelURI(model, alias="latest"))  # a one-line error if unknown
        return model, None
    return _resolve(con, model)


@dataclass(frozen=True)
class _Reference:
    """A model version with its reference profile (and what validation needs of its record)."""

    uri: str
    profile: Profile
    profile_id: str
    signature: dict[str, Any]
    run: str | None


def _reference_of(store: Store, model_uri: Any) -> _Reference:
    """A model version's reference; NotFoundError with the way out when it has no reference profile."""
    with queries.session(store) as con:
        name, version = _resolve(con, model_uri)
        profile_id = queries.reference_profile_id(con, name, version)
        row = registry_queries.version_row(con, name, version) if profile_id is not None else {}
    if profile_id is None:
        raise NotFoundError(f"no reference profile for {name}/{version}; register it with data=... or run "
                            f"mlnb.profile(df, model='{name}/{version}')", kind="profile", name=f"{name}/{version}")
    return _Reference(f"{name}/{version}", load_profile(store, profile_id), profile_id, json_dict(row.get("signature")),
                      str(row["run_id"]) if row.get("run_id") else None)


def as_profile(value: Any, role: str, project: ProjectArg = None) -> Profile:
    """A Profile from what `drift` accepts (see there); `role` names the argument in errors."""
    from mlnb.monitoring.profile import Profile

    if isinstance(value, Profile):
        return value
    if isinstance(value, Mapping) and "columns" in value and "format" in value:
        try:
            return Profile.from_dict(dict(value))
        except (MlnbError, KeyError, TypeError, ValueError) as exc:
            raise InvalidValueError(f"{role} is not a valid profile dict ({first_line(exc)}); pass "
                                    "Profile.to_dict() output, a Profile, or the data", field=role) from None
    fp = getattr(value, "hash", None) if type(value).__name__ == "Fingerprint" else None
    if isinstance(value, str) or fp is not None:
        return _stored_profile(fp or value, role, project)
    return build(value, role)


def _stored_profile(key: str, role: str, project: ProjectArg) -> Profile:
    store = store_for(project)
    if "/" in key or "@" in key:  # a model URI: its reference profile
        return _reference_of(store, key).profile
    with queries.session(store) as con:
        profile_id = queries.profile_id_for_fingerprint(con, key)
        if profile_id is None and len(key) == 64 and set(key) <= _HEX and queries.profile_exists(con, key):
            profile_id = key  # a profile id itself
    if profile_id is None:
        raise NotFoundError(f"no stored profile for {role} {key[:64]!r}; store one with mlnb.profile(df), or pass "
                            "the DataFrame itself", kind="profile", name=key[:64])
    return load_profile(store, profile_id)


# --- validation ----------------------------------------------------------------------------------

def _validate(ref: _Reference, current: Profile, data: Any) -> ValidationReport:
    from mlnb.monitoring.validation import validate_against

    # the raw data goes along: examples of failing values come from it (profiles keep no rows)
    return validate_against(ref.profile, current, signature=ref.signature or None, data=data)


def _drift_dict(report: Any) -> dict[str, Any]:
    out: dict[str, Any] = report if isinstance(report, dict) else report.to_dict()
    return out


def _validation_dict(report: Any) -> dict[str, Any]:
    out: dict[str, Any] = report if isinstance(report, dict) else report.to_dict()
    return out
