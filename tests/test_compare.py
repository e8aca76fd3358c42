"""mlnb.compare against a real store: table pages, sorting, filtering, selection driving the charts."""
from __future__ import annotations

import json

import pytest

import mlnb
from mlnb.errors import MlnbError
from mlnb.store.store import Store
from mlnb.widgets.compare_view import CompareWidget


def _log_runs(count: int, experiment: str = "sweep", steps: int = 5) -> list[str]:
    ids = []
    for i in range(count):
        with mlnb.start_run(experiment=experiment, name=f"run-{i}") as run:
            run.log_params({"lr": round(0.01 * (i + 1), 4), "optimizer": ["adam", "sgd"][i % 2], "layers": i % 3})
            for step in range(steps):
                run.log_metrics({"loss": 1.0 / (step + 1 + i), "accuracy": i / 100 + step / 1000}, step=step)
            ids.append(run.id)
    return ids


@pytest.fixture
def widget(store: Store) -> CompareWidget:
    _log_runs(30)
    _log_runs(3, experiment="other")
    return mlnb.compare(experiment="sweep")


def column(widget: CompareWidget, name: str) -> list:
    index = widget.table.columns.index(name)
    return [row[index] for row in widget.table.rows]


def test_table_pages_through_every_run_of_the_experiment(widget: CompareWidget) -> None:
    assert widget.table.total == 30 and widget.table.pages == 2
    assert {"params.lr", "params.optimizer", "metrics.accuracy", "metrics.loss", "status"} <= set(widget.table.columns)
    first = list(widget.table.run_ids)
    widget.table.page = 1
    assert len(widget.table.rows) == 5
    assert not set(first) & set(widget.table.run_ids)
    assert set(first) | set(widget.table.run_ids) == set(mlnb.runs(experiment="sweep")["run_id"])
    assert set(column(widget, "status")) == {"finished"}


def test_sorting_by_a_metric_column_orders_all_runs(widget: CompareWidget) -> None:
    widget.table.sort_by, widget.table.descending = "metrics.accuracy", True
    values = column(widget, "metrics.accuracy")
    assert values == sorted(values, reverse=True)
    best = mlnb.runs(experiment="sweep", order_by="metrics.accuracy DESC", limit=1)["run_id"][0]
    assert widget.table.run_ids[0] == best
    widget.table.descending = False
    assert column(widget, "metrics.accuracy")[0] == min(mlnb.runs(experiment="sweep")["metrics.accuracy"])


def test_filter_box_uses_the_store_filter_language(widget: CompareWidget) -> None:
    widget.filter.value = "params.lr > 0.2 and params.optimizer = 'adam'"
    widget.apply_filter()
    expected = mlnb.runs(experiment="sweep", filter="params.lr > 0.2 and params.optimizer = 'adam'")
    assert widget.table.total == len(expected) > 0
    assert set(widget.table.run_ids) == set(expected["run_id"])
    assert len(widget.figures["parcoords"]["data"][0]["dimensions"][0]["values"]) == len(expected)


def test_a_bad_filter_is_one_line_in_the_widget_and_keeps_the_runs(widget: CompareWidget) -> None:
    widget.filter.value = "params.lr >"
    widget.apply_filter()
    assert "bad filter" in widget.message.value and "\n" not in widget.message.value
    assert widget.table.total == 30


def test_selecting_runs_drives_curves_scatter_and_parcoords(widget: CompareWidget) -> None:
    chosen = list(widget.table.run_ids[:3])
    widget.table.selected = chosen
    curves = widget.figures["curves"]["data"]
    panels = {trace["meta"] for trace in curves}
    assert panels == {"accuracy", "loss"}  # one panel per metric
    assert sorted({trace["legendgroup"] for trace in curves}) == sorted(chosen)  # runs as lines
    loss = next(t for t in curves if t["meta"] == "loss" and t["legendgroup"] == chosen[0])
    history = mlnb.metric_history(chosen[0], "loss")
    assert loss["x"] == history["step"].tolist() and loss["y"] == pytest.approx(history["value"].tolist())
    selected_trace = next(t for t in widget.figures["scatter"]["data"] if t["name"] == "selected")
    assert len(selected_trace["x"]) == 3
    shown = widget.scatter_box.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert shown == widget.figures["scatter"]  # what the frontend receives
    assert len(widget.figures["parcoords"]["data"][0]["dimensions"][0]["values"]) == 3
    widget.table.selected = []
    assert len(widget.figures["parcoords"]["data"][0]["dimensions"][0]["values"]) == 30


def test_parcoords_colour_follows_the_chosen_metric(widget: CompareWidget) -> None:
    trace = widget.figures["parcoords"]["data"][0]
    labels = [d["label"] for d in trace["dimensions"]]
    assert labels[:3] == ["layers", "lr", "optimizer"] and labels[-1] == "accuracy"
    optimizer = trace["dimensions"][2]
    assert optimizer["ticktext"] == ["adam", "sgd"]
    assert set(optimizer["values"]) == {0, 1}
    widget.metric.value = "metrics.loss"
    trace = widget.figures["parcoords"]["data"][0]
    assert trace["dimensions"][-1]["label"] == "loss"
    frame = widget.data.shown_runs()
    assert trace["line"]["color"] == pytest.approx(frame["metrics.loss"].tolist())


