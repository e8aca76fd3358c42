"""Monitoring in the mlnb sidebar, in a real JupyterLab (headless Chromium): each model version shows
the status of its latest check as a badge, a check made from the notebook's kernel updates it, and
the model's monitoring history unfolds with every check; the notebook shows the live drift report
(table, histogram and history charts). Screenshot:
test-output/browser/sidebar-monitoring.png."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import mlnb
from tests.browser.jupyterlab import REPO_ROOT, describe_failure, jupyterlab_server, require_browser, run_in_browser
from tests.nbutil import make_notebook
from tests.projectutil import connected_project

pytestmark = pytest.mark.slow
SCREENSHOT = REPO_ROOT / "test-output" / "browser" / "sidebar-monitoring.png"
PANEL = "#mlnb-panel"
CHURN = f"{PANEL} .mlnb-model[data-model='churn']"
FRAME_CODE = """
import numpy as np, pandas as pd
def frame(seed, n=3000, shift=0.0, new_plan=False):
    rng = np.random.default_rng(seed)
    plans = rng.choice(["basic", "pro", "team"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    if new_plan:
        plans[: n // 5] = "gold"
    return pd.DataFrame({"age": rng.normal(40 + shift, 10, n), "income": rng.lognormal(10, 0.5, n), "plan": plans})
def moved():
    batch = frame(0).sample(n=1500, random_state=2).reset_index(drop=True)
    batch["age"] += 10.0
    batch.loc[:299, "plan"] = "gold"
    return batch
"""


def serve_this_checkout(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let JupyterLab load this checkout's built extension rather than whichever build
    `jupyter-builder develop` linked into the environment: linked into the server's private data dir,
    which then comes first on the extension path."""
    built = REPO_ROOT / "mlnb" / "labextension"
    if (built / "package.json").is_file():
        monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")
        target = home / "data" / "labextensions" / "mlnb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(built, target)


def test_sidebar_shows_monitoring_badges_and_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_browser()
    root, home = tmp_path / "lab", tmp_path / "jupyter"
    root.mkdir()
    monkeypatch.setenv("MLNB_HOME", str(root / ".mlnb"))
    namespace: dict = {}
    exec(FRAME_CODE, namespace)  # the same batches the kernel makes below
    frame = namespace["frame"]
    with connected_project(root / ".mlnb"):
        with mlnb.start_run(experiment="train"):
            mlnb.register_model({"weights": [1, 2]}, "churn", data=frame(0))
            mlnb.register_model({"weights": [3, 4]}, "churn", data=frame(0))
            mlnb.register_model({"weights": [5, 6]}, "churn")  # v3: never checked, no badge
        calm = mlnb.monitor("churn/1", frame(0).sample(n=1000, random_state=1))  # rows of the training data
        assert calm.status in ("ok", "warn")
    # the notebook also shows the live drift report of the first check (by id), with its history
    make_notebook(["import mlnb" + FRAME_CODE, f"mlnb.drift_report({calm.check_id[:12]!r}, model='churn')"],
                  root / "monitor.ipynb")
    serve_this_checkout(home, monkeypatch)
    v1, v2, v3 = (f"{CHURN} .mlnb-version[data-version='{v}']" for v in (1, 2, 3))
    actions = [
        {"action": "click", "selector": "li[data-id='mlnb-panel']", "expect": PANEL},
        {"action": "waitFor", "selector": f"{v1} .mlnb-monitor-badge"},
        {"action": "expectText", "selector": f"{v1} .mlnb-monitor-badge", "text": calm.status},
        {"action": "count", "selector": f"{v2} .mlnb-monitor-badge"},
        # a check made in the notebook shows up after a refresh: v2 drifted
        {"action": "kernel", "code": "r = mlnb.monitor('churn/2', moved(), name='nightly')\n"
                                     "print(r.status)", "contains": "drift"},
        {"action": "click", "selector": f"{PANEL} .mlnb-header button"},
        {"action": "expectText", "selector": f"{v2} .mlnb-monitor-badge", "text": "drift"},
        {"action": "evaluate", "expression": f"document.querySelector(\"{v2} .mlnb-monitor-badge\").dataset.status"},
        {"action": "count", "selector": f"{v3} .mlnb-monitor-badge"},
        # the history unfolds with both checks, newest first
        {"action": "click", "selector": f"{CHURN} .mlnb-monitoring summary", "expect": f"{CHURN} .mlnb-monitor-check"},
        {"action": "expectText", "selector": f"{CHURN} .mlnb-monitor-history", "text": "nightly"},
        {"action": "count", "selector": f"{CHURN} .mlnb-monitor-check"},
        {"action": "expectText", "selector": f"{CHURN} .mlnb-monitor-check", "text": "v2"},
        {"action": "screenshot", "path": str(SCREENSHOT)},
    ]
    try:
        with jupyterlab_server(root, home=home) as server:
            result = run_in_browser(server, "monitor.ipynb", [".jp-Notebook", ".jp-OutputArea .mlnb-drift-table",
                                                              {"selector": ".jp-OutputArea .js-plotly-plot", "minCount": 2}],
                                    SCREENSHOT.with_name("monitoring-end.png"),
                                    actions=actions, collapseSidebars=False, fitNotebook=False,
                                    viewport={"width": 1400, "height": 1000})
    finally:
        from mlnb.project import forget_current

        forget_current()
    assert result["ok"], describe_failure(result)
    counts = [a["value"] for a in result["actions"] if a["action"] == "count"]
    assert counts == [0, 0, 2]  # v2 had no badge before its check, v3 never has one; two checks listed
    status = next(a["value"] for a in result["actions"] if a["action"] == "evaluate")
    assert status == "drift"
    assert SCREENSHOT.stat().st_size > 20_000
