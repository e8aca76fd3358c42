"""The faces of monitoring: the drift report widget and its static HTML, `mlnb monitor` (table, csv,
json, exit codes) and the REST routes. The pure parts run on a hand-made report dict (the shape of
`DriftReport.to_dict()`); the end-to-end parts register a model with data and monitor a shifted copy."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlnb.cli import cli
from mlnb.errors import InvalidValueError
from mlnb.model_monitoring import report_html as drift_html
from mlnb.widgets import drift_view
from tests.cliutil import assert_one_line_error

INF = math.inf


def column(name: str, kind: str, status: str, score: float, ref: dict[str, Any], cur: dict[str, Any],
           **more: Any) -> dict[str, Any]:
    entry = {"column": name, "kind": kind, "status": status, "statistic": "js", "score": score, "warn_at": 0.02,
             "drift_at": 0.05, "psi": score * 4, "js": score, "wasserstein": None, "ks": None, "ks_p": None,
             "ks_p_adjusted": None, "chi2": None, "missing_reference": 0.0, "missing_current": 0.0,
             "unseen_categories": [], "unseen_share": None, "reference_hist": ref, "current_hist": cur}
    entry.update(more)
    return entry


def hand_made_report() -> dict[str, Any]:
    return {
        "status": "drift", "rows_reference": 1000, "rows_current": 500,
        "schema": {"added": ["extra"], "removed": [], "retyped": []},
        "columns": [
            column("income", "numeric", "ok", 0.001, {"edges": [10.0, 20.0], "counts": [100, 800, 100]},
                   {"edges": [10.0, 20.0], "counts": [52, 398, 50]}, ks=0.02, ks_p_adjusted=0.9),
            column("age", "numeric", "drift", 0.31, {"edges": [-INF, 20.0, 40.0, INF], "counts": [300, 400, 300]},
                   {"edges": [-INF, 20.0, 40.0, INF], "counts": [50, 150, 300]}, ks=0.35, ks_p_adjusted=3e-30),
            column("plan", "categorical", "warn", 0.03, {"edges": ["basic", "pro"], "counts": [600, 400]},
                   {"edges": ["basic", "pro", "<b>gold</b>"], "counts": [280, 210, 10]},
                   unseen_categories=["<b>gold</b>"], unseen_share=0.02, chi2=12.0, psi=None),
        ],
        "method": "99th percentile of bootstrap resamples of the reference at n = 500", "thresholds": {}}


# --- the widget's pure parts ------------------------------------------------------------------

def test_table_sorts_by_severity_name_and_statistics_with_missing_values_last() -> None:
    report = hand_made_report()
    assert [r["column"] for r in drift_html.table_rows(report)] == ["age", "plan", "income"]
    assert [r["column"] for r in drift_html.table_rows(report, "status", descending=True)] == ["income", "plan", "age"]
    assert [r["column"] for r in drift_html.table_rows(report, "column")] == ["age", "income", "plan"]
    assert [r["column"] for r in drift_html.table_rows(report, "psi")] == ["income", "age", "plan"]  # plan: no psi
    assert [r["column"] for r in drift_html.table_rows(report, "psi", descending=True)] == ["age", "income", "plan"]
    assert drift_html.table_rows(report)[1]["unseen"] == "<b>gold</b>"
    with pytest.raises(InvalidValueError, match="sort_by must be one of"):
        drift_html.table_rows(report, "nope")


def test_histograms_label_open_tails_and_categories_and_compare_shares() -> None:
    age, plan, income = (drift_html.column_entry(hand_made_report(), c) for c in ("age", "plan", "income"))
    assert drift_html.bin_labels(age["reference_hist"]) == ["≤ 20", "(20, 40]", "> 40"]
    assert drift_html.bin_labels(income["reference_hist"]) == ["≤ 10", "(10, 20]", "> 20"]  # inner cuts only
    # the reference's min and max as outer edges still mean open tails
    assert drift_html.bin_labels({"edges": [1.5, 20, 40, 99.5], "counts": [1, 2, 3]}) == ["≤ 20", "(20, 40]", "> 40"]
    missing = {"column": "m", "kind": "categorical", "reference_hist": {"categories": ["a", "b"], "counts": [3, 1]},
               "current_hist": {"categories": ["a", "b"], "counts": [1, 1], "missing": 2}}
    assert drift_html.histogram_shares(missing) == (["a", "b", "(missing)"], [0.75, 0.25, 0.0], [0.25, 0.25, 0.5])
    assert drift_html.bin_labels({"edges": ["-inf", 0, "inf"], "counts": [1, 2]}) == ["≤ 0", "> 0"]  # JSON infinities
    labels, ref, cur = drift_html.histogram_shares(plan)
    assert labels == ["basic", "pro", "<b>gold</b>"] and ref == [0.6, 0.4, 0.0] and cur == [0.56, 0.42, 0.02]
    figure = drift_html.histogram_figure(age)
    assert [t["name"] for t in figure["data"]] == ["reference", "current"]
    assert figure["data"][1]["y"] == [0.1, 0.3, 0.6] and figure["layout"]["barmode"] == "overlay"
    assert "&lt;b&gt;" in json.dumps(drift_html.histogram_figure(plan)["data"][0]["x"])  # plotly reads some HTML
    with pytest.raises(InvalidValueError, match="no column 'zip'"):
        drift_html.column_entry(hand_made_report(), "zip")


def test_history_figure_follows_a_column_over_checks() -> None:
    history = [{"t": "2026-11-02 10:00:00", "status": "drift", "drifted": 1,
                "summary": json.dumps({"age": {"status": "drift", "score": 0.3}, "plan": {"status": "ok", "score": 0.01}})},
               {"t": "2026-11-01 10:00:00", "status": "ok", "drifted": 0,
                "summary": [{"column": "age", "status": "ok", "score": 0.01}]}]
    figure = drift_html.history_figure(history, "age")
    line, bars = figure["data"]
    assert line["name"] == "age" and line["y"] == [0.01, 0.3] and line["x"][0].startswith("2026-11-01")
    assert line["marker"]["color"] == [drift_html.STATUS_COLORS["ok"], drift_html.STATUS_COLORS["drift"]]
    assert bars["y"] == [0, 1] and "2 checks" in figure["layout"]["title"]["text"]
    assert [t["name"] for t in drift_html.history_figure(history)["data"]] == ["age", "plan", "drifted columns"]


def test_report_state_takes_reports_results_and_check_details() -> None:
    report = hand_made_report()

    class Report:
        def to_dict(self) -> dict[str, Any]:
            return report

    class Result:  # a MonitorResult-like object: reports as attributes
        drift, validation = Report(), {"passed": False, "failures": []}

    assert drift_view.report_state(Report())["drift"] is report
    state = drift_view.report_state(Result())
    assert state["drift"] is report and drift_html.overall_status(state) == "drift"
    detail = drift_view.report_state({"id": "abc", "model": "churn", "version": 2, "report": report,
                                      "validation": {"passed": True, "failures": []}})
    assert detail["check"] == {"id": "abc", "model": "churn", "version": 2}
    calm = drift_view.report_state({**report, "status": "warn"})
    assert drift_html.overall_status(calm) == "warn"
    with pytest.raises(InvalidValueError, match="drift_report takes a DriftReport"):
        drift_view.report_state(42)


def test_static_html_escapes_and_shows_table_schema_validation_and_histograms() -> None:
    state = drift_view.report_state({"drift": hand_made_report(), "model": "churn", "version": 3, "validation": {
        "passed": False, "failures": [{"expectation": "in_range", "column": "age", "count": 7,
                                        "examples": [130, 150], "detail": "<i>above</i> the training range"}]}})
    page = drift_html.render_html(state)
    assert "<b>gold</b>" not in page and "&lt;b&gt;gold&lt;/b&gt;" in page
    assert "<i>above" not in page and "in_range" in page and "130, 150" in page
    assert "added: extra" in page and "churn/3</code>" in page and "1 drifted, 1 warning, 3 columns" in page
    assert page.index("data-column='age'") < page.index("data-column='plan'") < page.index("data-column='income'")
    assert page.count("<figure class='mlnb-drift-hist'") == 3 and "<script" not in page
    assert drift_view.StaticDriftReport(state)._repr_html_() == page


def test_widget_sorts_and_draws_the_chosen_column(monkeypatch: pytest.MonkeyPatch) -> None:
    widget = drift_view.DriftWidget(drift_view.report_state(hand_made_report()))
    assert widget.column.options == ("age", "plan", "income") and widget.column.value == "age"
    assert widget.figures["histogram"]["data"][0]["x"] == ["≤ 20", "(20, 40]", "> 40"]
    assert "history" not in widget.figures and widget.history_box not in widget.view.children
    widget.sort.value = "column"
    assert widget.table.value.index("data-column='age'") < widget.table.value.index("data-column='income'") \
        < widget.table.value.index("data-column='plan'")
    widget.column.value = "plan"
    assert widget.figures["histogram"]["data"][1]["y"] == [0.56, 0.42, 0.02]
    output = widget.histogram.outputs[0]["data"][drift_view.PLOTLY_MIME]
    assert output == widget.figures["histogram"]
    bundle = widget._repr_mimebundle_()
    assert "mlnb-drift-table" in bundle["text/html"]


def test_drift_report_falls_back_to_static_html_without_ipywidgets(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    with pytest.warns(UserWarning, match="needs ipywidgets"):
        shown = drift_view.drift_report(hand_made_report())
    assert isinstance(shown, drift_view.StaticDriftReport) and "mlnb-drift-table" in shown._repr_html_()


def test_drift_report_is_a_lazy_public_name() -> None:
    import subprocess
    import sys

    code = "import sys, mlnb; f = mlnb.drift_report; print(f.__module__, 'pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["mlnb.widgets.drift_view", "False"], done.stderr


# --- the CLI's printing, on the hand-made report ----------------------------------------------

def test_restricting_to_columns_recomputes_the_verdict() -> None:
    from mlnb.cli.monitoring import restrict, verdict

    state = drift_view.report_state({"drift": hand_made_report(), "validation": {"passed": False, "failures": [
        {"expectation": "in_range", "column": "age", "count": 3, "examples": [], "detail": ""}]}})
    assert verdict(state).startswith("drift: 1 of 3 columns drifted (age), 1 warning; added: extra; "
                                      "validation failed (1 expectation)")
    calm = restrict(state, ["income", "plan"])
    assert drift_html.overall_status(calm) == "warn" and calm["validation"]["passed"]
    assert [c["column"] for c in calm["drift"]["columns"]] == ["income", "plan"]
    assert drift_html.overall_status(restrict(state, ["extra"])) == "warn"  # an added column warns
    assert drift_html.overall_status(restrict(state, ["age"])) == "drift"
    with pytest.raises(Exception, match="no column zip in the check"):
        restrict(state, ["zip"])


@pytest.mark.parametrize("name, fragment", [("batch.txt", "must be a .parquet or .csv file"),
                                            ("missing.csv", "no file"), ("broken.parquet", "cannot read")])
def test_monitor_refuses_bad_data_files_with_exit_code_2(tmp_path: Path, name: str, fragment: str) -> None:
    (tmp_path / "batch.txt").write_text("a,b\n1,2\n")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    result = CliRunner().invoke(cli, ["--store", str(tmp_path), "monitor", "churn/1", str(tmp_path / name)])
    assert_one_line_error(result, fragment, exit_code=2)


def test_monitor_usage_errors_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["monitor", "churn/1"])
    assert result.exit_code == 2 and "Missing argument 'DATA'" in result.output
    result = CliRunner().invoke(cli, ["monitor", "churn/1", "x.csv", "--format", "xml"])
    assert result.exit_code == 2 and "xml" in result.output


# --- end to end: a registered model with data, a shifted copy, every face -----------------------

def calm_batch() -> Any:
    """Rows drawn from the training data itself: nothing moved, every value within the training range."""
    return frame(0).sample(n=1000, random_state=1).reset_index(drop=True)


def moved_batch() -> Any:
    """Rows of the training data, with age shifted by one standard deviation and a new plan "gold"."""
    batch = frame(0).sample(n=1500, random_state=2).reset_index(drop=True)
    batch["age"] += 10.0
    batch.loc[:299, "plan"] = "gold"
    return batch


def frame(seed: int, n: int = 3000, shift: float = 0.0, new_plan: bool = False) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    plans = rng.choice(["basic", "pro", "team"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    if new_plan:
        plans[: n // 5] = "gold"
    return pd.DataFrame({"age": rng.normal(40 + shift, 10, n), "income": rng.lognormal(10, 0.5, n),
                         "plan": plans})


@pytest.fixture
def churn(project: Any) -> Any:
    """Model churn: v1 registered with its training data (a reference profile), v2 without data."""
    import mlnb

    with mlnb.start_run(experiment="train"):
        mlnb.register_model({"weights": [1, 2]}, "churn", data=frame(0))
        mlnb.register_model({"weights": [3, 4]}, "churn")
    return project


def monitor_cli(project: Any, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--store", str(project.store.root), "monitor", *args])


def test_cli_gates_on_drift_with_table_json_and_csv(churn: Any, tmp_path: Path) -> None:
    import mlnb

    # Given a batch like the training data and a shifted one with a new category, as files
    calm_batch().to_parquet(tmp_path / "calm.parquet")
    moved_batch().to_csv(tmp_path / "moved.csv", index=False)
    # When the calm batch is checked, then it passes: exit 0, a table of the three columns
    calm = monitor_cli(churn, "churn/1", str(tmp_path / "calm.parquet"))
    assert calm.exit_code == 0, calm.output
    assert calm.stdout.splitlines()[0].split()[:3] == ["column", "kind", "status"]
    assert {line.split()[0] for line in calm.stdout.splitlines()[2:5]} == {"age", "income", "plan"}
    assert "0 of 3 columns drifted" in calm.stdout and "validation passed" in calm.stdout
    # When the moved batch is checked, then it fails the gate (exit 1) naming the drifted columns
    moved = monitor_cli(churn, "churn/1", str(tmp_path / "moved.csv"), "--name", "nightly")
    assert moved.exit_code == 1, moved.output
    verdict = moved.stdout.strip().splitlines()[-1]  # last, where a CI log ends
    assert verdict.startswith("drift: 2 of 3 columns drifted") and "age" in verdict and "plan" in verdict, verdict
    assert "validation failed" in verdict and "validation: known_categories plan: 300 row(s) e.g. gold" in moved.stdout
    assert "Traceback" not in moved.output and "error:" not in moved.output
    # And --format json carries the whole check, --format csv one row per column
    as_json = json.loads(monitor_cli(churn, "churn/1", str(tmp_path / "moved.csv"), "--format", "json").stdout)
    assert as_json["status"] == "drift" and as_json["model"] == "churn" and as_json["version"] == 1
    assert {c["column"]: c["status"] for c in as_json["drift"]["columns"]}["age"] == "drift"
    assert as_json["validation"]["passed"] is False  # "gold" was never seen in training
    as_csv = monitor_cli(churn, "churn/1", str(tmp_path / "moved.csv"), "--format", "csv")
    assert as_csv.exit_code == 1 and as_csv.stdout.splitlines()[0].startswith("column,kind,status,")
    assert len(as_csv.stdout.strip().splitlines()) == 4
    # And --columns narrows the verdict: income alone did not move
    only_income = monitor_cli(churn, "churn/1", str(tmp_path / "moved.csv"), "--columns", "income")
    assert only_income.exit_code == 0, only_income.output
    # Every check was stored: the history holds them all, the named one included
    history = mlnb.monitoring("churn")
    assert len(history) == 5 and "nightly" in set(history["name"].dropna())


def test_cli_bad_model_or_missing_reference_is_one_line_exit_2(churn: Any, tmp_path: Path) -> None:
    frame(1).to_csv(tmp_path / "batch.csv", index=False)
    assert_one_line_error(monitor_cli(churn, "nope/1", str(tmp_path / "batch.csv")), "nope", exit_code=2)
    assert_one_line_error(monitor_cli(churn, "churn/2", str(tmp_path / "batch.csv")), "mlnb.profile", exit_code=2)
    assert_one_line_error(monitor_cli(churn, "churn/1", str(tmp_path / "batch.csv"), "--columns", "zip"),
                          "no column zip in batch.csv", exit_code=2)


def test_widget_of_a_monitor_result_with_history_and_by_check_id(churn: Any) -> None:
    import mlnb

    first = mlnb.monitor("churn/1", calm_batch())
    second = mlnb.monitor("churn/1", moved_batch())
    widget = mlnb.drift_report(second, model="churn")
    assert widget.column.value in ("age", "plan") and widget.column.options[0] in ("age", "plan")
    history = widget.figures["history"]
    age = next(t for t in history["data"] if t["name"] == widget.column.value)
    assert len(age["x"]) == 2 and age["y"][1] > age["y"][0]  # the score rose with the shift
    assert history["data"][-1]["y"][0] == 0 and history["data"][-1]["y"][1] >= 1  # drifted columns per check
    widget.column.value = "plan"  # the stored report's bins read as categories, the shares sum to one
    labels, ref, cur = (widget.figures["histogram"]["data"][i][k] for i, k in ((0, "x"), (0, "y"), (1, "y")))
    assert "basic" in labels and abs(sum(ref) - 1) < 1e-9 and abs(sum(cur) - 1) < 1e-9
    widget.column.value = "age"
    assert widget.figures["histogram"]["data"][0]["x"][0].startswith("≤ ")
    page = widget._repr_mimebundle_()["text/html"]
    assert "churn/1</code>" in page and "data-status='drift'" in page and "gold" in page
    # By check id (a prefix is enough), the same report comes back from the store
    again = drift_view.report_state(second.check_id[:10])
    assert again["drift"]["columns"] == json.loads(json.dumps(second.to_dict()["drift"]["columns"]))
    assert drift_html.overall_status(drift_view.report_state(first)) in ("ok", "warn")
    with pytest.raises(Exception, match="no monitoring check"):
        mlnb.drift_report("0" * 32)


# --- the REST routes --------------------------------------------------------------------------

@pytest.fixture
def jp_server_config() -> dict:
    return {"ServerApp": {"jpserver_extensions": {"mlnb.server": True}, "allow_unauthenticated_access": False}}


@pytest.fixture
def served_checks(jp_root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import mlnb
    from tests.projectutil import connected_project

    monkeypatch.delenv("MLNB_HOME", raising=False)
    with connected_project(jp_root_dir / ".mlnb") as project:
        with mlnb.start_run(experiment="train"):
            mlnb.register_model({"weights": [1, 2]}, "churn", data=frame(0))
            mlnb.register_model({"weights": [3, 4]}, "churn", data=frame(0))
        calm = mlnb.monitor("churn/1", calm_batch())
        moved = mlnb.monitor("churn/2", moved_batch(), name="nightly")
        yield {"project": project, "calm": calm, "moved": moved}


async def _get(jp_fetch: Any, *parts: str) -> Any:
    response = await jp_fetch("mlnb", "api", *parts)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def _error(jp_fetch: Any, *parts: str) -> tuple[int, dict[str, Any]]:
    import tornado.httpclient

    with pytest.raises(tornado.httpclient.HTTPClientError) as caught:
        await jp_fetch("mlnb", "api", *parts)
    return caught.value.code, json.loads(caught.value.response.body)


@pytest.mark.slow
async def test_rest_overview_history_and_check_detail(jp_fetch: Any, served_checks: dict[str, Any]) -> None:
    overview = await _get(jp_fetch, "monitoring")
    latest = {(o["model"], o["version"]): o for o in overview}
    assert set(latest) == {("churn", 1), ("churn", 2)}
    assert latest[("churn", 2)]["status"] == "drift" and latest[("churn", 1)]["status"] in ("ok", "warn")
    assert latest[("churn", 2)]["check"] == served_checks["moved"].check_id
    history = await _get(jp_fetch, "models", "churn", "monitoring")
    assert [c["version"] for c in history["checks"]] == [1, 2] and history["checks"][1]["name"] == "nightly"
    assert history["latest"]["2"] == "drift" and "age" in history["checks"][1]["summary"]
    detail = await _get(jp_fetch, "monitoring", served_checks["moved"].check_id)
    assert detail["model"] == "churn" and detail["drift"]["status"] == "drift"
    assert {c["column"] for c in detail["drift"]["columns"]} == {"age", "income", "plan"}
    assert drift_html.overall_status(drift_view.report_state(detail)) == "drift"  # the widget reads it as it is
    assert (await _error(jp_fetch, "monitoring", "f" * 32))[0] == 404
    code, body = await _error(jp_fetch, "monitoring", "not-a-check")
    assert code == 400 and body["error"]["code"] == "bad_request" and "hex" in body["error"]["message"]
    code, body = await _error(jp_fetch, "models", "nope", "monitoring")
    assert code == 404 and body["error"]["code"] == "not_found"


def test_reports_show_as_static_html_in_a_notebook(churn: Any) -> None:
    import mlnb

    result = mlnb.monitor("churn/1", moved_batch())
    page = result._repr_html_()
    assert "mlnb-drift-table" in page and "churn/1</code>" in page and "Validation: failed" in page
    assert result.drift._repr_html_().count("<tr data-column=") == 3


def test_a_report_without_columns_still_renders() -> None:
    empty = {"status": "drift", "rows_reference": 10, "rows_current": 0, "columns": [],
             "schema": {"added": [], "removed": ["age"], "retyped": []}, "method": "", "thresholds": {}}
    state = drift_view.report_state(empty)
    assert "removed: age" in drift_html.render_html(state) and "0 columns" in drift_html.render_html(state)
    widget = drift_view.DriftWidget(state, history=[])
    assert widget.column.value is None and "histogram" not in widget.figures
    from mlnb.cli.monitoring import verdict

    assert verdict(state) == "drift: 0 of 0 columns drifted, 0 warnings; removed: age"
