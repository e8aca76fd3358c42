"""The model registry: versions, aliases, lineage, and loading with integrity and trust checks.

A version is a content-addressed artifact plus a record: the producing run, that run's notebook
snapshot and hidden-state verdict, the data fingerprints upstream of it, a signature, and who
registered it (user, host, mlnb version). Loading checks the artifact's hash, and a format that
can run code on load (pickle, joblib, saveload) needs the caller's opt-in (see `model_trust`).
Version numbers and alias moves are decided under the index lock, so concurrent registrations
never collide; the decision is then appended as an event like everything else.
"""
from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

from mlnb import model_trust, runinfo
from mlnb.errors import ConflictError, InvalidValueError, MlnbError, NotFoundError, UntrustedModelError
from mlnb.flavors import SkopsFlavor, describe, dump_model, get_flavor, runs_code
from mlnb.store.events import clean_text
from mlnb.store.queries import resolve_run_id
from mlnb.store.store import Store
from mlnb.tracking import active_run, current_store

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,63}")
PROTECTED_ALIAS = "champion"


class HiddenStateWarning(UserWarning):
    """The producing run's notebook state would not reproduce top to bottom."""


@dataclass(frozen=True)
class ModelURI:
    """`name/3`, `name@alias` or `name@latest`."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, uri: str) -> "ModelURI":
        if not isinstance(uri, str):
            raise MlnbError(f"a model URI is a string like 'churn/3' or 'churn@champion', got {uri!r}")
        if "@" in uri:
            name, alias = uri.split("@", 1)
            if NAME_RE.fullmatch(name) and ALIAS_RE.fullmatch(alias):
                return cls(name, alias=alias)
        elif "/" in uri:
            name, version = uri.rsplit("/", 1)
            if NAME_RE.fullmatch(name) and version.isdigit():
                return cls(name, version=int(version))
        raise MlnbError(f"bad model URI {uri!r}; use name/3, name@champion or name@latest")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidValueError(f"bad model name {name!r}; use letters, digits, '_', '-', '.' (max 128)")
    return name


def _check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias) or alias == "latest":
        raise InvalidValueError(f"bad alias {alias!r}; use a word like 'champion' or 'challenger' ('latest' is built in)")
    return alias


def _check_version(version: Any) -> int:
    """A version number (an int, or digits as text) as an int, else a one-line error."""
    if isinstance(version, bool) or not isinstance(version, int) and not str(version).isdigit():
        raise InvalidValueError(f"version must be a version number like 3, got {str(version)[:40]!r}")
    return int(version)


def _check_text(value: Any, what: str) -> str | None:
    """Free text (a description, a reason): a str or None, else a one-line error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be text, got {type(value).__name__} {str(value)[:40]!r}; pass a str")
    return clean_text(value)


def _check_labels(tags: Any) -> dict[str, str] | None:
    """Version tags: a dict; keys and values are stored as text (str())."""
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise InvalidValueError(f"tags must be a dict of names to values, got {type(tags).__name__}")
    return {clean_text(str(k)): clean_text(str(v)) for k, v in tags.items()}


def register_model(model: Any, name: str, run: Any = None, data: Any = None, description: str | None = None,
                   tags: dict[str, Any] | None = None, flavor: str | None = None) -> dict[str, Any]:
    """Save `model` as the next version of `name`; returns the version record.

    `run` defaults to the active run; `data` (a DataFrame/array) gives the input signature.
    `description` must be text; tag keys and values are stored as their text.
    """
    from mlnb.fingerprint import fingerprint

    _check_name(name)
    description = _check_text(description, "description")
    labels = _check_labels(tags) or {}
    store = current_store(create=True)
    live_state = _live_capture_state(run if run is not None else active_run())
    chosen, payload = dump_model(model, flavor)  # skops for scikit-learn when installed, else joblib
    digest, size = store.blobs.put_bytes(payload)
    run_obj = run if run is not None else active_run()
    signature = _signature(model, data, fingerprint)
    with store.index() as con:
        run_id = resolve_run_id(con, run_obj) if run_obj is not None else None
        lineage = _run_lineage(con, run_id) if run_id else {"datasets": [], "notebook": None, "hidden": None}
        if lineage["hidden"] is None:
            lineage["hidden"] = live_state
        version = (con.execute("SELECT max(version) FROM idx.model_versions WHERE name = ?", [name]).fetchone()[0]
                   or 0) + 1
        if signature.get("input"):
            lineage["datasets"] = sorted(set(lineage["datasets"]) | {signature["input"]["fingerprint"]})
        event = {
            "e": "model_version", "name": name, "version": version, "run": run_id, "hash": digest,
            "path": f"models/{name}/{version}/{chosen.filename}", "flavor": chosen.name, "size": size,
            "signature": signature, "description": description,
            "labels": labels, "data": {"fingerprints": lineage["datasets"]},
            "nb": lineage["notebook"], "hidden": lineage["hidden"], "t": time.time(), "user": runinfo.user_name(),
            "host": runinfo.host_name(), "mlnb": _mlnb_version(),
        }
        store.writer.emit(event)
        store.writer.flush(sync=True)  # durable before the lock is released: the number is taken
    if lineage["hidden"] not in (None, "clean"):
        warnings.warn(f"{name}/{version} comes from a run whose notebook state is {lineage['hidden']!r}; "
                      "a top-to-bottom rerun may not reproduce it", HiddenStateWarning, stacklevel=2)
    return model_version(f"{name}/{version}")


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


