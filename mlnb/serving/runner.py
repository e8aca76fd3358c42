"""`mlnb.serve(...)`: start a rendezvous server from Python (a notebook, a script, a test) and get a
handle to call and stop it.

workers=1: uvicorn runs in a background thread of this process, on its own event loop (a Jupyter
kernel's loop keeps running in the main thread). workers>1: a child `mlnb serve` process runs the
uvicorn workers. Either way `.stop()` is graceful: in-flight requests finish, then the engine
drains its shadows and flushes the archive, so no logged answer is lost.
"""
from __future__ import annotations

import html
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mlnb import shutdown
from mlnb.errors import MlnbError, ServeError
from mlnb.model_registry.access import ProjectArg, store_for
from mlnb.serving.config import DEFAULT_DEADLINE_MS, DEFAULT_INPUT_CAP, DEFAULT_MAX_BODY, ServeConfig

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette

    from mlnb.serving.app import AppState
    from mlnb.serving.engine import Engine
    from mlnb.store.store import Store

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
LISTENING = re.compile(r" on (http://\S+)")


def serve(model: str, shadows: Sequence[str] | str = (), deadline_ms: float = DEFAULT_DEADLINE_MS,
          host: str = "127.0.0.1", port: int = 0, workers: int = 1, project: ProjectArg = None,
          allow_pickle: bool = False, max_body_bytes: int = DEFAULT_MAX_BODY,
          input_cap_bytes: int = DEFAULT_INPUT_CAP, input_sample: float = 1.0) -> ServeHandle:
    """Serve `model` (a registry URI like `churn@champion`) over HTTP, with `shadows` (URIs of the
    same model) scored on the same traffic; returns once it answers. `port=0` takes any free
    port (see `.url`). `.stop()` (or leaving a `with` block) stops it gracefully."""
    store = store_for(project)
    given: Any = (shadows,) if isinstance(shadows, str) else tuple(shadows) if isinstance(shadows, list) else shadows
    config = ServeConfig(model, shadows=given, deadline_ms=deadline_ms, host=host, port=port,
        workers=workers, store=store.url, allow_pickle=allow_pickle, max_body_bytes=max_body_bytes,
        input_cap_bytes=input_cap_bytes, input_sample=input_sample)
    server: _InThread | _ChildProcess = _InThread(config, store) if workers == 1 else _ChildProcess(config)
    server.start(START_TIMEOUT_S)
    handle = ServeHandle(config, server)
    # a server left running is stopped gracefully at interpreter exit, before the event writers
    # flush (the "runs" phase comes first): its last answers are archived too
    shutdown.register("runs", handle._stop_at_exit)
    return handle


