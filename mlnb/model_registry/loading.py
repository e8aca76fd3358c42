"""Loading a version: the artifact's hash is verified, and a format that can run code on load
(pickle, joblib, saveload) needs the caller's opt-in (see `trust`)."""
from __future__ import annotations

from typing import Any

from mlnb.errors import UntrustedModelError
from mlnb.model_registry import trust
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.model_registry.flavors import SkopsFlavor, describe, get_flavor, runs_code
from mlnb.model_registry.versions import model_version


def load_model(uri: str, allow_pickle: bool | None = None, project: ProjectArg = None) -> Any:
    """Load a version after verifying its artifact's hash against the registry record.

    The hash proves the bytes are the ones recorded, not who recorded them: anyone who can write
    to the store can record new bytes. So a flavor whose loading runs code from the file (pickle,
    joblib `sklearn`, `saveload`) loads only with `allow_pickle=True` or `MLNB_ALLOW_PICKLE=1`,
    and a skops file only rebuilds types on the allow list unless so opted in.
    """
    store = store_for(project)
    record = model_version(uri, project=store)
    allowed = trust.pickle_allowed(allow_pickle)
    _refuse_code(record, allowed)  # before reading a possibly large blob
    payload = store.blobs.read_bytes(record["artifact_hash"], verify=True)
    return _load_payload(record, payload, allowed)


def refuse_untrusted(record: dict[str, Any], allow_pickle: bool | None = None) -> None:
    """Raise the one-line UntrustedModelError `load_model` would, without reading the artifact."""
    _refuse_code(record, trust.pickle_allowed(allow_pickle))


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
            f"could have registered it; if you trust it (registered by {trust.registered_by(record)}), "
            f"{trust.opt_in_hint(call)}")


def check_model(uri: str, allow_pickle: bool | None = None, project: ProjectArg = None) -> dict[str, Any]:
    """Verify a version without running code from it unless opted in: hash, then format.

    A format that is safe to load is loaded; a pickle-like one (without the opt-in) is only read
    statically and refused with what was found. Returns the record plus `checked` (what was done)
    and `model_type` (when loaded).
    """
    store = store_for(project)
    record = model_version(uri, project=store)
    payload = store.blobs.read_bytes(record["artifact_hash"], verify=True)
    flavor = get_flavor(record["flavor"])
    checked = f"sha256 matches the record; {describe(flavor, payload)}"
    allowed = trust.pickle_allowed(allow_pickle)
    if runs_code(flavor) and not allowed:
        raise UntrustedModelError(f"not loaded: {record['uri']} ({record['flavor']}): {checked}; loading it runs code "
                                  f"from the file; if you trust it (registered by {trust.registered_by(record)}), "
                                  f"{trust.opt_in_hint('pass allow_pickle=True')}")
    model = _load_payload(record, payload, allowed)
    how = "loaded (code from the file allowed)" if runs_code(flavor) else "loaded (no code from the file run)"
    return {**record, "checked": f"{checked}; {how}", "model_type": type(model).__name__}
