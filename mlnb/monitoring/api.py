"""The monitoring API: store profiles, compare data (drift), validate it, and record monitoring checks.

A profile is stored as its JSON in the blob store plus a `profile` event linking it to the data's
fingerprint and, for a reference profile, to a model version. A check is a `monitor` event (the
full report in the blob store) plus a lineage edge model -> check. Every event is appended with
its own id, from any number of processes at once: nothing is read-modified-written, so concurrent
checks never lose one.

Heavy libraries (numpy, pandas) load inside the calls; importing this module is cheap.
"""
from __future__ import annotations

import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlnb.errors import InvalidValueError, MlnbError, NotFoundError
from mlnb.events import event
from mlnb.model_registry import queries as registry_queries
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.model_registry.names import ModelURI, check_name
from mlnb.monitoring import queries

if TYPE_CHECKING:
    from mlnb.monitoring.drift import DriftReport
    from mlnb.monitoring.profile import Profile
    from mlnb.monitoring.validation import ValidationReport
    from mlnb.store.store import Store

DATA_HINT = "pass a pandas DataFrame, a pyarrow Table, a dict of arrays or a 2-D numpy array"
MAX_EXAMPLES = 5
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
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

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
        return jsonable({
            "check": self.check_id, "model": name, "version": int(version), "uri": self.model, "t": self.t,
            "rows": self.rows, "status": self.status, "passed": self.passed, "drifted": self.drifted,
            "validation": _validation_dict(self.validation), "drift": _drift_dict(self.drift),
            "fingerprint": self.fingerprint, "reference": self.reference, "name": self.name, "run": self.run,
        })

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
    store_profile(store, built, _fingerprint(data), *(target or (None, None)))
    return built


def drift(reference: Any, current: Any, columns: Sequence[str] | None = None,
          thresholds: Mapping[str, Any] | None = None, project: ProjectArg = None) -> DriftReport:
    """Drift of `current` against `reference`; each a DataFrame (or other data), a Profile, a
    profile dict, a stored fingerprint (or profile id), or a model URI (its reference profile)."""
    from mlnb.monitoring.drift import drift as compare

    columns = _check_columns(columns)
    thresholds = _check_thresholds(thresholds)
    ref = as_profile(reference, "reference", project)
    cur = as_profile(current, "current", project)
    if columns is not None:
        known = set(_column_names(ref)) | set(_column_names(cur))
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise InvalidValueError(f"unknown column(s) {', '.join(map(repr, unknown))}; the data has "
                                    f"{', '.join(sorted(known)[:20])}", field="columns")
    return compare(ref, cur, columns=columns, thresholds=thresholds)


def validate(model_uri: str, data: Any, project: ProjectArg = None) -> ValidationReport:
    """Check `data` against what model version `model_uri` was trained on (columns, dtypes, nulls,
    ranges, categories); returns the failed expectations with counts and examples."""
    store = store_for(project)
    name, version, reference, _ = _reference_of(store, model_uri)
    current = build(data)
    return _validate(store, name, version, reference, current, data)


def monitor(model_uri: str, data: Any, name: str | None = None, thresholds: Mapping[str, Any] | None = None,
            project: ProjectArg = None) -> MonitorResult:
    """Drift and validation of `data` against the version's reference profile, stored as a check
    (a history entry of `mlnb.monitoring(model)`); returns the MonitorResult."""
    from mlnb.monitoring.drift import drift as compare

    if name is not None and not isinstance(name, str):
        raise InvalidValueError(f"name must be text, got {type(name).__name__}", field="name")
    thresholds = _check_thresholds(thresholds)
    store = store_for(project)
    model, version, reference, reference_id = _reference_of(store, model_uri)
    current = build(data)
    report = compare(reference, current, thresholds=thresholds)
    validation = _validate(store, model, version, reference, current, data)
    result = MonitorResult(
        check_id=uuid.uuid4().hex, model=f"{model}/{version}", status=str(_drift_dict(report)["status"]),
        drift=report, validation=validation, rows=_rows(current), t=time.time(), fingerprint=_fingerprint(data),
        reference=reference_id, name=name, run=_active_run_id())
    _store_check(store, result)
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