def test_scatter_axes_can_be_any_param_or_metric(widget: CompareWidget) -> None:
    widget.scatter_x.value, widget.scatter_y.value = "params.lr", "metrics.loss"
    trace = widget.figures["scatter"]["data"][0]
    frame = mlnb.runs(experiment="sweep")
    assert sorted(trace["x"]) == pytest.approx(sorted(frame["params.lr"].tolist()))
    assert widget.figures["scatter"]["layout"]["title"]["text"] == "loss vs lr"


def test_refresh_picks_up_new_and_running_runs(widget: CompareWidget) -> None:
    run = mlnb.start_run(experiment="sweep", name="late")
    run.log_param("lr", 0.5)
    widget.refresh()
    assert widget.table.total == 31
    row = widget.table.rows[widget.table.run_ids.index(run.id)]
    assert row[widget.table.columns.index("status")] == "running"
    run.end()
    widget.refresh()
    assert widget.table.rows[widget.table.run_ids.index(run.id)][widget.table.columns.index("status")] == "finished"


def test_explicit_runs_metrics_and_params(store: Store) -> None:
    ids = _log_runs(6)
    widget = mlnb.compare(runs=ids[:2], metrics=["loss"], params=["lr"])
    assert widget.table.total == 2 and set(widget.table.run_ids) == set(ids[:2])
    assert [c for c in widget.table.columns if "." in c] == ["params.lr", "metrics.loss"]
    with pytest.raises(MlnbError, match="no metric 'nope'"):
        mlnb.compare(metrics=["nope"])
    with pytest.raises(MlnbError, match="lists of names"):
        mlnb.compare(metrics="loss")


def test_static_fallback_has_the_table_and_every_chart(widget: CompareWidget) -> None:
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert page.count("<tr>") == 31  # header + 30 runs
    assert "run-29" in page and "params.lr" not in page and ">lr<" in page
    assert page.count('class="plotly-graph-div"') == 3  # parcoords, curves, scatter
    assert page.count("cdn.plot.ly") == 1  # plotly.js referenced once, never embedded
    assert len(page) < 200_000


def test_an_empty_store_says_how_to_log_runs(store: Store) -> None:
    widget = mlnb.compare()
    assert widget.table.total == 0 and "No runs match" in widget.message.value


def test_auto_refresh_follows_running_runs_then_stops(widget: CompareWidget, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from mlnb.widgets import compare_view

    monkeypatch.setattr(compare_view, "AUTO_REFRESH_SECONDS", 0.05)
    running = mlnb.start_run(experiment="sweep", name="live")

    async def scenario() -> None:
        widget.auto_refresh.value = True
        await asyncio.sleep(0.3)
        assert widget.table.total == 31  # the running run appeared without a click
        mlnb.start_run(experiment="sweep", name="later").end()
        running.end()
        await asyncio.sleep(0.3)

    asyncio.run(scenario())
    assert widget.table.total == 32
    assert widget.auto_refresh.value is False and "no run is running" in widget.message.value


def test_auto_refresh_without_an_event_loop_says_so(widget: CompareWidget) -> None:
    widget.auto_refresh.value = True
    assert widget.auto_refresh.value is False and "needs a running kernel" in widget.message.value


def test_filtering_down_to_runs_without_the_chosen_columns_keeps_working(store: Store) -> None:
    _log_runs(4)
    for i in range(3):
        with mlnb.start_run(experiment="sweep", name=f"plain-{i}") as run:
            run.log_params({"depth": i})
            run.log_metric("f1", i / 10)
    widget = mlnb.compare(experiment="sweep")
    widget.scatter_x.value, widget.scatter_y.value = "params.lr", "metrics.loss"
    widget.filter.value = "name LIKE 'plain-%'"
    assert widget.message.value == "" and widget.table.total == 3
    assert widget.data.metric == "metrics.f1" and widget.metric.options == (("f1", "metrics.f1"),)
    assert widget.figures["scatter"]["layout"]["title"]["text"] == "f1 vs depth"
    assert widget.figures["parcoords"]["data"][0]["dimensions"][-1]["label"] == "f1"


def test_user_text_is_escaped_in_tables_and_charts(store: Store) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    for i in range(2):
        with mlnb.start_run(experiment="xss", name=hostile) as run:
            run.log_params({"opt": hostile, "lr": i})
            run.log_metric(hostile, 0.5 + i, step=0)
    widget = mlnb.compare(experiment="xss")
    assert hostile not in widget.data.render_html()
    shown = {name: {**figure, "data": [{k: v for k, v in trace.items() if k != "meta"} for trace in figure["data"]]}
             for name, figure in widget.figures.items()}  # `meta` is data plotly never renders
    figures = json.dumps(shown)
    assert hostile not in figures and "&lt;img src=x" in figures
    view = mlnb.lineage(widget.table.run_ids[0])
    labels = [info["label"] + " " + str(info["detail"]) for info in view.graph.nodes.values()]
    assert any(hostile in label for label in labels)  # the graph carries the hostile text ...
    bundle = view._repr_mimebundle_()
    drawn = json.dumps(bundle["application/vnd.plotly.v1+json"]["data"])
    assert hostile not in drawn and "&lt;img src=x" in drawn  # ... and the figure shows it escaped
    assert hostile not in bundle["text/html"] and "&lt;img src=x" in bundle["text/html"]