def _run_lineage(con: Any, run_id: str) -> dict[str, Any]:
    """Datasets the run's cells read, its notebook snapshot hash, its hidden-state verdict."""
    datasets = [r[0] for r in con.execute(
        "SELECT DISTINCT src_id FROM idx.lineage WHERE run_id = ? AND src_kind = 'dataset' ORDER BY 1", [run_id]
    ).fetchall()]
    notebook = con.execute(
        "SELECT hash FROM idx.artifacts WHERE run_id = ? AND path = 'notebook.ipynb'", [run_id]).fetchone()
    hidden = con.execute(
        "SELECT value FROM idx.tags WHERE run_id = ? AND key = 'mlnb.hidden_state'", [run_id]).fetchone()
    return {"datasets": datasets, "notebook": notebook[0] if notebook else None, "hidden": hidden[0] if hidden else None}


def resolve_version(con: Any, uri: str | ModelURI) -> tuple[str, int]:
    """(name, version) for a URI, or a one-line error listing what exists."""
    parsed = uri if isinstance(uri, ModelURI) else ModelURI.parse(uri)
    versions = [r[0] for r in con.execute(
        "SELECT version FROM idx.model_versions WHERE name = ? ORDER BY version", [parsed.name]).fetchall()]
    if not versions:
        names = [r[0] for r in con.execute("SELECT DISTINCT name FROM idx.model_versions ORDER BY 1").fetchall()]
        raise NotFoundError(f"no model named {parsed.name!r}; registered models: {', '.join(names) or 'none'}",
                            kind="model", name=parsed.name)
    if parsed.alias == "latest":
        return parsed.name, versions[-1]
    if parsed.alias is not None:
        row = con.execute("SELECT version FROM idx.model_aliases WHERE name = ? AND alias = ?",
                          [parsed.name, parsed.alias]).fetchone()
        if row is None:
            aliases = [r[0] for r in con.execute(
                "SELECT alias FROM idx.model_aliases WHERE name = ? ORDER BY 1", [parsed.name]).fetchall()]
            raise NotFoundError(f"model {parsed.name!r} has no alias {parsed.alias!r}; aliases: "
                                f"{', '.join(aliases + ['latest'])}", kind="alias", name=f"{parsed.name}@{parsed.alias}")
        return parsed.name, row[0]
    if parsed.version not in versions:
        raise NotFoundError(f"model {parsed.name!r} has no version {parsed.version}; versions: "
                            f"{', '.join(map(str, versions))}", kind="version", name=f"{parsed.name}/{parsed.version}")
    return parsed.name, parsed.version


def model_version(uri: str, store: Store | None = None) -> dict[str, Any]:
    """The record of one version (run, artifact, signature, data lineage, aliases, status)."""
    import orjson

    with (store or current_store()).index() as con:
        name, version = resolve_version(con, uri)
        cursor = con.execute("SELECT * FROM idx.model_versions WHERE name = ? AND version = ?", [name, version])
        columns = [d[0] for d in cursor.description]
        record = dict(zip(columns, cursor.fetchone()))
        record["aliases"] = [r[0] for r in con.execute(
            "SELECT alias FROM idx.model_aliases WHERE name = ? AND version = ? ORDER BY 1", [name, version]
        ).fetchall()]
    for key in ("signature", "tags", "data"):
        record[key] = orjson.loads(record[key]) if record[key] else {}
    record["uri"] = f"{name}/{version}"
    return record