# --- storing and loading -----------------------------------------------------------------------

def store_profile(store: Store, built: Profile, fingerprint: str | None, model: str | None = None,
                  version: int | None = None) -> str:
    """Put a profile's JSON in the blob store and append its `profile` event; returns its id."""
    import orjson

    payload = orjson.dumps(built.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
                           | orjson.OPT_SERIALIZE_NUMPY)
    digest, _ = store.blobs.put_bytes(payload)
    _remember(digest, built)
    store.writer.emit(event("profile", id=digest, fp=fingerprint, rows=_rows(built), cols=len(_column_names(built)),
                            model=model, version=version, t=time.time()))
    store.writer.flush(sync=True)
    return digest


def store_reference(store: Store, data: Any, name: str, version: int, fingerprint: str | None = None) -> str:
    """Store the reference profile of the data model version `name/version` was trained on (the
    registry's hook for `register_model(..., data=df)`)."""
    return store_profile(store, build(data), fingerprint if fingerprint is not None else _fingerprint(data),
                         name, version)


_CACHE: OrderedDict[str, Any] = OrderedDict()  # profile id -> Profile (content-addressed: never stale)
_CACHE_SIZE = 16


def _remember(digest: str, built: Any) -> None:
    _CACHE[digest] = built
    _CACHE.move_to_end(digest)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def load_profile(store: Store, profile_id: str) -> Profile:
    """The stored profile with this id (kept in a small cache: the same object also keeps the
    drift calibration cached on it)."""
    import orjson

    from mlnb.monitoring.profile import Profile

    cached = _CACHE.get(profile_id)
    if cached is None:
        cached = Profile.from_dict(orjson.loads(store.blobs.read_bytes(profile_id)))
    _remember(profile_id, cached)
    return cached  # type: ignore[no-any-return]


def load_report(store: Store, digest: str) -> dict[str, Any]:
    """A stored check report (the dict `MonitorResult.to_dict()` gave)."""
    import orjson

    loaded: dict[str, Any] = orjson.loads(store.blobs.read_bytes(digest))
    return loaded


def _store_check(store: Store, result: MonitorResult) -> None:
    import orjson

    name, _, version = result.model.rpartition("/")
    report = result.to_dict()
    digest, _ = store.blobs.put_bytes(orjson.dumps(report))
    summary = {c["column"]: {"status": c.get("status"), "score": c.get("score")}
               for c in report["drift"].get("columns", [])}
    for column in report["drift"].get("schema", {}).get("removed", []):
        summary.setdefault(column, {"status": "drift", "score": None})
    writer = store.writer
    writer.emit(event(
        "monitor", id=result.check_id, model=name, version=int(version), t=result.t, rows=result.rows,
        status=result.status, validation="pass" if report["validation"].get("passed") else "fail",
        drifted=sum(1 for c in summary.values() if c["status"] == "drift"), fp=result.fingerprint, report=digest,
        summary=summary, reference=result.reference, run=result.run, name=result.name))
    # The edge is recorded under the run it happened in: the active run, else the run that made
    # the version, else (no run at all) the check itself.
    context = result.run or _version_run(store, name, int(version)) or result.check_id
    writer.emit(event("lineage", run=context, src_kind="model", src_id=result.model, dst_kind="check",
                      dst_id=result.check_id, rel="monitored", t=result.t))
    if result.fingerprint:
        writer.emit(event("lineage", run=context, src_kind="dataset", src_id=result.fingerprint, dst_kind="check",
                          dst_id=result.check_id, rel="monitored-data", t=result.t))
    writer.flush(sync=True)  # durable before returning: the check is part of the history now


def _version_run(store: Store, name: str, version: int) -> str | None:
    with queries.session(store) as con:
        run = registry_queries.version_row(con, name, version).get("run_id")
    return str(run) if run else None


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


