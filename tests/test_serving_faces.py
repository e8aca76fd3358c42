"""The faces of serving: the view-models (what is served now, the rendezvous comparison), the REST
routes on a real Jupyter server, and the rendezvous report widget with its static HTML (also in a
notebook executed in a real kernel). The archive is written with the real writer
(`mlnb.serving.archive.Archive`), as a serving process writes it; the numbers are checked against
the raw answers the test wrote."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlnb
from mlnb.serving.archive import Answer, Archive, VersionAnswer, new_request_id
from mlnb.serving.views import HINT, STALE_AFTER_S, rendezvous_view, serving_overview

URL = "http://127.0.0.1:8123"
ALIASES = {"churn@champion": 1, "churn@challenger": 2}
SHADOWS = ["churn@challenger"]
RECENT, OLD = 30, 10  # answers within the last minute, and older ones


def archive(project: Any, server: str) -> Archive:
    return Archive(project.store, "churn", input_cap_bytes=65536, input_sample=1.0, server_id=server)


def write_traffic(project: Any, now: float) -> dict[str, Any]:
    """Given model churn (v1 champion, v2 challenger as shadow, v3 unserved) and the archive of a
    server "srv-a": RECENT + OLD requests answered by v1 and shadowed by v2 (which disagrees on
    every third, fails once, times out once), one refused request, feedback on the first 20.

    Returns the raw answers the numbers are checked against."""
    with mlnb.start_run(experiment="train"):
        for weights in ([1, 2], [3, 4], [5, 6]):
            mlnb.register_model({"weights": weights}, "churn")
    mlnb.set_alias("churn", "champion", 1)
    mlnb.set_alias("churn", "challenger", 2)
    writer = archive(project, "srv-a")
    raw: dict[str, Any] = {"ids": [], "v1": [], "v2": [], "received": []}
    for i in range(RECENT + OLD):
        received = now - (i * 1.5 if i < RECENT else 100.0 + i)
        champion = VersionAnswer(1, "churn@champion", "ok", 2.0 + 0.25 * i, [i % 2])
        if i == 5:
            shadow = VersionAnswer(2, "churn@challenger", "error", 1.0, None, "ValueError: boom")
        elif i == 7:
            shadow = VersionAnswer(2, "churn@challenger", "timeout", 250.0)
        else:
            shadow = VersionAnswer(2, "churn@challenger", "ok", 5.0 + 0.5 * i, [(i + (i % 3 == 0)) % 2])
        answer = Answer(new_request_id(), received, "churn", "ok", rows=1, returned=champion,
                        answers=[champion, shadow], ms=champion.ms + 0.1)
        writer.record(answer, {"age": [30 + i], "plan": ["basic"]})
        raw["ids"].append(answer.request_id)
        raw["v1"].append(champion)
        raw["v2"].append(shadow)
        raw["received"].append(received)
    writer.record(Answer(new_request_id(), now - 2, "churn", "invalid", rows=1, error="missing column age"),
                  {"plan": ["pro"]})
    writer.flush()
    raw["labels"] = {rid: i % 2 for i, rid in enumerate(raw["ids"][:20])}
    for rid, label in raw["labels"].items():
        mlnb.log_feedback(rid, label)
    return raw


def heartbeat(writer: Archive, state: str = "running", aliases: dict[str, Any] | None = None, requests: int = 41) -> None:
    writer.record_status(state, URL, dict(aliases or ALIASES), list(SHADOWS), requests, 250.0, time.time() - 300)
    writer.flush()


# --- the view-models ----------------------------------------------------------------------------

def test_overview_shows_the_servers_alive_with_their_request_rate_and_switches(project: Any) -> None:
    # Given a server's archive and a second worker of the same endpoint (one url, its own id)
    now = time.time()
    raw = write_traffic(project, now)
    first, second = archive(project, "srv-a"), archive(project, "srv-a2")
    second.record(Answer(new_request_id(), now - 1, "churn", "ok", rows=1, returned=raw["v1"][0],
                         answers=[raw["v1"][0]], ms=1.0), None)
    first.record_switch("churn@challenger", None, 2, 80.0, "switched")
    second.record_switch("churn@challenger", None, 2, 81.0, "switched")  # every worker switches: listed once
    time.sleep(0.01)
    first.record_switch("churn@champion", 1, 3, 5.0, "failed", "cannot load churn/3: no such file")
    heartbeat(first)
    heartbeat(second, requests=1)
    # And a stopped server of another endpoint, which is not shown
    stopped = Archive(project.store, "churn", 0, 1.0, server_id="srv-b")
    stopped.record_status("stopped", "http://127.0.0.1:9000", {"churn@champion": 1}, [], 7, 250.0, now - 900)
    stopped.flush()

    # When the overview is read
    overview = serving_overview(project)

    # Then one endpoint is alive: its aliases in preference order, the shadow marked
    assert [s["url"] for s in overview["servers"]] == [URL]
    server = overview["servers"][0]
    assert server["model"] == "churn" and server["servers"] == ["srv-a", "srv-a2"]
    assert server["served"] == [{"uri": "churn@champion", "alias": "champion", "version": 1, "shadow": False},
                                {"uri": "churn@challenger", "alias": "challenger", "version": 2, "shadow": True}]
    assert server["shadows"] == SHADOWS and server["requests"] == 42 and server["deadline_ms"] == 250.0
    # And its rate counts every answer of both workers within the last minute (the refusal too)
    recent = sum(1 for t in raw["received"] if t >= now - 60) + 1 + 1
    assert server["recent"] == recent == RECENT + 2
    assert server["rate"] == pytest.approx(recent / 60, abs=1e-3)
    # And its alias moves newest first, the workers' copies listed once
    assert [(s["alias"], s["from"], s["to"], s["status"]) for s in server["switches"]] == [
        ("champion", 1, 3, "failed"), ("challenger", None, 2, "switched")]
    assert server["switches"][0]["err"].startswith("cannot load churn/3")
    json.dumps(overview)  # plain JSON

    # When its heartbeats grow older than three intervals, it no longer shows as alive
    later = serving_overview(project, now=time.time() + STALE_AFTER_S + 1)
    assert later["servers"] == [] and later["hint"] == HINT
    # And a stopping server leaves the list at once
    heartbeat(first, state="stopped")
    heartbeat(second, state="stopped")
    assert serving_overview(project)["servers"] == []


def test_overview_of_a_store_that_serves_nothing(project: Any) -> None:
    overview = serving_overview(project)
    assert overview["servers"] == [] and overview["hint"] == "mlnb serve churn@champion --shadow churn@challenger"


def test_overview_shows_an_odd_heartbeat_without_failing(project: Any) -> None:
    # Given a heartbeat whose aliases and shadows are not the documented shapes, and an unset alias
    writer = archive(project, "srv-odd")
    writer.record_status("running", None, ["churn@champion"], "churn@challenger", 0, 250.0, time.time())  # type: ignore[arg-type]
    writer.flush()
    server = serving_overview(project)["servers"][0]
    assert server["served"] == [] and server["shadows"] == [] and server["url"] is None
    heartbeat(writer, aliases={"churn@champion": None, "churn/2": 2})
    served = serving_overview(project)["servers"][0]["served"]
    assert served == [{"uri": "churn@champion", "alias": "champion", "version": None, "shadow": False},
                      {"uri": "churn/2", "alias": "churn/2", "version": 2, "shadow": False}]


def test_rendezvous_view_matches_the_raw_answers(project: Any) -> None:
    # Given the archived traffic of churn (v1 answered, v2 in the shadow, feedback on 20 requests)
    raw = write_traffic(project, time.time())
    # When the comparison is read
    view = rendezvous_view(project, "churn")
    rows = {r["version"]: r for r in view["versions"]}
    assert set(rows) == {1, 2} and view["metric"] == "accuracy"
    v1, v2 = rows[1], rows[2]
    n = RECENT + OLD
    # Then every request reached both versions; v1's answer was always the one returned
    assert (v1["requests"], v1["returned"], v2["requests"], v2["returned"]) == (n, n, n, 0)
    assert v1["alias"] == "churn@champion" and v2["alias"] == "churn@challenger"
    # And v2's agreement is its share of equal outputs where both answered
    pairs = [(a.outputs, b.outputs) for a, b in zip(raw["v1"], raw["v2"]) if b.status == "ok"]
    assert v2["agreement"] == pytest.approx(sum(x == y for x, y in pairs) / len(pairs))
    assert v1["agreement"] == 1.0 and 0.5 < v2["agreement"] < 0.8
    # And the latency percentiles are those of the ok answers
    ms2 = [b.ms for b in raw["v2"] if b.status == "ok"]
    assert v2["p50_ms"] == pytest.approx(float(np.percentile(ms2, 50)), rel=1e-6)
    assert v2["p99_ms"] == pytest.approx(float(np.percentile(ms2, 99)), rel=1e-6)
    assert v1["p95_ms"] == pytest.approx(float(np.percentile([a.ms for a in raw["v1"]], 95)), rel=1e-6)
    assert (v2["errors"], v2["timeouts"], v1["errors"], v1["timeouts"]) == (1, 1, 0, 0)
    # And accuracy over the labelled requests
    labelled = [(b, raw["labels"][rid]) for rid, b in zip(raw["ids"], raw["v2"]) if rid in raw["labels"]]
    hits = [b.outputs == [label] for b, label in labelled if b.status == "ok"]
    assert v1["labelled"] == v2["labelled"] == 20 and v1["accuracy"] == 1.0
    assert v2["accuracy"] == pytest.approx(sum(hits) / len(hits))
    # And over time, per minute: the buckets add up to the totals, oldest first
    assert view["every"] == "1min" and view["over_time"]
    assert sum(r["requests"] for r in view["over_time"] if r["version"] == 2) == n
    times = [r["t"] for r in view["over_time"]]
    assert times == sorted(times) and all(isinstance(t, str) for t in times)
    json.dumps(view)
    # And a window keeps only the last minute's requests
    recent = rendezvous_view(project, "churn", since="1min", every=None)
    assert {r["version"]: r["requests"] for r in recent["versions"]} == {1: RECENT, 2: RECENT}
    assert recent["over_time"] == [] and recent["since"] == "1min"


def test_rendezvous_view_errors_are_one_line(project: Any) -> None:
    from mlnb.errors import InvalidValueError, NotFoundError

    with mlnb.start_run(experiment="train"):
        mlnb.register_model({"weights": [1]}, "quiet")
    # A registered model that nothing served: no rows, no error
    empty = rendezvous_view(project, "quiet")
    assert empty["versions"] == [] and empty["over_time"] == [] and empty["metric"] is None
    report = mlnb.rendezvous_report("quiet")  # the widget of a model not served yet: an empty table
    assert report.rows == [] and "no archived answers yet" in report._repr_mimebundle_()["text/html"]
    with pytest.raises(NotFoundError, match="nope"):
        rendezvous_view(project, "nope")
    with pytest.raises(InvalidValueError, match="every must be a duration"):
        rendezvous_view(project, "quiet", every="often")
    with pytest.raises(InvalidValueError, match="since must be"):
        rendezvous_view(project, "quiet", since="last tuesday")
    with pytest.raises(InvalidValueError, match="one model"):
        rendezvous_view(project, "quiet/1")


# --- the widget and its static HTML ---------------------------------------------------------------

def test_report_widget_charts_each_version_over_time_and_refreshes(project: Any) -> None:
    from mlnb.widgets import rendezvous_view as rv

    raw = write_traffic(project, time.time())
    widget = mlnb.rendezvous_report("churn")
    assert isinstance(widget, rv.RendezvousWidget)
    assert [r["version"] for r in widget.rows] == [1, 2] and "accuracy" in widget.rows[0]
    assert widget.chart.options == ("agreement", "latency", "accuracy")
    agreement = widget.figures["agreement"]
    assert [t["name"] for t in agreement["data"]] == ["v1 (champion)", "v2 (challenger)"]
    shown = widget.plot.outputs[0]["data"][rv.PLOTLY_MIME]
    assert shown == agreement and agreement["layout"]["yaxis"]["tickformat"] == ".0%"
    widget.chart.value = "latency"  # p50 and p99 per version
    names = [t["name"] for t in widget.figures["latency"]["data"]]
    assert names == ["v1 (champion) p50", "v1 (champion) p99", "v2 (challenger) p50", "v2 (challenger) p99"]
    p99 = widget.figures["latency"]["data"][3]["y"]
    assert max(p for p in p99 if p is not None) <= max(b.ms for b in raw["v2"] if b.status == "ok")
    # New traffic shows after a refresh
    before = widget.rows[0]["requests"]
    writer = archive(project, "srv-a")
    champion = VersionAnswer(1, "churn@champion", "ok", 1.0, [0])
    writer.record(Answer(new_request_id(), time.time(), "churn", "ok", rows=1, returned=champion,
                         answers=[champion]), None)
    writer.flush()
    widget.refresh()
    assert widget.rows[0]["requests"] == before + 1
    page = widget._repr_mimebundle_()["text/html"]
    assert "mlnb-rendezvous-table" in page and "data-version='2'" in page and "<script" not in page


def test_static_html_shows_table_and_charts_and_escapes() -> None:
    from mlnb.serving import report_html

    view = {"model": "<b>churn</b>", "every": "1min", "metric": "mae", "since": None, "until": None,
            "versions": [{"version": 1, "alias": "churn@<i>champion</i>", "requests": 10, "returned": 9,
                          "agreement": 1.0, "p50_ms": 2.5, "p95_ms": 3.0, "p99_ms": 4.25, "errors": 0, "timeouts": 0,
                          "labelled": 4, "mae": 0.5},
                         {"version": 2, "alias": None, "requests": 10, "returned": 1, "agreement": 0.75,
                          "p50_ms": None, "p95_ms": None, "p99_ms": None, "errors": 10, "timeouts": 0,
                          "labelled": 4, "mae": None}],
            "over_time": [{"t": "2026-11-29 10:00:00", "version": 1, "agreement": 1.0, "p50_ms": 2.0, "p99_ms": 4.0,
                           "mae": 0.4},
                          {"t": "2026-11-29 10:01:00", "version": 1, "agreement": 1.0, "p50_ms": 3.0, "p99_ms": 4.5,
                           "mae": 0.6},
                          {"t": "2026-11-29 10:00:00", "version": 2, "agreement": 0.5, "p50_ms": None, "p99_ms": None,
                           "mae": None},
                          {"t": "2026-11-29 10:01:00", "version": 2, "agreement": 1.0, "p50_ms": None, "p99_ms": None,
                           "mae": None}]}
    page = report_html.render_html(view)
    assert "<b>churn" not in page and "&lt;b&gt;churn" in page and "<i>champion" not in page
    assert "10 answers returned" in page and page.count("<tr data-version=") == 2
    assert "75.0%" in page and "4.25" in page and "–" in page  # missing latency shown as a dash
    assert [c for c in ("agreement", "latency", "mae") if f"data-chart='{c}'" in page] == ["agreement", "latency", "mae"]
    assert page.count("<polyline") == 5  # agreement v1 v2, latency p50 and p99 of v1 (v2 has none), mae v1
    assert "<script" not in page
    figure = report_html.over_time_figure(view, "mae")
    assert [t["y"] for t in figure["data"]] == [[0.4, 0.6], [None, None]]
    empty = report_html.render_html({"model": "quiet", "versions": [], "over_time": []})
    assert "no archived answers yet" in empty


def test_report_falls_back_to_static_html_without_ipywidgets(project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from mlnb.widgets import rendezvous_view as rv

    write_traffic(project, time.time())
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    with pytest.warns(UserWarning, match="needs ipywidgets"):
        shown = mlnb.rendezvous_report("churn", since="1h")
    assert isinstance(shown, rv.StaticRendezvousReport)
    assert "mlnb-rendezvous-table" in shown._repr_html_() and "since 1h" in shown._repr_html_()


@pytest.mark.slow
def test_report_in_an_executed_notebook_saves_its_static_html(project: Any, tmp_path: Path) -> None:
    import nbformat

    from tests.nbutil import execute, make_notebook

    write_traffic(project, time.time())
    path = make_notebook(["import mlnb\nmlnb.rendezvous_report('churn')"], tmp_path / "rv.ipynb")
    nb = execute(path, {"MLNB_HOME": str(project.store.root)}, allow_errors=False)
    nbformat.write(nb, path)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs  # as a saved notebook holds it
    data = next(o["data"] for o in outputs if o.get("output_type") == "execute_result")
    assert "application/vnd.jupyter.widget-view+json" in data  # the live widget in Lab
    page = data["text/html"]  # what a saved or converted notebook shows
    assert "mlnb-rendezvous-table" in page and "data-version='1'" in page and "data-chart='latency'" in page


# --- the REST routes ----------------------------------------------------------------------------

@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"mlnb.server": True}, "allow_unauthenticated_access": False}}


@pytest.fixture
def served(jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.projectutil import connected_project

    monkeypatch.delenv("MLNB_HOME", raising=False)
    with connected_project(jp_root_dir / ".mlnb") as project:
        raw = write_traffic(project, time.time())
        heartbeat(archive(project, "srv-a"))
        yield {"project": project, "raw": raw}


async def _get(jp_fetch: Any, *parts: str, **params: str) -> Any:
    response = await jp_fetch("mlnb", "api", *parts, params=params)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def _error(jp_fetch: Any, *parts: str, **params: str) -> tuple[int, dict[str, Any]]:
    import tornado.httpclient

    with pytest.raises(tornado.httpclient.HTTPClientError) as caught:
        await jp_fetch("mlnb", "api", *parts, params=params)
    body = caught.value.response.body.decode()
    assert "\n" not in body.strip() and "Traceback" not in body
    return caught.value.code, json.loads(body)


@pytest.mark.slow
async def test_rest_serving_and_rendezvous(jp_fetch: Any, served: dict[str, Any]) -> None:
    overview = await _get(jp_fetch, "serving")
    assert [(s["model"], s["url"]) for s in overview["servers"]] == [("churn", URL)]
    assert [(a["alias"], a["version"], a["shadow"]) for a in overview["servers"][0]["served"]] == [
        ("champion", 1, False), ("challenger", 2, True)]
    assert overview["servers"][0]["recent"] == RECENT + 1
    view = await _get(jp_fetch, "models", "churn", "rendezvous")
    assert [r["version"] for r in view["versions"]] == [1, 2] and view["versions"][1]["errors"] == 1
    assert view["over_time"] and view["every"] == "1min"
    windowed = await _get(jp_fetch, "models", "churn", "rendezvous", since="1min", every="none")
    assert [r["requests"] for r in windowed["versions"]] == [RECENT, RECENT] and windowed["over_time"] == []
    # Errors: one line of JSON with the way out, never a 500
    code, body = await _error(jp_fetch, "models", "nope", "rendezvous")
    assert code == 404 and body["error"]["code"] == "not_found" and "nope" in body["error"]["message"]
    code, body = await _error(jp_fetch, "models", "churn", "rendezvous", every="often")
    assert code == 400 and body["error"]["code"] == "bad_request" and "every must be" in body["error"]["message"]
    code, body = await _error(jp_fetch, "models", "churn", "rendezvous", since="yesterday-ish")
    assert code == 400 and "since must be" in body["error"]["message"]
    code, body = await _error(jp_fetch, "models", "bad name!", "rendezvous")
    assert code == 400 and "bad model name" in body["error"]["message"]


@pytest.mark.slow
async def test_rest_serving_refuses_requests_without_a_token(http_server_client: Any, jp_base_url: str,
                                                             served: dict[str, Any]) -> None:
    import tornado.httpclient

    for path in ("serving", "models/churn/rendezvous"):
        for headers in ({}, {"Authorization": "token wrong"}):
            with pytest.raises(tornado.httpclient.HTTPClientError) as caught:
                await http_server_client.fetch(f"{jp_base_url}mlnb/api/{path}", headers=headers,
                                               follow_redirects=False)
            assert caught.value.code in (401, 403), (path, headers)
            assert b"churn@champion" not in (caught.value.response.body or b"")
