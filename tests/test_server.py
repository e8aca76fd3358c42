"""The server extension through a real Jupyter server (pytest-jupyter): every endpoint, auth, errors."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
from pathlib import Path

import pytest
import tornado.httpclient
from jupyter_server.utils import JupyterServerAuthWarning

import mlnb
from mlnb.server.handlers import ROUTES
from tests.projectutil import connected_project

pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"mlnb.server": True}, "allow_unauthenticated_access": False}}


@pytest.fixture
def served_store(jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A store in the server's root folder: 12 runs, a model with two versions, a tracked dataset."""
    monkeypatch.delenv("MLNB_HOME", raising=False)
    with connected_project(jp_root_dir / ".mlnb") as project:
        ids = []
        for i in range(12):
            with mlnb.start_run(experiment="exp" if i < 10 else "other", name=f"run-{i}") as run:
                run.log_params({"lr": 0.1 * (i + 1), "opt": "adam" if i % 2 else "sgd"})
                for step in range(3):
                    run.log_metric("acc", i / 10 + step / 100, step=step)
                run.log_artifact(b"hello artifact", name="notes/hello.txt")
                run.log_artifact(b"<script>alert(1)</script>", name="page.html")
                ids.append(run.id)
        with mlnb.start_run(experiment="models") as run:
            mlnb.register_model({"weights": [1, 2]}, "clf")
            mlnb.register_model({"weights": [3, 4]}, "clf")
            mlnb.set_alias("clf", "champion", 1)
        data_run = _capture_a_dataset()
        yield {"store": project.store, "ids": ids, "model_run": run.id, "data_run": data_run}


