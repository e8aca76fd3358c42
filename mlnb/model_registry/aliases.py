"""Aliases (`name@champion`): move, delete, and the full history of every move.

Each move claims the next step of the alias's history (`consensus.claim_alias_step`) and its
event carries that `seq`; ingest settles the alias as the move with the highest seq, so every
reader agrees on the outcome of concurrent moves whatever order it reads the events in.
"""
from __future__ import annotations

import time
from typing import Any

from mlnb import runinfo
from mlnb.errors import ConflictError
from mlnb.events import event
from mlnb.model_registry import queries
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.model_registry.consensus import claim_alias_step
from mlnb.model_registry.names import PROTECTED_ALIAS, check_alias, check_name, check_text, check_version
from mlnb.model_registry.versions import model_version


def set_alias(name: str, alias: str, version: int, force: bool = False, reason: str | None = None,
              project: ProjectArg = None) -> dict[str, Any]:
    """Point `name@alias` at `version` (kept in the alias history). Moving `champion` to a version
    whose run's notebook state is not clean needs `force=True` (and the reason is kept)."""
    check_alias(alias)
    version = check_version(version)
    reason = check_text(reason, "reason")
    store = store_for(project)
    with queries.session(store) as con:  # reads only: the step is decided by a claim below
        _, version = queries.resolve_version(con, f"{check_name(name)}/{int(version)}")
        hidden, status = queries.version_state(con, name, version)
        if status == "archived":
            raise ConflictError(f"{name}/{version} is archived; register a new version or pick another",
                                subject=f"{name}/{version}", reason="archived")
        if alias == PROTECTED_ALIAS and hidden not in (None, "clean") and not force:
            raise ConflictError(f"{name}/{version} comes from a run whose notebook state is {hidden!r}; "
                                "pass force=True (and a reason) to make it champion anyway",
                                subject=f"{name}/{version}", reason="hidden_state")
        before = queries.alias_version(con, name, alias)
        start = queries.max_alias_seq(con, name, alias) + 1
    if before == version:  # already there: no history entry for a no-op
        return model_version(f"{name}/{version}", project=store)
    if reason is None and force and hidden not in (None, "clean"):
        reason = f"forced despite hidden state {hidden}"
    _move(store, name, alias, version, before, start, reason)
    return model_version(f"{name}@{alias}", project=store)


def delete_alias(name: str, alias: str, project: ProjectArg = None) -> None:
    """Remove an alias (kept in the history)."""
    store = store_for(project)
    with queries.session(store) as con:
        queries.resolve_version(con, f"{check_name(name)}@{check_alias(alias)}")
        before = queries.alias_version(con, name, alias)
        start = queries.max_alias_seq(con, name, alias) + 1
    _move(store, name, alias, None, before, start, None)


def _move(store: Any, name: str, alias: str, version: int | None, before: int | None, start: int,
          reason: str | None) -> None:
    """Claim the alias's next step and append the move (version None: a deletion)."""
    seq = claim_alias_step(store, name, alias, start, {"version": version, "host": runinfo.host_name()})
    store.writer.emit(event("alias", name=name, alias=alias, version=version, seq=seq, user=runinfo.user_name(),
                            t=time.time(), reason=reason, **{"from": before}))
    store.writer.flush(sync=True)


def alias_history(name: str, project: ProjectArg = None) -> Any:
    """Every alias change of a model: when, by whom, from which version to which, why."""
    with queries.session(store_for(project)) as con:
        return queries.alias_history_frame(con, name)
