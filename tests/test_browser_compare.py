"""mlnb.compare rendered by JupyterLab in headless Chromium: the table and the plots appear, and
clicks in the browser reach the Python side (select, sort, page). Screenshot: test-output/browser/."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.jupyterlab import describe_failure, jupyterlab_server, require_browser, run_in_browser
from tests.nbutil import make_notebook

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "browser"

LOG_RUNS = """\
import mlnb
mlnb.connect(".mlnb")
for i in range(30):
    with mlnb.start_run(experiment="browser", name=f"run-{i}") as run:
        run.log_params({"lr": round(0.01 * (i + 1), 3), "optimizer": ["adam", "sgd"][i % 2]})
        for step in range(8):
            run.log_metrics({"loss": 1 / (step + 1 + i), "accuracy": i / 40 + step / 100}, step=step)
"""
SHOW = "w = mlnb.compare(experiment='browser')\nw"


def test_compare_widget_renders_and_answers_clicks(tmp_path: Path) -> None:
    require_browser()
    root = tmp_path / "lab"
    root.mkdir()
    make_notebook([LOG_RUNS, SHOW], root / "compare.ipynb")
    screenshot = SCREENSHOTS / "compare-widget.png"
    screenshot.unlink(missing_ok=True)
    first_box = ".mlnb-run-table tbody tr:nth-child(1) input[type=checkbox]"
    actions = [
        {"action": "expectText", "selector": ".mlnb-run-table .mlnb-pager", "text": "page 1 of 2 · 30 runs"},
        {"action": "click", "selector": first_box},
        {"action": "expectText", "selector": ".mlnb-run-table .mlnb-pager", "text": "1 selected"},
        {"action": "kernel", "code": "print(len(w.table.selected), sorted({t['meta'] for t in w.figures['curves']['data']}))",
         "contains": "1 ['accuracy', 'loss']"},
        {"action": "click", "selector": ".mlnb-run-table th[data-column='params.lr']"},
        {"action": "click", "selector": ".mlnb-run-table th[data-column='params.lr']"},
        {"action": "kernel", "code": "print(w.table.sort_by, w.table.descending, w.table.rows[0][w.table.columns.index('params.lr')])",
         "contains": "params.lr True 0.3"},
        {"action": "click", "selector": ".mlnb-run-table .mlnb-pager button:nth-of-type(3)"},
        {"action": "expectText", "selector": ".mlnb-run-table .mlnb-pager", "text": "page 2 of 2"},
        {"action": "kernel", "code": "print(w.table.page, len(w.table.rows))", "contains": "1 5"},
    ]
    with jupyterlab_server(root, home=tmp_path / "jupyter") as server:
        result = run_in_browser(server, "compare.ipynb",
                                [".mlnb-run-table table", {"selector": ".js-plotly-plot", "minCount": 3}],
                                screenshot, actions=actions, viewport={"width": 1400, "height": 1200})
    assert result["ok"], describe_failure(result)
    plots = next(s for s in result["selectors"] if s["selector"] == ".js-plotly-plot")
    assert plots["count"] >= 3  # parallel coordinates, metric curves, scatter
    assert result["cellErrors"] == []
    assert screenshot.stat().st_size > 30_000