def load_model(uri: str, allow_pickle: bool | None = None) -> Any:
    """Load a version after verifying its artifact's hash against the registry record.

    The hash proves the bytes are the ones recorded, not who recorded them: anyone who can write
    to the store can record new bytes. So a flavor whose loading runs code from the file (pickle,
    joblib `sklearn`, `saveload`) loads only with `allow_pickle=True` or `MLNB_ALLOW_PICKLE=1`,
    and a skops file only rebuilds types on the allow list unless so opted in.
    """
    record = model_version(uri)
    allowed = model_trust.pickle_allowed(allow_pickle)
    _refuse_code(record, allowed)  # before reading a possibly large blob
    payload = current_store().blobs.read_bytes(record["artifact_hash"], verify=True)
    return _load_payload(record, payload, allowed)


def _refuse_code(record: dict[str, Any], allowed: bool) -> None:
    if runs_code(get_flavor(record["flavor"])) and not allowed:
        raise UntrustedModelError(_refusal(record, "its format runs code from the file while loading"))


def _load_payload(record: dict[str, Any], payload: bytes, allowed: bool) -> Any:
    flavor = get_flavor(record["flavor"])
    _refuse_code(record, allowed)
    if isinstance(flavor, SkopsFlavor):
        try:
            return flavor.load(payload, allow_untrusted=allowed)
        except UntrustedModelError as exc:
            raise UntrustedModelError(_refusal(record, str(exc))) from None
    return flavor.load(payload)


def _refusal(record: dict[str, Any], why: str) -> str:
    call = f"use load_model({record['uri']!r}, allow_pickle=True)"
    return (f"refusing to load {record['uri']} ({record['flavor']}): {why}, and anyone who can write to this store "
            f"could have registered it; if you trust it (registered by {model_trust.registered_by(record)}), "
            f"{model_trust.opt_in_hint(call)}")


def check_model(uri: str, allow_pickle: bool | None = None) -> dict[str, Any]:
    """Verify a version without running code from it unless opted in: hash, then format.

    A format that is safe to load is loaded; a pickle-like one (without the opt-in) is only read
    statically and refused with what was found. Returns the record plus `checked` (what was done)
    and `model_type` (when loaded).
    """
    record = model_version(uri)
    payload = current_store().blobs.read_bytes(record["artifact_hash"], verify=True)
    flavor = get_flavor(record["flavor"])
    checked = f"sha256 matches the record; {describe(flavor, payload)}"
    allowed = model_trust.pickle_allowed(allow_pickle)
    if runs_code(flavor) and not allowed:
        raise UntrustedModelError(f"not loaded: {record['uri']} ({record['flavor']}): {checked}; loading it runs code "
                                  f"from the file; if you trust it (registered by {model_trust.registered_by(record)}), "
                                  f"{model_trust.opt_in_hint('pass allow_pickle=True')}")
    model = _load_payload(record, payload, allowed)
    how = "loaded (code from the file allowed)" if runs_code(flavor) else "loaded (no code from the file run)"
    return {**record, "checked": f"{checked}; {how}", "model_type": type(model).__name__}


def set_alias(name: str, alias: str, version: int, force: bool = False, reason: str | None = None,
              store: Store | None = None) -> dict[str, Any]:
    """Point `name@alias` at `version` (kept in the alias history). Moving `champion` to a version
    whose run's notebook state is not clean needs `force=True` (and the reason is kept)."""
    _check_alias(alias)
    version = _check_version(version)
    reason = _check_text(reason, "reason")
    store = store or current_store()
    with store.index() as con:
        _, version = resolve_version(con, f"{_check_name(name)}/{int(version)}")
        hidden, status = con.execute(
            "SELECT hidden_state, status FROM idx.model_versions WHERE name = ? AND version = ?", [name, version]
        ).fetchone()
        if status == "archived":
            raise ConflictError(f"{name}/{version} is archived; register a new version or pick another",
                                subject=f"{name}/{version}", reason="archived")
        if alias == PROTECTED_ALIAS and hidden not in (None, "clean") and not force:
            raise ConflictError(f"{name}/{version} comes from a run whose notebook state is {hidden!r}; "
                                "pass force=True (and a reason) to make it champion anyway",
                                subject=f"{name}/{version}", reason="hidden_state")
        before = con.execute("SELECT version FROM idx.model_aliases WHERE name = ? AND alias = ?",
                             [name, alias]).fetchone()
        if before is not None and before[0] == version:  # already there: no history entry for a no-op
            return model_version(f"{name}/{version}", store)
        store.writer.emit({"e": "alias", "name": name, "alias": alias, "version": version,
                           "from": before[0] if before else None, "user": runinfo.user_name(), "t": time.time(),
                           "reason": reason or ("forced despite hidden state " + hidden if force and hidden
                                                not in (None, "clean") else None)})
        store.writer.flush(sync=True)
    return model_version(f"{name}@{alias}", store)


