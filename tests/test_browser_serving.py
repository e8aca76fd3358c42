"""Serving in the mlnb sidebar, in a real JupyterLab (headless Chromium): the Serving section lists
what a serving process serves (model, alias -> version, shadow, req/s, url) from its heartbeats;
after an alias move (mlnb.set_alias) and the server's next heartbeat, it shows the new version and
the switch; once the server stops, the section shows how to serve. The notebook shows the live
rendezvous report (table and chart). Screenshot: test-output/browser/sidebar-serving.png.

The serving process is played by a thread in the notebook's kernel that heartbeats every second
through the real archive writer (`mlnb.serving.archive.Archive`), as the engine does every 5 s.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import mlnb
from tests.browser.jupyterlab import REPO_ROOT, describe_failure, jupyterlab_server, require_browser, run_in_browser
from tests.nbutil import make_notebook
from tests.projectutil import connected_project
from tests.test_browser_monitoring import serve_this_checkout

pytestmark = pytest.mark.slow
SCREENSHOT = REPO_ROOT / "test-output" / "browser" / "sidebar-serving.png"
PANEL = "#mlnb-panel"
SERVED = f"{PANEL} .mlnb-served[data-model='churn']"
URL = "http://127.0.0.1:8123"

# The "server": answers 12 requests (v1 answers, v2 shadows), then heartbeats every second what it
# serves; `move(alias, version)` moves the alias in the registry, then records the switch and serves it.
SERVER_CODE = f"""
import threading, time
import mlnb
from mlnb.serving.archive import Answer, Archive, VersionAnswer, new_request_id
project = mlnb.connect()
archive = Archive(project.store, "churn", 65536, 1.0, server_id="srv-browser")
served = {{"churn@champion": 1, "churn@challenger": 2}}
state = {{"state": "running", "requests": 12}}
for i in range(12):
    v1 = VersionAnswer(1, "churn@champion", "ok", 2.0 + i, [i % 2])
    v2 = VersionAnswer(2, "churn@challenger", "ok", 4.0 + i, [(i // 3) % 2])
    archive.record(Answer(new_request_id(), time.time() - 5 + 0.1 * i, "churn", "ok", rows=1, returned=v1,
                          answers=[v1, v2], ms=v1.ms), {{"age": [30 + i]}})

def beat():
    archive.record_status(state["state"], "{URL}", dict(served), ["churn@challenger"], state["requests"], 250.0,
                          time.time() - 60)
    archive.flush()

def beating():
    while state["state"] == "running":
        beat()
        time.sleep(1.0)

def move(alias, version):
    mlnb.set_alias("churn", alias, version)
    before = served["churn@" + alias]
    served["churn@" + alias] = version
    archive.record_switch("churn@" + alias, before, version, 42.0, "switched")
    beat()

def stop():
    state["state"] = "stopped"
    beat()

beat()
threading.Thread(target=beating, daemon=True).start()
"""


def test_sidebar_shows_what_is_served_and_follows_an_alias_move(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    require_browser()
    root, home = tmp_path / "lab", tmp_path / "jupyter"
    root.mkdir()
    monkeypatch.setenv("MLNB_HOME", str(root / ".mlnb"))
    with connected_project(root / ".mlnb"):
        with mlnb.start_run(experiment="train"):
            for weights in ([1, 2], [3, 4], [5, 6]):
                mlnb.register_model({"weights": weights}, "churn")
        mlnb.set_alias("churn", "champion", 1)
        mlnb.set_alias("churn", "challenger", 2)
    make_notebook([SERVER_CODE, "mlnb.rendezvous_report('churn')"], root / "serve.ipynb")
    serve_this_checkout(home, monkeypatch)
    answers = f"{SERVED} .mlnb-serve-answers"
    refresh = {"action": "click", "selector": f"{PANEL} .mlnb-header button"}
    actions = [
        {"action": "click", "selector": "li[data-id='mlnb-panel']", "expect": PANEL},
        # Given a running server of churn@champion with churn@challenger in the shadow
        {"action": "waitFor", "selector": SERVED},
        {"action": "expectText", "selector": answers, "text": "champion → v1"},
        {"action": "expectText", "selector": f"{SERVED} .mlnb-serve-shadow", "text": "shadow challenger → v2"},
        {"action": "expectText", "selector": f"{SERVED} .mlnb-serve-url", "text": URL},
        {"action": "evaluate", "expression": f"document.querySelector(\"{SERVED} .mlnb-serve-rate\").textContent"},
        {"action": "count", "selector": f"{PANEL} .mlnb-served"},
        # When champion moves to v3 and the server heartbeats what it serves now
        {"action": "kernel", "code": "move('champion', 3)\nprint(mlnb.model_version('churn@champion')['version'])",
         "contains": "3"},
        refresh,
        # Then the section shows the new version and the switch
        {"action": "expectText", "selector": answers, "text": "champion → v3"},
        {"action": "expectText", "selector": f"{SERVED} .mlnb-serve-switch", "text": "champion v1 → v3"},
        {"action": "evaluate", "expression": f"document.querySelector(\"{answers}\").dataset.version"},
        {"action": "screenshot", "path": str(SCREENSHOT)},
        # When the server stops, the section says how to serve instead
        {"action": "kernel", "code": "stop()"},
        refresh,
        {"action": "expectText", "selector": f"{PANEL} .mlnb-serving-hint",
         "text": "mlnb serve churn@champion --shadow churn@challenger"},
        {"action": "count", "selector": f"{PANEL} .mlnb-served"},
    ]
    try:
        with jupyterlab_server(root, home=home) as server:
            result = run_in_browser(server, "serve.ipynb", [".jp-Notebook", ".jp-OutputArea .mlnb-rendezvous-table",
                                                            ".jp-OutputArea .js-plotly-plot"],
                                    SCREENSHOT.with_name("serving-end.png"), actions=actions,
                                    collapseSidebars=False, fitNotebook=False, viewport={"width": 1400, "height": 1000})
    finally:
        from mlnb.project import forget_current

        forget_current()
    assert result["ok"], describe_failure(result)
    rate, version = (a["value"] for a in result["actions"] if a["action"] == "evaluate")
    assert rate.endswith(" req/s") and rate != "0 req/s", rate  # 12 answers within the last minute
    assert version == "3"
    assert [a["value"] for a in result["actions"] if a["action"] == "count"] == [1, 0]
    assert SCREENSHOT.stat().st_size > 20_000
