"""Registry decisions without the index lock: version numbers and alias moves are claimed
(create-if-absent objects), and ingest settles an alias as the move with the highest step, so
every reader agrees whatever order it reads the event files in."""
from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
from click.testing import CliRunner

import mlnb
from mlnb import model_registry as reg
from mlnb.cli import cli
from mlnb.events import event
from mlnb.store.location import EVENTS_DIRNAME
from mlnb.store.store import DB_FILENAME, Store


def _alias_events(root: Path) -> list[dict]:
    """Every alias event in the store's log, as written."""
    out = []
    for path in sorted((root / EVENTS_DIRNAME).glob("*.jsonl")):
        out += [e for e in map(orjson.loads, path.read_bytes().splitlines()) if e.get("e") == "alias"]
    return out


def _copy_in_reverse_file_order(root: Path, target: Path) -> Path:
    """A copy of the store without its index, whose event files sort in the opposite order."""
    shutil.copytree(root, target, ignore=shutil.ignore_patterns(DB_FILENAME + "*", "*.lock"))
    files = sorted((target / EVENTS_DIRNAME).glob("*.jsonl"))
    for rank, path in enumerate(reversed(files)):
        path.rename(path.with_name(f"{rank:04d}-{path.name}"))
    return target


def test_every_registry_function_takes_project(store: Store, tmp_path: Path) -> None:
    # Given the registry's public names, and a second project that is not the current one
    registry_names = [n for n in mlnb.__all__ if getattr(getattr(mlnb, n), "__module__", "").startswith(
        "mlnb.model_registry")] + ["registry"]
    assert {"register_model", "load_model", "set_alias", "archive_version", "alias_history"} <= set(registry_names)
    assert len(registry_names) == 11
    for name in registry_names:
        assert "project" in inspect.signature(getattr(mlnb, name)).parameters, name
    other = tmp_path / "other" / ".mlnb"
    # When a model is registered, aliased, updated and read there with project=
    reg.register_model({"w": 1}, "elsewhere", project=other)
    reg.register_model({"w": 2}, "elsewhere", project=other)
    reg.set_alias("elsewhere", "champion", 1, project=other)
    reg.update_version("elsewhere", 2, description="second", project=other)
    reg.archive_version("elsewhere", 2, project=other)
    # Then that project has it, and the current one does not
    assert reg.models(project=other)["name"].tolist() == ["elsewhere"]
    assert reg.model_versions("elsewhere", project=other)["status"].tolist() == ["active", "archived"]
    assert reg.model_version("elsewhere@champion", project=other)["version"] == 1
    assert reg.load_model("elsewhere/2", allow_pickle=True, project=other) == {"w": 2}
    assert reg.alias_history("elsewhere", project=other)["to_version"].tolist() == [1]
    reg.delete_alias("elsewhere", "champion", project=other)
    assert reg.model_version("elsewhere/1", project=other)["aliases"] == []
    assert reg.models().empty


def test_two_concurrent_alias_moves_settle_on_the_higher_step(store: Store, tmp_path: Path) -> None:
    # Given three versions, champion on v1, and two processes that move champion at the same moment
    for i in range(3):
        reg.register_model({"i": i}, "m")
    reg.set_alias("m", "champion", 1)
    go = tmp_path / "go"
    code = ("import os, sys, time; import mlnb; from mlnb import model_registry as reg; mlnb.connect(sys.argv[1]); "
            "reg.models(); open(sys.argv[3] + '.ready', 'w').close()\n"
            "while not os.path.exists(sys.argv[3]): time.sleep(0.001)\n"
            "reg.set_alias('m', 'champion', int(sys.argv[2]), reason='worker ' + sys.argv[2])")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store.root), str(v), str(go) + str(v)])
             for v in (2, 3)]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}{v}.ready").exists() for v in (2, 3)) and time.monotonic() < deadline:
        time.sleep(0.01)
    for v in (2, 3):
        Path(f"{go}{v}").touch()
    assert all(p.wait(timeout=120) == 0 for p in procs)
    # Then both moves are in the history, each with its own step
    history = reg.alias_history("m")
    assert sorted(history["to_version"].tolist()) == [1, 2, 3]
    moves = [e for e in _alias_events(store.root) if e["version"] in (2, 3)]
    assert sorted(e["seq"] for e in moves) == [2, 3]
    # And the alias is the move with the higher step
    winner = max(moves, key=lambda e: e["seq"])["version"]
    assert reg.model_version("m@champion")["version"] == winner
    # And the same after a rebuild, and when the event files are read in the opposite order
    result = CliRunner().invoke(cli, ["--store", str(store.root), "store", "rebuild"])
    assert result.exit_code == 0, result.output
    assert reg.model_version("m@champion")["version"] == winner
    copy = _copy_in_reverse_file_order(store.root, tmp_path / "copy" / ".mlnb")
    assert reg.model_version("m@champion", project=copy)["version"] == winner
    assert sorted(reg.alias_history("m", project=copy)["to_version"].tolist()) == [1, 2, 3]


