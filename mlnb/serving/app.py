"""The HTTP face of `mlnb serve`: a Starlette app around the rendezvous Engine.

Routes: POST /predict, GET /health, GET /models, GET /metrics. Every error leaves as one JSON shape
`{"error": "<one line>", "problems": [...], "request_id": ...}`: 400 (unreadable body), 413 (body
over the cap, refused before it is read whole), 422 (input not what the version was trained on),
503 (no version answered, or anything unexpected: never a 500, the server keeps serving).
Refused requests are archived too (status invalid). The engine starts in the app's lifespan and
stops (drains, flushes the archive) when uvicorn shuts down gracefully.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from mlnb.serving.archive import new_request_id
from mlnb.serving.metrics import ServeMetrics
from mlnb.serving.requests import BadRequest, parse_body

if TYPE_CHECKING:
    from mlnb.serving.engine import Engine

log = logging.getLogger("mlnb.serving")
_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
STOP_TIMEOUT_S = 30.0
OFFLOAD_BYTES = 256 * 1024  # bodies this big are parsed and checked in a thread
MAX_PROBLEMS = 50  # lines of problems in one response
DRAIN_FACTOR = 4  # an oversized body up to this many times the limit is read and dropped (see _read_body)
DRAIN_SECONDS = 5.0


class TooLarge(Exception):
    """The body is over `max_body_bytes`; `drained`: its rest was read and dropped (the connection
    can stay open), else the connection must close (the unread rest is not a next request)."""

    def __init__(self, message: str, drained: bool = False) -> None:
        super().__init__(message)
        self.drained = drained


class AppState:
    """What the runner reads back: whether the engine is up, and why it could not start."""

    def __init__(self) -> None:
        self.ready = False
        self.error: BaseException | None = None


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def build_app(engine: Engine, metrics: ServeMetrics | None = None,
              on_ready: Callable[[Engine], None] | None = None,
              on_failed: Callable[[BaseException], None] | None = None) -> Starlette:
    """The app serving `engine`; `on_ready(engine)` runs once the engine has started. When the
    engine cannot start, `on_failed(error)` is told (and must stop the server) instead of the
    error going up to uvicorn, which would print its traceback; without `on_failed` it does."""
    metrics = metrics or ServeMetrics()
    state = AppState()
    engine.on_complete.append(metrics.completed)
    _count_switches(engine, metrics)
    limit = engine.config.max_body_bytes
    model = engine.config.name

    async def predict(request: Request) -> Response:
        received = time.time()
        t0 = time.perf_counter()
        given = request.headers.get("x-request-id")
        request_id = given if given is not None and _REQUEST_ID.fullmatch(given) else new_request_id()
        outcome = "failed"
        try:
            try:
                body = await _read_body(request, limit)
                if len(body) < OFFLOAD_BYTES:
                    columns, frame, problems = _checked(body, engine)
                else:  # a big batch: parsed and checked off the event loop, which keeps answering others
                    columns, frame, problems = await asyncio.to_thread(_checked, body, engine)
            except BadRequest as exc:
                outcome = "invalid"
                return _refuse(engine, request_id, received, 400, "the request body cannot be read as input",
                               exc.problems)
            except TooLarge as exc:
                outcome = "invalid"
                return _refuse(engine, request_id, received, 413, str(exc), [str(exc)], close=not exc.drained)
            except ClientDisconnect:
                outcome = "invalid"
                return _refuse(engine, request_id, received, 400, "the client disconnected before sending the body",
                               ["the client disconnected before sending the body"])
            if frame is None:
                outcome = "invalid"
                return _refuse(engine, request_id, received, 422,
                               f"the input does not match what {model} was trained on ({len(problems)} "
                               f"problem{'s' if len(problems) != 1 else ''})", problems)
            answer = await engine.answer(frame, columns, request_id, received)
            returned = answer.returned
            if returned is None or returned.outputs is None:
                why = _one_line(answer.error or "every version failed or timed out")
                line = why if why.startswith("no version") else f"no version of {model} answered: {why}"
                return _error(503, line, [line], request_id)
            outcome = answer.status if answer.status in ("ok", "fallback") else "ok"
            return JSON({"request_id": request_id, "model": model, "version": returned.version,
                         "alias": returned.alias, "status": answer.status, "predictions": returned.outputs},
                        headers={"x-request-id": request_id, "x-mlnb-version": str(returned.version)})
        except Exception as exc:  # noqa: BLE001 - never a 500: one line, and the server keeps serving
            # one line (no traceback in a terminal or notebook); MLNB_DEBUG=1 logs the traceback
            log.warning("mlnb serve: unexpected %s answering %s: %s", type(exc).__name__, request_id,
                        _one_line(str(exc)), exc_info=bool(os.environ.get("MLNB_DEBUG")))
            return _error(503, _one_line(f"the server could not answer ({type(exc).__name__}: {exc})"), None,
                          request_id)
        finally:
            metrics.request(outcome, time.perf_counter() - t0)

    async def health(request: Request) -> Response:
        if not state.ready:
            return JSON({"status": "starting" if state.error is None else "failed", "model": model}, status_code=503)
        return JSON({"status": "ok", "model": model, "served": engine.aliases()})

    async def models(request: Request) -> Response:
        out = dict(engine.describe())
        try:
            out.setdefault("input", engine.schema().to_dict())
        except Exception:  # noqa: BLE001 - the input schema is a courtesy here
            pass
        return JSON(out)

    async def metrics_page(request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await engine.start()
        except Exception as exc:
            state.error = exc
            if on_failed is None:
                raise
            on_failed(exc)
            yield
            return
        state.ready = True
        if on_ready is not None:
            on_ready(engine)
        try:
            yield
        finally:
            state.ready = False
            await engine.stop(STOP_TIMEOUT_S)

    async def http_error(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 503
        line = _one_line(exc.detail if isinstance(exc, HTTPException) else f"the server could not answer ({exc})")
        if code == 404:
            line = f"no route {request.url.path}: use POST /predict, GET /health, GET /models or GET /metrics"
        elif code == 405:
            line = f"{request.method} is not allowed on {request.url.path}"
        return _error(code, line, None, None)

    app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health, methods=["GET"]),
                            Route("/models", models, methods=["GET"]),
                            Route("/metrics", metrics_page, methods=["GET"])],
                    exception_handlers={HTTPException: http_error, Exception: http_error}, lifespan=lifespan)
    app.state.serving = state
    app.state.engine = engine
    app.state.metrics = metrics
    return app


def _checked(body: bytes, engine: Engine) -> tuple[dict[str, list[Any]], Any, list[str]]:
    """(the input as columns, its validated frame or None, the problems)."""
    columns = parse_body(body)
    frame, problems = engine.schema().check(columns)
    return columns, frame, problems


def _count_switches(engine: Engine, metrics: ServeMetrics) -> None:
    """Count the engine's alias moves: every move is archived through `archive.record_switch`, so
    the count wraps that one call (the engine needs no hook of its own)."""
    archive = engine.archive
    record = archive.record_switch

    def counted(alias: str, before: int | None, after: int | None, ms: float, status: str,
                error: str | None = None) -> None:
        record(alias, before, after, ms, status, error)
        try:
            metrics.switched(alias, status)
        except Exception:  # noqa: BLE001 - a metric never fails a switch
            pass

    archive.record_switch = counted  # type: ignore[method-assign]


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (TooLarge) as soon as it is known to pass `limit`: from Content-Length
    before reading anything, else while it streams in (never held whole when too big). A body up
    to DRAIN_FACTOR times the limit is read to its end and dropped, so an ordinary client that
    sends it all before reading sees the 413 (not a reset connection) and keeps its connection."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise BadRequest([f"Content-Length is not a number ({length[:40]!r})"]) from None
        if declared > limit:
            message = f"the body is {declared} bytes, over the limit of {limit} (max_body_bytes)"
            drained = declared <= DRAIN_FACTOR * limit and await _drain(request, 0, DRAIN_FACTOR * limit)
            raise TooLarge(message, drained)
    chunks: list[bytes] = []
    size = 0
    stream = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            chunks.clear()
            drained = await _drain(request, size, DRAIN_FACTOR * limit, stream)
            raise TooLarge(f"the body is over the limit of {limit} bytes (max_body_bytes)", drained)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _drain(request: Request, size: int, bound: int, stream: AsyncIterator[bytes] | None = None) -> bool:
    """Read and drop the rest of the body while it stays within `bound` bytes and DRAIN_SECONDS;
    True when it ended (the connection can be kept), False when it was cut off (close it)."""
    stream = stream if stream is not None else request.stream()
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            chunk = await asyncio.wait_for(anext(stream), remaining)
            size += len(chunk)
            if size > bound:
                return False
    except StopAsyncIteration:
        return True
    except (asyncio.TimeoutError, ClientDisconnect):
        return False


def _refuse(engine: Engine, request_id: str, received: float, code: int, line: str, problems: list[str],
            close: bool = False) -> Response:
    try:
        engine.record_refusal(request_id, received, problems)
    except Exception:  # noqa: BLE001 - archiving a refusal never turns it into another error
        log.warning("mlnb serve: could not archive refused request %s", request_id,
                    exc_info=bool(os.environ.get("MLNB_DEBUG")))
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]
    response = _error(code, line, problems, request_id)
    if close:  # the unread rest of the body must not be taken for the next request
        response.headers["connection"] = "close"
    return response


def _error(code: int, line: str, problems: list[str] | None, request_id: str | None) -> Response:
    body: dict[str, Any] = {"error": line, "problems": problems if problems is not None else [line]}
    headers = {}
    if request_id is not None:
        body["request_id"] = request_id
        headers["x-request-id"] = request_id
    return JSON(body, status_code=code, headers=headers)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500] or "unknown error"


def create_app() -> Starlette:
    """The app of one uvicorn worker process (`--workers K`): the config from MLNB_SERVE_CONFIG."""
    from mlnb.model_registry.access import store_for
    from mlnb.serving.config import ServeConfig
    from mlnb.serving.engine import Engine

    config = ServeConfig.from_env()
    engine = Engine(config, store_for(config.store))
    engine.url = f"http://{_url_host(config.host)}:{config.port}"
    return build_app(engine)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
