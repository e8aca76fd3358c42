"""The CLI package's contracts: install hints on a base install, one JSON rule, click only in mlnb/cli."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mlnb
from mlnb import jsonout
from mlnb.cli import cli
from mlnb.extras import MODULE_EXTRAS, extra_for
from mlnb.project import forget_current
from tests.cliutil import assert_one_line_error

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlnb"
EMPTY_NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'

# A `pip install mlnb` without extras, simulated: importing any optional dependency fails as if it
# were not installed (a meta path finder, so submodules and already-imported names are covered).
BASE_INSTALL = textwrap.dedent("""
    import importlib.abc, runpy, sys
    BLOCKED = set(sys.argv.pop(1).split(","))
    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, NotInstalled())
    runpy.run_module("mlnb", run_name="__main__", alter_sys=True)
""")


def strict_json(text: str):
    """JSON as a strict parser reads it: NaN, Infinity and -Infinity are refused."""
    def refuse(name: str):
        raise AssertionError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def invoke(store, *args: str):
    forget_current()  # the CLI finds the store from --store alone
    return CliRunner().invoke(cli, ["--store", str(store.root), *args])


# --- a base install: one line naming the extra, never a traceback ---------------------------------


@pytest.mark.parametrize(("blocked", "args", "extra"), [
    ("yaml", ("run", "nb.ipynb", "-p", "a=1"), "notebook"),
    ("papermill", ("run", "nb.ipynb"), "notebook"),
    ("yaml", ("sweep", "nb.ipynb", "--grid", "a=1,2"), "notebook"),
    ("yaml", ("pipeline", "pipeline.yaml"), "notebook"),
])
def test_a_missing_optional_dependency_is_one_line_naming_the_extra(store, tmp_path, monkeypatch, blocked, args,
                                                                    extra):
    # Given a notebook and a pipeline, and an optional dependency that is not importable
    (tmp_path / "nb.ipynb").write_text(EMPTY_NOTEBOOK)
    (tmp_path / "pipeline.yaml").write_text("name: p\nsteps:\n  a:\n    notebook: nb.ipynb\n")
    if blocked != "yaml":
        import yaml  # noqa: F401  (read the files above before blocking what comes next)
    monkeypatch.setitem(sys.modules, blocked, None)
    # When a batch command needs it
    result = invoke(store, *args)
    # Then one error line says what to install
    assert_one_line_error(result, f'pip install "mlnb[{extra}]"')


def test_a_missing_module_that_no_extra_brings_is_still_reported_as_a_bug(store, monkeypatch):
    from mlnb.store import queries

    def broken(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'frobnicate'", name="frobnicate")

    monkeypatch.setattr(queries, "runs", broken)
    assert_one_line_error(invoke(store, "runs"), "unexpected ModuleNotFoundError", "MLNB_DEBUG")


def test_every_command_on_a_base_install_works_or_names_the_extra(store, tmp_path):
    # Given a store with a run, a model, a notebook and a pipeline file
    with mlnb.start_run(experiment="e", name="r") as run:
        mlnb.log_metric("loss", 0.5)
        mlnb.register_model({"w": [1]}, "m")
    (tmp_path / "nb.ipynb").write_text(EMPTY_NOTEBOOK)
    (tmp_path / "pipeline.yaml").write_text("name: p\nsteps:\n  a:\n    notebook: nb.ipynb\n")
    blocked = ",".join(MODULE_EXTRAS)
    commands = {  # what needs no extra works; what does, says which one
        ("runs",): None, ("show", run.id): None, ("metrics", run.id, "loss"): None, ("experiments",): None,
        ("sql", "SELECT 1 AS one"): None, ("store", "status"): None, ("models",): None, ("models", "show", "m"): None,
        ("models", "load-check", "m/1"): None, ("init",): None,
        ("run", "nb.ipynb"): "notebook", ("reproduce", run.id): "notebook",
        ("sweep", "nb.ipynb", "--grid", "a=1,2"): "notebook", ("pipeline", "pipeline.yaml"): "notebook",
    }
    for args, extra in commands.items():
        # When `python -m mlnb` runs it without the optional dependencies installed
        done = subprocess.run([sys.executable, "-c", BASE_INSTALL, blocked, "--store", str(store.root), *args],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        # Then there is no traceback, and a command that needs an extra names it in one line
        assert "Traceback" not in done.stderr, (args, done.stderr)
        if extra is None:
            assert done.returncode == 0, (args, done.stderr)
            continue
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: mlnb {args[0]} needs ") and last.endswith(f'pip install "mlnb[{extra}]"'), \
            (args, done.stderr)


def test_the_extras_table_matches_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    modules = {"pyyaml": "yaml", "ipython": "IPython", "scikit-learn": "sklearn"}  # where the names differ
    for extra in ("notebook", "dask", "safe", "demo"):
        for requirement in extras[extra]:
            name = requirement.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
            if name == "mlnb":
                continue
            module = modules.get(name, name.replace("-", "_"))
            assert MODULE_EXTRAS.get(module) == extra, (requirement, module)
    assert set(MODULE_EXTRAS.values()) <= set(extras)
    assert (extra_for("distributed.client"), extra_for("skops.io"), extra_for("mlnb.cli"), extra_for(None)) == \
        ("dask", "safe", None, None)


# --- one JSON rule for the CLI and the server -----------------------------------------------------


def test_cli_json_gives_inf_as_text_and_nan_as_null(store):
    # Given runs with infinite metrics and one without that metric
    with mlnb.start_run(name="wild") as run:
        mlnb.log_metrics({"up": float("inf"), "down": float("-inf"), "plain": 0.25})
    with mlnb.start_run(name="tame"):
        mlnb.log_metric("plain", 1.0)
    # When the CLI prints them as JSON
    rows = {r["name"]: r for r in strict_json(invoke(store, "runs", "--format", "json").stdout)}
    shown = strict_json(invoke(store, "show", run.id, "--format", "json").stdout)
    history = strict_json(invoke(store, "metrics", run.id, "up", "--format", "json").stdout)
    # Then infinity is the text the event log and the server use, and missing is null
    assert (rows["wild"]["metrics.up"], rows["wild"]["metrics.down"], rows["wild"]["metrics.plain"]) == \
        ("inf", "-inf", 0.25)
    assert rows["tame"]["metrics.up"] is None
    assert shown["metrics"] == {"down": "-inf", "plain": 0.25, "up": "inf"}
    assert [point["value"] for point in history] == ["inf"]


def test_the_encoder_writes_strict_json_for_what_query_results_hold():
    value = {
        "f": float("nan"), "i": float("-inf"), "np": np.float32("inf"), "arr": np.array([1.5, np.inf, np.nan]),
        "int": np.int64(7), "nat": pd.NaT, "na": pd.NA, "dec": Decimal("Infinity"), "bytes": b"a\xff",
        "t": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "d": pd.Timedelta(seconds=90), ("k", 1): [1],
    }
    assert strict_json(jsonout.dumps(value)) == {
        "f": None, "i": "-inf", "np": "inf", "arr": [1.5, "inf", None], "int": 7, "nat": None, "na": None,
        "dec": "inf", "bytes": "a\\xff", "t": "2026-01-02T03:04:05+00:00", "d": 90.0, "('k', 1)": [1],
    }


# --- layering: click lives only in mlnb/cli; command modules share only app and output -----------


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_modules_are_free_of_click():
    outside = [p for p in PACKAGE.rglob("*.py") if (PACKAGE / "cli") not in p.parents]
    users = [str(p.relative_to(ROOT)) for p in outside if any(n.split(".")[0] == "click" for n in _imports(p))]
    assert not users, f"click imported outside mlnb/cli: {users}"


def test_cli_command_modules_import_only_the_shared_app_and_output():
    shared = {"mlnb.cli.app", "mlnb.cli.output"}
    for path in (PACKAGE / "cli").glob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        own = {n for n in _imports(path) if n == "mlnb.cli" or n.startswith("mlnb.cli.")}
        allowed = set() if path.stem in ("app", "output") else shared
        assert own <= allowed, (path.name, own - allowed)
