"""`mlnb serve MODEL_URI`: answer HTTP requests with a registered model, score shadows on the same
traffic and archive every answer (a thin face over mlnb.serving).

Prints where it listens; Ctrl-C or SIGTERM stops it gracefully (in-flight requests finish, the
archive is flushed). A bad option or a model that cannot be served: one `error: ...` line, exit 2.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
from typing import Any

import click

from mlnb.cli.app import CliError, Settings, one_line, pass_settings
from mlnb.errors import MlnbError
from mlnb.serving.config import CONFIG_ENV, DEFAULT_DEADLINE_MS, DEFAULT_INPUT_CAP, DEFAULT_MAX_BODY, ServeConfig

ROUTES = "POST /predict, GET /health /models /metrics"


class BadInput(CliError):
    """The server cannot start (bad option, unservable model, port in use): exit code 2."""

    exit_code = 2


@click.command("serve", epilog="""\b
Examples:
  mlnb serve churn@champion
  mlnb serve churn@champion --shadow churn@challenger --deadline-ms 100
  mlnb serve churn/3 --port 9000 --workers 2
  curl -s localhost:8080/predict -d '{"records": [{"age": 41, "plan": "pro"}]}'
""")
@click.argument("model_uri")
@click.option("--shadow", "shadows", multiple=True, metavar="URI",
              help="Also score this version (e.g. churn@challenger) on every request; repeatable.")
@click.option("--deadline-ms", default=str(DEFAULT_DEADLINE_MS), show_default=True, metavar="N",
              help="Past this, answer with the next preferred version that has answered.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default="8080", show_default=True, metavar="N", help="The port (0: any free port).")
@click.option("--workers", default="1", show_default=True, metavar="K", help="Worker processes.")
@click.option("--allow-pickle", is_flag=True, help="Load model formats that run code from the file.")
@click.option("--input-sample", default="1", show_default=True, metavar="F",
              help="Share of requests whose input is archived (outputs always are).")
@click.option("--input-cap-bytes", default=str(DEFAULT_INPUT_CAP), show_default=True, metavar="N",
              help="Inputs larger than this are archived without their rows.")
@click.option("--max-body-bytes", default=str(DEFAULT_MAX_BODY), show_default=True, metavar="N",
              help="Larger request bodies are refused (413).")
@click.option("--store", "store", default=None, metavar="PATH", help="The store (default: mlnb --store, $MLNB_HOME, ...).")
@pass_settings
def serve_command(settings: Settings, model_uri: str, shadows: tuple[str, ...], deadline_ms: str, host: str,
                  port: str, workers: str, allow_pickle: bool, input_sample: str, input_cap_bytes: str,
                  max_body_bytes: str, store: str | None) -> None:
    """Serve MODEL_URI (e.g. churn@champion) over HTTP: POST /predict answers by rendezvous."""
    try:
        project = (Settings(store) if store is not None else settings).open_project()
        config = ServeConfig(model_uri, shadows=tuple(shadows), deadline_ms=_number(deadline_ms, "--deadline-ms"),
                             host=host, port=_whole(port, "--port"), workers=_whole(workers, "--workers"),
                             store=project.url, allow_pickle=allow_pickle,
                             input_sample=_number(input_sample, "--input-sample"),
                             input_cap_bytes=_whole(input_cap_bytes, "--input-cap-bytes"),
                             max_body_bytes=_whole(max_body_bytes, "--max-body-bytes"))
        if config.workers == 1:
            _serve_here(config, project.store)
        else:
            _serve_workers(config, project.store)
    except MlnbError as exc:
        raise BadInput(one_line(str(exc) or type(exc).__name__)) from None


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"{option} must be a number, got {text!r}") from None


def _whole(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"{option} must be a whole number, got {text!r}") from None


def _serve_here(config: ServeConfig, store: Any) -> None:
    """One process: uvicorn in this thread (it turns SIGINT/SIGTERM into a graceful stop)."""
    from mlnb.serving.runner import bind, build_server, check_servable, describe, startup_error, url_of

    check_servable(config, store)
    sock = bind(config.host, config.port)
    url = url_of(config.host, sock.getsockname()[1])

    def ready(engine: Any) -> None:
        click.echo(f"mlnb serve: {describe(engine)} on {url} ({ROUTES}); Ctrl-C stops", err=False)

    server, engine, state = build_server(config, store, sock, on_ready=ready)
    # uvicorn re-raises the signal that stopped it once it has restored these: no-ops, so the
    # process ends here normally (exit 0) after the graceful stop
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    if state.error is not None:
        raise startup_error(state.error)
    click.echo(f"mlnb serve: stopped after {engine.requests} requests; the archive is flushed")


def _serve_workers(config: ServeConfig, store: Any) -> None:
    """K uvicorn worker processes sharing one socket; metrics summed across them."""
    import uvicorn

    from mlnb.serving.metrics import MULTIPROC_ENV
    from mlnb.serving.runner import STOP_TIMEOUT_S, bind, preflight, url_of, with_port

    preflight(config, store)
    sock = bind(config.host, config.port)
    config = with_port(config, sock.getsockname()[1])
    metrics_dir = tempfile.mkdtemp(prefix="mlnb-serve-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir  # before the workers start: they import prometheus_client fresh
    os.environ[CONFIG_ENV] = config.to_env()
    served = ", shadows " + ", ".join(config.shadows) if config.shadows else ""
    click.echo(f"mlnb serve: {config.model}{served} with {config.workers} workers on "
               f"{url_of(config.host, config.port)} ({ROUTES}); Ctrl-C stops")
    try:
        uvicorn.run("mlnb.serving.app:create_app", factory=True, fd=sock.fileno(), workers=config.workers,
                    log_level="warning", access_log=False, lifespan="on", server_header=False,
                    timeout_graceful_shutdown=int(STOP_TIMEOUT_S))
    finally:
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    click.echo("mlnb serve: stopped; the archive is flushed")