def _capture_a_dataset() -> str:
    """A captured notebook session (real IPython shell) that reads a 3 x 2 DataFrame: one dataset, one run."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mlnb")
    session = mlnb.capture.session_for(shell)
    for code in ("%track start --experiment data --name reader",
                 "import pandas as pd\nframe = pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})",
                 "total = int(frame['a'].sum())", "%track stop"):
        shell.run_cell(code, store_history=True)
    session.wait()
    run_id = mlnb.runs(experiment="data")["run_id"].iloc[0]
    session.run, session.paused = None, False
    return run_id


async def get_json(jp_fetch, *parts: str, **params: str) -> dict:
    response = await jp_fetch("mlnb", "api", *parts, params=params or None)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def error_of(jp_fetch, *parts: str, method: str = "GET", body: str | None = None,
                   request_timeout: float = 20, **params: str):
    with pytest.raises(tornado.httpclient.HTTPClientError) as caught:
        await jp_fetch("mlnb", "api", *parts, params=params or None, method=method, body=body,
                       request_timeout=request_timeout)
    payload = json.loads(caught.value.response.body)
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}
    assert "\n" not in payload["error"]["message"] and "Traceback" not in payload["error"]["message"]
    return caught.value.code, payload["error"]


async def test_runs_page_filter_order_and_paging(jp_fetch, served_store) -> None:
    page = await get_json(jp_fetch, "runs", limit="5", offset="0", order_by="params.lr DESC")
    assert page["total"] == 14 and len(page["runs"]) == 5
    assert [r["params"]["lr"] for r in page["runs"]][:3] == pytest.approx([1.2, 1.1, 1.0])
    filtered = await get_json(jp_fetch, "runs", filter="params.opt = 'adam' and metrics.acc > 0.3",
                              experiment="exp")
    expected = mlnb.runs(experiment="exp", filter="params.opt = 'adam' and metrics.acc > 0.3")
    assert filtered["total"] == len(expected) > 0
    assert {r["run_id"] for r in filtered["runs"]} == set(expected["run_id"])
    second = await get_json(jp_fetch, "runs", limit="5", offset="5", order_by="params.lr DESC")
    assert not {r["run_id"] for r in second["runs"]} & {r["run_id"] for r in page["runs"]}


async def test_run_detail_metrics_and_artifacts(jp_fetch, served_store) -> None:
    run_id = served_store["ids"][3]
    detail = await get_json(jp_fetch, "runs", run_id[:8])
    assert detail["run_id"] == run_id and detail["params"] == {"lr": "0.4", "opt": "adam"}
    assert detail["metrics"]["acc"] == pytest.approx(0.32) and detail["metric_steps"] == {"acc": 3}
    assert [a["path"] for a in detail["artifacts"]] == ["notes/hello.txt", "page.html"]
    history = await get_json(jp_fetch, "runs", run_id, "metrics", "acc")
    assert history["steps"] == [0, 1, 2] and history["values"] == pytest.approx([0.3, 0.31, 0.32])
    response = await jp_fetch("mlnb", "api", "runs", run_id, "artifacts", "notes", "hello.txt")
    assert response.body == b"hello artifact" and response.headers["Content-Type"].startswith("text/plain")
    assert "attachment" in response.headers["Content-Disposition"]
    page = await jp_fetch("mlnb", "api", "runs", run_id, "artifacts", "page.html")
    assert page.headers["Content-Type"] == "application/octet-stream"  # never rendered on Jupyter's origin
    assert "sandbox" in page.headers["Content-Security-Policy"] and page.body.startswith(b"<script>")


async def test_experiments_datasets_and_models(jp_fetch, served_store) -> None:
    experiments = await get_json(jp_fetch, "experiments")
    assert {e["experiment"]: e["runs"] for e in experiments} == {"exp": 10, "other": 2, "models": 1, "data": 1}
    models = await get_json(jp_fetch, "models")
    assert [m["name"] for m in models] == ["clf"] and models[0]["aliases"] == {"champion": 1}
    assert [v["version"] for v in models[0]["versions"]] == [1, 2]
    one = await get_json(jp_fetch, "models", "clf")
    assert one["versions"][0]["aliases"] == ["champion"]
    datasets = await get_json(jp_fetch, "datasets")
    assert datasets["total"] == len(datasets["datasets"]) == 1
    frame = datasets["datasets"][0]
    assert (frame["rows"], frame["cols"], frame["kind"]) == (3, 2, "pandas.DataFrame")
    assert frame["runs"] == [served_store["data_run"]] and "frame" in frame["names"]
    assert frame["fingerprint"] == mlnb.sql("SELECT fingerprint FROM datasets")["fingerprint"].iloc[0]


async def test_moving_an_alias_is_a_post_that_changes_the_store(jp_fetch, served_store) -> None:
    response = await jp_fetch("mlnb", "api", "models", "clf", "aliases", method="POST",
                              body=json.dumps({"alias": "champion", "version": 2, "reason": "better"}))
    assert json.loads(response.body)["history"][-1]["to_version"] == 2
    assert mlnb.model_version("clf@champion")["version"] == 2
    code, error = await error_of(jp_fetch, "models", "clf", "aliases", method="POST",
                                 body=json.dumps({"alias": "champion", "version": 9}))
    assert code == 404 and "has no version 9" in error["message"]
    code, error = await error_of(jp_fetch, "models", "clf", "aliases", method="POST", body="not json")
    assert code == 400 and error["code"] == "bad_request"
    code, error = await error_of(jp_fetch, "models", "clf", "aliases", method="POST", body=json.dumps({"alias": 3}))
    assert code == 400 and "version" in error["message"]


async def test_bad_filters_unknown_ids_and_bad_numbers(jp_fetch, served_store) -> None:
    code, error = await error_of(jp_fetch, "runs", filter="params.lr >")
    assert code == 400 and error["code"] == "bad_request" and "bad filter" in error["message"]
    code, error = await error_of(jp_fetch, "runs", filter="x'; DROP TABLE runs; --")
    assert code == 400
    code, error = await error_of(jp_fetch, "runs", "ffffffffffff")
    assert code == 404 and error["code"] == "not_found"
    code, error = await error_of(jp_fetch, "runs", served_store["ids"][0], "metrics", "nope")
    assert code == 404 and "has no metric" in error["message"]
    code, error = await error_of(jp_fetch, "runs", limit="ten")
    assert code == 400 and "limit" in error["message"]
    code, error = await error_of(jp_fetch, "runs", limit="100000")
    assert code == 400
    code, error = await error_of(jp_fetch, "models", "nope")
    assert code == 404
    assert len(mlnb.runs()) == 14  # nothing was dropped


@pytest.mark.parametrize("path", [
    "../../.mlnb/mlnb.duckdb", "..%2F..%2Fmlnb.duckdb", "%2Fetc%2Fpasswd", "notes/../../../etc/passwd",
    "notes%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2E%2E%2F%2E%2E%2Fmlnb.duckdb", "notes%2F..%2F..%2Fsecret.txt",
    "blobs/" + "a" * 64, "%252E%252E%252Fsecret.txt",
])
async def test_artifact_paths_never_leave_the_artifact_store(http_server_client, jp_base_url, jp_auth_header,
                                                             served_store, jp_root_dir: Path, path: str) -> None:
    # Given a file next to the store that a traversal would reach, and the path sent on the wire exactly
    # as written (jp_fetch would escape the '%' again, so these go through the raw client)
    (jp_root_dir / ".mlnb" / "secret.txt").write_text("root:x:0:0 secret")
    base = f"{jp_base_url}mlnb/api/runs/{served_store['ids'][0]}/artifacts/"
    with pytest.raises(tornado.httpclient.HTTPClientError) as caught:
        await http_server_client.fetch(base + path, headers=jp_auth_header)
    assert caught.value.code in (400, 404)
    body = caught.value.response.body or b""
    assert b"root:" not in body and b"DUCK" not in body
    # And the same raw client does reach the handler with %2F decoded (so the cases above are real)
    served = await http_server_client.fetch(base + "notes%2Fhello.txt", headers=jp_auth_header)
    assert served.body == b"hello artifact"


def _sample_paths(ids: list[str]) -> list[tuple[str, str]]:
    run = ids[0]
    return [("GET", "experiments"), ("GET", "runs"), ("GET", f"runs/{run}"), ("GET", f"runs/{run}/metrics/acc"),
            ("GET", f"runs/{run}/artifacts/notes/hello.txt"), ("GET", f"runs/{run}/snapshot"), ("GET", "datasets"),
            ("GET", "models"), ("GET", "models/clf"), ("POST", "models/clf/aliases"), ("GET", "models/clf/monitoring"),
            ("GET", "monitoring"), ("GET", "monitoring/0123abcd"), ("GET", "models/clf/rendezvous"),
            ("GET", "serving"), ("GET", "no/such/route")]


async def test_every_endpoint_refuses_unauthenticated_requests(http_server_client, jp_base_url, served_store) -> None:
    samples = _sample_paths(served_store["ids"])
    assert len(samples) == len(ROUTES)  # a new route needs a sample here
    for method, path in samples:
        url = f"{jp_base_url}mlnb/api/{path}"
        with pytest.raises(tornado.httpclient.HTTPClientError) as caught:
            await http_server_client.fetch(url, method=method, body=json.dumps(
                {"alias": "champion", "version": 2}) if method == "POST" else None, follow_redirects=False)
        assert caught.value.code == 403, (method, path)
    assert mlnb.model_version("clf@champion")["version"] == 1  # the refused POST changed nothing


def test_every_handler_method_is_decorated_with_authenticated() -> None:
    from jupyter_server.serverapp import ServerWebApplication, _has_tornado_web_authenticated

    for route, handler in ROUTES:
        assert ServerWebApplication._check_handler_auth(None, route, handler) == [], route
        verbs = [v for v in ("get", "post", "put", "patch", "delete") if v in handler.__dict__]
        assert verbs and all(_has_tornado_web_authenticated(handler.__dict__[v]) for v in verbs), handler.__name__


async def test_server_start_raises_no_auth_warning(jp_serverapp) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from mlnb.server.handlers import setup_handlers

        setup_handlers(jp_serverapp.web_app, jp_serverapp.root_dir)
    assert not [w for w in caught if issubclass(w.category, JupyterServerAuthWarning)]


async def test_reads_while_another_process_writes(jp_fetch, served_store, jp_root_dir: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import mlnb
        mlnb.connect({str(jp_root_dir / '.mlnb')!r})
        for i in range(150):
            with mlnb.start_run(experiment="live") as run:
                run.log_metrics({{"m": i}})
        """)])
    totals = []
    try:
        while writer.poll() is None:
            totals.append((await get_json(jp_fetch, "runs", experiment="live", limit="5"))["total"])
    finally:
        writer.wait(timeout=120)
    totals.append((await get_json(jp_fetch, "runs", experiment="live", limit="5"))["total"])
    assert writer.returncode == 0
    assert totals == sorted(totals) and totals[-1] == 150 and len(totals) > 2


