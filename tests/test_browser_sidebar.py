"""The mlnb sidebar in a real JupyterLab (headless Chromium) over a store filled by an example
notebook: models and runs are listed, a run started in a notebook shows up by itself, an alias
moved from the UI lands in the store, and a run opens in the main area. Screenshot:
test-output/browser/sidebar-run-view.png (the README shows it) and sidebar.png (the opened
notebook snapshot at the end)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mlnb
from mlnb.project import forget_current
from tests.browser.jupyterlab import describe_failure, jupyterlab_server, require_browser, run_in_browser
from tests.nbutil import make_notebook
from tests.projectutil import connected_project

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-output" / "browser"
PANEL = "#mlnb-panel"


def test_sidebar_lists_runs_and_models_and_moves_an_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exercise_sidebar(tmp_path, monkeypatch, sys.executable, SCREENSHOTS / "sidebar.png")


def exercise_sidebar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, python: str, screenshot: Path) -> None:
    """The whole sidebar story against the JupyterLab of `python`'s environment."""
    require_browser()
    root = tmp_path / "lab"
    root.mkdir(parents=True)
    monkeypatch.setenv("MLNB_HOME", str(root / ".mlnb"))
    mlnb.connect(root / ".mlnb")
    example = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_examples.py"), "--out", str(tmp_path / "out"),
                              str(ROOT / "example-notebooks" / "03-model-registry.ipynb")],
                             capture_output=True, text=True, timeout=600)
    assert example.returncode == 0, example.stdout + example.stderr
    champion = mlnb.model_version("digits-classifier@champion")["version"]
    other = 1 if champion == 2 else 2
    example_runs = mlnb.runs()
    captured = mlnb.sql("SELECT run_id FROM cells GROUP BY run_id ORDER BY count(*) DESC LIMIT 1")["run_id"][0]
    make_notebook(["import mlnb\nfirst = mlnb.start_run(experiment='live', name='first-live')"], root / "live.ipynb")
    version_row = f"{PANEL} .mlnb-model[data-model='digits-classifier'] .mlnb-version[data-version='{other}']"
    screenshot.unlink(missing_ok=True)
    actions = [
        {"action": "click", "selector": "li[data-id='mlnb-panel']", "expect": PANEL},
        {"action": "waitFor", "selector": f"{PANEL} .mlnb-model[data-model='digits-classifier']"},
        {"action": "expectText", "selector": f"{PANEL} .mlnb-runs", "text": "first-live"},
        {"action": "expectText", "selector": f"{PANEL} .mlnb-runs", "text": example_runs["run_id"][0][:8]},
        # a run started now appears within 2 s, without any click
        {"action": "kernel", "code": "second = mlnb.start_run(experiment='live', name='second-live')"},
        {"action": "expectText", "selector": f"{PANEL} .mlnb-runs", "text": "second-live", "timeout": 2000},
        # move champion from the UI: choose, Set, confirm in the dialog
        {"action": "select", "selector": f"{version_row} select", "value": "champion"},
        {"action": "click", "selector": f"{version_row} .mlnb-set-alias", "expect": ".jp-Dialog"},
        {"action": "expectText", "selector": ".jp-Dialog", "text": f"Move digits-classifier@champion to v{other}?"},
        {"action": "click", "selector": ".jp-Dialog .jp-mod-accept"},
        {"action": "expectText", "selector": f"{version_row}", "text": "champion"},
        {"action": "kernel", "code": "print(mlnb.model_version('digits-classifier@champion')['version'])",
         "contains": str(other)},
        {"action": "fill", "selector": f"{PANEL} .mlnb-filter", "value": "name = 'second-live'"},
        {"action": "press", "selector": f"{PANEL} .mlnb-filter", "key": "Enter"},
        {"action": "expectText", "selector": f"{PANEL} .mlnb-page-label", "text": "1-1 of 1"},
        {"action": "click", "selector": f"{PANEL} .mlnb-run", "expect": ".mlnb-run-view h2"},
        {"action": "expectText", "selector": ".mlnb-run-view", "text": "second-live"},
        # a captured run of the example: params, metric charts, cells, artifacts
        {"action": "fill", "selector": f"{PANEL} .mlnb-filter", "value": f"run_id = '{captured}'"},
        {"action": "press", "selector": f"{PANEL} .mlnb-filter", "key": "Enter"},
        {"action": "expectText", "selector": f"{PANEL} .mlnb-runs", "text": captured[:8]},
        {"action": "click", "selector": f"{PANEL} .mlnb-run[data-run-id='{captured}']",
         "expect": f"#mlnb-run-view-{captured} .mlnb-cell"},
        {"action": "count", "selector": f"#mlnb-run-view-{captured} .mlnb-cell"},
        {"action": "screenshot", "path": str(screenshot.with_name(screenshot.stem + "-run-view.png"))},
        {"action": "click", "selector": f"#mlnb-run-view-{captured} .mlnb-open-snapshot"},
        {"action": "expectText", "selector": ".jp-MainAreaWidget .lm-TabBar, #jp-main-dock-panel",
         "text": f"run-{captured[:8]}.ipynb"},
    ]
    try:
        with jupyterlab_server(root, home=tmp_path / "jupyter", python=python) as server:
            result = run_in_browser(server, "live.ipynb", [".jp-Notebook"], screenshot, actions=actions,
                                    dialogsInActions=True, collapseSidebars=False, fitNotebook=False,
                                    viewport={"width": 1400, "height": 1000})
    finally:
        forget_current()
    assert result["ok"], describe_failure(result)
    cells_shown = next(a["value"] for a in result["actions"] if a["action"] == "count")
    snapshot = root / "mlnb-snapshots" / f"run-{captured[:8]}.ipynb"
    assert snapshot.is_file() and "register_model" in snapshot.read_text()
    assert cells_shown == len(mlnb.sql("SELECT seq FROM cells WHERE run_id = ?", [captured])) > 0
    with connected_project(root / ".mlnb"):
        assert mlnb.model_version("digits-classifier@champion")["version"] == other
        history = mlnb.alias_history("digits-classifier")
        assert history.iloc[-1]["to_version"] == other and history.iloc[-1]["from_version"] == champion
    assert screenshot.stat().st_size > 30_000
