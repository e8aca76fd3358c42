"""What `mlnb serve` is asked to do, checked once at the call site (one-line errors)."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from mlnb.errors import InvalidValueError
from mlnb.model_registry.names import ModelURI

DEFAULT_DEADLINE_MS = 250.0
DEFAULT_MAX_BODY = 8 * 1024 * 1024  # bytes of one request body
DEFAULT_INPUT_CAP = 64 * 1024  # bytes of one request's input kept in the archive
CONFIG_ENV = "MLNB_SERVE_CONFIG"  # how the config reaches uvicorn's worker processes


@dataclass(frozen=True)
class ServeConfig:
    """One serving process (or K workers): the model URI that answers, the shadows, the deadline.

    `model` is a registry URI (`churn@champion`, `churn/3`); shadows are URIs of the same model
    (`churn@challenger`). The preference order is the model, then the shadows as given: past the
    deadline the first of them that has answered is returned.
    """

    model: str
    shadows: tuple[str, ...] = ()
    deadline_ms: float = DEFAULT_DEADLINE_MS
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port (the handle tells which)
    workers: int = 1
    store: str | None = None  # the store's URL or folder (None: the current project's)
    max_body_bytes: int = DEFAULT_MAX_BODY
    input_cap_bytes: int = DEFAULT_INPUT_CAP  # inputs larger than this are archived without their rows
    input_sample: float = 1.0  # share of requests whose input is archived (outputs always are)
    allow_pickle: bool = False  # load formats that run code from the file (explicit choice)
    watch_interval_s: float = 0.5  # how often aliases are checked for a move
    max_batch_rows: int = 256  # micro-batching: at most this many rows in one predict call
    shadow_timeout_ms: float | None = None  # a version still busy after this is a timeout (None: max(10 x deadline, 2 s))
    predict_threads: int = 1  # worker threads per version (one keeps batches large; predict releases the GIL rarely)
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _uri(self.model, "model")
        if not isinstance(self.shadows, tuple):
            object.__setattr__(self, "shadows", tuple(_shadow_list(self.shadows)))
        for uri in self.shadows:
            _uri(uri, "shadow")
        others = sorted({ModelURI.parse(s).name for s in self.shadows} - {self.name})
        if others:
            raise InvalidValueError(f"shadow {others[0]!r} is another model; shadows are versions of {self.name!r} "
                                    f"(e.g. {self.name}@challenger)", field="shadows")
        if len(set(self.uris)) != len(self.uris):
            raise InvalidValueError("a URI is given twice among the model and its shadows", field="shadows")
        _number(self.deadline_ms, "deadline_ms", 1, 600_000)
        if not isinstance(self.host, str) or not self.host:
            raise InvalidValueError(f"host must be an address like 127.0.0.1, got {self.host!r}", field="host")
        _integer(self.port, "port", 0, 65535)
        _integer(self.workers, "workers", 1, 64)
        _integer(self.max_body_bytes, "max_body_bytes", 1, 2**31)
        _integer(self.input_cap_bytes, "input_cap_bytes", 0, 2**31)
        _number(self.input_sample, "input_sample", 0, 1)
        _number(self.watch_interval_s, "watch_interval_s", 0.05, 3600)
        _integer(self.max_batch_rows, "max_batch_rows", 1, 1_000_000)
        if self.shadow_timeout_ms is not None:
            _number(self.shadow_timeout_ms, "shadow_timeout_ms", self.deadline_ms, 3_600_000)
        _integer(self.predict_threads, "predict_threads", 1, 64)
        if not isinstance(self.allow_pickle, bool):
            raise InvalidValueError("allow_pickle must be True or False", field="allow_pickle")

    @property
    def uris(self) -> tuple[str, ...]:
        """The model, then the shadows: the preference order."""
        return (self.model, *self.shadows)

    @property
    def timeout_ms(self) -> float:
        """When a version that has not answered counts as a timeout (and a request nobody answered fails)."""
        if self.shadow_timeout_ms is not None:
            return float(self.shadow_timeout_ms)
        return max(10.0 * self.deadline_ms, 2000.0)

    @property
    def name(self) -> str:
        return ModelURI.parse(self.model).name

    def to_env(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeConfig:
        raw = orjson.loads((environ if environ is not None else os.environ)[CONFIG_ENV])
        raw["shadows"] = tuple(raw.get("shadows") or ())
        return cls(**raw)


def _uri(value: Any, what: str) -> None:
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be a model URI like churn@champion, got {type(value).__name__}",
                                field=what)
    ModelURI.parse(value)  # one line naming the bad URI


def _shadow_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise InvalidValueError(f"shadows must be a list of model URIs, got {type(value).__name__}", field="shadows")


def _number(value: Any, what: str, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise InvalidValueError(f"{what} must be a number from {lo:g} to {hi:g}, got {value!r}", field=what)


def _integer(value: Any, what: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidValueError(f"{what} must be a whole number from {lo} to {hi}, got {value!r}", field=what)
