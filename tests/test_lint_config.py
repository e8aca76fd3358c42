"""`make lint`'s configuration: mypy --strict covers the core packages issue 13 names (project, events,
store, tracking, registry), the strict flags are complete, CI runs the lint, and mlnb ships as typed.

Given the configuration in pyproject.toml (no mypy run here: `make lint` does that), when a core
module is added or moved, then it is checked strictly or listed below as pending, never silently
left out.
"""
from __future__ import annotations

import fnmatch
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The core as issue 13 names it; every module in these must be in the strict override or in PENDING.
CORE = ("mlnb.project", "mlnb.events", "mlnb.store", "mlnb.tracking", "mlnb.model_registry")

# Core modules allowed to stay off the strict list for now, each with the reason (`x.*` also names x).
# Empty: the whole core is strict. A new core module either passes --strict or is named here.
PENDING: dict[str, str] = {}

# What `mypy --strict` turns on per module (mypy 2.4; `strict = true` itself cannot be set per module).
STRICT_FLAGS = {
    "check_untyped_defs": True, "disallow_any_generics": True, "disallow_incomplete_defs": True,
    "disallow_subclassing_any": True, "disallow_untyped_calls": True, "disallow_untyped_decorators": True,
    "disallow_untyped_defs": True, "extra_checks": True, "implicit_reexport": False, "strict_equality": True,
    "warn_return_any": True, "warn_unused_ignores": True,
}


def _pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data


def _overrides() -> list[dict[str, Any]]:
    overrides: list[dict[str, Any]] = _pyproject()["tool"]["mypy"]["overrides"]
    return overrides


def _strict_override() -> dict[str, Any]:
    found = [o for o in _overrides() if o.get("disallow_untyped_defs")]
    assert len(found) == 1, "one [[tool.mypy.overrides]] entry with the strict flags lists the strict modules"
    return found[0]


def _patterns(override: dict[str, Any]) -> list[str]:
    module = override["module"]
    return [module] if isinstance(module, str) else list(module)


def _matches(name: str, patterns: list[str]) -> bool:
    # mypy's rule: `a.b.*` matches `a.b` and everything under it; other patterns match exactly
    return any(name == p or (p.endswith(".*") and (name == p[:-2] or fnmatch.fnmatch(name, p))) for p in patterns)


def _modules() -> set[str]:
    """Every module of the package, as a dotted name (a package by its own name)."""
    names = set()
    for path in (ROOT / "mlnb").rglob("*.py"):
        parts = ["mlnb", *path.relative_to(ROOT / "mlnb").with_suffix("").parts]
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _core_modules() -> set[str]:
    return {m for m in _modules() if any(m == c or m.startswith(c + ".") for c in CORE)}


def test_the_strict_override_sets_every_flag_of_mypy_strict():
    override = _strict_override()
    flags = {k: v for k, v in override.items() if k != "module"}
    assert flags == STRICT_FLAGS
    mypy_main = pytest.importorskip("mypy.main")  # the installed mypy may know more strict flags
    from mypy.options import PER_MODULE_OPTIONS

    _, default = mypy_main.process_options(["--config-file", "", "-c", "pass"])  # "": no config file
    _, strict = mypy_main.process_options(["--config-file", "", "--strict", "-c", "pass"])
    wanted = {k: getattr(strict, k) for k in PER_MODULE_OPTIONS
              if not callable(getattr(strict, k, None)) and getattr(strict, k, None) != getattr(default, k, None)}
    missing = {k: v for k, v in wanted.items() if flags.get(k) != v}
    assert not missing, f"this mypy's --strict also sets {missing}: add them to the strict override"


def test_every_core_module_is_strict_or_pending():
    strict = _patterns(_strict_override())
    core = _core_modules()
    assert {"mlnb.project", "mlnb.events", "mlnb.store.filters"} <= core  # the walk found the package
    unchecked = sorted(m for m in core if not _matches(m, strict) and not _matches(m, list(PENDING)))
    assert not unchecked, f"core modules neither in the strict mypy override nor pending: {unchecked}"
    both = sorted(m for m in core if _matches(m, strict) and _matches(m, list(PENDING)))
    assert not both, f"strict now, so remove them from PENDING: {both}"


def test_the_strict_list_names_modules_that_exist():
    modules = _modules()
    strict = _patterns(_strict_override())
    gone = [p for p in strict if not p.endswith(".*") and p not in modules]
    assert not gone, f"the strict override names modules that do not exist (moved?): {gone}"
    # a pending name may be one the merge of a parallel branch removes or adds: a warning, not a failure
    stale = [p for p in PENDING if not any(_matches(m, [p]) for m in modules)]
    if stale:
        warnings.warn(f"PENDING names modules that do not exist (moved? remove them): {stale}", stacklevel=1)


def test_no_strict_module_has_its_errors_ignored():
    strict = _patterns(_strict_override())
    ignored = [p for o in _overrides() if o.get("ignore_errors") for p in _patterns(o)]
    assert ignored, "expected the override listing modules not yet checked"
    assert not [p for p in ignored if _matches(p, strict)]


def test_ci_runs_make_lint_before_the_tests():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line.split("#")[0].strip() for line in ci]
    assert "make lint" in commands and commands.index("make lint") < commands.index("make test")
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check" in recipe and "mypy" in recipe
    extras = _pyproject()["project"]["optional-dependencies"]
    assert {r.split(">")[0] for r in extras["lint"]} == {"mypy", "ruff"}
    assert '".[test,lint]"' in makefile  # `make install` brings the linters


def test_mlnb_ships_as_a_typed_package():
    assert (ROOT / "mlnb" / "py.typed").is_file()
    wheel = _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "mlnb" in wheel["packages"]
    assert not [p for p in wheel.get("exclude", []) if fnmatch.fnmatch("mlnb/py.typed", p) or p == "mlnb/py.typed"]
