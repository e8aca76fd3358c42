"""Where folder-shaped models are unpacked: a private cache, checked against the archive on every load.

The archive's bytes were verified against the registry's hash; the unpacked copy on disk is not
covered by that check. So each load compares every unpacked file with the archive in memory and
unpacks again on any difference, and the cache lives in a folder only its owner can enter
(`~/.cache/mlnb/models`, or `$MLNB_MODEL_CACHE`), never in a shared temp folder.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from mlnb.errors import MlnbError
from mlnb.hashing import sha256_of

CACHE_ENV = "MLNB_MODEL_CACHE"


def cache_root() -> Path:
    """The private cache folder (created with mode 0700); refuses one another user owns."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        root = Path(configured)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(base) / "mlnb" / "models"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.lstat(root)
    except OSError as exc:
        raise MlnbError(f"cannot use the model cache {root} ({exc.strerror}); set {CACHE_ENV} to a private, "
                        "writable folder") from None
    if os.name == "posix":
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise MlnbError(f"the model cache {root} is not a folder of your own; "
                            f"set {CACHE_ENV} to a private folder")
        if info.st_mode & 0o077:  # others could swap unpacked files between check and use
            os.chmod(root, 0o700)
    return root


def manifest(payload: bytes) -> dict[str, tuple[int, str]]:
    """Every regular file of a tar.gz archive: relative path -> (size, sha256)."""
    files: dict[str, tuple[int, str]] = {}
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                files[Path(member.name).as_posix()] = (len(data), hashlib.sha256(data).hexdigest())
    return files


def _matches(folder: Path, expected: dict[str, tuple[int, str]]) -> bool:
    """True if `folder` holds exactly the expected files (no links, no extras), byte for byte."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                return False
        for name in filenames:
            path = Path(dirpath) / name
            relative = path.relative_to(folder).as_posix()
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or relative not in expected or expected[relative][0] != info.st_size:
                return False
            with open(path, "rb") as handle:
                if sha256_of(handle).hexdigest() != expected[relative][1]:
                    return False
            found.add(relative)
    return found == set(expected)


def _remove(path: Path, root: Path) -> None:
    """Move a stale entry aside (atomic), then delete it."""
    aside = root / f".stale-{uuid.uuid4().hex}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


def unpacked(payload: bytes, extract: Callable[[bytes, Path], None]) -> Path:
    """A verified, unpacked copy of a tar.gz model archive; unpacks again if the copy differs."""
    root = cache_root()
    target = root / hashlib.sha256(payload).hexdigest()
    expected = manifest(payload)
    for _ in range(5):  # another process may be swapping the same entry in right now
        if _matches(target, expected):
            return target
        fresh = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
        try:
            extract(payload, fresh)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        try:
            if os.path.lexists(target):
                _remove(target, root)
            os.rename(fresh, target)
        except OSError:
            shutil.rmtree(fresh, ignore_errors=True)  # lost a race: check the winner's copy
            continue
        if _matches(target, expected):
            return target
    raise MlnbError(f"the unpacked model in {target} keeps changing under mlnb; "
                    f"set {CACHE_ENV} to a private folder and retry")
