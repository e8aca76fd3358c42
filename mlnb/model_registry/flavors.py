"""How models are turned into bytes and back: a small registry of flavors.

A flavor has a `name`, the `filename` its artifact gets, `handles(obj)`, `dump(obj) -> bytes`,
`load(bytes) -> obj` and `executes_code`: whether loading can run code from the file. Built in,
tried in this order: `skops` (scikit-learn models, when skops is installed; loads without running
code), `sklearn` (scikit-learn via joblib: a pickle), `saveload` (objects with `save(path)` and a
class-level `load(path)`), `path` (a file or folder, loaded back as a local path), `json` (plain
JSON data) and `pickle` (any other picklable object). Add your own with `register_flavor`; a flavor
that does not declare `executes_code = False` is treated as one that runs code.
"""
from __future__ import annotations

import importlib
import io
import json
import math
import os
import pickle
import tarfile
import tempfile
import warnings
from pathlib import Path
from typing import Any, Protocol

from mlnb.errors import InvalidValueError, MlnbError, UntrustedModelError


class Flavor(Protocol):
    """What a model flavor provides."""

    name: str
    filename: str
    executes_code: bool  # loading can run code from the file: needs the caller's opt-in

    def handles(self, obj: Any) -> bool: ...
    def dump(self, obj: Any) -> bytes: ...
    def load(self, payload: bytes) -> Any: ...


