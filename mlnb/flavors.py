"""How models are turned into bytes and back: a small registry of flavors.

A flavor has a `name`, the `filename` its artifact gets, `handles(obj)`, `dump(obj) -> bytes`
and `load(bytes) -> obj`. Built in: `sklearn` (joblib), `saveload` (objects with `save(path)`
and a class-level `load(path)`), `path` (a file or folder, loaded back as a local path) and
`pickle` (any other picklable object). Add your own with `register_flavor`.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import pickle
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Protocol

from mlnb.errors import InvalidValueError, MlnbError


class Flavor(Protocol):
    """What a model flavor provides."""

    name: str
    filename: str

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


def _untar(payload: bytes, target: Path) -> None:
    """Extract safely: no absolute paths, no `..`, no links (Python's `data` filter)."""
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.issym() or member.islnk() or member.name.startswith("/") or ".." in Path(member.name).parts:
                raise MlnbError(f"model archive entry {member.name!r} escapes its folder; refusing to load it")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # older Pythons: the member check above already refused anything unsafe
            tar.extractall(target)


def _cache_dir(payload: bytes) -> Path:
    digest = hashlib.sha256(payload).hexdigest()
    base = Path(os.environ.get("MLNB_MODEL_CACHE", Path(tempfile.gettempdir()) / "mlnb-models"))
    return base / digest


class SklearnFlavor:
    name, filename = "sklearn", "model.joblib"

    def handles(self, obj: Any) -> bool:
        return type(obj).__module__.split(".")[0] == "sklearn" or (
            hasattr(obj, "get_params") and hasattr(obj, "fit"))

    def dump(self, obj: Any) -> bytes:
        import joblib

        buffer = io.BytesIO()
        joblib.dump(obj, buffer)
        return buffer.getvalue()

    def load(self, payload: bytes) -> Any:
        import joblib

        return joblib.load(io.BytesIO(payload))


class SaveLoadFlavor:
    """Objects with `obj.save(path)` and `type(obj).load(path)` (e.g. many deep-learning wrappers)."""

    name, filename = "saveload", "model.tar.gz"

    def handles(self, obj: Any) -> bool:
        return callable(getattr(obj, "save", None)) and callable(getattr(type(obj), "load", None))

    def dump(self, obj: Any) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            obj.save(str(Path(tmp) / "model"))
            meta = {"class": f"{type(obj).__module__}:{type(obj).__qualname__}"}
            return _tar_folder(Path(tmp), {"mlnb-flavor.json": json.dumps(meta).encode()})

    def load(self, payload: bytes) -> Any:
        target = _cache_dir(payload)
        if not target.exists():
            _untar(payload, target)
        meta = json.loads((target / "mlnb-flavor.json").read_text())
        module, _, qualname = meta["class"].partition(":")
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        return cls.load(str(target / "files" / "model"))


class PathFlavor:
    """A file or a folder given by path; loads back as a local path to a verified copy."""

    name, filename = "path", "files.tar.gz"

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
        target = _cache_dir(payload)
        if not target.exists():
            _untar(payload, target)
        files = list((target / "files").iterdir())
        return files[0] if len(files) == 1 and files[0].is_file() else target / "files"


class PickleFlavor:
    name, filename = "pickle", "model.pkl"

    def handles(self, obj: Any) -> bool:
        return True

    def dump(self, obj: Any) -> bytes:
        try:
            return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise InvalidValueError(f"cannot save a {type(obj).__name__}: {exc}; register a flavor for it") from None

    def load(self, payload: bytes) -> Any:
        return pickle.loads(payload)  # only ever called on bytes whose hash matched the registry


_FLAVORS: list[Flavor] = [SklearnFlavor(), SaveLoadFlavor(), PathFlavor(), PickleFlavor()]


def register_flavor(flavor: Flavor) -> None:
    """Add a flavor; it is tried before the built-in ones."""
    _FLAVORS.insert(0, flavor)


def flavor_for(obj: Any) -> Flavor:
    """The first flavor that handles `obj`."""
    if isinstance(obj, (str, os.PathLike)) and not Path(obj).exists():
        raise InvalidValueError(f"no file or folder at {str(obj)[:200]!r} to register")
    return next(f for f in _FLAVORS if f.handles(obj))


def get_flavor(name: str) -> Flavor:
    """A flavor by name."""
    for flavor in _FLAVORS:
        if flavor.name == name:
            return flavor
    raise MlnbError(f"unknown model flavor {name!r}; known: {', '.join(f.name for f in _FLAVORS)}")