def test_the_higher_step_wins_whatever_the_time_and_file_order(store: Store, tmp_path: Path) -> None:
    # Given two moves of champion in two event files: step 3 (to v3) written with the earlier time
    for i in range(3):
        reg.register_model({"i": i}, "m")
    moves = {3: event("alias", name="m", alias="champion", version=3, seq=3, user="a", t=100.0, reason=None),
             2: event("alias", name="m", alias="champion", version=2, seq=2, user="b", t=200.0, reason=None)}
    results = []
    for first, second in ((3, 2), (2, 3)):
        root = tmp_path / f"{first}-then-{second}" / ".mlnb"
        shutil.copytree(store.root, root, ignore=shutil.ignore_patterns(DB_FILENAME + "*", "*.lock"))
        for prefix, seq in (("zz0", first), ("zz1", second)):  # sorted after the registrations
            (root / EVENTS_DIRNAME / f"{prefix}-moves.jsonl").write_bytes(orjson.dumps(moves[seq]) + b"\n")
        # When each store is read
        results.append(reg.model_version("m@champion", project=root)["version"])
        assert sorted(reg.alias_history("m", project=root)["to_version"].tolist()) == [2, 3]
    # Then both agree on the move with the higher step
    assert results == [3, 3]


def test_old_moves_without_a_step_come_before_stepped_ones_in_time_order(store: Store) -> None:
    # Given moves written before steps existed (no seq), then one with a step
    for i in range(3):
        reg.register_model({"i": i}, "m")
    legacy = [event("alias", name="m", alias="champion", version=v, user="old", t=t, reason=None)
              for v, t in ((3, 50.0), (2, 10.0))]
    (store.root / EVENTS_DIRNAME / "zz-legacy.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in legacy))
    # Then the later of the old moves holds the alias
    assert reg.model_version("m@champion")["version"] == 3
    # And a new move outranks every old one (whatever their times)
    reg.set_alias("m", "champion", 1)
    assert reg.model_version("m@champion")["version"] == 1
    assert reg.alias_history("m")["to_version"].tolist() == [2, 3, 1]


def test_a_claim_whose_process_died_leaves_a_gap_not_a_duplicate(store: Store) -> None:
    # Given v1, and a process that claims the next number and an alias step, then dies before writing
    reg.register_model({"i": 1}, "m")
    reg.set_alias("m", "champion", 1)
    code = ("import os, sys, mlnb; from mlnb import model_registry as reg\n"
            "from mlnb.model_registry.access import store_for\n"
            "mlnb.connect(sys.argv[1]); store = store_for(None); emit = store.writer.emit\n"
            "def die(e):\n"  # the process dies after its claim, before its event is written
            "    os._exit(3) if e.get('e') in ('model_version', 'alias') else emit(e)\n"
            "store.writer.emit = die\n"
            "reg.register_model({'i': 'lost'}, 'm') if sys.argv[2] == 'version' else "
            "reg.delete_alias('m', 'champion')")
    for what in ("version", "alias"):
        assert subprocess.run([sys.executable, "-c", code, str(store.root), what], check=False,
                              timeout=120).returncode == 3
    # When others register and move the alias
    second, third = reg.register_model({"i": 2}, "m"), reg.register_model({"i": 3}, "m")
    reg.set_alias("m", "champion", 3)
    # Then the dead claim is a gap: no duplicate number, nothing stuck
    assert (second["version"], third["version"]) == (3, 4)
    assert reg.model_versions("m")["version"].tolist() == [1, 3, 4]
    assert [e["seq"] for e in _alias_events(store.root)] == [1, 3]
    assert reg.model_version("m@champion")["version"] == 3
    assert reg.load_model("m@champion", allow_pickle=True) == {"i": 2}  # v3 is the second registered now


def test_the_store_core_imports_no_registry_module() -> None:
    # Given the modules of the store core, When their imports are read, Then none reaches the registry
    import ast

    core = Path(mlnb.__file__).parent / "store"
    found = []
    for path in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {n}" for n in names if n.startswith(("mlnb.model_registry", "mlnb.flavors"))
                      or (isinstance(node, ast.ImportFrom) and node.module == "mlnb"
                          and any(a.name == "model_registry" for a in node.names))]
    assert found == []
