"""A run's notebook snapshot opened from the sidebar stays untrusted: a `<script>` in its outputs,
whose cells claim `metadata.trusted` and whose metadata carries a signature, never runs in the
Jupyter origin (issue 12, item 5). Screenshot: test-output/browser/snapshot-untrusted.png."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import mlnb
from tests.browser.jupyterlab import describe_failure, jupyterlab_server, require_browser, run_in_browser
from tests.nbutil import make_notebook
from tests.projectutil import connected_project

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "test-output" / "browser" / "snapshot-untrusted.png"
PANEL = "#mlnb-panel"

SCRIPT = ("window.__pwned = 1; document.body.setAttribute('data-pwned', '1'); "
          "document.title = 'pwned'")
HOSTILE_SNAPSHOT = {
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"signature": "sha256:" + "0" * 64,
                 "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [{"cell_type": "code", "id": "c1", "execution_count": 1, "source": "show_report()",
               "metadata": {"trusted": True},
               "outputs": [{"output_type": "display_data", "metadata": {},
                            "data": {"text/html": f"<b>report owned</b><script>{SCRIPT}</script>",
                                     "text/plain": "<IPython.core.display.HTML object>"}}]}],
}


def use_this_checkouts_labextension(jupyter_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve the labextension built in this checkout (`jlpm build`) if there is one: linked into the
    private Jupyter data dir, which then comes first on the lab extension path (in a virtualenv
    Jupyter prefers the environment's own folders unless JUPYTER_PREFER_ENV_PATH=0)."""
    built = ROOT / "mlnb" / "labextension"
    if (built / "package.json").is_file():
        monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")
        target = jupyter_home / "data" / "labextensions"
        target.mkdir(parents=True, exist_ok=True)
        (target / "mlnb").unlink(missing_ok=True)
        os.symlink(built, target / "mlnb")


def test_snapshot_with_trusted_cells_opens_untrusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_browser()
    root = tmp_path / "lab"
    root.mkdir()
    monkeypatch.setenv("MLNB_HOME", str(root / ".mlnb"))
    with connected_project(root / ".mlnb"):
        with mlnb.start_run(experiment="snap", name="hostile-snapshot") as run:
            run.log_artifact(json.dumps(HOSTILE_SNAPSHOT).encode(), name="notebook.ipynb")
        mlnb.runs()  # the index is up to date before the server reads it
    make_notebook(["print('ready')"], root / "start.ipynb")
    home = tmp_path / "jupyter"
    use_this_checkouts_labextension(home, monkeypatch)
    view = f"#mlnb-run-view-{run.id}"
    actions = [
        {"action": "click", "selector": "li[data-id='mlnb-panel']", "expect": PANEL},
        {"action": "fill", "selector": f"{PANEL} .mlnb-filter", "value": f"run_id = '{run.id}'"},
        {"action": "press", "selector": f"{PANEL} .mlnb-filter", "key": "Enter"},
        {"action": "click", "selector": f"{PANEL} .mlnb-run[data-run-id='{run.id}']",
         "expect": f"{view} .mlnb-open-snapshot"},
        {"action": "click", "selector": f"{view} .mlnb-open-snapshot"},
        # the snapshot is open and its HTML output rendered (sanitized, as untrusted output is)
        {"action": "waitFor", "selector": ".jp-OutputArea-output:has-text('report owned')", "timeout": 30000},
        {"action": "wait", "ms": 1500},  # time for a script to run, if it were allowed to
        {"action": "evaluate", "expression":
            "[window.__pwned ?? null, document.body.getAttribute('data-pwned'), document.title]"},
        {"action": "screenshot", "path": str(SCREENSHOT)},
    ]
    with jupyterlab_server(root, home=home) as server:
        result = run_in_browser(server, "start.ipynb", [".jp-Notebook"], SCREENSHOT, actions=actions,
                                dialogsInActions=True, collapseSidebars=False, fitNotebook=False,
                                viewport={"width": 1400, "height": 900})
    assert result["ok"], describe_failure(result)
    pwned, marker, title = next(a["value"] for a in result["actions"] if a["action"] == "evaluate")
    assert pwned is None and marker is None and title != "pwned", (pwned, marker, title)
    # and the server never signed it: its notary does not know the saved notebook
    import nbformat
    from nbformat.sign import NotebookNotary

    saved = nbformat.read(root / "mlnb-snapshots" / f"run-{run.id[:8]}.ipynb", as_version=4)
    notary = NotebookNotary(data_dir=str(home / "data"))
    try:
        assert (home / "data" / "notebook_secret").is_file() and not notary.check_signature(saved)
    finally:
        notary.store.close()
