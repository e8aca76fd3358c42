"""`%track`, `%%track` and `%%mlnb_sql`: thin faces that parse arguments and call the API."""
from __future__ import annotations

import argparse
import shlex
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_cell_magic, magics_class

from mlnb.errors import MlnbError

USAGE = ("usage: %track start [--experiment X] [--name N] [--tag k=v ...] | stop [--status failed] | status | "
         "params NAME... | metrics NAME... [--step N] | data NAME... | pause | resume")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # never SystemExit into a notebook cell
        raise _UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(prog="%track", add_help=False)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    start = sub.add_parser("start", add_help=False)
    start.add_argument("--experiment")
    start.add_argument("--name")
    start.add_argument("--tag", action="append", default=[])
    stop = sub.add_parser("stop", add_help=False)
    stop.add_argument("--status", default="finished", choices=["finished", "failed", "killed"])
    for name in ("status", "pause", "resume"):
        sub.add_parser(name, add_help=False)
    for name in ("params", "data"):
        sub.add_parser(name, add_help=False).add_argument("names", nargs="+")
    metrics = sub.add_parser("metrics", add_help=False)
    metrics.add_argument("names", nargs="+")
    metrics.add_argument("--step", type=int)
    return parser


@magics_class
class TrackMagics(Magics):
    """Magics bound to one shell's capture session."""

    def __init__(self, shell: Any, session: Any) -> None:
        super().__init__(shell)
        self.session = session

    @line_cell_magic
    def track(self, line: str, cell: str | None = None) -> Any:
        """Track this notebook: %track start|stop|status|params|metrics|data|pause|resume; %%track [step]."""
        if cell is not None:
            return self._track_cell(line.strip(), cell)
        try:
            words = shlex.split(line)
            if not words or words[0] in ("-h", "--help", "help"):
                print(USAGE + "\n" + HELP)
                return None
            args = _parser().parse_args(words)
            return getattr(self, f"_{args.command}")(args)
        except _UsageError as exc:
            print(f"%track: {exc}\n{USAGE}")
        except ValueError as exc:  # shlex: unbalanced quotes
            print(f"%track: {exc}\n{USAGE}")
        except MlnbError as exc:
            print(f"%track: {exc}")
        return None

    def _start(self, args: argparse.Namespace) -> None:
        if self.session.batch:
            print(f"mlnb: this notebook is already tracked by `mlnb run` (run {self.session.run.id[:8]})")
            return
        tags = {}
        for item in args.tag:
            if "=" not in item:
                raise _UsageError(f"--tag takes key=value, got {item!r}")
            key, value = item.split("=", 1)
            tags[key] = value
        run = self.session.start(experiment=args.experiment, name=args.name, tags=tags)
        print(f"mlnb: tracking run {run.id[:8]} in experiment {run.experiment!r} (store {run.store.root})")

    def _stop(self, args: argparse.Namespace) -> None:
        if self.session.batch:
            print("mlnb: `mlnb run` ends this run after the last cell")
            return
        run = self.session.stop(args.status)
        print(f"mlnb: run {run.id[:8]} {run.status}; {self.session.cells_captured} cells captured")

    def _status(self, args: argparse.Namespace) -> None:
        print(self.session.status_text())

    def _pause(self, args: argparse.Namespace) -> None:
        self.session.paused = True
        print("mlnb: capture paused (%track resume to continue)")

    def _resume(self, args: argparse.Namespace) -> None:
        self.session.paused = False
        print("mlnb: capture resumed")

    def _params(self, args: argparse.Namespace) -> None:
        self.session.require_run().log_params(self._values(args.names))

    def _metrics(self, args: argparse.Namespace) -> None:
        self.session.require_run().log_metrics(self._values(args.names), step=args.step)

    def _data(self, args: argparse.Namespace) -> None:
        for name, value in self._values(args.names).items():
            fp = self.session.track_data(name, value)
            print(f"{name}: {fp.kind} {fp.n_rows}x{fp.n_cols} fingerprint {fp.hash[:16]}" if fp
                  else f"{name}: not a DataFrame/array/Arrow table; nothing to fingerprint")

    def _values(self, names: list[str]) -> dict[str, Any]:
        missing = [n for n in names if n not in self.shell.user_ns]
        if missing:
            raise _UsageError(f"no variable named {', '.join(missing)} in this notebook")
        self.session.add_reads(names)
        return {n: self.shell.user_ns[n] for n in names}

    def _track_cell(self, step: str, cell: str) -> Any:
        if self.session.run is None or self.session.run.status != "running":
            self.session.start(experiment=None, name=step or None, tags={})
        if step:
            self.session.next_step = step
        self.shell.run_cell(cell)  # fires the cell hooks again: the body is recorded as the step
        return None

    @cell_magic
    def mlnb_sql(self, line: str, cell: str) -> Any:
        """Read-only SQL over the store's views (runs, params, metrics, cells, datasets, lineage)."""
        from mlnb import api

        try:
            frame = api.sql(cell)
        except MlnbError as exc:
            print(f"%%mlnb_sql: {exc}")
            return None
        target = line.strip()
        if target:
            if not target.isidentifier():
                print("%%mlnb_sql: give a variable name to store the result in, e.g. %%mlnb_sql top_runs")
                return None
            self.shell.user_ns[target] = frame
        return frame


HELP = """
  %track start    open a run; every cell you run is recorded (code, time, outputs, data fingerprints)
  %track stop     end the run (saves a notebook snapshot and the hidden-state verdict)
  %track status   the current run, cells captured, datasets seen, hidden-state verdict
  %track params lr depth      log these variables' values as params
  %track metrics acc --step 3 log these variables' values as metrics
  %track data df  fingerprint a variable now
  %track pause | resume       stop / restart recording cells
  %%track [step]  run the cell as a named step (opens a run if none is open)
  %%mlnb_sql [var]            read-only SQL over runs, params, metrics, cells, datasets, lineage"""
