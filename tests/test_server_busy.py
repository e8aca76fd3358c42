"""A busy index never blocks Jupyter: mlnb requests answer 503 in bounded time, and Jupyter's own
endpoints stay fast while another process holds the index (real server, real processes)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tornado.httpclient

import mlnb
from mlnb.store.store import Store
from tests.projectutil import connected_project

pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"mlnb.server": True}, "allow_unauthenticated_access": False}}


@pytest.fixture
def served_store(jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.delenv("MLNB_HOME", raising=False)
    with connected_project(jp_root_dir / ".mlnb") as project:
        for i in range(3):
            with mlnb.start_run(experiment="exp", name=f"run-{i}") as run:
                run.log_metric("acc", i / 10)
        mlnb.runs()
        project.store.close()
        yield project.store


def _hold_index(root: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that holds the index (as a long ingest or query would) for `seconds`."""
    code = (f"import time; from mlnb.store.store import Store; s = Store.open({str(root)!r})\n"
            f"with s.index():\n    print('held', flush=True); time.sleep({seconds})")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held", holder.stderr.read()
    return holder


async def _mlnb_request(jp_fetch, *parts: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        response = await jp_fetch("mlnb", "api", *parts, request_timeout=60)
        code, body = response.code, response.body
    except tornado.httpclient.HTTPClientError as exc:
        if exc.response is None:
            raise
        code, body = exc.code, exc.response.body
    return code, json.loads(body), time.monotonic() - started


async def test_a_held_index_gives_503_and_leaves_jupyter_responsive(jp_fetch, served_store: Store) -> None:
    # Given another process holding the index for 25 s
    holder = _hold_index(served_store.root, 25)
    try:
        # When the sidebar fires many requests at once
        # (8: more than Jupyter's shared default pool has threads here; the test client runs 10 at once)
        requests = [asyncio.ensure_future(_mlnb_request(jp_fetch, *parts))
                    for _ in range(4) for parts in (("runs",), ("experiments",))]
        await asyncio.sleep(0.5)
        # Then Jupyter's own endpoints answer at once
        for _ in range(3):
            started = time.monotonic()
            specs = await jp_fetch("api", "kernelspecs")
            assert specs.code == 200
            assert time.monotonic() - started < 1.0
        # And every mlnb request is answered 503 in bounded time, one line in the JSON error shape
        answers = await asyncio.gather(*requests)
        for code, body, elapsed in answers:
            assert code == 503, body
            assert set(body) == {"error"} and body["error"]["code"] == "store_busy"
            assert "\n" not in body["error"]["message"] and "busy" in body["error"]["message"]
            assert elapsed < 15
        assert holder.poll() is None  # the index was held the whole time
    finally:
        holder.kill()
        holder.wait()
    # And once the index is free again, the same requests answer
    code, body, _ = await _mlnb_request(jp_fetch, "runs")
    assert code == 200 and body["total"] == 3



@pytest.mark.parametrize("hold_s", [4.9, 12])
async def test_an_alias_move_answer_matches_what_was_done(jp_fetch, served_store: Store, hold_s: float) -> None:
    # Given a model whose champion is version 1, and another process holding the index: until
    # just before the server's 5 s deadline (the move then starts in time but ends after it), or
    # well past it
    mlnb.connect(served_store.root)
    with mlnb.start_run(experiment="models"):
        mlnb.register_model({"w": 1}, "clf")
        mlnb.register_model({"w": 2}, "clf")
        mlnb.set_alias("clf", "champion", 1)
    served_store.close()
    holder = _hold_index(served_store.root, hold_s)
    try:
        # When the sidebar moves the alias to version 2 meanwhile
        started = time.monotonic()
        try:
            response = await jp_fetch("mlnb", "api", "models", "clf", "aliases", method="POST",
                                      body=json.dumps({"alias": "champion", "version": 2}), request_timeout=60)
            code = response.code
        except tornado.httpclient.HTTPClientError as exc:
            code = exc.code
            assert json.loads(exc.response.body)["error"]["code"] == "store_busy"
        assert time.monotonic() - started < 15
    finally:
        holder.kill()
        holder.wait()
    # Then the answer tells what happened: 200 and moved, or 503 and not moved (not even later)
    await asyncio.sleep(1.5)
    served_store.close()
    champion = mlnb.model_registry.model_version("clf@champion", served_store)["version"]
    assert (code, champion) in {(200, 2), (503, 1)}
    if hold_s > 10:
        assert code == 503
