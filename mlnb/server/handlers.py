"""Thin tornado handlers over the view-models (`mlnb.views`; the registry's in `mlnb.model_registry.views`,
monitoring's in `mlnb.model_monitoring.views`):
authenticate, parse arguments, run the read in one of mlnb's own worker threads, and answer JSON
or `{"error": {"code", "message"}}`.

The index may be held by another process for a while (a kernel ingesting, a long query). Reads
therefore run in a small pool of mlnb's own, never in the event loop's shared default executor
that Jupyter's own handlers use, and a read that is not done within `SERVER_WAIT_S` is answered
503 `store_busy`: the sidebar retries, and Jupyter keeps serving everything else.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tornado.iostream
import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from mlnb import jsonout
from mlnb.errors import HTTP_STATUS, MlnbError, NotFoundError, StoreNotFoundError, http_status
from mlnb.model_registry import views
from mlnb.views import datasets as dataset_views
from mlnb.views import runs as run_views
from mlnb.views.json import page_bounds

NAME = r"[^/]+"
SERVER_LINGER_S = 0.05
STREAM_CHUNK = 1 << 20  # artifacts go out in pieces of this size; the server never holds a whole one
SERVER_WAIT_S = 5.0  # longest a request waits for the index (and a free mlnb thread) before a 503
API_THREADS = 4  # mlnb's own threads for reads: requests beyond this queue, Jupyter's pool stays free
BUSY_MESSAGE = "the mlnb index is busy (another process is using it); try again in a moment"
# media types served as they are; anything else (HTML, SVG, scripts) goes out as octet-stream
INERT_MEDIA = frozenset({"text/plain", "text/csv", "application/json", "image/png", "image/jpeg", "image/gif",
                         "application/octet-stream", "application/x-ipynb+json", "application/vnd.plotly.v1+json"})

# before Python 3.11 the event loop's timeout is its own class; it means the same as TimeoutError
HTTP_STATUS.setdefault(asyncio.TimeoutError, HTTP_STATUS[TimeoutError])


class ProjectFinder:
    """The project the server serves: $MLNB_HOME, else `.mlnb` in the server's root folder or a parent.

    Looked up on each request until found, so `mlnb init` after the server started works. Handlers
    get it from here and pass it on explicitly: the server never reads or sets a current project.
    """

    def __init__(self, root_dir: str) -> None:
        self.root_dir = root_dir
        self._project: Any = None

    def get(self) -> Any:
        """The served `mlnb.Project`."""
        if self._project is None:
            from mlnb.project import Project
            from mlnb.store.location import find_store_root

            root = find_store_root(Path(self.root_dir).expanduser())
            if root is None:
                raise StoreNotFoundError(f"no mlnb store in {self.root_dir} or its parents; run `mlnb init` there")
            project = Project.open(root)
            # a long-running server must not keep kernels waiting for the index: close it (and
            # release the lock) right after each request instead of lingering
            project.store.linger_s = SERVER_LINGER_S
            project.store.lock_timeout_s = SERVER_WAIT_S  # free the thread: the request is answered 503 by then
            self._project = project
        return self._project

    def store(self) -> Any:
        """The served project's store (what the view-model functions read)."""
        return self.get().store


