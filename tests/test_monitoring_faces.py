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
    assert [r["column"] for r in drift_view.table_rows(report)] == ["age", "plan", "income"]
    assert [r["column"] for r in drift_view.table_rows(report, "status", descending=True)] == ["income", "plan", "age"]
    assert [r["column"] for r in drift_view.table_rows(report, "column")] == ["age", "income", "plan"]
    assert [r["column"] for r in drift_view.table_rows(report, "psi")] == ["income", "age", "plan"]  # plan: no psi
    assert [r["column"] for r in drift_view.table_rows(report, "psi", descending=True)] == ["age", "income", "plan"]
    assert drift_view.table_rows(report)[1]["unseen"] == "<b>gold</b>"
    with pytest.raises(InvalidValueError, match="sort_by must be one of"):
        drift_view.table_rows(report, "nope")


def test_histograms_label_open_tails_and_categories_and_compare_shares() -> None:
    age, plan, income = (drift_view.column_entry(hand_made_report(), c) for c in ("age", "plan", "income"))
    assert drift_view.bin_labels(age["reference_hist"]) == ["≤ 20", "(20, 40]", "> 40"]
    assert drift_view.bin_labels(income["reference_hist"]) == ["≤ 10", "(10, 20]", "> 20"]  # inner cuts only
    assert drift_view.bin_labels({"edges": ["-inf", 0, "inf"], "counts": [1, 2]}) == ["≤ 0", "> 0"]  # JSON infinities
    labels, ref, cur = drift_view.histogram_shares(plan)
    assert labels == ["basic", "pro", "<b>gold</b>"] and ref == [0.6, 0.4, 0.0] and cur == [0.56, 0.42, 0.02]
    figure = drift_view.histogram_figure(age)
    assert [t["name"] for t in figure["data"]] == ["reference", "current"]
    assert figure["data"][1]["y"] == [0.1, 0.3, 0.6] and figure["layout"]["barmode"] == "overlay"
    assert "&lt;b&gt;" in json.dumps(drift_view.histogram_figure(plan)["data"][0]["x"])  # plotly reads some HTML
    with pytest.raises(InvalidValueError, match="no column 'zip'"):
        drift_view.column_entry(hand_made_report(), "zip")


def test_history_figure_follows_a_column_over_checks() -> None:
    history = [{"t": "2026-11-02 10:00:00", "status": "drift", "drifted": 1,
                "summary": json.dumps({"age": {"status": "drift", "score": 0.3}, "plan": {"status": "ok", "score": 0.01}})},
               {"t": "2026-11-01 10:00:00", "status": "ok", "drifted": 0,
                "summary": [{"column": "age", "status": "ok", "score": 0.01}]}]
    figure = drift_view.history_figure(history, "age")
    line, bars = figure["data"]
    assert line["name"] == "age" and line["y"] == [0.01, 0.3] and line["x"][0].startswith("2026-11-01")
    assert line["marker"]["color"] == [drift_view.STATUS_COLORS["ok"], drift_view.STATUS_COLORS["drift"]]
    assert bars["y"] == [0, 1] and "2 checks" in figure["layout"]["title"]["text"]
    assert [t["name"] for t in drift_view.history_figure(history)["data"]] == ["age", "plan", "drifted columns"]


def test_report_state_takes_reports_results_and_check_details() -> None:
    report = hand_made_report()

    class Report:
        def to_dict(self) -> dict[str, Any]:
            return report

    class Result:  # a MonitorResult-like object: reports as attributes
        drift, validation = Report(), {"passed": False, "failures": []}

    assert drift_view.report_state(Report())["drift"] is report
    state = drift_view.report_state(Result())
    assert state["drift"] is report and drift_view.overall_status(state) == "drift"
    detail = drift_view.report_state({"id": "abc", "model": "churn", "version": 2, "report": report,
                                      "validation": {"passed": True, "failures": []}})
    assert detail["check"] == {"id": "abc", "model": "churn", "version": 2}
    calm = drift_view.report_state({**report, "status": "warn"})
    assert drift_view.overall_status(calm) == "warn"
    with pytest.raises(InvalidValueError, match="drift_report takes a DriftReport"):
        drift_view.report_state(42)


def test_static_html_escapes_and_shows_table_schema_validation_and_histograms() -> None:
    state = drift_view.report_state({"drift": hand_made_report(), "model": "churn", "version": 3, "validation": {
        "passed": False, "failures": [{"expectation": "in_range", "column": "age", "count": 7,
                                        "examples": [130, 150], "detail": "<i>above</i> the training range"}]}})
    page = drift_view.render_html(state)
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
    assert drift_view.overall_status(calm) == "warn" and calm["validation"]["passed"]
    assert [c["column"] for c in calm["drift"]["columns"]] == ["income", "plan"]
    assert drift_view.overall_status(restrict(state, ["extra"])) == "warn"  # an added column warns
    assert drift_view.overall_status(restrict(state, ["age"])) == "drift"
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
