"""Model versions: register one, read one or all, change a version's description, tags or status.

A version is a content-addressed artifact plus a record: the producing run, that run's notebook
snapshot and hidden-state verdict, the data fingerprints upstream of it, a signature, and who
registered it (user, host, mlnb version). Its number is claimed (see `consensus`), then the
decision is appended as a `model_version` event like everything else.
"""
from __future__ import annotations

import time
import warnings
from typing import Any

from mlnb import runinfo
from mlnb.errors import ConflictError
from mlnb.events import event
from mlnb.model_registry import queries
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.model_registry.consensus import claim_version
from mlnb.model_registry.flavors import dump_model
from mlnb.model_registry.names import check_labels, check_name, check_text, check_version


class HiddenStateWarning(UserWarning):
    """The producing run's notebook state would not reproduce top to bottom."""


def register_model(model: Any, name: str, run: Any = None, data: Any = None, description: str | None = None,
                   tags: dict[str, Any] | None = None, flavor: str | None = None,
                   project: ProjectArg = None) -> dict[str, Any]:
    """Save `model` as the next version of `name`; returns the version record.

    `run` defaults to the active run; `data` (a DataFrame/array) gives the input signature and the
    reference profile that monitoring compares later batches against (`mlnb.monitor`).
    `description` must be text; tag keys and values are stored as their text.
    """
    from mlnb.fingerprint import fingerprint
    from mlnb.store.queries import resolve_run_id
    from mlnb.tracking import active_run

    check_name(name)
    description = check_text(description, "description")
    labels = check_labels(tags) or {}
    store = store_for(project, create=True)
    run_obj = run if run is not None else active_run()
    live_state = _live_capture_state(run_obj)
    chosen, payload = dump_model(model, flavor)  # skops for scikit-learn when installed, else joblib
    digest, size = store.blobs.put_bytes(payload)
    signature = _signature(model, data, fingerprint)
    with queries.session(store) as con:  # reads only: the number is decided by a claim below
        run_id = resolve_run_id(con, run_obj) if run_obj is not None else None
        lineage = queries.run_lineage(con, run_id) if run_id else {"datasets": [], "notebook": None, "hidden": None}
        start = queries.max_version(con, name) + 1
    if lineage["hidden"] is None:
        lineage["hidden"] = live_state
    if signature.get("input"):
        lineage["datasets"] = sorted(set(lineage["datasets"]) | {signature["input"]["fingerprint"]})
    version = claim_version(store, name, start, {"hash": digest, "run": run_id, "host": runinfo.host_name()})
    store.writer.emit(event(
        "model_version", name=name, version=version, run=run_id, hash=digest,
        path=f"models/{name}/{version}/{chosen.filename}", flavor=chosen.name, size=size,
        signature=signature, description=description, labels=labels, data={"fingerprints": lineage["datasets"]},
        nb=lineage["notebook"], hidden=lineage["hidden"], t=time.time(), user=runinfo.user_name(),
        host=runinfo.host_name(), mlnb=_mlnb_version(),
    ))
    store.writer.flush(sync=True)  # durable before returning: the number is taken
    if data is not None:
        _store_reference_profile(store, data, name, version, signature)
    if lineage["hidden"] not in (None, "clean"):
        warnings.warn(f"{name}/{version} comes from a run whose notebook state is {lineage['hidden']!r}; "
                      "a top-to-bottom rerun may not reproduce it", HiddenStateWarning, stacklevel=2)
    return model_version(f"{name}/{version}", project=store)


class ReferenceProfileWarning(UserWarning):
    """The data given to register_model could not be profiled: monitoring needs a reference profile."""


def _store_reference_profile(store: Any, data: Any, name: str, version: int, signature: dict[str, Any]) -> None:
    """Store the profile of the training data as the version's reference for monitoring. The version
    is registered already (its number is taken), so a failure here warns instead of raising."""
    from mlnb.errors import MlnbError
    from mlnb.monitoring.api import store_reference

    try:
        store_reference(store, data, name, version, fingerprint=signature.get("input", {}).get("fingerprint"))
    except (MlnbError, TypeError, ValueError) as exc:
        warnings.warn(f"{name}/{version} has no reference profile for monitoring ({str(exc).splitlines()[0][:200]}); "
                      f"run mlnb.profile(df, model='{name}/{version}')", ReferenceProfileWarning, stacklevel=3)