def _reference_of(store: Store, model_uri: Any) -> tuple[str, int, Profile, str]:
    """(name, version, reference profile, its id) of a model version; NotFoundError with the way
    out when the version has no reference profile."""
    with queries.session(store) as con:
        name, version = _resolve(con, model_uri)
        profile_id = queries.reference_profile_id(con, name, version)
    if profile_id is None:
        raise NotFoundError(f"no reference profile for {name}/{version}; register it with data=... or run "
                            f"mlnb.profile(df, model='{name}/{version}')", kind="profile", name=f"{name}/{version}")
    return name, version, load_profile(store, profile_id), profile_id


def as_profile(value: Any, role: str, project: ProjectArg = None) -> Profile:
    """A Profile from what `drift` accepts (see there); `role` names the argument in errors."""
    from mlnb.monitoring.profile import Profile

    if isinstance(value, Profile):
        return value
    if isinstance(value, Mapping) and "columns" in value and "format" in value:
        try:
            return Profile.from_dict(dict(value))
        except (MlnbError, KeyError, TypeError, ValueError) as exc:
            raise InvalidValueError(f"{role} is not a valid profile dict ({_first_line(exc)}); pass "
                                    "Profile.to_dict() output, a Profile, or the data", field=role) from None
    fp = getattr(value, "hash", None) if type(value).__name__ == "Fingerprint" else None
    if isinstance(value, str) or fp is not None:
        return _stored_profile(fp or value, role, project)
    return build(value, role)


def _stored_profile(key: str, role: str, project: ProjectArg) -> Profile:
    store = store_for(project)
    if "/" in key or "@" in key:  # a model URI: its reference profile
        return _reference_of(store, key)[2]
    with queries.session(store) as con:
        profile_id = queries.profile_id_for_fingerprint(con, key)
        if profile_id is None and len(key) == 64 and set(key) <= _HEX and queries.profile_exists(con, key):
            profile_id = key  # a profile id itself
    if profile_id is None:
        raise NotFoundError(f"no stored profile for {role} {key[:64]!r}; store one with mlnb.profile(df), or pass "
                            "the DataFrame itself", kind="profile", name=key[:64])
    return load_profile(store, profile_id)


def build(data: Any, role: str = "data") -> Profile:
    """The profile of `data`, or a one-line InvalidValueError for what cannot be profiled."""
    from mlnb.monitoring.profile import build_profile

    _check_data(data, role)
    if type(data).__name__ == "Series" and hasattr(data, "to_frame"):
        data = data.to_frame()
    try:
        built = build_profile(data)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"cannot profile {role} of type {type(data).__name__} ({_first_line(exc)}); "
                                f"{DATA_HINT}", field=role) from None
    if _rows(built) == 0:
        raise InvalidValueError(f"{role} has no rows; pass a non-empty batch", field=role)
    if not _column_names(built):
        raise InvalidValueError(f"{role} has no columns; pass a frame with the model's input columns", field=role)
    return built


def _check_data(data: Any, role: str) -> None:
    if data is None:
        raise InvalidValueError(f"{role} is None; {DATA_HINT}", field=role)
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        raise InvalidValueError(f"{role} is a path or text, not data; read it first (pandas.read_parquet / "
                                f"read_csv), or use `mlnb monitor MODEL data.parquet`", field=role)
    if isinstance(data, (int, float, bool)):
        raise InvalidValueError(f"{role} is a single {type(data).__name__}, not a table; {DATA_HINT}", field=role)
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and len(shape) >= 1 and shape[0] == 0:
        raise InvalidValueError(f"{role} has no rows; pass a non-empty batch", field=role)


def _check_columns(columns: Any) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        return [columns]
    if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
        raise InvalidValueError("columns must be a list of column names (text)", field="columns")
    return list(columns)


def _check_thresholds(thresholds: Any) -> dict[str, Any] | None:
    if thresholds is None:
        return None
    if not isinstance(thresholds, Mapping):
        raise InvalidValueError(f"thresholds must be a dict (e.g. {{'psi': 0.2}}), got {type(thresholds).__name__}",
                                field="thresholds")
    return dict(thresholds)


