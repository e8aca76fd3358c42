"""Fingerprints agree across the test matrix: the oldest virtualenv (pandas 2, pyarrow 15; made by
scripts/test_oldest.sh, which `make test` runs) fingerprints the fixed frames of
tests/fingerprint_frames.py, and this process (the newest pandas) must get exactly the same."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.fingerprint_frames import fingerprints

ROOT = Path(__file__).resolve().parents[1]
OLDEST = ROOT / os.environ.get("OLDEST_VENV", ".venv-oldest") / "bin" / "python"


def test_fingerprints_agree_between_pandas_2_and_3() -> None:
    if not OLDEST.exists():
        if os.environ.get("MLNB_REQUIRE_MATRIX") == "1":
            pytest.fail(f"{OLDEST} is missing: `make test` creates it (bash scripts/test_oldest.sh setup)")
        pytest.skip("no oldest virtualenv: run `bash scripts/test_oldest.sh setup` (make test does)")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([str(OLDEST), "-m", "tests.fingerprint_frames"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    theirs = json.loads(out.stdout)
    assert theirs["pandas"].split(".")[0] != pd.__version__.split(".")[0], "both legs run the same pandas major"
    ours = fingerprints()
    assert theirs["fingerprints"].keys() == ours.keys()
    for name, representations in ours.items():
        # every representation either side has (pandas 3 has one more: `str`) gives the one fingerprint
        assert {json.dumps(f, sort_keys=True) for f in representations + theirs["fingerprints"][name]} \
            == {json.dumps(representations[0], sort_keys=True)}, name
