"""What `make demo` opens: JupyterLab at /lab/workspaces/mlnb (token appended by Jupyter) starts
with the mlnb panel shown and listing the store's runs, without any click."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import mlnb
from tests.browser.jupyterlab import REPO_ROOT, chromium_path, jupyterlab_server, require_browser
from tests.projectutil import connected_project

pytestmark = pytest.mark.slow

OPEN_AND_READ = """
const { chromium } = require('playwright-core');
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage();
    await page.goto(process.env.LAB_URL);
    const run = page.locator('#mlnb-panel .mlnb-run').first();
    await run.waitFor({ timeout: 45000 });
    console.log(JSON.stringify({ visible: await page.locator('#mlnb-panel').isVisible(), text: await run.textContent() }));
  } finally {
    await browser.close();
  }
})().catch((error) => { console.error(String(error)); process.exit(1); });
"""


def test_demo_url_opens_with_the_panel_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_browser()
    root = tmp_path / "lab"
    root.mkdir()
    monkeypatch.setenv("MLNB_HOME", str(root / ".mlnb"))
    with connected_project(root / ".mlnb"):
        mlnb.start_run(experiment="demo", name="shown-at-start").end()
    with jupyterlab_server(root, home=tmp_path / "jupyter") as server:
        url = f"{server.url}lab/workspaces/mlnb?token={server.token}"
        result = subprocess.run(["node", "-e", OPEN_AND_READ], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=120, env={**os.environ, "CHROMIUM": chromium_path(), "LAB_URL": url})
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["visible"] and "shown-at-start" in seen["text"]
