"""Facts about the process starting a run: who, where, which code (git commit, notebook)."""
from __future__ import annotations

import functools
import getpass
import os
import socket
from pathlib import Path


@functools.lru_cache(maxsize=4)
def process_start_time(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), so a reused pid is not mistaken for it."""
    try:
        import psutil

        started: float = psutil.Process(pid).create_time()  # psutil has no type information
        return started
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def user_name() -> str | None:
    """The OS user running this process."""
    try:
        return getpass.getuser()
    except Exception:
        return None


def host_name() -> str:
    """This machine's host name."""
    return socket.gethostname()


def git_commit(start: str | os.PathLike[str] | None = None) -> str | None:
    """The commit checked out in the git repository containing `start` (read from .git, no subprocess)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        dotgit = folder / ".git"
        if dotgit.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dotgit.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            dotgit = (folder / text.split(":", 1)[1].strip()).resolve()
        if dotgit.is_dir():
            return _resolve_head(dotgit)
    return None


def _resolve_head(gitdir: Path) -> str | None:
    try:
        head = (gitdir / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head.split(":", 1)[1].strip()
    common = gitdir
    commondir = gitdir / "commondir"
    if commondir.is_file():
        common = (gitdir / commondir.read_text().strip()).resolve()
    for base in (gitdir, common):
        ref_file = base / ref
        if ref_file.is_file():
            return ref_file.read_text().strip() or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None  # a branch with no commits yet


def notebook_path() -> str | None:
    """The notebook this kernel runs, when the frontend or mlnb's batch runner says so."""
    for var in ("MLNB_NOTEBOOK", "JPY_SESSION_NAME"):
        value = os.environ.get(var)
        if value:
            return value
    return None
