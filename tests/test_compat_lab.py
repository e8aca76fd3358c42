"""The sidebar browser test on the oldest supported JupyterLab: scripts/test_oldest.sh runs this file
inside .venv-oldest (JupyterLab pinned in scripts/constraints-oldest.txt); the newest JupyterLab is
covered by tests/test_browser_sidebar.py in the main run."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.test_browser_sidebar import SCREENSHOTS, exercise_sidebar

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def oldest_jupyterlab() -> str:
    pins = (ROOT / "scripts" / "constraints-oldest.txt").read_text()
    return re.search(r"^jupyterlab==(\S+)", pins, re.M).group(1)


@pytest.mark.skipif(os.environ.get("MLNB_MATRIX") != "oldest", reason="run by scripts/test_oldest.sh in .venv-oldest")
def test_sidebar_on_the_oldest_supported_jupyterlab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jupyterlab

    assert jupyterlab.__version__ == oldest_jupyterlab()
    exercise_sidebar(tmp_path, monkeypatch, sys.executable,
                     SCREENSHOTS / f"sidebar-jupyterlab-{jupyterlab.__version__}.png")


@pytest.mark.skipif(os.environ.get("MLNB_MATRIX") != "oldest", reason="run by scripts/test_oldest.sh in .venv-oldest")
def test_the_built_extension_accepts_this_jupyterlab() -> None:
    # Every shared core package the prebuilt extension names must be satisfied by this JupyterLab's
    # own version of it (a range like ^4.6.6 made JupyterLab 4.2.5 refuse the extension).
    import json

    import jupyterlab
    from jupyterlab.semver import satisfies

    core = json.loads((Path(jupyterlab.__file__).parent / "staging" / "package.json").read_text())
    built = json.loads((ROOT / "mlnb" / "labextension" / "package.json").read_text())
    singletons = set(core["jupyterlab"]["singletonPackages"])
    checked = {name: (core["resolutions"][name].lstrip("~^"), wanted) for name, wanted in built["dependencies"].items()
               if name in singletons}
    assert "@jupyterlab/application" in checked and "@jupyterlab/services" in checked
    shared = built["jupyterlab"].get("sharedPackages", {})
    unsatisfied = {name: (have, wanted) for name, (have, wanted) in checked.items()
                   if not satisfies(have, wanted) or not satisfies(have, shared.get(name, {}).get("requiredVersion", "*"))}
    assert not unsatisfied, f"JupyterLab {jupyterlab.__version__} has (version, range wanted): {unsatisfied}"
