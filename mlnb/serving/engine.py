"""The rendezvous engine of one serving process: the live versions, the fan-out, the deadline.

THIN FIRST VERSION (lead's skeleton): answers with the first URI only, no shadows, no batching, no
watcher. The interface below is what the HTTP layer (`mlnb.serving.app`) relies on.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlnb.serving.archive import Answer, Archive, VersionAnswer
from mlnb.serving.config import ServeConfig

if TYPE_CHECKING:
    from mlnb.model_monitoring.input_schema import InputSchema
    from mlnb.store.store import Store


@dataclass
class LiveVersion:
    """One loaded, warmed version serving under `uri` (an alias URI or name/N)."""

    uri: str
    name: str
    version: int
    model: Any
    record: dict[str, Any]  # the registry record (signature, flavor, ...)

    @property
    def alias(self) -> str:
        return self.uri.split("@", 1)[1] if "@" in self.uri else str(self.version)


class Engine:
    """Loads the versions of a ServeConfig and answers requests by rendezvous.

    Lifecycle: `await start()` (load and warm everything; raises a one-line MlnbError when a URI
    cannot be served), `await answer(...)` per request, `await stop()` (drain and flush).
    """

    def __init__(self, config: ServeConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.archive = Archive(store, config.name, config.input_cap_bytes, config.input_sample)
        self.live: dict[str, LiveVersion] = {}  # uri -> live version, in preference order
        self.started = time.time()
        self.requests = 0
        self.url: str | None = None  # set by the runner once it listens
        # called once per request, after archiving, with every version's result (the HTTP layer's metrics)
        self.on_complete: list[Callable[[Answer], None]] = []
        self._schemas: dict[str, InputSchema] = {}  # uri -> the input schema of the version served there

    async def start(self) -> None:
        from mlnb.model_monitoring.input_schema import InputSchema

        for uri in self.config.uris:
            lv = self.live[uri] = await asyncio.to_thread(self._load, uri)
            self._schemas[uri] = await asyncio.to_thread(InputSchema.for_version, self.store, lv.name, lv.version,
                                                         lv.record)
        self.archive.record_status("running", self.url, self.aliases(), list(self.config.shadows), 0,
                                   self.config.deadline_ms, self.started)

    def _load(self, uri: str) -> LiveVersion:
        from mlnb.model_registry import load_model, model_version

        record = model_version(uri, project=self.store)
        model = load_model(record["uri"], allow_pickle=self.config.allow_pickle, project=self.store)
        return LiveVersion(uri, record["name"], int(record["version"]), model, record)

    def champion(self) -> LiveVersion:
        """The version that answers (the first URI)."""
        return self.live[self.config.model]

    def schema(self) -> InputSchema:
        """The input schema of the version that answers now (the HTTP layer validates against it)."""
        return self._schemas[self.config.model]

    def aliases(self) -> dict[str, int | None]:
        """URI served -> version, in preference order."""
        return {uri: (lv.version if lv is not None else None) for uri, lv in self.live.items()}

    def describe(self) -> dict[str, Any]:
        """What GET /models shows."""
        return {"model": self.config.name, "deadline_ms": self.config.deadline_ms,
                "served": [{"uri": uri, "alias": lv.alias, "version": lv.version,
                            "role": "answers" if uri == self.config.model else "shadow"}
                           for uri, lv in self.live.items()]}

    async def answer(self, frame: Any, columns: dict[str, list[Any]] | None, request_id: str,
                     received: float) -> Answer:
        """Score `frame` (a validated pandas DataFrame) and return the rendezvous result; the
        answer is archived (queued) before this returns. `columns` is the input to archive."""
        lv = self.champion()
        t0 = time.perf_counter()
        try:
            outputs = await asyncio.to_thread(_predict, lv.model, frame)
            result = VersionAnswer(lv.version, lv.alias, "ok", (time.perf_counter() - t0) * 1e3, outputs)
            status, error = "ok", None
        except Exception as exc:  # a model failing on valid input: the response says so in one line
            result = VersionAnswer(lv.version, lv.alias, "error", (time.perf_counter() - t0) * 1e3,
                                   error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            status, error = "failed", result.error
        answer = Answer(request_id, received, self.config.name, status, len(frame),
                        result if status == "ok" else None, [result], (time.time() - received) * 1e3, error)
        self.archive.record(answer, columns)
        self.requests += 1
        for fn in self.on_complete:
            try:
                fn(answer)
            except Exception:  # noqa: BLE001 - a metrics callback never fails a request
                pass
        return answer

    def record_refusal(self, request_id: str, received: float, problems: list[str]) -> None:
        """Archive a refused (4xx) request: no input, the problems as its error."""
        self.archive.record(Answer(request_id, received, self.config.name, "invalid", 0, None, [],
                                   (time.time() - received) * 1e3, "; ".join(problems)[:2000]), None)

    async def stop(self, timeout_s: float = 10.0) -> None:
        self.archive.record_status("stopped", self.url, self.aliases(), list(self.config.shadows), self.requests,
                                   self.config.deadline_ms, self.started)
        await asyncio.to_thread(self.archive.flush)


def _predict(model: Any, frame: Any) -> list[Any]:
    from mlnb.model_monitoring.records import jsonable

    result = model.predict(frame)
    values = result.tolist() if hasattr(result, "tolist") else list(result)
    return [jsonable(v) for v in values]
