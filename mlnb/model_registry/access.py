"""Which store a registry call works on: `project=` resolved the same way everywhere."""
from __future__ import annotations

from typing import TYPE_CHECKING, Union

from mlnb.project import ProjectLike

if TYPE_CHECKING:
    from mlnb.store.store import Store

# What `project=` accepts: a Project, a path or URL, None (the current project), or a Store
# (internal callers such as the server's handlers, which hold one).
ProjectArg = Union[ProjectLike, "Store"]


def store_for(project: ProjectArg = None, create: bool = False) -> Store:
    """The store of `project` (a Project, a path/URL, a Store for internal callers, or None for the
    current project)."""
    from mlnb.project import resolve
    from mlnb.store.store import Store

    if isinstance(project, Store):
        return project
    return resolve(project, create=create).store