async def test_cookie_authenticated_post_needs_the_xsrf_token(http_server_client, jp_base_url, jp_auth_header,
                                                               served_store) -> None:
    token = jp_auth_header["Authorization"].split()[-1]
    # a browser session: log in with the token once, then only cookies
    form = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    first = [c.split(";")[0] for c in form.headers.get_list("Set-Cookie")]
    login_xsrf = next(c.split("=", 1)[1] for c in first if c.startswith("_xsrf="))
    login = await http_server_client.fetch(f"{jp_base_url}login?next=%2F", method="POST", follow_redirects=False,
                                           raise_error=False, body=f"password={token}&_xsrf={login_xsrf}",
                                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                                    "Cookie": "; ".join(first)})
    cookies = "; ".join(first + [c.split(";")[0] for c in login.headers.get_list("Set-Cookie")])
    assert "username" in cookies, login.headers
    ok = await http_server_client.fetch(f"{jp_base_url}mlnb/api/models", headers={"Cookie": cookies})
    assert ok.code == 200  # reading with the session cookie works
    body = json.dumps({"alias": "champion", "version": 2})
    refused = await http_server_client.fetch(f"{jp_base_url}mlnb/api/models/clf/aliases", method="POST", body=body,
                                             headers={"Cookie": cookies}, raise_error=False)
    assert refused.code == 403 and "xsrf" in refused.body.decode().lower()
    assert mlnb.model_version("clf@champion")["version"] == 1
    xsrf = next(c.split("=", 1)[1] for c in cookies.split("; ") if c.startswith("_xsrf="))
    accepted = await http_server_client.fetch(f"{jp_base_url}mlnb/api/models/clf/aliases", method="POST", body=body,
                                              headers={"Cookie": cookies, "X-XSRFToken": xsrf})
    assert accepted.code == 200 and mlnb.model_version("clf@champion")["version"] == 2