class ServeHandle:
    """A running server: `.url`, `.predict(records)`, `.stop()`; a context manager."""

    def __init__(self, config: ServeConfig, server: _InThread | _ChildProcess) -> None:
        self.config = config
        self._server = server

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def running(self) -> bool:
        return self._server.running()

    def predict(self, records: Any, timeout: float = 30.0) -> list[Any]:
        """The predictions for `records` (a list of dicts, a dict of columns, or a DataFrame);
        ServeError with the server's one-line answer when it refuses or cannot answer."""
        import urllib.error
        import urllib.request

        import orjson

        if hasattr(records, "to_dict") and hasattr(records, "columns"):
            body: Any = {"columns": records.to_dict(orient="list")}
        elif isinstance(records, dict):
            body = {"columns": records} if "records" not in records and "columns" not in records else records
        else:
            body = {"records": records}
        data = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
        request = urllib.request.Request(f"{self.url}/predict", data=data, method="POST",
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = orjson.loads(exc.read())
                problems = detail.get("problems") or []
                line = detail.get("error") or str(exc)
                if problems and problems != [line]:
                    line = f"{line}: {'; '.join(problems[:5])}"
            except Exception:  # noqa: BLE001 - not our JSON: the status line says enough
                line = str(exc)
            raise ServeError(f"{self.url} answered {exc.code}: {line}") from None
        except OSError as exc:
            raise ServeError(f"cannot reach {self.url} ({getattr(exc, 'reason', exc)}); is the server running?") from None
        predictions: list[Any] = answer["predictions"]
        return predictions

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop gracefully: refuse new connections, finish in-flight requests, drain and flush."""
        self._server.stop(timeout)
        shutdown.unregister("runs", self._stop_at_exit)

    def _stop_at_exit(self) -> None:
        self._server.stop(STOP_TIMEOUT_S)

    def __enter__(self) -> ServeHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        shadows = f", shadows={list(self.config.shadows)}" if self.config.shadows else ""
        return f"<mlnb.ServeHandle {self.config.model}{shadows} at {self.url} ({state}, {self.config.workers} worker" \
               f"{'s' if self.config.workers > 1 else ''})>"

    def _repr_html_(self) -> str:
        e = html.escape
        state = "running" if self.running else "stopped"
        rows = [("model", self.config.model), ("shadows", ", ".join(self.config.shadows) or "none"),
                ("url", self.url), ("state", state), ("deadline", f"{self.config.deadline_ms:g} ms"),
                ("workers", str(self.config.workers))]
        body = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
        return f"<table class='mlnb-serve'><caption>mlnb serve</caption>{body}</table>"


# --- in this process ------------------------------------------------------------------------------

def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (0: any free port); ServeError in one line when it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "is in use" if getattr(exc, "errno", None) in (98, 48, 10048) else f"cannot be used ({exc.strerror or exc})"
        raise ServeError(f"port {port} on {host} {reason}: pick another with --port / port= (0 takes any free port)") from None
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def uvicorn_config(app: Starlette | str, **kwargs: Any) -> uvicorn.Config:
    """uvicorn's settings for serving: httptools + uvloop where installed, no access log, a bounded
    graceful stop."""
    import uvicorn

    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", server_header=False,
                          timeout_graceful_shutdown=int(STOP_TIMEOUT_S), **kwargs)


def build_server(config: ServeConfig, store: Store, sock: socket.socket,
                 on_ready: Callable[[Engine], None] | None = None) -> tuple[uvicorn.Server, Engine, AppState]:
    """The uvicorn server of one process serving `config` on `sock` (the engine starts with it);
    an engine that cannot start sets `state.error` and stops the server, without a traceback."""
    import uvicorn

    from mlnb.serving.app import build_app
    from mlnb.serving.engine import Engine

    engine = Engine(config, store)
    engine.url = url_of(config.host, sock.getsockname()[1])
    holder: list[uvicorn.Server] = []

    def failed(exc: BaseException) -> None:
        holder[0].should_exit = True

    app = build_app(engine, on_ready=on_ready, on_failed=failed)
    server = uvicorn.Server(uvicorn_config(app))
    holder.append(server)
    return server, engine, app.state.serving


def startup_error(error: BaseException | None) -> MlnbError:
    """The one-line error of an engine that could not start."""
    if isinstance(error, MlnbError):
        return error
    text = " ".join(str(error).split())[:300] if error is not None else ""
    return ServeError(f"the server could not start ({type(error).__name__}: {text})" if error is not None
                      else "the server could not start (see its log)")


class _InThread:
    """uvicorn in a daemon thread of this process, on the thread's own event loop."""

    def __init__(self, config: ServeConfig, store: Store) -> None:
        check_servable(config, store)
        self.sock = bind(config.host, config.port)
        self.url = url_of(config.host, self.sock.getsockname()[1])
        self.server, self.engine, self.state = build_server(config, store, self.sock)
        self.thread = threading.Thread(target=self._run, name=f"mlnb-serve {self.url}", daemon=True)
        self.failure: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # noqa: BLE001 - SystemExit from uvicorn included: reported by start()
            self.failure = exc
        finally:
            self.sock.close()

    def start(self, timeout: float) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not (self.server.started and self.state.ready):
            if self.state.error is not None or not self.thread.is_alive():
                self.thread.join(timeout=10)
                raise startup_error(self.state.error or self.failure)
            if time.monotonic() > deadline:
                self.stop(10)
                raise ServeError(f"the server did not start within {timeout:g} s")
            time.sleep(0.005)

    def running(self) -> bool:
        return self.thread.is_alive() and not self.server.should_exit

    def stop(self, timeout: float) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(5)


# --- a child `mlnb serve` process (workers > 1) -------------------------------------------------

class _ChildProcess:
    """`mlnb serve ... --workers K` as a child process; its output goes to a log file."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.url = ""
        self.log = tempfile.NamedTemporaryFile(prefix="mlnb-serve-", suffix=".log", delete=False)
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        c = self.config
        args = [sys.executable, "-m", "mlnb.cli", "--store", str(c.store), "serve", c.model, "--host", c.host,
                "--port", str(c.port), "--workers", str(c.workers), "--deadline-ms", f"{c.deadline_ms:g}",
                "--max-body-bytes", str(c.max_body_bytes), "--input-sample", f"{c.input_sample:g}",
                "--input-cap-bytes", str(c.input_cap_bytes)]
        for shadow in c.shadows:
            args += ["--shadow", shadow]
        if c.allow_pickle:
            args.append("--allow-pickle")
        return args

    def start(self, timeout: float) -> None:
        self.process = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while True:
            text = self._output()
            if self.process.poll() is not None:
                raise ServeError(_last_error(text) or f"mlnb serve exited with code {self.process.returncode}")
            found = LISTENING.search(text)
            if found and _healthy(found.group(1)):
                self.url = found.group(1)
                return
            if time.monotonic() > deadline:
                self.stop(10)
                raise ServeError(f"the server did not start within {timeout:g} s")
            time.sleep(0.05)

    def _output(self) -> str:
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def _last_error(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("error:")]
    return lines[-1][len("error:"):].strip() if lines else None


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def with_port(config: ServeConfig, port: int) -> ServeConfig:
    return replace(config, port=port)


def preflight(config: ServeConfig, store: Store) -> None:
    """Load every URI once (the one-line error of one that cannot be served), before K worker
    processes each try and fail the same way."""
    from mlnb.model_registry import load_model, model_version

    for uri in config.uris:
        record = model_version(uri, project=store)
        load_model(record["uri"], allow_pickle=config.allow_pickle, project=store)


def check_servable(config: ServeConfig, store: Store) -> None:
    """The one-line error of a URI that cannot be served (unknown model, alias not set, a format
    that runs code without allow_pickle), found without loading anything. Checked before uvicorn
    starts: an engine failing inside uvicorn's startup is also handled, but older uvicorn releases
    print a traceback for it."""
    from mlnb.model_registry import model_version
    from mlnb.model_registry.loading import refuse_untrusted

    for uri in config.uris:
        refuse_untrusted(model_version(uri, project=store), config.allow_pickle)


def describe(engine: Engine) -> str:
    """`churn@champion (version 3), shadows churn@challenger (version 4)`: what a server answers with."""
    served = [f"{uri} (version {v})" for uri, v in engine.aliases().items()]
    return served[0] + (f", shadows {', '.join(served[1:])}" if len(served) > 1 else "")
