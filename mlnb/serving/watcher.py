"""The alias watcher: aliases that move in the registry move in the server, live.

Every `watch_interval_s` (in a worker thread) the watcher looks whether the next step of each
served alias has been claimed (`models/<name>/aliases/<alias>/<seq>`: every move claims one
before writing its event; @latest: the next version number). That is one small read per alias,
so an idle round costs nothing; refreshing the index every round would ingest all the traffic's
answers each time, on the serving process's CPU. Only when a step was claimed is the registry
queried (then every round until the index has the claimed step). Claims are how every move of
every face (notebook, CLI, sidebar) takes its step, so none goes unseen. When an alias then
points elsewhere, the new version is loaded and warmed off the event loop,
then swapped in at once (`go_live` of the engine): requests already fanned out finish on the version they
started with, new ones go to the new version. Each switch, or failure to switch (the old version
keeps answering), is recorded once as a `serve_switch` event.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Protocol

from mlnb.model_registry.names import ModelURI
from mlnb.serving.live import LiveVersion, first_line, load_version

if TYPE_CHECKING:
    from mlnb.serving.archive import Archive
    from mlnb.serving.config import ServeConfig
    from mlnb.store.store import Store


class LiveSet(Protocol):
    """What the watcher needs of the engine (a protocol, so the watcher does not import the engine
    that owns it)."""

    config: ServeConfig
    store: Store
    archive: Archive
    live: dict[str, LiveVersion]

    def go_live(self, live: LiveVersion) -> None: ...
    def withdraw(self, uri: str) -> None: ...
    def loaded(self, version: int) -> LiveVersion | None: ...

STALE_CLAIM_S = 30.0  # a claim whose event never came (its process died) stops being waited for


class AliasWatcher:
    def __init__(self, engine: LiveSet) -> None:
        self.engine = engine
        self.checks = 0  # rounds done (tests wait on it)
        self.last_error: str | None = None  # why the last round could not read the registry
        self._given_up: dict[str, int | None] = {}  # uri -> a target that failed (not retried until it moves)
        self._steps: dict[str, int] = {}  # uri -> the last step claimed (alias seq, or version for @latest)
        self._waiting: dict[str, float] = {}  # uri -> since when a claimed step is not in the index yet

    @property
    def uris(self) -> list[str]:
        """The served URIs that can move: aliases (and @latest); name/N never moves."""
        return [uri for uri in self.engine.config.uris if "@" in uri]

    async def run(self) -> None:
        """Check every interval until cancelled (a round that fails is retried next time)."""
        if not self.uris:
            return
        with contextlib.suppress(Exception):  # the steps now (and a move since start); a failure: retried
            await self.check(full=True)
        while True:
            await asyncio.sleep(self.engine.config.watch_interval_s)
            try:
                await self.check()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. the index held by another process too long: next round
                self.last_error = first_line(exc)
            self.checks += 1

    async def check(self, full: bool = False) -> None:
        """One round: follow every alias that moved (`full`: query the registry whatever the claims say)."""
        targets = await asyncio.to_thread(self._poll, full)
        for uri, version in targets.items():
            await self._follow(uri, version)

    def _poll(self, full: bool) -> dict[str, int | None]:
        """URI -> the version it points at now (None: deleted), or {} when no step was claimed
        since the last round. In a worker thread."""
        moved = self._probe_claims()
        if not (full or moved or self._waiting):
            return {}
        return self._resolve(time.monotonic())

    def _probe_claims(self) -> bool:
        claims = self.engine.store.claims
        moved = False
        for uri in self.uris:
            if uri not in self._steps:
                continue  # not resolved yet: the next round queries the registry anyway
            prefix = _claims_prefix(uri)
            while claims.read(f"{prefix}/{self._steps[uri] + 1}") is not None:
                self._steps[uri] += 1
                self._waiting.setdefault(uri, time.monotonic())
                moved = True
        return moved

    def _resolve(self, now: float) -> dict[str, int | None]:
        from mlnb.model_registry import queries

        out: dict[str, int | None] = {}
        with queries.session(self.engine.store) as con:
            for uri in self.uris:
                parsed = ModelURI.parse(uri)
                if parsed.alias == "latest":
                    step = queries.max_version(con, parsed.name)
                    out[uri] = step or None
                else:
                    step = queries.max_alias_seq(con, parsed.name, str(parsed.alias))
                    out[uri] = queries.alias_version(con, parsed.name, str(parsed.alias))
                claimed = self._steps.get(uri, 0)
                if step >= claimed or now - self._waiting.get(uri, now) > STALE_CLAIM_S:
                    self._waiting.pop(uri, None)  # the index has every claimed step (or never will)
                self._steps[uri] = max(step, claimed)
        return out

    async def _follow(self, uri: str, version: int | None) -> None:
        engine = self.engine
        current = engine.live.get(uri)
        before = current.version if current is not None else None
        if version == before:
            self._given_up.pop(uri, None)
            return
        if uri in self._given_up and self._given_up[uri] == version:
            return  # recorded once already
        alias = str(ModelURI.parse(uri).alias)
        if version is None:
            self._given_up[uri] = None
            if uri == engine.config.model:  # the answering version stays: never leave requests without a model
                engine.archive.record_switch(alias, before, None, 0.0, "failed",
                                             f"{uri} was deleted; version {before} keeps answering until it is set again")
            else:
                engine.withdraw(uri)
                engine.archive.record_switch(alias, before, None, 0.0, "switched")
            return
        t0 = time.perf_counter()
        try:
            live = await asyncio.to_thread(load_version, engine.store, uri, engine.config.allow_pickle, version,
                                           engine.loaded(version))
        except Exception as exc:  # the old version keeps answering; the reason is recorded once
            self._given_up[uri] = version
            engine.archive.record_switch(alias, before, version, (time.perf_counter() - t0) * 1e3, "failed",
                                         f"version {version} could not be loaded: {first_line(exc)}")
            return
        engine.go_live(live)
        self._given_up.pop(uri, None)
        engine.archive.record_switch(alias, before, version, (time.perf_counter() - t0) * 1e3, "switched")


def _claims_prefix(uri: str) -> str:
    parsed = ModelURI.parse(uri)
    if parsed.alias == "latest":
        return f"models/{parsed.name}/versions"
    return f"models/{parsed.name}/aliases/{parsed.alias}"
