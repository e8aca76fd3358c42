"""The rendezvous engine at the Python level, against real registered models in a temporary store:
predictions, micro-batching, deadline fallback, error fallback, shadows isolated from the
response, the archive (each answer exactly once, every version), heartbeats and the drain on stop."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlnb
from mlnb.errors import MlnbError, UntrustedModelError
from mlnb.serving.archive import Answer, new_request_id
from mlnb.serving.config import ServeConfig
from mlnb.serving.engine import Engine
from mlnb.store.store import Store
from tests.serving_models import Failing, FailsOnNegative, Linear, Slow

X = pd.DataFrame({"a": np.linspace(-1.0, 2.0, 40), "b": np.linspace(3.0, 5.0, 40)})


def register(store: Store, model: Any, alias: str | None = None, flavor: str | None = "pickle") -> int:
    """Register `model` as the next version of `m` (with X as its data) and point `alias` at it."""
    version = int(mlnb.register_model(model, "m", data=X, flavor=flavor, project=store)["version"])
    if alias:
        mlnb.set_alias("m", alias, version, project=store)
    return version


def run(store: Store, config: ServeConfig, scenario: Callable[[Engine], Awaitable[Any]]) -> Any:
    """Start an engine for `config`, run `scenario(engine)`, stop it (draining); the scenario's result."""
    async def main() -> Any:
        engine = Engine(config, store)
        await engine.start()
        try:
            return await scenario(engine)
        finally:
            await engine.stop(timeout_s=10)
    return asyncio.run(main())


async def ask(engine: Engine, rows: pd.DataFrame) -> Answer:
    columns = {c: rows[c].tolist() for c in rows.columns}
    frame, problems = engine.schema().check(columns)
    assert not problems
    return await engine.answer(frame, columns, new_request_id(), time.time())


def config(model: str = "m@champion", *shadows: str, **kw: Any) -> ServeConfig:
    return ServeConfig(model, shadows=tuple(shadows), allow_pickle=True, **kw)


