"""Finding a local `.mlnb` store folder: MLNB_HOME, else walk up from the cwd like git.

Part of the local backend (`mlnb.store.backends.local`); store URLs of other backends never get
here (`mlnb.store.backends.registry` dispatches on the scheme first).
"""
from __future__ import annotations

import os
from pathlib import Path

from mlnb.errors import StoreNotFoundError

STORE_DIRNAME = ".mlnb"
ENV_HOME = "MLNB_HOME"
EVENTS_DIRNAME = "events"  # the folder of the event logs (see mlnb.store.backends.local)


def find_store_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the nearest existing store: `$MLNB_HOME`, or `.mlnb/` in `start` or a parent."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIRNAME
        if candidate.is_dir():
            return candidate
    return None


def resolve_store_root(path: str | os.PathLike[str] | None = None, create: bool = False) -> Path:
    """Where the store lives. An explicit path may name the project folder or the `.mlnb` folder itself.

    With `create`, a missing store is created in the cwd (as MLflow does with `mlruns`);
    without it, a missing store is an error telling the user how to make one.
    """
    if path is not None:
        root = Path(path).expanduser().resolve()
        if root.name != STORE_DIRNAME and (root / STORE_DIRNAME).is_dir():
            return root / STORE_DIRNAME
        if create and root.name != STORE_DIRNAME and root.is_dir() and not is_store(root):
            return root / STORE_DIRNAME  # an existing project folder: its store goes inside
        if not create and not is_store(root):
            raise StoreNotFoundError(f"no mlnb store at {root}; run `mlnb init` there or log a run first")
        return root
    found = find_store_root()
    if found is not None:
        if not create and not is_store(found):
            raise StoreNotFoundError(f"{ENV_HOME} points to {found}, which is not an mlnb store; run `mlnb init {found}`")
        return found
    if create:
        return Path(os.getcwd()).resolve() / STORE_DIRNAME
    raise StoreNotFoundError(
        f"no mlnb store found in {os.getcwd()} or its parents; run `mlnb init` or log a run first "
        f"(or set {ENV_HOME})"
    )


def is_store(root: Path) -> bool:
    """True when `root` holds an mlnb store (its event folder exists)."""
    return (root / EVENTS_DIRNAME).is_dir()