class MlnbHandler(APIHandler):
    """JSON in, JSON out, one error shape."""

    def initialize(self, finder: ProjectFinder) -> None:
        self.finder = finder

    async def answer(self, read: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            # a write (POST) that has started is awaited to its end: never "busy" after doing it
            result = await run_read(lambda: read(self.finder.store(), *args, **kwargs),
                                    finish_started=self.request.method != "GET")
        except Exception as exc:  # noqa: BLE001 - mapped by the one table; anything unlisted re-raised
            if not self.fail_for(exc):
                raise
        self.finish(jsonout.dumps(result))  # the CLI's encoding too: null for NaN, "inf" for infinity

    def fail_for(self, exc: BaseException) -> bool:
        """Answer `exc` with its status and code from `errors.HTTP_STATUS`; False if it is not listed."""
        mapped = http_status(exc)
        if mapped is None:
            return False
        status, code = mapped
        self.fail(status, code, BUSY_MESSAGE if code == "store_busy" else exc)
        return True

    def fail(self, status: int, code: str, error: BaseException | str) -> None:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        self.set_status(status)
        self.finish(json.dumps({"error": {"code": code, "message": message}}))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own errors (403, 404, 405, 500) in the same shape, without a traceback."""
        reason = self._reason or "error"
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, tornado.web.HTTPError) and exc.log_message else reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"code": reason.lower().replace(" ", "_"), "message": message}}))

    def page_arguments(self) -> tuple[int, int] | None:
        """(limit, offset) from the query, or None after answering 400 for a bad number."""
        values = []
        for name, default in (("limit", 50), ("offset", 0)):
            raw = self.get_query_argument(name, str(default))
            try:
                values.append(int(raw))
            except ValueError:
                self.fail(400, "bad_request", f"{name} must be a whole number, got {raw[:40]!r}")
                return None
        try:
            return page_bounds(values[0], values[1])
        except MlnbError as exc:
            self.fail_for(exc)
            return None


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


async def run_read(call: Callable[[], Any], wait_s: float | None = None, finish_started: bool = False) -> Any:
    """`call()` in mlnb's own thread pool; asyncio.TimeoutError after `wait_s` (default SERVER_WAIT_S).

    On timeout a call that has not started is cancelled. One that has started cannot be stopped
    safely: a read is left to finish in its thread (it gives up by the store's lock timeout) and
    its result dropped; with `finish_started` (writes) it is awaited and its own outcome returned.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="mlnb-api")
    future = _pool.submit(call)
    wrapped = asyncio.wrap_future(future)
    wrapped.add_done_callback(lambda done: done.cancelled() or done.exception())  # never "never retrieved"
    try:
        return await asyncio.wait_for(asyncio.shield(wrapped), SERVER_WAIT_S if wait_s is None else wait_s)
    except (TimeoutError, asyncio.TimeoutError):
        if future.cancel() or not finish_started:
            raise
        return await wrapped


class ExperimentsHandler(MlnbHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(run_views.experiments)


class RunsHandler(MlnbHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        page = self.page_arguments()
        if page is None:
            return
        limit, offset = page
        await self.answer(run_views.runs_page, self.get_query_argument("experiment", None) or None,
                          self.get_query_argument("filter", None) or None,
                          self.get_query_argument("order_by", None) or None, limit, offset)


class RunHandler(MlnbHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        await self.answer(run_views.run_detail, run_id)


class MetricHandler(MlnbHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str, key: str) -> None:
        await self.answer(run_views.metric_history, run_id, key)


class ArtifactHandler(MlnbHandler):
    """The artifact's bytes, streamed from the blob file in STREAM_CHUNK pieces."""

    @tornado.web.authenticated
    async def get(self, run_id: str, path: str) -> None:
        try:
            found = await run_read(lambda: run_views.open_artifact(self.finder.store(), run_id, path))
        except Exception as exc:  # noqa: BLE001 - mapped by the one table, like every other route
            if self.fail_for(exc):
                return
            if isinstance(exc, OSError):  # the blob file exists but cannot be read (permissions, I/O)
                return self.fail(500, "artifact_unreadable", exc)
            raise
        # artifacts are user content on the Jupyter origin: never let the browser run them
        content_type = found.media if found.media.split(";")[0].strip() in INERT_MEDIA else "application/octet-stream"
        safe_name = "".join(c for c in found.filename if c.isprintable() and c not in '"\\;') or "artifact"
        self.set_header("Content-Type", content_type)  # APIHandler would label it JSON
        self.set_header("Content-Length", str(found.size))
        self.set_header("Content-Disposition", f'attachment; filename="{safe_name}"')
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        try:
            while chunk := await run_read(lambda: found.handle.read(STREAM_CHUNK), wait_s=60):
                self.write(chunk)
                await self.flush()  # waits until the client took it: memory stays at one chunk
        except tornado.iostream.StreamClosedError:
            return  # the client went away
        finally:
            found.handle.close()
        self.finish(set_content_type=content_type)


class SnapshotHandler(MlnbHandler):
    """The run's notebook snapshot as JSON, with every trust claim removed (it must open untrusted)."""

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        await self.answer(run_views.notebook_snapshot, run_id)


class DatasetsHandler(MlnbHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        page = self.page_arguments()
        if page is not None:
            await self.answer(dataset_views.datasets_page, *page)


class ModelsHandler(MlnbHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(views.models_overview)


class ModelHandler(MlnbHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        def one(store: Any) -> Any:
            for model in views.models_overview(store):
                if model["name"] == name:
                    return model
            raise NotFoundError(f"no model named {name!r}")

        await self.answer(one)


class AliasHandler(MlnbHandler):
    """POST {"alias", "version", "force"?, "reason"?}: move an alias (XSRF-checked like every Jupyter POST)."""

    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        try:
            body = self.get_json_body()
        except tornado.web.HTTPError:
            return self.fail(400, "bad_request", "the body must be JSON like {\"alias\": \"champion\", \"version\": 2}")
        if not isinstance(body, dict):
            return self.fail(400, "bad_request", 'the body must be a JSON object like {"alias": "champion", "version": 2}')
        alias, version = body.get("alias"), body.get("version")
        force, reason = body.get("force", False), body.get("reason")
        if not isinstance(alias, str) or isinstance(version, bool) or not isinstance(version, int):
            return self.fail(400, "bad_request", 'give {"alias": "<name>", "version": <number>}')
        if not isinstance(force, bool):  # bool("false") is True: only a JSON boolean may force
            return self.fail(400, "bad_request", '"force" must be true or false (a JSON boolean)')
        if reason is not None and not isinstance(reason, str):
            return self.fail(400, "bad_request", '"reason" must be text')
        await self.answer(views.move_alias, name, alias, version, force, reason or None)


def _monitoring_views() -> Any:
    # imported on the first monitoring request: the feature's numeric code stays out of server start-up
    from mlnb.model_monitoring import views as monitoring_views

    return monitoring_views


class MonitoringHandler(MlnbHandler):
    """The latest check of every monitored model version: [{model, version, status, t, rows}]."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(lambda store: _monitoring_views().monitoring_overview(store))


class ModelMonitoringHandler(MlnbHandler):
    """The check history of one model, oldest first."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        await self.answer(lambda store: _monitoring_views().monitoring_history(store, name))


class CheckHandler(MlnbHandler):
    """One check: its drift report and validation."""

    @tornado.web.authenticated
    async def get(self, check_id: str) -> None:
        await self.answer(lambda store: _monitoring_views().check_detail(store, check_id))


def _serving_views() -> Any:
    # imported on the first serving request, like monitoring's
    from mlnb.serving import views as serving_views

    return serving_views


class ServingHandler(MlnbHandler):
    """The `mlnb serve` processes alive now: what each serves, its request rate, its latest alias moves."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.answer(lambda store: _serving_views().serving_overview(store))


class RendezvousHandler(MlnbHandler):
    """The rendezvous comparison of a model's versions on live traffic (?since=&until=&every=)."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        since, until = (self.get_query_argument(k, "") or None for k in ("since", "until"))
        every = self.get_query_argument("every", "1min")
        await self.answer(lambda store: _serving_views().rendezvous_view(
            store, name, since=since, until=until, every=None if every in ("", "none") else every))


class UnknownRouteHandler(MlnbHandler):
    """Any other path under /mlnb/api/: the JSON error shape, not Jupyter's HTML 404 page."""

    def missing(self, *args: Any) -> None:
        self.fail(404, "not_found", f"no mlnb API endpoint {self.request.path[:200]}; is mlnb up to date?")

    get = tornado.web.authenticated(missing)
    post = tornado.web.authenticated(missing)
    put = tornado.web.authenticated(missing)
    patch = tornado.web.authenticated(missing)
    delete = tornado.web.authenticated(missing)


ROUTES: list[tuple[str, type[MlnbHandler]]] = [
    (r"experiments", ExperimentsHandler),
    (r"runs", RunsHandler),
    (rf"runs/({NAME})", RunHandler),
    (rf"runs/({NAME})/metrics/({NAME})", MetricHandler),
    (rf"runs/({NAME})/artifacts/(.+)", ArtifactHandler),
    (rf"runs/({NAME})/snapshot", SnapshotHandler),
    (r"datasets", DatasetsHandler),
    (r"models", ModelsHandler),
    (rf"models/({NAME})", ModelHandler),
    (rf"models/({NAME})/aliases", AliasHandler),
    (rf"models/({NAME})/monitoring", ModelMonitoringHandler),
    (rf"models/({NAME})/rendezvous", RendezvousHandler),
    (r"serving", ServingHandler),
    (r"monitoring", MonitoringHandler),
    (rf"monitoring/({NAME})", CheckHandler),
    (r".*", UnknownRouteHandler),  # last: whatever the routes above did not match
]


def setup_handlers(web_app: Any, root_dir: str) -> None:
    finder = ProjectFinder(root_dir)
    base = url_path_join(web_app.settings["base_url"], "mlnb", "api")
    web_app.add_handlers(".*$", [(url_path_join(base, route) + "/?$", handler, {"finder": finder})
                                 for route, handler in ROUTES])