def archived(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(serve_answers, serve_results) as the store's index holds them."""
    answers = mlnb.sql("SELECT * FROM serve_answers ORDER BY ts", project=store)
    results = mlnb.sql("SELECT * FROM serve_results ORDER BY request_id, version", project=store)
    return answers, results


# --- predictions and batching -----------------------------------------------------------------------

def test_prediction_equals_model_predict(store: Store) -> None:
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    wine, y = load_wine(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(wine, y)
    mlnb.register_model(model, "wine", data=wine, project=store)
    mlnb.set_alias("wine", "champion", 1, project=store)

    async def scenario(engine: Engine) -> list[Answer]:
        return [await ask(engine, wine.iloc[[i]]) for i in (0, 70, 170)] + [await ask(engine, wine.iloc[10:25])]
    answers = run(store, ServeConfig("wine@champion"), scenario)
    expected = [model.predict(wine.iloc[[i]]).tolist() for i in (0, 70, 170)] + [model.predict(wine.iloc[10:25]).tolist()]
    assert [a.returned.outputs for a in answers if a.returned] == expected
    assert {(a.status, a.returned.version, a.returned.alias) for a in answers if a.returned} == {("ok", 1, "champion")}


def test_numeric_models_fitted_on_the_schema_predict_on_the_array_and_name_selecting_ones_on_the_frame(
        store: Store) -> None:
    import warnings

    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Given a plain LogisticRegression and a pipeline that selects its columns by name, both fitted on X
    y = (X["a"] > 0.5).astype(int)
    plain = LogisticRegression().fit(X, y)
    by_name = make_pipeline(make_column_transformer((StandardScaler(), ["b", "a"])), LogisticRegression()).fit(X, y)
    register(store, plain, "champion", flavor=None)
    register(store, by_name, "challenger", flavor=None)
    requests = [X.iloc[i:i + 1 + i % 4] for i in range(0, 40, 3)]

    async def scenario(engine: Engine) -> tuple[list[Answer], dict[str, bool]]:
        answers = [await ask(engine, rows) for rows in requests]
        answers += list(await asyncio.gather(*(ask(engine, rows) for rows in requests)))  # batched too
        return answers, {uri: lv.plain_input for uri, lv in engine.live.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names" reaches the user
        answers, plain_input = run(store, config("m@champion", "m@challenger"), scenario)

    # Then the plain model skips the frame (its array is the same input) and the pipeline keeps it
    assert plain_input == {"m@champion": True, "m@challenger": False}
    # And the answers are the models' own predictions on the frames, for single and batched requests
    for rows, answer in zip(requests * 2, answers):
        assert answer.status == "ok" and answer.returned is not None
        assert answer.returned.outputs == plain.predict(rows).tolist()
        shadow = [a for a in answer.answers if a.version == 2]
        if shadow:  # the shadow may still be scoring when the answer is returned
            assert shadow[0].outputs == by_name.predict(rows).tolist()


def test_fifty_concurrent_requests_batch_and_match_one_by_one(store: Store) -> None:
    champion = Slow(0.02, scale=2.0, shift=1.0)  # slow enough that requests pile up behind a predict
    register(store, champion, "champion")
    register(store, Linear(scale=-1.0), "challenger")
    requests = [X.iloc[i % 37:i % 37 + 1 + i % 3] for i in range(50)]  # 1 to 3 rows each

    async def scenario(engine: Engine) -> tuple[list[Answer], dict[str, int]]:
        answers = await asyncio.gather(*(ask(engine, rows) for rows in requests))
        return list(answers), {uri: lv.batcher.batches for uri, lv in engine.live.items() if lv.batcher}
    answers, batches = run(store, config("m@champion", "m@challenger", max_batch_rows=16), scenario)
    for rows, answer in zip(requests, answers):
        assert answer.status == "ok" and answer.returned is not None
        assert answer.returned.outputs == Linear(scale=2.0, shift=1.0).predict(rows).tolist()
    assert batches["m@champion"] < 25  # concatenated: far fewer predict calls than requests
    assert batches["m@champion"] >= 50 * 2 / 16  # and never more than max_batch_rows in one call


def test_one_failing_request_does_not_fail_its_batch(store: Store) -> None:
    register(store, FailsOnNegative(), "champion")
    requests = [X.iloc[[i]] for i in range(20, 40)] + [pd.DataFrame({"a": [-5.0], "b": [1.0]})]

    async def scenario(engine: Engine) -> list[Answer]:
        return list(await asyncio.gather(*(ask(engine, rows) for rows in requests)))
    answers = run(store, config(), scenario)
    assert [a.status for a in answers] == ["ok"] * 20 + ["failed"]
    assert "negative input" in (answers[-1].error or "")


# --- rendezvous: deadline, fallback, shadows ----------------------------------------------------------

def test_slow_champion_falls_back_at_the_deadline(store: Store) -> None:
    register(store, Slow(0.6), "champion")
    register(store, Linear(scale=3.0), "challenger")
    completed: list[Answer] = []

    async def scenario(engine: Engine) -> tuple[Answer, float]:
        engine.on_complete.append(completed.append)
        t0 = time.perf_counter()
        answer = await ask(engine, X.iloc[[5]])
        return answer, time.perf_counter() - t0
    answer, took = run(store, config("m@champion", "m@challenger", deadline_ms=80), scenario)
    assert answer.status == "fallback" and answer.returned is not None
    assert (answer.returned.version, answer.returned.alias) == (2, "challenger")
    assert answer.returned.outputs == Linear(3.0).predict(X.iloc[[5]]).tolist()
    assert 0.07 <= took < 0.4  # at the deadline, not when the champion finished
    # the full answer (archived, passed to on_complete) has the champion's late answer too
    assert len(completed) == 1
    late = {a.version: a for a in completed[0].answers}
    assert late[1].status == "ok" and late[1].ms >= 550 and completed[0].returned is answer.returned


def test_nobody_by_the_deadline_returns_the_first_to_answer(store: Store) -> None:
    register(store, Slow(0.8), "champion")
    register(store, Slow(0.3, scale=2.0), "challenger")

    async def scenario(engine: Engine) -> tuple[Answer, float]:
        t0 = time.perf_counter()
        return await ask(engine, X.iloc[[1]]), time.perf_counter() - t0
    answer, took = run(store, config("m@champion", "m@challenger", deadline_ms=50), scenario)
    assert answer.status == "fallback" and answer.returned is not None and answer.returned.version == 2
    assert 0.28 <= took < 0.7


def test_champion_error_falls_back_without_waiting_for_the_deadline(store: Store) -> None:
    register(store, Failing("champion broke"), "champion")
    register(store, Linear(scale=2.0), "challenger")

    async def scenario(engine: Engine) -> tuple[Answer, float]:
        t0 = time.perf_counter()
        return await ask(engine, X.iloc[[3]]), time.perf_counter() - t0
    answer, took = run(store, config("m@champion", "m@challenger", deadline_ms=5000), scenario)
    assert answer.status == "fallback" and answer.returned is not None and answer.returned.version == 2
    assert answer.returned.outputs == Linear(2.0).predict(X.iloc[[3]]).tolist()
    assert took < 1.0
    assert {(a.version, a.status, a.error) for a in answer.answers} >= {(1, "error", "champion broke")}


def test_every_version_failing_is_one_line(store: Store) -> None:
    register(store, Failing("first broke"), "champion")
    register(store, Failing("second broke"), "challenger")
    answer = run(store, config("m@champion", "m@challenger"), lambda engine: ask(engine, X.iloc[[0]]))
    assert answer.status == "failed" and answer.returned is None
    assert "\n" not in (answer.error or "") and "first broke" in answer.error and "second broke" in answer.error


def test_shadow_failure_and_slowness_never_change_or_delay_the_response(store: Store) -> None:
    register(store, Linear(scale=1.5), "champion")
    register(store, Slow(0.3), "slow")
    register(store, Failing("shadow broke"), "broken")
    register(store, Slow(3.0), "stuck")
    completed: list[Answer] = []

    async def scenario(engine: Engine) -> tuple[list[Answer], list[float]]:
        engine.on_complete.append(completed.append)
        answers, took = [], []
        for i in range(5):
            t0 = time.perf_counter()
            answers.append(await ask(engine, X.iloc[[i]]))
            took.append(time.perf_counter() - t0)
        await asyncio.sleep(1.5)  # past the shadows' timeout: every request completes
        return answers, took
    answers, took = run(store, config("m@champion", "m@slow", "m@broken", "m@stuck", deadline_ms=500,
                                      shadow_timeout_ms=1000), scenario)
    for i, answer in enumerate(answers):
        assert answer.status == "ok" and answer.returned is not None and answer.returned.version == 1
        assert answer.returned.outputs == Linear(1.5).predict(X.iloc[[i]]).tolist()
    assert max(took) < 0.2  # the slow (0.3 s) and stuck (3 s) shadows are not waited for
    assert len(completed) == 5
    statuses = {(a.version, a.status) for c in completed for a in c.answers}
    assert statuses == {(1, "ok"), (2, "ok"), (3, "error"), (4, "timeout")}


def test_a_stuck_shadow_keeps_its_queue_bounded_by_the_timeout(store: Store) -> None:
    register(store, Linear(), "champion")
    register(store, Slow(5.0), "stuck")  # its first real predict blocks its only thread for 5 s

    async def scenario(engine: Engine) -> tuple[list[Answer], int]:
        answers = []
        for i in range(40):
            answers.append(await ask(engine, X.iloc[[i]]))
            await asyncio.sleep(0.01)
        stuck = engine.live["m@stuck"].batcher
        assert stuck is not None
        return answers, stuck.queued
    answers, queued = run(store, config("m@champion", "m@stuck", deadline_ms=50, shadow_timeout_ms=100), scenario)
    assert {a.status for a in answers} == {"ok"}
    assert queued < 20  # the requests the stuck shadow timed out on are dropped from its queue, not kept


def test_a_shadow_trained_on_other_columns_builds_its_own_frame(store: Store) -> None:
    register(store, Linear(), "champion")
    other = pd.DataFrame({"c": np.linspace(0.0, 1.0, 40), "b": X["b"]})
    mlnb.register_model(Linear(scale=10.0), "m", data=other, flavor="pickle", project=store)
    mlnb.set_alias("m", "challenger", 2, project=store)
    completed: list[Answer] = []

    async def scenario(engine: Engine) -> Answer:
        engine.on_complete.append(completed.append)
        columns = {"a": [1.0], "b": [2.0], "c": [0.5]}  # what both versions need
        frame, problems = engine.schema().check(columns)
        assert not problems and list(frame.columns) == ["a", "b"]
        answer = await engine.answer(frame, columns, new_request_id(), time.time())
        await asyncio.sleep(0.2)
        return answer
    answer = run(store, config("m@champion", "m@challenger"), scenario)
    assert answer.returned is not None and answer.returned.outputs == [3.0]
    shadow = next(a for a in completed[0].answers if a.version == 2)
    assert (shadow.status, shadow.outputs) == ("ok", [25.0])  # 10 x (c + b), in its own column order


# --- the archive, heartbeats, stop ---------------------------------------------------------------------

def test_every_answer_is_archived_once_with_every_version(store: Store) -> None:
    register(store, Linear(), "champion")
    register(store, Slow(0.05, scale=2.0), "challenger")
    calls: list[str] = []

    async def scenario(engine: Engine) -> list[Answer]:
        engine.on_complete.append(lambda full: calls.append(full.request_id))
        return list(await asyncio.gather(*(ask(engine, X.iloc[[i % 40]]) for i in range(60))))
    answers = run(store, config("m@champion", "m@challenger"), scenario)
    served, results = archived(store)
    ids = sorted(a.request_id for a in answers)
    assert sorted(served["request_id"]) == ids and sorted(calls) == ids
    assert results.groupby("request_id")["version"].apply(sorted).tolist() == [[1, 2]] * 60
    assert set(results["status"]) == {"ok"}
    assert (results.groupby("request_id")["returned"].sum() == 1).all()


def test_stop_drains_in_flight_shadows(store: Store) -> None:
    register(store, Linear(), "champion")
    register(store, Slow(0.4), "challenger")

    async def scenario(engine: Engine) -> list[Answer]:
        return list(await asyncio.gather(*(ask(engine, X.iloc[[i]]) for i in range(10))))
    answers = run(store, config("m@champion", "m@challenger"), scenario)  # stop() right after the responses
    served, results = archived(store)
    assert sorted(served["request_id"]) == sorted(a.request_id for a in answers)
    assert len(results) == 20 and set(results["status"]) == {"ok"}  # 0 lost: every shadow answer waited for


def test_stop_past_its_timeout_records_busy_shadows_as_timeouts(store: Store) -> None:
    register(store, Linear(), "champion")
    register(store, Slow(3.0), "challenger")

    async def main() -> tuple[list[Answer], float]:
        engine = Engine(config("m@champion", "m@challenger"), store)
        await engine.start()
        answers = list(await asyncio.gather(*(ask(engine, X.iloc[[i]]) for i in range(4))))
        t0 = time.perf_counter()
        await engine.stop(timeout_s=0.2)
        return answers, time.perf_counter() - t0
    answers, took = asyncio.run(main())
    assert took < 1.5
    served, results = archived(store)
    assert len(served) == 4
    assert sorted(results[results["version"] == 2]["status"]) == ["timeout"] * 4


def test_heartbeats_say_running_then_stopped(store: Store) -> None:
    register(store, Linear(), "champion")

    async def scenario(engine: Engine) -> None:
        engine.heartbeat_s = 0.05
        engine._tasks.append(asyncio.create_task(engine._heartbeat()))
        for i in range(3):
            await ask(engine, X.iloc[[i]])
        await asyncio.sleep(0.2)
    run(store, config(), scenario)
    status = mlnb.sql("SELECT * FROM serve_status", project=store)
    assert status["state"].tolist() == ["stopped"] and status["requests"].tolist() == [3]
    assert status["aliases"].tolist() == ['{"m@champion":1}']


def test_a_uri_that_cannot_be_served_is_one_line(store: Store) -> None:
    register(store, Linear(), "champion")

    async def start(cfg: ServeConfig) -> None:
        await Engine(cfg, store).start()
    with pytest.raises(MlnbError, match="no alias 'nope'"):
        asyncio.run(start(ServeConfig("m@nope")))
    with pytest.raises(UntrustedModelError):
        asyncio.run(start(ServeConfig("m@champion")))  # a pickle without allow_pickle


# --- the same through the real server (HTTP on a free loopback port) ------------------------------------

def _post(url: str, rows: pd.DataFrame) -> tuple[dict[str, Any], float]:
    import httpx

    t0 = time.perf_counter()
    response = httpx.post(f"{url}/predict", json={"records": rows.to_dict("records")}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json(), time.perf_counter() - t0


def test_real_server_falls_back_at_the_deadline(store: Store) -> None:
    register(store, Slow(0.8), "champion")
    register(store, Linear(scale=3.0), "challenger")
    with mlnb.serve("m@champion", shadows="m@challenger", deadline_ms=100, allow_pickle=True, project=store) as handle:
        _post(handle.url, X.iloc[[0]])  # the first real predict of each version
        time.sleep(1.0)
        body, took = _post(handle.url, X.iloc[[5]])
    assert (body["status"], body["version"], body["alias"]) == ("fallback", 2, "challenger")
    assert body["predictions"] == Linear(3.0).predict(X.iloc[[5]]).tolist()
    assert took < 0.6  # the deadline, not the champion's 0.8 s
    results = mlnb.sql("SELECT version, status, returned FROM serve_results WHERE request_id = ? ORDER BY version",
                       [body["request_id"]], project=store)
    assert results.values.tolist() == [[1, "ok", 0], [2, "ok", 1]]  # the champion's late answer archived too


def test_real_server_shadows_never_delay_or_fail_the_response(store: Store) -> None:
    register(store, Linear(scale=1.5), "champion")
    register(store, Slow(0.8), "slow")
    register(store, Failing("shadow broke"), "broken")
    with mlnb.serve("m@champion", shadows=["m@slow", "m@broken"], deadline_ms=2000, allow_pickle=True,
                    project=store) as handle:
        answers = [_post(handle.url, X.iloc[[i]]) for i in range(4)]
    for i, (body, took) in enumerate(answers):
        assert (body["status"], body["version"]) == ("ok", 1)
        assert body["predictions"] == Linear(1.5).predict(X.iloc[[i]]).tolist()
        assert took < 0.5  # the slow shadow (0.8 s per predict) is not waited for
    results = mlnb.sql("SELECT version, status FROM serve_results", project=store)
    assert sorted(map(tuple, results.values.tolist())) == sorted([(1, "ok"), (2, "ok"), (3, "error")] * 4)