def _mlnb_version() -> str:
    from mlnb import __version__

    return __version__


def _signature(model: Any, data: Any, fingerprint: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model_type": f"{type(model).__module__}.{type(model).__qualname__}"}
    fp = fingerprint(data) if data is not None else None
    if fp is not None:
        out["input"] = {"fingerprint": fp.hash, "schema_hash": fp.schema_hash, "n_rows": fp.n_rows,
                        "columns": [list(c) for c in fp.columns]}
        predict = getattr(model, "predict", None)
        if callable(predict):
            try:
                sample = data.iloc[:2] if hasattr(data, "iloc") else data[:2]
                prediction = predict(sample)
                out["output"] = {"type": type(prediction).__name__, "dtype": str(getattr(prediction, "dtype", ""))}
            except Exception:  # a signature is best effort; registering must not fail on it
                pass
    return out


def _live_capture_state(run: Any) -> str | None:
    """For a run still being captured in this kernel: its cell records are stored first (their
    lineage is read next), and the hidden-state verdict so far is returned."""
    from mlnb.capture import live_state  # light: IPython loads only with `%load_ext mlnb`

    state = live_state(getattr(run, "id", run))
    return state.hidden_state if state is not None else None


def model_version(uri: str, project: ProjectArg = None) -> dict[str, Any]:
    """The record of one version (run, artifact, signature, data lineage, aliases, status)."""
    import orjson

    with queries.session(store_for(project)) as con:
        name, version = queries.resolve_version(con, uri)
        record = queries.version_row(con, name, version)
        record["aliases"] = queries.aliases_of_version(con, name, version)
    for key in ("signature", "tags", "data"):
        record[key] = orjson.loads(record[key]) if record[key] else {}
    record["uri"] = f"{name}/{version}"
    return record


def update_version(name: str, version: int, description: str | None = None,
                   tags: dict[str, Any] | None = None, project: ProjectArg = None) -> dict[str, Any]:
    """Change a version's description (text) and/or tags (a dict; stored as text)."""
    return _update(name, version, project, description=check_text(description, "description"),
                   labels=check_labels(tags))


def archive_version(name: str, version: int, project: ProjectArg = None) -> dict[str, Any]:
    """Retire a version: it stays loadable by number but can no longer get an alias."""
    version = check_version(version)
    store = store_for(project)
    with queries.session(store) as con:  # the check and the event under one index session, as before
        _, version = queries.resolve_version(con, f"{check_name(name)}/{int(version)}")
        aliases = queries.aliases_of_version(con, name, version)
        if aliases:
            raise ConflictError(f"{name}/{version} still has alias(es) {', '.join(aliases)}; move or delete them first",
                                subject=f"{name}/{version}", reason="has_aliases")
        store.writer.emit(event("model_version_update", name=name, version=version, status="archived"))
        store.writer.flush(sync=True)
    return model_version(f"{name}/{version}", project=store)


def _update(name: str, version: int, project: ProjectArg, **fields: Any) -> dict[str, Any]:
    version = check_version(version)
    store = store_for(project)
    with queries.session(store) as con:
        _, version = queries.resolve_version(con, f"{check_name(name)}/{int(version)}")
    store.writer.emit(event("model_version_update", name=name, version=version, **fields))
    store.writer.flush(sync=True)
    return model_version(f"{name}/{version}", project=store)


def models(project: ProjectArg = None) -> Any:
    """One row per model: versions, latest version, aliases, last registered."""
    with queries.session(store_for(project)) as con:
        return queries.models_frame(con)


def model_versions(name: str, project: ProjectArg = None) -> Any:
    """Versions of one model with their aliases and the producing run's latest metrics."""
    with queries.session(store_for(project)) as con:
        queries.resolve_version(con, f"{check_name(name)}@latest")
        frame = queries.versions_frame(con, name)
        metrics = queries.version_metrics(con, name)
    if len(metrics):
        wide = metrics.pivot(index="run_id", columns="key", values="value").add_prefix("metrics.")
        frame = frame.merge(wide, left_on="run_id", right_index=True, how="left")
    return frame
