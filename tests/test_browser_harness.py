"""The browser harness itself: a notebook with an ipywidgets box and a plotly FigureWidget renders
in a real JupyterLab in headless Chromium. Screenshots go to test-output/browser/ (git-ignored)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.browser.jupyterlab import describe_failure, jupyterlab_server, require_browser, run_in_browser
from tests.nbutil import make_notebook

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "browser"

WIDGET_CELL = """\
import ipywidgets as widgets
widgets.VBox([widgets.HTML('<table class="probe-table"><tr><td>ok</td></tr></table>')])
"""

PLOTLY_CELL = """\
import plotly.graph_objects as go
fig = go.FigureWidget(data=[go.Scatter(x=[1, 2, 3], y=[3, 1, 2], mode="lines+markers", name="probe")])
fig
"""


@pytest.mark.slow
def test_widgets_render_in_jupyterlab(tmp_path: Path) -> None:
    require_browser()
    root = tmp_path / "lab"
    root.mkdir()
    make_notebook([WIDGET_CELL, PLOTLY_CELL], root / "probe.ipynb")
    screenshot = SCREENSHOTS / "harness-probe.png"
    screenshot.unlink(missing_ok=True)

    with jupyterlab_server(root, home=tmp_path / "jupyter") as server:
        assert server.api("api/kernelspecs")["default"] == "python3"
        # Keep the kernel alive after the run to see which python it is (server exit stops it).
        result = run_in_browser(server, "probe.ipynb", [".probe-table", ".js-plotly-plot"], screenshot,
                                shutdownKernel=False)
        kernels = server.kernel_processes()

    assert result["ok"], describe_failure(result)
    found = {entry["selector"]: entry for entry in result["selectors"]}
    assert found[".probe-table"]["found"] and found[".probe-table"]["count"] == 1
    assert found[".js-plotly-plot"]["found"] and found[".js-plotly-plot"]["count"] >= 1
    assert result["cellErrors"] == []
    assert [cell["executionCount"] for cell in result["cells"]] == [1, 2]
    # The notebook ran in the python3 kernelspec of this very environment.
    assert result["kernel"]["name"] == "python3"
    assert any(proc["cmdline"][0] == sys.executable for proc in kernels), kernels
    assert Path(result["screenshot"]) == screenshot.resolve()
    assert screenshot.stat().st_size > 10_000