# --- issue 12: hostile and careless requests -----------------------------------------------


def alias_post(jp_fetch, body: str):
    return error_of(jp_fetch, "models", "clf", "aliases", method="POST", body=body)


async def test_alias_force_must_be_a_json_boolean(jp_fetch, served_store) -> None:
    for force in ("false", "true", 0, 1, None, {"yes": True}):
        code, error = await alias_post(jp_fetch, json.dumps({"alias": "champion", "version": 2, "force": force}))
        assert code == 400 and "force" in error["message"], force
    code, error = await alias_post(jp_fetch, json.dumps({"alias": "champion", "version": 2, "reason": {"a": 1}}))
    assert code == 400 and "reason" in error["message"]
    assert mlnb.model_version("clf@champion")["version"] == 1  # none of them moved it
    response = await jp_fetch("mlnb", "api", "models", "clf", "aliases", method="POST",
                              body=json.dumps({"alias": "champion", "version": 2, "force": False}))
    assert response.code == 200 and mlnb.model_version("clf@champion")["version"] == 2


@pytest.mark.parametrize("body", ['"str"', "1", "[]", "null", "true"])
async def test_alias_body_that_is_not_an_object_is_a_400(jp_fetch, served_store, body: str) -> None:
    code, error = await alias_post(jp_fetch, body)
    assert code == 400 and error["code"] == "bad_request" and "JSON object" in error["message"]


@pytest.mark.parametrize("route,offset", [("runs", "100000000000000000000"), ("datasets", "100000000000000000000"),
                                          ("runs", "-1"), ("datasets", "-1"), ("datasets", "1e20")])
async def test_out_of_range_offsets_are_a_400(jp_fetch, served_store, route: str, offset: str) -> None:
    code, error = await error_of(jp_fetch, route, offset=offset)
    assert code == 400 and error["code"] == "bad_request" and "offset" in error["message"]


@pytest.mark.parametrize("method,path", [("GET", ("nope",)), ("GET", ("runs", "abc", "nope")),
                                         ("POST", ("models", "clf", "nope")), ("DELETE", ("runs",))])
async def test_unknown_api_routes_answer_the_json_error_shape(jp_fetch, served_store, method: str, path) -> None:
    code, error = await error_of(jp_fetch, *path, method=method, body="{}" if method == "POST" else None)
    assert (code, error["code"]) == ((404, "not_found") if path != ("runs",) else (405, "method_not_allowed"))


def test_untrusted_strips_every_trust_claim() -> None:
    from mlnb.views.runs import untrusted

    notebook = {"metadata": {"signature": "sha256:abc", "kernelspec": {"name": "python3"}}, "nbformat": 4,
                "cells": [{"cell_type": "code", "metadata": {"trusted": True, "tags": ["x"]}, "outputs": []},
                          {"cell_type": "markdown", "metadata": {"trusted": False}, "source": "hi"}],
                "worksheets": [{"cells": [{"metadata": {"trusted": True}}]}]}
    stripped = untrusted(json.loads(json.dumps(notebook)))
    assert "signature" not in stripped["metadata"] and stripped["metadata"]["kernelspec"] == {"name": "python3"}
    assert [c["metadata"] for c in stripped["cells"]] == [{"tags": ["x"]}, {}]
    assert stripped["worksheets"][0]["cells"][0]["metadata"] == {}
    assert "trusted" not in json.dumps(stripped)


HOSTILE_SNAPSHOT = {
    "nbformat": 4, "nbformat_minor": 5, "metadata": {"signature": "sha256:" + "0" * 64},
    "cells": [{"cell_type": "code", "id": "a1", "execution_count": 1, "source": "show()",
               "metadata": {"trusted": True},
               "outputs": [{"output_type": "display_data", "metadata": {},
                            "data": {"text/html": "<b>owned</b><script>window.__pwned = 1; document.title = 'pwned'</script>",
                                     "text/plain": "<IPython.core.display.HTML object>"}}]}],
}


