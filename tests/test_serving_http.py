"""`mlnb serve` over real HTTP: the in-process handle (`mlnb.serve`) and the `mlnb serve` command on free
loopback ports; predictions, every validation error as a one-line 4xx, 413 before a huge body is read,
never a 500, health/models/metrics, servers that cannot start, and a graceful stop losing no answer."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import mlnb
from mlnb.errors import MlnbError
from mlnb.project import Project

CAP = 64 * 1024  # the body cap of the shared server: small, so "much larger" stays cheap


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project with `wine` v1 (a LogisticRegression on sklearn's wine data) as champion."""
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    x, y = load_wine(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(x, y)
    project = Project.open(tmp_path_factory.mktemp("serving") / ".mlnb", create=True)
    mlnb.register_model(model, "wine", data=x, project=project)
    mlnb.set_alias("wine", "champion", 1, project=project)
    return {"project": project, "x": x, "model": model}


@pytest.fixture(scope="module")
def server(wine: dict[str, Any]) -> Iterator[Any]:
    with mlnb.serve("wine@champion", project=wine["project"], max_body_bytes=CAP) as handle:
        yield handle


@pytest.fixture
def client(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _records(wine: dict[str, Any], rows: slice = slice(0, 5)) -> list[dict[str, Any]]:
    return list(wine["x"].iloc[rows].to_dict(orient="records"))


def _answers_still(client: httpx.Client, wine: dict[str, Any]) -> None:
    response = client.post("/predict", json={"records": _records(wine, slice(0, 1))})
    assert response.status_code == 200, response.text


# --- answering --------------------------------------------------------------------------------------

def test_predictions_equal_the_models_in_every_body_shape(server: Any, client: httpx.Client, wine: dict[str, Any]) -> None:
    x = wine["x"].iloc[:7]
    expected = wine["model"].predict(x).tolist()
    shapes = [{"records": x.to_dict(orient="records")}, {"columns": x.to_dict(orient="list")},
              x.to_dict(orient="records"),
              {"dataframe_split": {"columns": list(x.columns), "data": x.to_numpy().tolist()}}]
    for body in shapes:
        # When the rows are posted in any accepted shape
        response = client.post("/predict", json=body)
        # Then the predictions are the model's, with the request id and answering version
        assert response.status_code == 200, response.text
        out = response.json()
        assert out["predictions"] == expected
        assert (out["model"], out["version"], out["alias"], out["status"]) == ("wine", 1, "champion", "ok")
        assert re.fullmatch(r"[0-9a-f]{32}", out["request_id"])
        assert response.headers["x-request-id"] == out["request_id"]
        assert response.headers["x-mlnb-version"] == "1"
    # And a client's own request id (32 hex) is kept, so it can log feedback for it later
    mine = "ab" * 16
    response = client.post("/predict", json={"records": _records(wine, slice(0, 1))}, headers={"x-request-id": mine})
    assert response.json()["request_id"] == mine == response.headers["x-request-id"]
    # And the handle's convenience call answers the same
    assert server.predict(x) == expected
    assert server.predict(x.to_dict(orient="records")) == expected


def test_a_big_batch_is_answered_whole(wine: dict[str, Any]) -> None:
    import pandas as pd

    # Given 5000 rows (about 1.5 MB of JSON: parsed and checked off the event loop)
    x = pd.concat([wine["x"]] * 29, ignore_index=True).iloc[:5000]
    with mlnb.serve("wine@champion", project=wine["project"]) as handle, httpx.Client(base_url=handle.url) as c:
        response = c.post("/predict", json={"columns": x.to_dict(orient="list")}, timeout=60)
    # Then every row is predicted, as the model predicts it
    assert response.status_code == 200, response.text[:300]
    assert response.json()["predictions"] == wine["model"].predict(x).tolist()


# --- refusing ---------------------------------------------------------------------------------------

def _row(wine: dict[str, Any], **changes: Any) -> dict[str, Any]:
    row = _records(wine, slice(0, 1))[0]
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


@pytest.mark.parametrize(("name", "body", "code", "problem"), [
    ("malformed JSON", b'{"records": [{"alcohol": 1.0,}]}', 400, "the body is not valid JSON"),
    ("empty body", b"", 400, "the body is empty"),
    ("wrong shape", b'{"rows": [1, 2]}', 400, "the body must be {\"records\""),
    ("a scalar", b"42", 400, "the body must be"),
    ("records not objects", b'{"records": [1, 2]}', 400, "record 0 is a number, not an object"),
    ("empty input", b'{"records": []}', 400, "no records: send at least one"),
    ("empty columns", b'{"columns": {"alcohol": []}}', 400, "no rows"),
    ("missing column", "alcohol", 422, "missing column 'alcohol' (numeric, float64 expected)"),
    ("wrong type", {"ash": "high"}, 422, "column 'ash' expects numbers (float64), got text 'high' at row 0"),
    ("a boolean", {"hue": True}, 422, "column 'hue' expects numbers (float64), got a boolean True"),
    ("null where never seen", {"proline": None}, 422, "column 'proline' has a null (row 0); the training data had none"),
])
def test_each_bad_request_is_a_4xx_with_one_line_problems_and_the_server_keeps_answering(
        client: httpx.Client, wine: dict[str, Any], name: str, body: Any, code: int, problem: str) -> None:
    if isinstance(body, str):
        content = json.dumps({"records": [_row(wine, **{body: ...})]}).encode()
    elif isinstance(body, dict):
        content = json.dumps({"records": [_row(wine, **body)]}).encode()
    else:
        content = body
    # When a bad request is posted
    response = client.post("/predict", content=content, headers={"content-type": "application/json"})
    # Then it is refused with a 4xx whose problems are one line each, with a request id
    assert response.status_code == code, response.text
    out = response.json()
    assert any(p.startswith(problem) for p in out["problems"]), out
    assert all("\n" not in p for p in [out["error"], *out["problems"]])
    assert re.fullmatch(r"[0-9a-f]{32}", out["request_id"]) and response.headers["x-request-id"] == out["request_id"]
    # And the server still answers
    _answers_still(client, wine)


def _raw(url: str, head: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    found = re.search(rb"(?i)content-length: *(\d+)", data.split(b"\r\n\r\n", 1)[0])
    return int(found.group(1)) if found else 0


def test_an_oversized_body_is_refused_413_before_it_is_read_whole(server: Any, client: httpx.Client,
                                                                  wine: dict[str, Any]) -> None:
    # Given a body declared 100 MB long (1600 times the cap), of which nothing is sent
    sock = _raw(server.url, b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                            b"content-length: 104857600\r\n\r\n")
    # Then the server answers 413 at once, from the declared length
    with sock:
        code, out = _read_response(sock)
    assert code == 413
    assert out["problems"] == [f"the body is 104857600 bytes, over the limit of {CAP} (max_body_bytes)"]
    # And a body streamed without a length (chunked) is cut off once it passes the cap
    sent = 0
    with _raw(server.url, b"POST /predict HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n") as sock:
        piece = b"[" + b"1," * 8000
        while sent < 100 * CAP:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            if select.select([sock], [], [], 0.01)[0]:
                break
        code, out = _read_response(sock)
    assert code == 413 and out["problems"] == [f"the body is over the limit of {CAP} bytes (max_body_bytes)"]
    assert sent < 10 * CAP  # refused while streaming, long before the client was done
    # And an ordinary client sending a few times the cap whole before reading gets the 413 (not a
    # reset connection), and its keep-alive connection still serves the next request
    response = client.post("/predict", content=b"[" + b"1," * (CAP * 3 // 2) + b"1]")
    assert response.status_code == 413 and response.json()["problems"] == [
        f"the body is {CAP * 3 + 3} bytes, over the limit of {CAP} (max_body_bytes)"]
    assert "close" not in response.headers.get("connection", "")
    # And the server still answers
    _answers_still(client, wine)


def test_an_unexpected_error_is_a_one_line_503_never_a_500(server: Any, client: httpx.Client, wine: dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    engine = server._server.engine
    # Given a model whose predict fails on valid input
    champion = engine.champion()

    class Broken:
        def predict(self, frame: Any) -> Any:
            raise RuntimeError("weights went missing\nsecond line")

    monkeypatch.setattr(champion, "model", Broken())
    response = client.post("/predict", json={"records": _records(wine, slice(0, 1))})
    assert response.status_code == 503
    line = response.json()["error"]
    assert line.startswith("no version") and line.endswith("weights went missing") and "second line" not in line
    # And an engine that raises (a bug): still a one-line 503
    monkeypatch.undo()

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(engine, "answer", boom)
    response = client.post("/predict", json={"records": _records(wine, slice(0, 1))})
    assert response.status_code == 503
    assert response.json()["error"] == "the server could not answer (KeyError: 'surprise')"
    monkeypatch.undo()
    # And unknown routes and methods get the same JSON error shape
    assert client.get("/nope").json()["error"].startswith("no route /nope")
    assert client.get("/predict").status_code == 405
    # And the server still answers
    _answers_still(client, wine)


# --- health, models, metrics ------------------------------------------------------------------------

def test_health_and_models_say_what_is_served(client: httpx.Client) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model": "wine", "served": {"wine@champion": 1}}
    models = client.get("/models").json()
    assert models["model"] == "wine"
    assert [(s["uri"], s["alias"], s["version"], s["role"]) for s in models["served"]] == \
        [("wine@champion", "champion", 1, "answers")]
    assert [c["name"] for c in models["input"]["columns"]][:2] == ["alcohol", "malic_acid"]


def _metrics(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_metrics_count_the_requests_sent(client: httpx.Client, wine: dict[str, Any]) -> None:
    before = _metrics(client)
    # When 5 good and 3 refused requests are sent
    for i in range(5):
        assert client.post("/predict", json={"records": _records(wine, slice(i, i + 2))}).status_code == 200
    for _ in range(3):
        assert client.post("/predict", content=b"{").status_code == 400
    after = _metrics(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    # Then the Prometheus counters moved by exactly that
    assert delta("mlnb_serve_requests_total", status="ok") == 5
    assert delta("mlnb_serve_requests_total", status="invalid") == 3
    assert delta("mlnb_serve_request_seconds_count") == 8
    assert delta("mlnb_serve_version_answers_total", version="1", alias="champion", status="ok") == 5
    assert delta("mlnb_serve_version_seconds_count", version="1", alias="champion") == 5
    assert delta("mlnb_serve_request_seconds_bucket", le="+Inf") == 8


def test_alias_switches_are_counted(server: Any, client: httpx.Client) -> None:
    before = _metrics(client)
    # When the engine archives an alias move (as its watcher does)
    server._server.engine.archive.record_switch("champion", 1, 2, 12.5, "switched")
    server._server.engine.archive.record_switch("champion", 2, 3, 3.0, "failed", "cannot load")
    after = _metrics(client)
    for status in ("switched", "failed"):
        key = ("mlnb_serve_switches_total", (("alias", "champion"), ("status", status)))
        assert after[key] - before.get(key, 0.0) == 1


def test_shadow_agreement_is_counted_per_version() -> None:
    from mlnb.serving.archive import Answer, VersionAnswer
    from mlnb.serving.metrics import ServeMetrics

    metrics = ServeMetrics(multiprocess=False)
    champion = VersionAnswer(1, "champion", "ok", 1.0, [0, 1])
    metrics.completed(Answer("a" * 32, 0.0, "wine", "ok", 2, champion,
                             [champion, VersionAnswer(2, "challenger", "ok", 2.0, [0, 1])]))
    metrics.completed(Answer("b" * 32, 0.0, "wine", "ok", 2, champion,
                             [champion, VersionAnswer(2, "challenger", "ok", 2.0, [1, 1]),
                              VersionAnswer(3, "canary", "timeout", 250.0)]))
    text = metrics.render()[0].decode()
    assert 'mlnb_serve_shadow_agreement_total{agree="true",alias="challenger",version="2"} 1.0' in text
    assert 'mlnb_serve_shadow_agreement_total{agree="false",alias="challenger",version="2"} 1.0' in text
    assert 'mlnb_serve_version_answers_total{alias="canary",status="timeout",version="3"} 1.0' in text
    assert 'agree="true",alias="champion"' not in text  # the returned version is not compared with itself


# --- servers that cannot start ------------------------------------------------------------------------

def _cli(*args: str, project: Project, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlnb.cli", "--store", str(project.url), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_a_server_that_cannot_start_says_why_in_one_line(wine: dict[str, Any]) -> None:
    project = wine["project"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cases = [("nomodel@champion", 0, "no model named 'nomodel'"), ("wine@challenger", 0, "no alias 'challenger'"),
                 ("wine@champion", port, f"port {port} on 127.0.0.1 is in use")]
        for uri, at, expected in cases:
            # From Python: a one-line MlnbError
            with pytest.raises(MlnbError) as info:
                mlnb.serve(uri, port=at, project=project)
            assert expected in str(info.value) and "\n" not in str(info.value)
            # From the command line: one error line, exit 2, no traceback
            done = _cli("serve", uri, "--port", str(at), project=project)
            assert done.returncode == 2, done
            assert done.stderr.strip().startswith("error: ") and expected in done.stderr
            assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr + done.stdout
    # And bad values are refused before anything starts
    for args, expected in [(["--deadline-ms", "soon"], "--deadline-ms must be a number"),
                           (["--workers", "0"], "workers must be a whole number from 1 to 64"),
                           (["--shadow", "other@x"], "shadow 'other' is another model")]:
        done = _cli("serve", "wine@champion", *args, project=project)
        assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"error: {done.stderr.strip()[7:]}"]
        assert expected in done.stderr
    with pytest.raises(MlnbError, match="deadline_ms must be a number"):
        mlnb.serve("wine@champion", deadline_ms=-1, project=project)


# --- stopping gracefully --------------------------------------------------------------------------------

def _events(project: Project, kind: str) -> list[dict[str, Any]]:
    """Every event of `kind` in the store's event files."""
    out = []
    for path in Path(project.store.root, "events").glob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            if f'"{kind}"'.encode() in line:
                event = json.loads(line)
                if event["e"] == kind:
                    out.append(event)
    return out


def _archived(project: Project) -> dict[str, dict[str, Any]]:
    """Every serve_answer event, by request id."""
    return {e["id"]: e for e in _events(project, "serve_answer")}


def _hammer(url: str, rows: list[dict[str, Any]], n: int, threads: int, started: threading.Event) -> list[str]:
    """n single-row requests from `threads` keep-alive clients; the request ids answered 200."""
    ok: list[str] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def work() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in counter:
                try:
                    response = c.post("/predict", json={"records": [rows[i % len(rows)]]})
                except httpx.HTTPError:
                    continue  # refused once the server stops listening: fine, it got no 200
                if response.status_code == 200:
                    with lock:
                        ok.append(response.json()["request_id"])
                        if len(ok) >= 20:
                            started.set()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    started.set()
    return ok


def _start_cli(project: Project, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "mlnb.cli", "--store", str(project.url), "serve", "wine@champion",
                                "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r" on (http://\S+)", line)
    assert found, line + (process.stderr.read() if process.stderr else "")
    url = found.group(1)
    deadline = time.monotonic() + 60
    while True:  # with workers, the port listens before they are all up
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)


def test_sigterm_while_200_requests_are_in_flight_loses_no_answered_request(wine: dict[str, Any]) -> None:
    project = wine["project"]
    process, url = _start_cli(project)
    started = threading.Event()
    result: list[list[str]] = []
    # Given 200 requests in flight from 8 threads
    hammer = threading.Thread(target=lambda: result.append(_hammer(url, _records(wine, slice(0, 50)), 200, 8, started)))
    hammer.start()
    assert started.wait(60)
    # When the server gets SIGTERM midway
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    hammer.join(120)
    ok = result[0]
    # Then it stopped cleanly, and every request that got a 200 is in the archive
    assert process.returncode == 0, err
    assert "stopped after" in out and "Traceback" not in err
    assert 20 <= len(ok) <= 200
    archived = _archived(project)
    missing = [rid for rid in ok if rid not in archived]
    assert not missing, f"{len(missing)} of {len(ok)} answered requests are not archived"
    assert all(archived[rid]["status"] == "ok" and archived[rid]["returned"] == 1 for rid in ok)


def test_the_handle_stops_gracefully_with_requests_in_flight(wine: dict[str, Any]) -> None:
    project = wine["project"]
    handle = mlnb.serve("wine@champion", project=project)
    started = threading.Event()
    result: list[list[str]] = []
    hammer = threading.Thread(target=lambda: result.append(_hammer(handle.url, _records(wine), 200, 8, started)))
    hammer.start()
    assert started.wait(60)
    handle.stop()
    hammer.join(120)
    assert not handle.running and "stopped" in repr(handle) and "wine@champion" in handle._repr_html_()
    archived = _archived(project)
    assert result[0] and all(rid in archived for rid in result[0])


def test_a_script_ending_without_stop_still_archives_every_answer(wine: dict[str, Any]) -> None:
    project = wine["project"]
    # Given a script that serves, gets answers and ends without stopping the server
    script = f"""
import json, mlnb
handle = mlnb.serve("wine@champion", project={str(project.url)!r})
for _ in range(25):
    handle.predict(json.loads({json.dumps(_records(wine, slice(0, 2)))!r}))
print(handle.url)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Then the server was stopped at exit (its heartbeat says so) and all 25 answers are archived
    url = done.stdout.strip()
    server = {e["server"] for e in _events(project, "serve_status") if e["url"] == url}
    assert {e["state"] for e in _events(project, "serve_status") if e["url"] == url} == {"running", "stopped"}
    assert sum(1 for e in _events(project, "serve_answer") if e["server"] in server) == 25


def test_two_workers_answer_and_metrics_cover_both(wine: dict[str, Any]) -> None:
    project = wine["project"]
    # Given a server with two worker processes
    with mlnb.serve("wine@champion", workers=2, project=project) as handle:
        assert handle.running and "2 workers" in repr(handle)
        # (the handle is ready once one worker answers; the other may still be loading: wait for its heartbeat)
        deadline = time.monotonic() + 60
        while len({e["server"] for e in _events(project, "serve_status") if e["url"] == handle.url}) < 2:
            assert time.monotonic() < deadline, "the second worker never started"
            time.sleep(0.2)
        expected = wine["model"].predict(wine["x"].iloc[:3]).tolist()
        # When 40 requests arrive on fresh connections
        for _ in range(40):
            assert handle.predict(_records(wine, slice(0, 3))) == expected
        with httpx.Client(base_url=handle.url) as c:
            counted = _metrics(c)
        url = handle.url
    # Then /metrics (answered by either worker) counts all 40
    assert counted[("mlnb_serve_requests_total", (("status", "ok"),))] == 40
    # And two worker processes served, each with its own archive, which together hold every answer
    workers = {e["server"] for e in _events(project, "serve_status") if e["url"] == url}
    assert len(workers) == 2
    assert sum(1 for e in _events(project, "serve_answer") if e["server"] in workers) == 40
    assert {e["state"] for e in _events(project, "serve_status") if e["url"] == url} >= {"running", "stopped"}


def test_serving_from_a_jupyter_kernel_runs_in_the_background_and_stops(wine: dict[str, Any], tmp_path: Path) -> None:
    from tests.nbutil import execute, make_notebook, stdout_of

    records = json.dumps(_records(wine, slice(0, 3)))
    # Given a notebook that serves the model (the kernel's own event loop runs in its main thread)
    nb = execute(make_notebook([
        "import mlnb, json",
        f"handle = mlnb.serve('wine@champion', project={str(wine['project'].url)!r})",
        f"print(handle.predict(json.loads({records!r})))",
        "handle",
        "handle.stop()\nprint('running:', handle.running)",
    ], tmp_path / "serve.ipynb"), env={}, allow_errors=False)
    # Then it answers while the kernel stays free, shows as a table, and stops
    assert stdout_of(nb, 2).strip() == str(wine["model"].predict(wine["x"].iloc[:3]).tolist())
    assert "mlnb serve" in nb.cells[3].outputs[0]["data"]["text/html"]
    assert stdout_of(nb, 4).strip() == "running: False"
    assert not any(o.get("name") == "stderr" for cell in nb.cells for o in cell.outputs)


def test_serve_is_a_public_function_taking_project() -> None:
    import inspect

    assert "serve" in mlnb.__all__
    assert inspect.signature(mlnb.serve).parameters["project"].default is None
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None  # the workers' setting never leaks into this process
