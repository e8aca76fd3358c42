"""The registry widget's state and controls against a real store (no frontend needed)."""
from __future__ import annotations

import pytest

import mlnb
from mlnb import model_registry as reg
from mlnb.store.store import Store
from mlnb.widgets.registry_view import RegistryWidget, registry_state, render_html


@pytest.fixture
def two_versions(store: Store) -> Store:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    frame = load_iris(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"]
    for depth, description in ((1, "<script>alert(1)</script>"), (3, "deeper")):
        with mlnb.start_run(name=f"tree-{depth}"):
            model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
            mlnb.log_metric("accuracy", model.score(X, y))
            reg.register_model(model, "iris", data=X, description=description)
    reg.set_alias("iris", "champion", 1)
    return store


def test_state_and_static_html(two_versions: Store) -> None:
    state = registry_state()
    assert state["models"] == ["iris"] and [v["version"] for v in state["versions"]] == [1, 2]
    assert state["versions"][0]["aliases"] == ["champion"] and "accuracy" in state["versions"][1]["metrics"]
    page = render_html(state)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "v1" in page and "v2" in page and "champion" in page and "&rarr; v1" in page


def test_set_alias_needs_confirmation(two_versions: Store) -> None:
    widget = RegistryWidget()
    assert widget.model.options == ("iris",) and [v for _, v in widget.version.options] == [1, 2]
    widget.alias.value, widget.version.value = "champion", 2
    widget.set_button.click()
    assert widget.confirmation.layout.display == "flex" and "from v1 to <b>v2</b>" in widget.confirm_text.value
    assert reg.model_version("iris@champion")["version"] == 1  # nothing changed yet
    widget.cancel_button.click()
    assert widget.confirmation.layout.display == "none"
    assert reg.model_version("iris@champion")["version"] == 1
    widget.set_button.click()
    widget.confirm_button.click()
    assert reg.model_version("iris@champion")["version"] == 2
    assert reg.alias_history("iris")["to_version"].tolist() == [1, 2]
    assert "now points at v2" in widget.message.value and "champion" in widget.table.value


def test_hidden_state_error_then_force_with_reason(two_versions: Store) -> None:
    from sklearn.dummy import DummyClassifier

    with mlnb.start_run(name="messy") as run:
        run.set_tags({"mlnb.hidden_state": "stale-inputs"})
        with pytest.warns(reg.HiddenStateWarning):
            reg.register_model(DummyClassifier(), "iris")
    widget = RegistryWidget("iris")
    widget.alias.value, widget.version.value = "champion", 3
    widget.set_button.click()
    widget.confirm_button.click()
    assert "force=True" in widget.message.value and reg.model_version("iris@champion")["version"] == 1
    widget.force.value, widget.reason.value = True, "accepted after review"
    widget.set_button.click()
    widget.confirm_button.click()
    assert reg.model_version("iris@champion")["version"] == 3
    assert reg.alias_history("iris")["reason"].tolist()[-1] == "accepted after review"


def test_refresh_and_mimebundle(two_versions: Store) -> None:
    widget = mlnb.registry()
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle
    from sklearn.dummy import DummyClassifier

    reg.register_model(DummyClassifier(), "iris")
    assert [v for _, v in widget.version.options] == [1, 2]
    widget.refresh_button.click()
    assert [v for _, v in widget.version.options] == [1, 2, 3]


def test_empty_registry(store: Store) -> None:
    assert "No models registered yet" in render_html(registry_state())


def test_force_needs_reason_and_does_not_stick(two_versions: Store) -> None:
    from sklearn.dummy import DummyClassifier

    with mlnb.start_run(name="messy") as run:
        run.set_tags({"mlnb.hidden_state": "stale-inputs"})
        with pytest.warns(reg.HiddenStateWarning):
            reg.register_model(DummyClassifier(), "iris")
    widget = RegistryWidget("iris")
    widget.alias.value, widget.version.value, widget.force.value = "champion", 3, True
    widget.set_button.click()
    assert "stale-inputs" in widget.confirm_text.value  # the confirmation says why Force is needed
    widget.confirm_button.click()
    assert "needs a reason" in widget.message.value and reg.model_version("iris@champion")["version"] == 1
    widget.reason.value = "reviewed"
    widget.set_button.click()
    assert widget.message.value == ""  # the old error is gone once the user asks again
    widget.confirm_button.click()
    assert reg.model_version("iris@champion")["version"] == 3
    assert widget.force.value is False and widget.reason.value == ""


def test_unexpected_error_is_one_line(two_versions: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full\nsecond line")

    widget = RegistryWidget("iris")
    monkeypatch.setattr(reg, "set_alias", boom)
    widget.version.value = 2
    widget.set_button.click()
    widget.confirm_button.click()
    assert "OSError: disk full" in widget.message.value and "second line" not in widget.message.value


def test_switch_model_and_alias_options(two_versions: Store) -> None:
    from sklearn.dummy import DummyClassifier

    reg.register_model(DummyClassifier(), "other")
    reg.set_alias("iris", "staging", 2)
    state = registry_state()
    assert {r["name"]: (r["versions"], r["aliases"]) for r in state["model_rows"]} == {
        "iris": (2, "champion=1, staging=2"), "other": (1, "")}
    widget = RegistryWidget()
    assert widget.model.options == ("iris", "other") and "staging" in widget.alias.options
    widget.model.value = "other"
    assert widget.state["selected"] == "other" and [v for _, v in widget.version.options] == [1]
    widget.refresh_button.click()
    assert widget.model.value == "other"


def test_static_html_is_capped() -> None:
    state = {
        "models": ["m"], "selected": "m", "model_rows": [],
        "versions": [{"version": i, "status": "ready", "aliases": [], "run_id": "", "flavor": None,
                      "hidden_state": None, "description": "", "metrics": {}} for i in range(1, 61)],
        "history": [{"alias": "a", "from_version": None, "to_version": 1, "user": "u", "ts": "t", "reason": None}
                    for _ in range(130)],
    }
    page = render_html(state)
    assert "... 10 more" in page and "... 30 more" in page
    assert "<td>v60</td>" in page and "<td>v10</td>" not in page and page.count("&rarr;") == 100


def test_without_ipywidgets_static_fallback(two_versions: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import now raises ImportError
    with pytest.warns(UserWarning, match=r'pip install "mlnb\[notebook\]"'):
        view = mlnb.registry("iris")
    assert "v2" in view._repr_html_() and not hasattr(view, "_repr_mimebundle_")
