"""Who may run code when a model is loaded: the opt-in, the skops type allow list, a static pickle scan.

A pickle (and joblib, cloudpickle, or a `saveload` model that imports a class named in its archive)
runs code from the file while it loads. The hash check only proves the bytes are the ones the
registry recorded, and anyone who can append to the store's event log can record new bytes. So
formats that can run code load only after an explicit opt-in: `allow_pickle=True`, the
`MLNB_ALLOW_PICKLE=1` environment variable, or `--allow-pickle` on the command line.
"""
from __future__ import annotations

import io
import os
import pickletools
from typing import Any

ALLOW_PICKLE_ENV = "MLNB_ALLOW_PICKLE"
# Classes from these packages may be rebuilt by skops without an opt-in. Functions are not on the
# list: a model that holds a function (e.g. FunctionTransformer(func=...)) calls it on predict.
TRUSTED_ROOTS = ("sklearn", "numpy", "scipy")
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
               "SHORT_BINSTRING"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_NOT_PUSHING = {"PROTO", "FRAME", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "STOP"}


def pickle_allowed(allow_pickle: bool | None = None) -> bool:
    """The caller's choice if given, else the `MLNB_ALLOW_PICKLE` environment variable."""
    if allow_pickle is not None:
        return bool(allow_pickle)
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def opt_in_hint(call: str) -> str:
    """How to opt in, for the end of an error line."""
    return f"{call}, or set {ALLOW_PICKLE_ENV}=1 (CLI: --allow-pickle)"


def registered_by(record: dict[str, Any]) -> str:
    """`user@host (mlnb 0.1.0)` from a version record; parts that were not recorded are left out."""
    who = record.get("user") or "unknown user"
    if record.get("host"):
        who += f"@{record['host']}"
    if record.get("mlnb_version"):
        who += f" (mlnb {record['mlnb_version']})"
    return who


def _resolve(name: str) -> Any:
    """The object a dotted type name points at, importing only modules under TRUSTED_ROOTS."""
    import importlib

    parts = name.split(".")
    if parts[0] not in TRUSTED_ROOTS:
        return None
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def split_skops_types(untrusted: list[str]) -> tuple[list[str], list[str]]:
    """(allowed, refused): skops' untrusted type names split by the allow list (classes of TRUSTED_ROOTS)."""
    allowed: list[str] = []
    refused: list[str] = []
    for name in untrusted:
        obj = _resolve(name) if "<" not in name else None
        (allowed if isinstance(obj, type) else refused).append(name)
    return allowed, refused


def pickle_imports(payload: bytes) -> tuple[list[str], bool]:
    """The globals a pickle (or joblib file) would import, read without unpickling anything.

    Returns (names in order of first use, complete). joblib writes raw array bytes after each
    array header, so the scan of a joblib file stops at its first array (complete = False).
    """
    names: list[str] = []
    recent: list[Any] = []  # what each op pushed, as far as it matters here (strings), else None
    memo: dict[int, Any] = {}
    joblib_wrapper = False
    arg: Any  # the opcode's argument: an int, str, bytes, ... by opcode (never None where it is used)
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(payload)):
            kind = op.name
            if kind == "STOP":
                return names, True
            if kind in _STRING_OPS:
                recent.append(arg)
            elif kind in _GET_OPS:
                recent.append(memo.get(arg))
            elif kind == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif kind in _PUT_OPS:
                memo[arg] = recent[-1] if recent else None
            elif kind in ("GLOBAL", "INST") or kind == "STACK_GLOBAL":
                module, name = (arg.split(" ", 1) if kind != "STACK_GLOBAL" else
                                (str(recent[-2]) if len(recent) > 1 else "?", str(recent[-1]) if recent else "?"))
                full = f"{module}.{name}"
                if full not in names:
                    names.append(full)
                joblib_wrapper = joblib_wrapper or full == "joblib.numpy_pickle.NumpyArrayWrapper"
                recent.append(None)
            elif kind == "BUILD" and joblib_wrapper and "allow_mmap" in recent[-8:]:
                return names, False  # joblib's raw array bytes follow: not pickle opcodes
            elif kind not in _NOT_PUSHING:
                recent.append(None)
            del recent[:-16]
    except Exception:  # not (or no longer) a pickle stream: report what was read
        return names, False
    return names, False