async def test_notebook_snapshot_endpoint_serves_it_without_trust_claims(jp_fetch, served_store) -> None:
    with mlnb.start_run(experiment="snap", name="hostile") as run:
        run.log_artifact(json.dumps(HOSTILE_SNAPSHOT).encode(), name="notebook.ipynb")
    detail = await get_json(jp_fetch, "runs", run.id)
    assert detail["notebook_artifact"] == "notebook.ipynb"
    snapshot = await get_json(jp_fetch, "runs", run.id, "snapshot")
    assert "trusted" not in json.dumps(snapshot) and "signature" not in snapshot["metadata"]
    assert snapshot["cells"][0]["outputs"] == HOSTILE_SNAPSHOT["cells"][0]["outputs"]  # outputs are kept, inert
    code, error = await error_of(jp_fetch, "runs", served_store["ids"][0], "snapshot")
    assert code == 404 and "no notebook snapshot" in error["message"]


async def test_a_large_artifact_is_streamed_not_read_whole(jp_fetch, served_store) -> None:
    size = 48 << 20
    data = os.urandom(1 << 20) * 48
    with mlnb.start_run(experiment="big") as run:
        run.log_artifact(data, name="big.bin")
    expected = hashlib.sha256(data).hexdigest()
    del data
    got = hashlib.sha256()
    received = [0]

    def take(chunk: bytes) -> None:  # the client keeps nothing, so what is measured is the server
        got.update(chunk)
        received[0] += len(chunk)

    tracemalloc.start()
    try:
        response = await jp_fetch("mlnb", "api", "runs", run.id, "artifacts", "big.bin", streaming_callback=take)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.code == 200 and received[0] == size and got.hexdigest() == expected
    assert int(response.headers["Content-Length"]) == size
    assert peak < 16 << 20, f"serving a 48 MiB artifact allocated {peak / 2**20:.0f} MiB at peak"


async def test_a_blob_replaced_by_a_fifo_does_not_hang_the_server(jp_fetch, served_store) -> None:
    run_id = served_store["ids"][0]
    digest = mlnb.get_run(run_id).artifacts[0]["hash"]
    blob = served_store["store"].blobs.path_of(digest)
    blob.unlink()
    os.mkfifo(blob)
    started = time.monotonic()
    try:
        code, error = await error_of(jp_fetch, "runs", run_id, "artifacts", "notes", "hello.txt", request_timeout=10)
    finally:
        try:  # on old code a worker thread waits in open(): give it a writer so it can end
            os.close(os.open(blob, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert time.monotonic() - started < 5
    assert code == 409 and error["code"] == "integrity_error" and "not a regular file" in error["message"]


async def test_the_server_and_the_cli_encode_infinity_and_missing_alike(jp_fetch, served_store) -> None:
    from click.testing import CliRunner

    from mlnb.cli import cli

    # Given a run with infinite metrics next to one without them
    with mlnb.start_run(experiment="wild", name="inf") as run:
        mlnb.log_metrics({"up": float("inf"), "down": float("-inf")})
        mlnb.log_metric("up", 1.0)
    with mlnb.start_run(experiment="wild", name="tame"):
        mlnb.log_metric("plain", 0.5)
    # When the REST API and `mlnb --format json` show them
    page = await get_json(jp_fetch, "runs", experiment="wild")
    history = await get_json(jp_fetch, "runs", run.id, "metrics", "up")
    cli_rows = json.loads(CliRunner().invoke(cli, ["--store", str(served_store["store"].root), "runs", "-e", "wild",
                                                   "--format", "json"]).stdout)
    cli_history = json.loads(CliRunner().invoke(cli, ["--store", str(served_store["store"].root), "metrics", run.id,
                                                      "up", "--format", "json"]).stdout)
    # Then both follow the one rule of mlnb.jsonout: infinity as "inf" / "-inf", missing as null
    served = {r["name"]: r["metrics"] for r in page["runs"]}
    shown = {r["name"]: {k[8:]: v for k, v in r.items() if k.startswith("metrics.")} for r in cli_rows}
    assert served["inf"] == {"up": 1.0, "down": "-inf"} and history["values"] == ["inf", 1.0]
    assert shown["inf"] == {"up": 1.0, "down": "-inf", "plain": None}
    assert [point["value"] for point in cli_history] == history["values"]
