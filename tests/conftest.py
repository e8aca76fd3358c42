"""Shared fixtures: every test gets its own real store in a temporary folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlnb.project import Project
from mlnb.store.store import Store
from tests.projectutil import connected_project

pytest_plugins = ["pytest_jupyter.jupyter_server"]  # jp_fetch & co. for the server extension tests


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A fresh project at tmp_path/.mlnb, connected (current) for this test only."""
    monkeypatch.delenv("MLNB_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    with connected_project(tmp_path / ".mlnb") as connected:
        yield connected


@pytest.fixture
def store(project: Project) -> Store:
    """The store of the `project` fixture (connected for this test only)."""
    return project.store