def _fingerprint(data: Any) -> str | None:
    """The data's fingerprint hash, or None (iterators and Dask frames are not read twice)."""
    if isinstance(data, Iterator) or type(data).__module__.startswith("dask"):
        return None
    from mlnb.fingerprint import fingerprint

    try:
        fp = fingerprint(data)
    except Exception:  # noqa: BLE001 (a fingerprint is a link, not a requirement of the profile)
        return None
    return fp.hash if fp is not None else None


# --- validation ----------------------------------------------------------------------------------

def _validate(store: Store, name: str, version: int, reference: Profile, current: Profile,
              data: Any) -> ValidationReport:
    from mlnb.monitoring.validation import validate_against

    with queries.session(store) as con:
        signature = registry_queries.version_row(con, name, version).get("signature")
    report = validate_against(reference, current, signature=_loads(signature))
    fill_examples(report, data, reference)
    return report


def fill_examples(report: Any, data: Any, reference: Profile) -> None:
    """Put up to MAX_EXAMPLES offending values from the raw frame into each failure that has none
    (the profiles alone cannot say which values failed)."""
    failures = getattr(report, "failures", None)
    if not failures or not hasattr(data, "columns") or not hasattr(data, "loc"):
        return
    ref_columns = reference.columns
    for failure in failures:
        item = failure if isinstance(failure, dict) else getattr(failure, "__dict__", None)
        if item is None or item.get("examples") or item.get("column") not in data.columns:
            continue
        try:
            found = _examples(item["expectation"], data[item["column"]], ref_columns.get(item["column"], {}))
        except Exception:  # noqa: BLE001 (examples are an aid: never fail a check on them)
            continue
        if isinstance(failure, dict):
            failure["examples"] = found
        else:
            failure.examples = found


def _examples(expectation: str, series: Any, column: dict[str, Any]) -> list[Any]:
    import pandas as pd

    if expectation == "no_nulls":
        hits = series[series.isna()]
        return [str(i) for i in hits.index[:MAX_EXAMPLES]]  # the rows (index labels) with a null
    if expectation == "in_range":
        numbers = pd.to_numeric(series, errors="coerce")
        low, high = column.get("min"), column.get("max")
        mask = pd.Series(False, index=series.index)
        if low is not None:
            mask |= numbers < low
        if high is not None:
            mask |= numbers > high
        return [jsonable(v) for v in numbers[mask].head(MAX_EXAMPLES).tolist()]
    if expectation == "known_categories":
        known = set((column.get("counts") or {}).keys())
        values = series.dropna().astype(str)
        return [jsonable(v) for v in values[~values.isin(known)].unique()[:MAX_EXAMPLES].tolist()]
    if expectation == "dtype":
        return [jsonable(v) for v in series.dropna().head(MAX_EXAMPLES).tolist()]
    return []


# --- small helpers -------------------------------------------------------------------------------

def _rows(built: Profile) -> int:
    return int(built.rows)


def _column_names(built: Profile) -> list[str]:
    return list(built.columns)


def _drift_dict(report: Any) -> dict[str, Any]:
    return report if isinstance(report, dict) else report.to_dict()  # type: ignore[no-any-return]


def _validation_dict(report: Any) -> dict[str, Any]:
    return report if isinstance(report, dict) else report.to_dict()  # type: ignore[no-any-return]


def drifted_columns(summary: Any) -> list[str]:
    """The columns a check's summary (JSON text or dict: column -> {status, score}) marks as drift."""
    parsed = _loads(summary)
    return sorted(k for k, v in parsed.items() if isinstance(v, dict) and v.get("status") == "drift")


def _loads(value: Any) -> dict[str, Any]:
    import orjson

    if isinstance(value, (str, bytes)):
        value = orjson.loads(value) if value else {}
    return value if isinstance(value, dict) else {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def jsonable(value: Any) -> Any:
    """`value` with plain JSON types only: numpy scalars as numbers, tuples as lists, NaN as None and
    infinities as the text 'inf' / '-inf' (as mlnb.views.json does)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
