"""Live alias switching: when an alias moves in the registry, the engine loads and warms the new
version off the event loop and swaps it in atomically, under concurrent load with 0 failures;
in-flight requests finish on the version they started with; every switch (or failure) is recorded."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pandas as pd

import mlnb
from mlnb.serving.archive import Answer
from mlnb.serving.engine import Engine
from mlnb.store.store import Store
from tests.serving_models import Linear, Slow, Unloadable
from tests.test_serving_engine import X, ask, config, register


async def until(check: Any, timeout: float = 15.0) -> None:
    """Wait (without blocking the loop) until `check()` is true."""
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out waiting"
        await asyncio.sleep(0.02)


def switches(store: Store) -> pd.DataFrame:
    return mlnb.sql("SELECT alias, from_version, to_version, status, err, ms FROM serve_switches ORDER BY ts",
                    project=store)


def moves_of(frame: pd.DataFrame) -> list[list[Any]]:
    """[alias, from, to, status] per switch (a missing version as None)."""
    return [[r.alias, None if pd.isna(r.from_version) else int(r.from_version),
             None if pd.isna(r.to_version) else int(r.to_version), r.status] for r in frame.itertuples()]


def test_champion_moves_under_concurrent_load_with_no_failures(store: Store) -> None:
    scales = {1: 1.0, 2: 2.0, 3: 3.0}
    for version, scale in scales.items():
        register(store, Linear(scale=scale))
    mlnb.set_alias("m", "champion", 1, project=store)
    mlnb.set_alias("m", "challenger", 2, project=store)
    moves = [2, 3, 1, 3, 2]

    async def main() -> list[tuple[Answer, int]]:
        # a long deadline: a CPU stall on this shared machine must not pass for a fallback
        engine = Engine(config("m@champion", "m@challenger", watch_interval_s=0.05, deadline_ms=5000), store)
        await engine.start()
        answers: list[tuple[Answer, int]] = []
        done = False

        async def caller(k: int) -> None:
            i = k
            while not done:
                i = (i + 7) % 40
                answers.append((await ask(engine, X.iloc[[i]]), i))

        callers = [asyncio.create_task(caller(k)) for k in range(8)]
        for target in moves:
            await asyncio.to_thread(mlnb.set_alias, "m", "champion", target, project=store)
            await until(lambda: engine.live["m@champion"].version == target)
            await asyncio.sleep(0.1)  # traffic on the new version
        done = True
        await asyncio.gather(*callers)
        await engine.stop()
        return answers
    answers = asyncio.run(main())
    assert len(answers) > 50
    assert [a for a, _ in answers if a.status != "ok"] == []
    for answer, i in answers:
        assert answer.returned is not None and answer.returned.version in scales
        # the answer is the one of the version it names (no mix-up across a swap)
        assert answer.returned.outputs == Linear(scales[answer.returned.version]).predict(X.iloc[[i]]).tolist()
    served = [a.returned.version for a, _ in answers if a.returned]
    assert set(served) == {1, 2, 3}
    moved = switches(store)
    assert moves_of(moved) == [
        ["champion", before, after, "switched"] for before, after in zip([1, *moves], moves)]
    archived = mlnb.sql("SELECT count(*) AS n FROM serve_answers", project=store)["n"][0]
    assert archived == len(answers)


def test_in_flight_requests_finish_on_the_version_they_started_with(store: Store) -> None:
    register(store, Slow(0.6), "champion")
    register(store, Linear(scale=5.0))

    async def main() -> tuple[Answer, Answer]:
        engine = Engine(config(watch_interval_s=0.05), store)
        await engine.start()
        first = asyncio.create_task(ask(engine, X.iloc[[4]]))
        await asyncio.sleep(0.05)  # the request is in the champion's predict
        await asyncio.to_thread(mlnb.set_alias, "m", "champion", 2, project=store)
        await until(lambda: engine.live["m@champion"].version == 2)
        assert not first.done()  # the switch did not wait for (nor drop) the request in flight
        second = await ask(engine, X.iloc[[4]])
        before = await first
        await engine.stop()
        return before, second
    before, after = asyncio.run(main())
    assert before.status == "ok" and before.returned is not None and before.returned.version == 1
    assert before.returned.outputs == Linear().predict(X.iloc[[4]]).tolist()
    assert after.returned is not None and after.returned.version == 2
    assert after.returned.outputs == Linear(5.0).predict(X.iloc[[4]]).tolist()


def test_a_version_that_cannot_load_leaves_the_old_one_answering(store: Store) -> None:
    register(store, Linear(), "champion")
    register(store, Unloadable())

    async def main() -> Answer:
        engine = Engine(config(watch_interval_s=0.05), store)
        await engine.start()
        await asyncio.to_thread(mlnb.set_alias, "m", "champion", 2, project=store)
        checks = engine.watcher.checks
        await until(lambda: engine.watcher.checks >= checks + 4)  # several rounds: recorded once
        answer = await ask(engine, X.iloc[[2]])
        await engine.stop()
        return answer
    answer = asyncio.run(main())
    assert answer.status == "ok" and answer.returned is not None and answer.returned.version == 1
    moved = switches(store)
    assert moves_of(moved) == [["champion", 1, 2, "failed"]]
    assert "cannot be restored" in moved["err"][0] and "\n" not in moved["err"][0]


def test_deleted_aliases(store: Store) -> None:
    register(store, Linear(), "champion")
    register(store, Linear(scale=2.0), "challenger")

    async def main() -> tuple[Answer, dict[str, int | None]]:
        engine = Engine(config("m@champion", "m@challenger", watch_interval_s=0.05), store)
        await engine.start()
        await asyncio.to_thread(mlnb.delete_alias, "m", "challenger", project=store)
        await until(lambda: "m@challenger" not in engine.live)
        await asyncio.to_thread(mlnb.delete_alias, "m", "champion", project=store)
        checks = engine.watcher.checks
        await until(lambda: engine.watcher.checks >= checks + 3)
        answer = await ask(engine, X.iloc[[2]])
        aliases = engine.aliases()
        await engine.stop()
        return answer, aliases
    answer, aliases = asyncio.run(main())
    assert answer.status == "ok" and [a.version for a in answer.answers] == [1]  # the shadow is no longer asked
    assert aliases == {"m@champion": 1, "m@challenger": None}
    moved = switches(store)
    assert moves_of(moved) == [
        ["challenger", 2, None, "switched"], ["champion", 1, None, "failed"]]


def test_latest_follows_new_registrations(store: Store) -> None:
    register(store, Linear())

    async def main() -> Answer:
        engine = Engine(config("m@latest", watch_interval_s=0.05), store)
        await engine.start()
        await asyncio.to_thread(register, store, Linear(scale=4.0))
        await until(lambda: engine.live["m@latest"].version == 2)
        answer = await ask(engine, X.iloc[[6]])
        await engine.stop()
        return answer
    answer = asyncio.run(main())
    assert answer.returned is not None and answer.returned.version == 2 and answer.returned.alias == "latest"
    assert answer.returned.outputs == Linear(4.0).predict(X.iloc[[6]]).tolist()
    assert moves_of(switches(store)) == [["latest", 1, 2, "switched"]]


# --- the real server: HTTP requests from threads while the champion moves --------------------------

def _wine_versions(store: Store) -> tuple[pd.DataFrame, dict[int, Any]]:
    """Three scikit-learn versions of `wine` (no pickle needed): champion 1, challenger 2."""
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    wine, y = load_wine(return_X_y=True, as_frame=True)
    models = {}
    for c in (1.0, 0.01, 0.001):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(wine, y)
        models[int(mlnb.register_model(model, "wine", data=wine, project=store)["version"])] = model
    mlnb.set_alias("wine", "champion", 1, project=store)
    mlnb.set_alias("wine", "challenger", 2, project=store)
    return wine, models


class _Load:
    """Single-row POST /predict from `n` threads (keep-alive connections) until stopped."""

    def __init__(self, url: str, wine: pd.DataFrame, n: int = 6) -> None:
        import threading
        from urllib.parse import urlsplit

        self.where = urlsplit(url)
        self.rows = wine.to_dict("records")
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(n)]
        for thread in self.threads:
            thread.start()

    def _client(self, k: int) -> None:
        import http.client

        import orjson

        conn = http.client.HTTPConnection(self.where.hostname, self.where.port, timeout=60)
        i = k
        while not self.stopping.is_set():
            i = (i + 11) % len(self.rows)
            try:
                conn.request("POST", "/predict", orjson.dumps({"records": [self.rows[i]]}),
                             {"content-type": "application/json"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    self.failures.append(f"{response.status}: {body[:300]!r}")
                else:
                    self.answers.append((i, orjson.loads(body)))
            except Exception as exc:  # a dropped connection is a failed request too
                self.failures.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(self.where.hostname, self.where.port, timeout=60)
        conn.close()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)


def _served(url: str) -> dict[str, int]:
    import httpx

    return {s["alias"]: s["version"] for s in httpx.get(f"{url}/models", timeout=10).json()["served"]}


def _switched_servers(store: Store, version: int) -> set[str]:
    frame = mlnb.sql("SELECT server FROM serve_switches WHERE alias = 'champion' AND to_version = ? "
                     "AND status = 'switched'", [version], project=store)
    return set(frame["server"])


def _wait(check: Any, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def test_real_server_switches_live_under_concurrent_requests(store: Store) -> None:
    wine, models = _wine_versions(store)
    moves = [2, 3, 1, 3, 2]
    with mlnb.serve("wine@champion", shadows="wine@challenger", deadline_ms=5000, project=store) as handle:
        load = _Load(handle.url, wine)
        try:
            for target in moves:
                time.sleep(0.3)  # traffic on the version before
                mlnb.set_alias("wine", "champion", target, project=store)
                _wait(lambda: _served(handle.url)["champion"] == target)
            time.sleep(0.3)
        finally:
            load.stop()
    assert load.failures == []
    assert len(load.answers) > 50
    rows = wine.to_dict("records")
    for i, body in load.answers:
        assert body["version"] in models and body["status"] == "ok"
        assert body["predictions"] == models[body["version"]].predict(pd.DataFrame([rows[i]])).tolist()
    assert {body["version"] for _, body in load.answers} == {1, 2, 3}
    moved = switches(store)
    assert moves_of(moved[moved["alias"] == "champion"]) == [
        ["champion", before, after, "switched"] for before, after in zip([1, *moves], moves)]
    archived = mlnb.sql("SELECT request_id FROM serve_answers WHERE status = 'ok'", project=store)
    assert set(archived["request_id"]) >= {body["request_id"] for _, body in load.answers}


def test_every_worker_switches(store: Store) -> None:
    wine, models = _wine_versions(store)
    with mlnb.serve("wine@champion", deadline_ms=5000, workers=2, project=store) as handle:
        load = _Load(handle.url, wine, n=4)
        try:
            for target in (3, 2):
                time.sleep(0.3)
                mlnb.set_alias("wine", "champion", target, project=store)
                _wait(lambda: len(_switched_servers(store, target)) == 2, timeout=60)  # noqa: B023
            time.sleep(0.3)
        finally:
            load.stop()
    assert load.failures == []
    assert {body["version"] for _, body in load.answers} >= {1, 2}
    status = mlnb.sql("SELECT server, state, aliases FROM serve_status", project=store)
    assert len(status) == 2 and set(status["state"]) == {"stopped"}
    assert set(status["aliases"]) == {'{"wine@champion":2}'}
