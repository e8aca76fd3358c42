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
