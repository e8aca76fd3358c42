"""`mlnb.registry()`: models, versions, aliases and their history, with a guarded alias move.

Pure functions build the data (`registry_state`) and the static view (`render_html`); the
widget only wires them to controls. Moving an alias needs a confirmation click, and moving
`champion` to a version with hidden notebook state needs Force plus a reason.
"""
from __future__ import annotations

import html
from typing import Any

from mlnb.errors import MlnbError
from mlnb.project import ProjectLike, resolve

MAX_VERSIONS = 50
MAX_HISTORY = 100


def registry_state(name: str | None = None) -> dict[str, Any]:
    """Models, and for the selected one (default: the first) its versions and alias history."""
    from mlnb import model_registry

    models = model_registry.models()
    names = models["name"].tolist() if len(models) else []
    selected = name if name in names else (names[0] if names else None)
    state: dict[str, Any] = {
        "models": names, "selected": selected, "versions": [], "history": [],
        "model_rows": [{"name": r["name"], "versions": int(r["versions"]), "aliases": _plain(r["aliases"]) or ""}
                       for r in models.to_dict("records")] if len(models) else [],
    }
    if selected is None:
        return state
    versions = model_registry.model_versions(selected)
    metric_columns = [c for c in versions.columns if c.startswith("metrics.")]
    for row in versions.to_dict("records"):
        row = {k: _plain(v) for k, v in row.items()}
        state["versions"].append({
            "version": int(row["version"]), "status": row["status"],
            "aliases": [a for a in (row["aliases"] or "").split(", ") if a],
            "run_id": (row["run_id"] or "")[:8], "flavor": row["flavor"], "hidden_state": row["hidden_state"],
            "description": row["description"] or "",
            "metrics": {c[len("metrics."):]: row[c] for c in metric_columns if row[c] is not None},
        })
    for row in model_registry.alias_history(selected).to_dict("records"):
        state["history"].append({k: _plain(v) for k, v in row.items()})
    return state


def _plain(value: Any) -> Any:
    """None for pandas' missing values (NaN, NA, NaT), the value otherwise."""
    import pandas as pd

    return None if not isinstance(value, (list, dict)) and pd.isna(value) else value


def _version(value: Any) -> str:
    return "-" if value is None else f"v{int(value)}"


def render_html(state: dict[str, Any]) -> str:
    """A self-contained HTML view of `registry_state` (everything user-written is escaped)."""
    esc = html.escape
    if state["selected"] is None:
        return "<div class='mlnb-registry'><p>No models registered yet: <code>mlnb.register_model(model, " \
               "\"name\")</code></p></div>"
    metric_names = sorted({k for v in state["versions"] for k in v["metrics"]})
    head = "".join(f"<th>{esc(h)}</th>" for h in ["version", "aliases", "status", "run", "flavor", "notebook state",
                                                   *metric_names, "description"])
    rows = []
    for v in state["versions"][-MAX_VERSIONS:]:
        badges = " ".join(
            f"<span style='padding:1px 6px;border-radius:8px;background:{'#f5c542' if a == 'champion' else '#dde'}'>"
            f"{esc(a)}</span>" for a in v["aliases"])
        metrics = "".join(f"<td>{v['metrics'][m]:.4g}</td>" if m in v["metrics"] else "<td></td>" for m in metric_names)
        style = " style='font-weight:bold'" if "champion" in v["aliases"] else ""
        rows.append(f"<tr{style}><td>v{v['version']}</td><td>{badges}</td><td>{esc(v['status'])}</td>"
                    f"<td><code>{esc(v['run_id'])}</code></td><td>{esc(v['flavor'] or '')}</td>"
                    f"<td>{esc(v['hidden_state'] or 'unknown')}</td>{metrics}<td>{esc(v['description'])}</td></tr>")
    hidden = len(state["versions"]) - MAX_VERSIONS
    more = f"<p>... {hidden} more (older versions not shown)</p>" if hidden > 0 else ""
    earlier = len(state["history"]) - MAX_HISTORY
    more_history = f"<p>... {earlier} more (earlier alias changes not shown)</p>" if earlier > 0 else ""
    history = "".join(
        f"<tr><td>{esc(h['alias'])}</td><td>{_version(h['from_version'])} &rarr; {_version(h['to_version'])}</td>"
        f"<td>{esc(str(h['user'] or ''))}</td><td>{esc(str(h['ts'])[:19])}</td><td>{esc(h['reason'] or '')}</td></tr>"
        for h in state["history"][-MAX_HISTORY:])
    return (f"<div class='mlnb-registry'><h4>Model <code>{esc(state['selected'])}</code></h4>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"
            f"<h5>Alias history</h5><table><thead><tr><th>alias</th><th>change</th><th>by</th><th>when</th>"
            f"<th>reason</th></tr></thead><tbody>{history or '<tr><td colspan=5>no changes yet</td></tr>'}"
            f"</tbody></table>{more_history}</div>")


