"""The alias watcher: aliases that move in the registry move in the server, live.

Every `watch_interval_s` one cheap registry query (in a worker thread) resolves each alias URI
being served. When one points elsewhere, the new version is loaded and warmed off the event loop,
then swapped in at once (`Engine.go_live`): requests already fanned out finish on the version they
started with, new ones go to the new version. Each switch, or failure to switch (the old version
keeps answering), is recorded once as a `serve_switch` event.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from mlnb.model_registry.names import ModelURI
from mlnb.serving.live import first_line, load_version

if TYPE_CHECKING:
    from mlnb.serving.engine import Engine


class AliasWatcher:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.checks = 0  # rounds done (tests wait on it)
        self.last_error: str | None = None  # why the last round could not read the registry
        self._given_up: dict[str, int | None] = {}  # uri -> a target that failed (not retried until it moves)

    @property
    def uris(self) -> list[str]:
        """The served URIs that can move: aliases (and @latest); name/N never moves."""
        return [uri for uri in self.engine.config.uris if "@" in uri]

    async def run(self) -> None:
        """Check every interval until cancelled (a round that fails is retried next time)."""
        if not self.uris:
            return
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

    async def check(self) -> None:
        targets = await asyncio.to_thread(self._resolve)
        for uri, version in targets.items():
            await self._follow(uri, version)

    def _resolve(self) -> dict[str, int | None]:
        """URI -> the version it points at now (None: the alias was deleted). In a worker thread."""
        from mlnb.model_registry import queries

        out: dict[str, int | None] = {}
        with queries.session(self.engine.store) as con:
            for uri in self.uris:
                parsed = ModelURI.parse(uri)
                if parsed.alias == "latest":
                    out[uri] = queries.max_version(con, parsed.name) or None
                else:
                    out[uri] = queries.alias_version(con, parsed.name, str(parsed.alias))
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
