"""`mlnb models ...` against a real store with two registered scikit-learn models."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import mlnb
from mlnb import model_registry as reg
from mlnb.cli import cli
from mlnb.store.store import Store


def _invoke(store: Store, *args: str):
    return CliRunner().invoke(cli, ["--store", str(store.root), *args])


@pytest.fixture
def registered(store: Store) -> Store:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    frame = load_iris(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"]
    for depth, hidden in ((1, None), (3, "stale-inputs")):
        with mlnb.start_run(name=f"tree-{depth}") as run:
            model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
            mlnb.log_metric("accuracy", model.score(X, y))
            if hidden:
                run.set_tags({"mlnb.hidden_state": hidden})
            with _maybe_warns(hidden):
                reg.register_model(model, "iris", data=X)
    return store


def _maybe_warns(hidden: str | None):
    return pytest.warns(reg.HiddenStateWarning) if hidden else _nothing()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_empty_registry_message(store: Store) -> None:
    result = _invoke(store, "models")
    assert result.exit_code == 0 and "no models registered yet" in result.output


def test_list_and_show(registered: Store) -> None:
    listing = _invoke(registered, "models")
    assert listing.exit_code == 0 and "iris" in listing.output and "1 model" in listing.output
    data = json.loads(_invoke(registered, "models", "--format", "json").output)
    assert data[0]["name"] == "iris" and data[0]["versions"] == 2
    shown = _invoke(registered, "models", "show", "iris")
    assert shown.exit_code == 0 and "metrics.accuracy" in shown.output and "stale-inputs" in shown.output
    assert "no alias changes yet" in shown.output


def test_alias_set_move_delete_and_history(registered: Store) -> None:
    assert _invoke(registered, "models", "alias", "iris", "champion", "1").output.strip() == "iris@champion: - -> 1"
    assert _invoke(registered, "models", "alias", "iris", "challenger", "2").exit_code == 0
    assert _invoke(registered, "models", "alias", "iris", "challenger", "--delete").output.strip() == \
        "iris@challenger deleted"
    history = json.loads(_invoke(registered, "models", "show", "iris", "--format", "json").output)["alias_history"]
    assert [(h["alias"], h["from_version"], h["to_version"]) for h in history] == [
        ("champion", None, 1), ("challenger", None, 2), ("challenger", 2, None)]


def test_champion_on_hidden_state_needs_force_and_keeps_reason(registered: Store) -> None:
    refused = _invoke(registered, "models", "alias", "iris", "champion", "2")
    assert refused.exit_code == 1 and refused.output.startswith("error:") and "force" in refused.output
    forced = _invoke(registered, "models", "alias", "iris", "champion", "2", "--force", "--reason", "checked by hand")
    assert forced.exit_code == 0
    assert reg.alias_history("iris")["reason"].tolist()[-1] == "checked by hand"


def test_errors_are_one_line(registered: Store) -> None:
    for args, expected in (
        (("models", "show", "nope"), "no model named 'nope'; registered models: iris"),
        (("models", "alias", "iris", "champion", "9"), "no version 9; versions: 1, 2"),
        (("models", "alias", "iris", "Bad Alias!", "1"), "bad alias"),
        (("models", "alias", "iris", "champion"), "give the VERSION"),
        (("models", "load-check", "iris@staging"), "has no alias 'staging'"),
    ):
        result = _invoke(registered, *args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error:"), result.output
        assert expected in lines[0]


def test_load_check_verifies_the_hash(registered: Store) -> None:
    ok = _invoke(registered, "models", "load-check", "iris/1")
    assert ok.exit_code == 0 and ok.output.startswith("ok: iris/1 (skops, DecisionTreeClassifier")
    assert "sha256 matches the record" in ok.output and "loaded" in ok.output
    blob = registered.blobs.path_of(reg.model_version("iris/1")["artifact_hash"])
    blob.write_bytes(b"not the model")
    bad = _invoke(registered, "models", "load-check", "iris/1")
    assert bad.exit_code == 1 and "corrupted" in bad.output


def test_help_of_every_models_command(store: Store) -> None:
    for args in (("models", "--help"), ("models", "show", "--help"), ("models", "alias", "--help"),
                 ("models", "load-check", "--help")):
        assert _invoke(store, *args).exit_code == 0


def test_delete_refuses_a_version_and_bad_payloads_fail_in_one_line(registered: Store) -> None:
    reg.set_alias("iris", "champion", 1)
    refused = _invoke(registered, "models", "alias", "iris", "champion", "1", "--delete")
    assert refused.exit_code == 2 and "--delete takes no VERSION" in refused.output
    assert reg.model_version("iris@champion")["version"] == 1
    moved = _invoke(registered, "models", "alias", "iris", "champion", "2", "--force")
    assert moved.output.strip() == "iris@champion: 1 -> 2"
    # a pickle whose bytes match the record but cannot be loaded (its module is gone)
    import sys
    import types

    mlnb.connect(registered.root)  # the store the test registers in (the CLI left it current)
    broken = types.ModuleType("gone_module")
    exec("class Thing:\n    pass", broken.__dict__)
    sys.modules["gone_module"] = broken
    broken.Thing.__module__ = "gone_module"
    reg.register_model(broken.Thing(), "gone", flavor="pickle")
    del sys.modules["gone_module"]
    result = _invoke(registered, "models", "load-check", "gone/1", "--allow-pickle")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1
    assert "passed the hash check but did not load" in lines[0]