class RegistryWidget:
    """The live registry view: pick a model, see its versions, move an alias after confirming."""

    def __init__(self, name: str | None = None) -> None:
        import ipywidgets as w

        self.state = registry_state(name)
        self.model = w.Dropdown(options=self.state["models"], value=self.state["selected"], description="model")
        self.table = w.HTML()
        self.alias = w.Combobox(value="champion", options=["champion", "challenger"], description="alias")
        self.version = w.Dropdown(description="version")
        self.set_button = w.Button(description="Set alias", icon="tag")
        self.force = w.Checkbox(value=False, description="Force (hidden notebook state)")
        self.reason = w.Text(placeholder="reason (kept in the history)", description="reason")
        self.confirm_text = w.HTML()
        self.confirm_button = w.Button(description="Confirm", button_style="warning")
        self.cancel_button = w.Button(description="Cancel")
        self.confirmation = w.HBox([self.confirm_text, self.confirm_button, self.cancel_button],
                                   layout=w.Layout(display="none"))
        self.message = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.model.observe(lambda change: self.refresh(change["new"]), names="value")
        self.set_button.on_click(lambda _: self.ask())
        self.confirm_button.on_click(lambda _: self.apply())
        self.cancel_button.on_click(lambda _: self._hide_confirmation())
        self.refresh_button.on_click(lambda _: self.refresh(self.model.value))
        self.view = w.VBox([
            w.HBox([self.model, self.refresh_button]), self.table,
            w.HBox([self.alias, self.version, self.set_button]), w.HBox([self.force, self.reason]),
            self.confirmation, self.message,
        ])
        self._render()

    def refresh(self, name: str | None = None) -> None:
        """Reload from the store (new versions, aliases moved elsewhere)."""
        self.state = registry_state(name)
        self.model.options = self.state["models"]
        if self.state["selected"] is not None and self.model.value != self.state["selected"]:
            self.model.value = self.state["selected"]
        self._render()

    def ask(self) -> None:
        """Show what the alias move would do; nothing changes until Confirm."""
        name, alias, version = self.state["selected"], self.alias.value.strip(), self.version.value
        if name is None or version is None or not alias:
            self._error("pick a model, an alias and a version first")
            return
        self.message.value = ""
        current = next((v["version"] for v in self.state["versions"] if alias in v["aliases"]), None)
        before = f"v{current}" if current is not None else "nowhere"
        target = next((v for v in self.state["versions"] if v["version"] == version), {})
        note = ""
        if alias == "champion" and target.get("hidden_state") not in (None, "clean"):
            note = (f" <i>(notebook state: {html.escape(str(target['hidden_state']))}; "
                    f"needs Force and a reason)</i>")
        self.confirm_text.value = (f"Move <b>{html.escape(alias)}</b> of <code>{html.escape(name)}</code> "
                                   f"from {before} to <b>v{version}</b>?{note}")
        self.confirmation.layout.display = "flex"

    def apply(self) -> None:
        """Confirmed: move the alias; an error becomes a one-line message, never a traceback."""
        from mlnb import model_registry

        name, alias, version = self.state["selected"], self.alias.value.strip(), self.version.value
        self._hide_confirmation()
        reason = self.reason.value.strip() or None
        if self.force.value and reason is None:
            self._error("a forced move needs a reason (it is kept in the alias history)")
            return
        try:
            model_registry.set_alias(name, alias, version, force=self.force.value, reason=reason)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never as a traceback under the cell
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self._error(text if isinstance(exc, MlnbError) else f"{type(exc).__name__}: {text}")
            return
        self.force.value, self.reason.value = False, ""  # a forced move never carries over to the next one
        self.refresh(name)
        self.message.value = f"{html.escape(name)}@{html.escape(alias)} now points at v{version}"

    def _error(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00'>{html.escape(text)}</span>"

    def _hide_confirmation(self) -> None:
        self.confirmation.layout.display = "none"

    def _render(self) -> None:
        self.table.value = render_html(self.state)
        self.version.options = [(f"v{v['version']}", v["version"]) for v in self.state["versions"]
                                if v["status"] != "archived"]
        existing = {a for v in self.state["versions"] for a in v["aliases"]}
        self.alias.options = ["champion", "challenger", *sorted(existing - {"champion", "challenger"})]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs) or {}
        bundle = dict(bundle[0]) if isinstance(bundle, tuple) else dict(bundle)
        bundle["text/html"] = render_html(self.state)  # what saved/converted notebooks show
        return bundle


class StaticRegistry:
    """The fallback without ipywidgets: the HTML view only."""

    def __init__(self, name: str | None = None) -> None:
        self.state = registry_state(name)

    def _repr_html_(self) -> str:
        return render_html(self.state)


def registry(name: str | None = None, project: ProjectLike = None) -> Any:
    """The registry widget (or its static HTML view when ipywidgets is not installed) of `project`
    (default: the current project)."""
    # Until the registry's functions take project= themselves, the widget is built with the project
    # scoped as current (this context only).
    with resolve(project).use():
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            import warnings

            warnings.warn('the live registry widget needs ipywidgets: pip install "mlnb[notebook]"', stacklevel=2)
            return StaticRegistry(name)
        return RegistryWidget(name)
