"""Shared fixtures: every test gets its own real store in a temporary folder."""
from __future__ import annotations

from pathlib import Path

import pytest

import mlnb
from mlnb import tracking
from mlnb.store.store import Store

pytest_plugins = ["pytest_jupyter.jupyter_server"]  # jp_fetch & co. for the server extension tests


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A fresh store at tmp_path/.mlnb, connected for this test only."""
    monkeypatch.delenv("MLNB_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    tracking._default_store.clear()
    connected = mlnb.connect(tmp_path / ".mlnb")
    yield connected
    run = tracking.active_run()
    while run is not None:
        run.end("killed")
        run = tracking.active_run()
    tracking._default_store.clear()
    Store._instances.pop(connected.root, None)
