"""IPython extension: `%load_ext mlnb` registers the magics and the cell hooks.

Auto-load it in every kernel with an IPython profile: add `c.InteractiveShellApp.extensions =
["mlnb"]` to `~/.ipython/profile_default/ipython_config.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlnb import shutdown

_sessions: dict[int, Any] = {}  # id(shell) -> its CaptureSession


@dataclass(frozen=True)
class LiveState:
    """The capture state of a run still being recorded in this process."""

    run_id: str
    hidden_state: str  # `clean`, `out-of-order` or `stale-inputs` so far
    problems: tuple[str, ...]  # one line per hidden-state problem found
    cells_captured: int


def load_ipython_extension(shell: Any) -> None:
    """Register `%track`, `%%track`, `%%mlnb_sql` and the pre/post cell hooks (idempotent)."""
    from mlnb.capture.magics import TrackMagics
    from mlnb.capture.session import CaptureSession

    if id(shell) in _sessions:
        return
    session = _sessions[id(shell)] = CaptureSession(shell)
    shutdown.register("capture", session.drain_now)  # before open runs end and writers flush
    shell.register_magics(TrackMagics(shell, session))
    shell.events.register("pre_run_cell", session.pre_run_cell)
    shell.events.register("post_run_cell", session.post_run_cell)
    shell.ast_transformers.append(_CellAnalyser(session))
    _tee_displays(shell, session)


def unload_ipython_extension(shell: Any) -> None:
    """Remove the hooks (the magics stay registered, as IPython has no unregister)."""
    session = _sessions.pop(id(shell), None)
    if session is None:
        return
    shutdown.unregister("capture", session.drain_now)
    shell.events.unregister("pre_run_cell", session.pre_run_cell)
    shell.events.unregister("post_run_cell", session.post_run_cell)
    shell.ast_transformers[:] = [t for t in shell.ast_transformers if not isinstance(t, _CellAnalyser)]


class _CellAnalyser:
    """An AST transformer that changes nothing: it hands IPython's parsed cell to the session."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def visit(self, tree: Any) -> Any:
        try:  # IPython drops a transformer that raises; capture problems must never cost that
            self.session.analyse_parsed_cell(tree)
        except Exception as exc:  # noqa: BLE001 - reported once by the session, the cell runs
            self.session.warn(exc)
        return tree


def session_for(shell: Any) -> Any:
    """The capture session of a shell (None before `%load_ext mlnb`)."""
    return _sessions.get(id(shell))


def live_state(run_id: str | None) -> LiveState | None:
    """The capture state of `run_id` if a session of this process is recording it, else None.

    Every cell captured so far is handed to the event writer first, so the store then holds the
    lineage of each of them (the registry relies on this when a model is registered mid-run).
    """
    if run_id is None:
        return None
    for session in list(_sessions.values()):
        run = session.run
        if run is not None and run.id == run_id and run.status == "running":
            session.wait()
            state, problems = session.hidden_state()
            return LiveState(run_id, state, tuple(problems), session.cells_captured)
    return None


def _tee_displays(shell: Any, session: Any) -> None:
    """Keep a copy of display_data published while a cell is being recorded."""
    publisher = getattr(shell, "display_pub", None)
    original = getattr(publisher, "publish", None)
    if original is None:
        return

    def publish(data: dict[str, Any], metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
        pending = session._pending
        if pending is not None and isinstance(data, dict):
            pending.displays.append(dict(data))
        return original(data, metadata, *args, **kwargs)

    publisher.publish = publish