def delete_alias(name: str, alias: str) -> None:
    """Remove an alias (kept in the history)."""
    store = current_store()
    with store.index() as con:
        resolve_version(con, f"{_check_name(name)}@{_check_alias(alias)}")
        before = con.execute("SELECT version FROM idx.model_aliases WHERE name = ? AND alias = ?",
                             [name, alias]).fetchone()
        store.writer.emit({"e": "alias", "name": name, "alias": alias, "version": None, "from": before[0],
                           "user": runinfo.user_name(), "t": time.time(), "reason": None})
        store.writer.flush(sync=True)


def update_version(name: str, version: int, description: str | None = None,
                   tags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Change a version's description (text) and/or tags (a dict; stored as text)."""
    return _update(name, version, description=_check_text(description, "description"), labels=_check_labels(tags))


def archive_version(name: str, version: int) -> dict[str, Any]:
    """Retire a version: it stays loadable by number but can no longer get an alias."""
    version = _check_version(version)
    store = current_store()
    with store.index() as con:  # check and archive under one lock: no alias can sneak in between
        _, version = resolve_version(con, f"{_check_name(name)}/{int(version)}")
        aliases = [r[0] for r in con.execute("SELECT alias FROM idx.model_aliases WHERE name = ? AND version = ?",
                                             [name, version]).fetchall()]
        if aliases:
            raise ConflictError(f"{name}/{version} still has alias(es) {', '.join(aliases)}; move or delete them first",
                                subject=f"{name}/{version}", reason="has_aliases")
        store.writer.emit({"e": "model_version_update", "name": name, "version": version, "status": "archived"})
        store.writer.flush(sync=True)
    return model_version(f"{name}/{version}")


def _update(name: str, version: int, **fields: Any) -> dict[str, Any]:
    version = _check_version(version)
    store = current_store()
    with store.index() as con:
        _, version = resolve_version(con, f"{_check_name(name)}/{int(version)}")
        store.writer.emit({"e": "model_version_update", "name": name, "version": version, **fields})
        store.writer.flush(sync=True)
    return model_version(f"{name}/{version}")


def models(store: Store | None = None) -> Any:
    """One row per model: versions, latest version, aliases, last registered."""
    with (store or current_store()).index() as con:
        return con.execute(
            "SELECT v.name, count(*) AS versions, max(v.version) AS latest, "
            "(SELECT string_agg(a.alias || '=' || a.version, ', ' ORDER BY a.alias) FROM idx.model_aliases a "
            " WHERE a.name = v.name) AS aliases, max(v.created) AS last_registered "
            "FROM idx.model_versions v GROUP BY v.name ORDER BY v.name"
        ).df()


def model_versions(name: str, store: Store | None = None) -> Any:
    """Versions of one model with their aliases and the producing run's latest metrics."""
    with (store or current_store()).index() as con:
        resolve_version(con, f"{_check_name(name)}@latest")
        frame = con.execute(
            "SELECT v.version, v.status, (SELECT string_agg(a.alias, ', ' ORDER BY a.alias) FROM idx.model_aliases a "
            " WHERE a.name = v.name AND a.version = v.version) AS aliases, v.run_id, v.flavor, v.size, "
            "v.hidden_state, v.description, v.created, v.\"user\", v.host, v.mlnb_version "
            "FROM idx.model_versions v WHERE v.name = ? ORDER BY v.version",
            [name]).df()
        metrics = con.execute(
            "SELECT m.run_id, m.key, m.value FROM idx.metric_latest m WHERE m.run_id IN "
            "(SELECT run_id FROM idx.model_versions WHERE name = ?)", [name]).df()
    if len(metrics):
        wide = metrics.pivot(index="run_id", columns="key", values="value").add_prefix("metrics.")
        frame = frame.merge(wide, left_on="run_id", right_index=True, how="left")
    return frame


def alias_history(name: str, store: Store | None = None) -> Any:
    """Every alias change of a model: when, by whom, from which version to which, why."""
    with (store or current_store()).index() as con:
        return con.execute(
            'SELECT alias, from_version, to_version, "user", ts, reason FROM idx.alias_history '
            "WHERE name = ? ORDER BY ts", [name]).df()

