"""One shutdown path: exit and `mlnb.close()` end runs, flush events and close the index, in order."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mlnb
from mlnb import shutdown
from mlnb.store.store import Store


def _run_script(tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    # a long flush interval: only the shutdown routine writes the events
    full_env = {**os.environ, "MLNB_FLUSH_INTERVAL": "60", **env}
    full_env.pop("MLNB_BATCH", None)
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, timeout=120)


def _points(tmp_path: Path) -> tuple[str, list[tuple[int, float]]]:
    store = Store.open(tmp_path)
    with store.index() as con:
        (run_id, status), = con.execute("SELECT run_id, status FROM runs").fetchall()
        points = con.execute("SELECT step, value FROM metrics WHERE run_id = ? ORDER BY step", [run_id]).fetchall()
    store.close()
    return status, [(int(s), float(v)) for s, v in points]


LOGS_AND_LEAVES_OPEN = """
    import mlnb
    mlnb.connect(".")
    run = mlnb.start_run(name="left-open")
    for step in range(500):
        mlnb.log_metric("loss", step / 2, step=step)
"""


def test_a_run_left_open_at_exit_is_finished_with_every_point(tmp_path: Path) -> None:
    done = _run_script(tmp_path, LOGS_AND_LEAVES_OPEN)
    assert done.returncode == 0, done.stderr

    status, points = _points(tmp_path)
    assert status == "finished"
    assert points == [(step, step / 2) for step in range(500)]


def test_an_uncaught_exception_fails_the_open_run_and_keeps_every_point(tmp_path: Path) -> None:
    done = _run_script(tmp_path, LOGS_AND_LEAVES_OPEN + "    raise RuntimeError('boom')\n")
    assert done.returncode == 1 and "boom" in done.stderr

    status, points = _points(tmp_path)
    assert status == "failed"
    assert points == [(step, step / 2) for step in range(500)]


def test_a_capture_session_at_exit_hands_over_its_cells_before_the_run_ends(tmp_path: Path) -> None:
    done = _run_script(tmp_path, """
        from IPython.testing.globalipapp import start_ipython
        import mlnb
        mlnb.connect(".")
        shell = start_ipython()
        shell.run_line_magic("load_ext", "mlnb")
        shell.run_cell("%track start --name captured")
        shell.run_cell("import mlnb\\nfor step in range(300):\\n    mlnb.log_metric('loss', step / 2, step=step)")
        shell.run_cell("total = 1 + 1")
    """)
    assert done.returncode == 0, done.stderr

    status, points = _points(tmp_path)
    assert status == "finished"
    assert points == [(step, step / 2) for step in range(300)]
    store = Store.open(tmp_path)
    with store.index() as con:  # what the session still held at exit reached the run before it ended
        cells = con.execute("SELECT count(*) FROM cells").fetchone()[0]
        artifacts = [r[0] for r in con.execute("SELECT path FROM artifacts").fetchall()]
    store.close()
    assert cells == 2  # the two cells after `%track start`
    assert "environment/packages.txt" in artifacts
    assert "capture problem" not in done.stderr  # old order: "run ... has ended" when the drain came last


def test_the_phases_run_in_their_declared_order_whatever_the_registration_order() -> None:
    sequence = shutdown.ShutdownSequence()
    calls: list[str] = []
    for phase in reversed(shutdown.PHASES):  # registered backwards, as late imports would
        sequence.register(phase, lambda phase=phase: calls.append(phase))

    sequence.run()

    assert calls == ["capture", "runs", "writers", "index"]


def test_a_failing_step_does_not_stop_the_later_phases() -> None:
    sequence = shutdown.ShutdownSequence()
    calls: list[str] = []

    def broken() -> None:
        raise OSError("disk gone")

    sequence.register("runs", broken)
    sequence.register("index", lambda: calls.append("index"))
    sequence.register("writers", lambda: calls.append("writers"))
    sequence.run()

    assert calls == ["writers", "index"]


def test_mlnb_registers_run_ends_before_writer_flushes_before_index_close() -> None:
    import mlnb.capture  # noqa: F401 - every module with a step is imported
    import mlnb.tracking  # noqa: F401

    names = [(phase, step.__name__) for phase, step in shutdown.steps()]

    assert names.index(("runs", "_end_open_runs")) < names.index(("writers", "flush_all_writers")) \
        < names.index(("index", "close_all_indexes"))


def test_an_unknown_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown shutdown phase"):
        shutdown.register("later", lambda: None)


def test_close_ends_runs_makes_events_durable_and_mlnb_stays_usable(store: Store) -> None:
    run = mlnb.start_run(name="before-close")
    mlnb.log_metric("loss", 1.0, step=0)

    mlnb.close()
    mlnb.close()  # idempotent

    assert run.status == "finished"
    assert store._con is None  # the index lock is released
    written = b"".join(p.read_bytes() for p in (store.root / "events").glob("*.jsonl"))
    assert run.id.encode() in written and b'"run_end"' in written  # on disk without another flush

    with mlnb.start_run(name="after-close") as again:
        mlnb.log_metric("loss", 2.0, step=0)
    found = {r.run_id: r.status for r in mlnb.runs().itertuples()}
    assert found == {run.id: "finished", again.id: "finished"}
    assert mlnb.metric_history(again.id, "loss")["value"].tolist() == [2.0]