def _tar_folder(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for file in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            tar.add(file, arcname=f"files/{file.relative_to(folder).as_posix()}")
    return buffer.getvalue()


def _check_members(tar: tarfile.TarFile) -> None:
    for member in tar.getmembers():
        if member.issym() or member.islnk() or member.name.startswith("/") or ".." in Path(member.name).parts:
            raise MlnbError(f"model archive entry {member.name!r} escapes its folder; refusing to load it")


def _untar(payload: bytes, target: Path) -> None:
    """Extract safely: no absolute paths, no `..`, no links (Python's `data` filter)."""
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        _check_members(tar)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # older Pythons: the member check above already refused anything unsafe
            tar.extractall(target)


class PickleFallbackWarning(UserWarning):
    """A model that could have been saved without pickle was saved as one (loading will need the opt-in)."""


class _Unsuitable(Exception):
    """A flavor cannot save this particular object; the next flavor that handles it is tried."""


def _is_sklearn(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "sklearn" or (hasattr(obj, "get_params") and hasattr(obj, "fit"))


class SkopsFlavor:
    """scikit-learn models in skops' format: loading rebuilds only allowed types and runs no code."""

    name, filename, executes_code = "skops", "model.skops", False

    def handles(self, obj: Any) -> bool:
        import importlib.util

        return _is_sklearn(obj) and importlib.util.find_spec("skops") is not None

    def dump(self, obj: Any) -> bytes:
        skops_io = _skops()
        try:
            payload: bytes = skops_io.dumps(obj)  # skops has no type information
            untrusted = skops_io.get_untrusted_types(data=payload)
        except Exception as exc:
            raise _Unsuitable(str(exc)) from None
        if any("<" in name for name in untrusted):  # a lambda or local class: skops could not load it back
            raise _Unsuitable(f"holds {', '.join(n for n in untrusted if '<' in n)}")
        return payload

    def load(self, payload: bytes, allow_untrusted: bool = False) -> Any:
        from mlnb.model_registry.trust import TRUSTED_ROOTS, split_skops_types

        skops_io = _skops()
        try:
            untrusted = skops_io.get_untrusted_types(data=payload)
        except Exception as exc:
            raise MlnbError(f"the artifact is not a readable skops file: {type(exc).__name__}: {exc}") from None
        _, refused = split_skops_types(untrusted)
        if refused and not allow_untrusted:
            raise UntrustedModelError(
                f"its skops file holds types outside the allow list (classes from {', '.join(TRUSTED_ROOTS)}): "
                f"{', '.join(refused[:8])}{' ...' if len(refused) > 8 else ''}; trusting them can run code")
        return skops_io.loads(payload, trusted=untrusted)

    def describe(self, payload: bytes) -> str:
        from mlnb.model_registry.trust import split_skops_types

        allowed, refused = split_skops_types(_skops().get_untrusted_types(data=payload))
        parts = ["skops file; its types checked against the allow list"]
        if allowed:
            parts.append(f"allowed beyond skops' defaults: {', '.join(allowed[:6])}")
        if refused:
            parts.append(f"types outside the allow list: {', '.join(refused[:8])}")
        return "; ".join(parts)


def _skops() -> Any:
    try:
        import skops.io
    except ImportError:
        raise MlnbError("the skops flavor needs skops, which is not installed; pip install skops (or mlnb[safe])"
                        ) from None
    return skops.io


class SklearnFlavor:
    """scikit-learn models via joblib: a pickle (used when skops is missing or cannot save the model)."""

    name, filename, executes_code = "sklearn", "model.joblib", True

    def handles(self, obj: Any) -> bool:
        return _is_sklearn(obj)

    def dump(self, obj: Any) -> bytes:
        import joblib

        buffer = io.BytesIO()
        try:
            joblib.dump(obj, buffer)
        except Exception as exc:  # e.g. a lambda inside: pickle cannot save it either
            raise InvalidValueError(f"cannot save this {type(obj).__name__}: {exc}; register a flavor for it") from None
        return buffer.getvalue()

    def load(self, payload: bytes) -> Any:
        import joblib

        return joblib.load(io.BytesIO(payload))

    def describe(self, payload: bytes) -> str:
        return _describe_pickle("joblib pickle", payload)


class SaveLoadFlavor:
    """Objects with `obj.save(path)` and `type(obj).load(path)` (e.g. many deep-learning wrappers)."""

    name, filename, executes_code = "saveload", "model.tar.gz", True  # imports and calls the class it names

    def handles(self, obj: Any) -> bool:
        return callable(getattr(obj, "save", None)) and callable(getattr(type(obj), "load", None))

    def dump(self, obj: Any) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            obj.save(str(Path(tmp) / "model"))
            meta = {"class": f"{type(obj).__module__}:{type(obj).__qualname__}"}
            return _tar_folder(Path(tmp), {"mlnb-flavor.json": json.dumps(meta).encode()})

    def load(self, payload: bytes) -> Any:
        from mlnb.model_registry.cache import unpacked

        target = unpacked(payload, _untar)
        meta = json.loads((target / "mlnb-flavor.json").read_text())
        module, _, qualname = meta["class"].partition(":")
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        return cls.load(str(target / "files" / "model"))

    def describe(self, payload: bytes) -> str:
        meta = json.loads(_archive_member(payload, "mlnb-flavor.json") or b"{}")
        return f"archive entry paths checked; loading calls {meta.get('class', '?')}.load"


class PathFlavor:
    """A file or a folder given by path; loads back as a local path to a verified copy."""

    name, filename, executes_code = "path", "files.tar.gz", False

    def handles(self, obj: Any) -> bool:
        return isinstance(obj, (str, os.PathLike)) and Path(obj).exists()

    def dump(self, obj: Any) -> bytes:
        path = Path(obj)
        if path.is_dir():
            return _tar_folder(path)
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            copy.write_bytes(path.read_bytes())
            return _tar_folder(Path(tmp))

    def load(self, payload: bytes) -> Path:
        from mlnb.model_registry.cache import unpacked

        target = unpacked(payload, _untar)
        files = list((target / "files").iterdir())
        return files[0] if len(files) == 1 and files[0].is_file() else target / "files"

    def describe(self, payload: bytes) -> str:
        from mlnb.model_registry.cache import manifest

        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
            _check_members(tar)
        return f"archive of {len(manifest(payload))} file(s), entry paths checked"


class JsonFlavor:
    """Plain data (dicts with string keys, lists, strings, numbers, booleans, None) as JSON."""

    name, filename, executes_code = "json", "model.json", False

    def handles(self, obj: Any) -> bool:
        try:
            return _plain(obj)
        except RecursionError:
            return False

    def dump(self, obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False).encode()

    def load(self, payload: bytes) -> Any:
        return json.loads(payload)

    def describe(self, payload: bytes) -> str:
        return "JSON parsed"


def _plain(obj: Any) -> bool:
    """True if JSON gives back an equal object of the same types (no tuples, int keys, NaN...)."""
    if obj is None or type(obj) in (bool, int, str):
        return True
    if type(obj) is float:
        return math.isfinite(obj)  # JSON has no NaN or infinity
    if type(obj) is list:
        return all(_plain(item) for item in obj)
    if type(obj) is dict:
        return all(type(key) is str and _plain(value) for key, value in obj.items())
    return False


class PickleFlavor:
    name, filename, executes_code = "pickle", "model.pkl", True

    def handles(self, obj: Any) -> bool:
        return True

    def dump(self, obj: Any) -> bytes:
        try:
            return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise InvalidValueError(f"cannot save a {type(obj).__name__}: {exc}; register a flavor for it") from None

    def load(self, payload: bytes) -> Any:
        return pickle.loads(payload)  # only after the hash check and the caller's opt-in (model_registry)

    def describe(self, payload: bytes) -> str:
        return _describe_pickle("pickle", payload)


def _describe_pickle(kind: str, payload: bytes) -> str:
    """What a static read of a pickle shows: the globals it would import (suspicious ones first)."""
    from mlnb.model_registry.trust import TRUSTED_ROOTS, pickle_imports

    names, complete = pickle_imports(payload)
    usual = (*TRUSTED_ROOTS, "joblib", "copyreg", "collections", "_codecs")
    names = sorted(names, key=lambda n: n.split(".")[0] in usual)
    shown = ", ".join(names[:6]) + (f" (+{len(names) - 6} more)" if len(names) > 6 else "")
    scope = "" if complete else ", up to its first raw array"
    return f"{kind}; its imports (read statically{scope}): {shown or 'none'}"


def _archive_member(payload: bytes, name: str) -> bytes | None:
    """One member of a tar.gz archive, after checking every entry's path (no extraction)."""
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        _check_members(tar)
        member = next((m for m in tar.getmembers() if m.name == name and m.isfile()), None)
        handle = tar.extractfile(member) if member is not None else None
        return handle.read() if handle is not None else None


_FLAVORS: list[Flavor] = [SkopsFlavor(), SklearnFlavor(), SaveLoadFlavor(), PathFlavor(), JsonFlavor(),
                          PickleFlavor()]


def register_flavor(flavor: Flavor) -> None:
    """Add a flavor; it is tried before the built-in ones."""
    _FLAVORS.insert(0, flavor)


def flavor_for(obj: Any) -> Flavor:
    """The first flavor that handles `obj`."""
    if isinstance(obj, (str, os.PathLike)) and not Path(obj).exists():
        raise InvalidValueError(f"no file or folder at {str(obj)[:200]!r} to register")
    return next(f for f in _FLAVORS if f.handles(obj))


def dump_model(obj: Any, name: str | None = None) -> tuple[Flavor, bytes]:
    """(flavor, bytes) for `obj`: the named flavor, else the first that handles and can save it.

    skops is preferred for scikit-learn models; one it cannot save falls back to joblib (a pickle).
    """
    if name:
        chosen = get_flavor(name)
        try:
            return chosen, chosen.dump(obj)
        except MlnbError:
            raise
        except Exception as exc:  # e.g. json for an object JSON cannot hold
            raise InvalidValueError(f"the {name} flavor cannot save this {type(obj).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    flavor_for(obj)  # the path check
    skipped = ""
    for flavor in _FLAVORS:
        if flavor.handles(obj):
            try:
                payload = flavor.dump(obj)
            except _Unsuitable as exc:
                skipped = skipped or f"{flavor.name} could not save it ({str(exc)[:200]})"
                continue
            if runs_code(flavor) and (skipped or _is_sklearn(obj)):
                why = skipped or "skops is not installed (pip install skops, or mlnb[safe])"
                warnings.warn(f"{type(obj).__name__} saved as a pickle ({flavor.name} flavor) because {why}; "
                              "loading it will need allow_pickle=True", PickleFallbackWarning, stacklevel=3)
            return flavor, payload
    raise InvalidValueError(f"no flavor can save a {type(obj).__name__}; register one with register_flavor")


def runs_code(flavor: Flavor) -> bool:
    """Whether loading this flavor can run code from the file (unknown flavors: assume yes)."""
    return getattr(flavor, "executes_code", True) is not False


def describe(flavor: Flavor, payload: bytes) -> str:
    """What can be checked about a payload without loading it."""
    check = getattr(flavor, "describe", None)
    if not callable(check):
        return f"no static check for the {flavor.name} flavor"
    try:
        described: str = check(payload)
        return described
    except MlnbError:
        raise
    except Exception as exc:  # the bytes match the record but are not what the flavor expects
        raise MlnbError(f"the artifact is not a readable {flavor.name} file: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def get_flavor(name: str) -> Flavor:
    """A flavor by name."""
    for flavor in _FLAVORS:
        if flavor.name == name:
            return flavor
    raise MlnbError(f"unknown model flavor {name!r}; known: {', '.join(f.name for f in _FLAVORS)}")
