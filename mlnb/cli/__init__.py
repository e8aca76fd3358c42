"""The `mlnb` command line: thin click faces over mlnb's Python API, for terminals and scripts.

Every command finds the store (``--store``, else ``$MLNB_HOME``, else a ``.mlnb`` folder in
the current directory or a parent), calls the Python API and prints the result as a table
(for people) or as CSV / JSON (for programs). Errors are one ``error: ...`` line on stderr,
exit code 1.

Layout: ``app`` (the root group, settings, error handling), ``output`` (table/csv/json),
and one module per command group: ``store`` (init, store status/rebuild), ``runs`` (runs,
show, experiments, metrics, sql), ``models``, ``monitoring`` (monitor) and ``batch`` (run, reproduce, sweep, pipeline).
Only ``app`` and ``output`` are shared; command modules never import each other.

Importing this package stays light: pandas, DuckDB and papermill load only when a command runs.
"""
from __future__ import annotations

from mlnb.cli.app import EPILOG, CliError, MlnbGroup, Settings, cli, main, pass_settings
from mlnb.cli.batch import pipeline_command, reproduce_command, run_command, sweep_command
from mlnb.cli.models import models_group
from mlnb.cli.monitoring import monitor_command
from mlnb.cli.output import FORMATS, format_option
from mlnb.cli.replay import replay_command
from mlnb.cli.runs import experiments, metrics, runs, show, sql
from mlnb.cli.serving import serve_command
from mlnb.cli.store import init, store

for _command in (init, runs, show, experiments, metrics, sql, store, run_command, reproduce_command,
                 models_group, sweep_command, pipeline_command, monitor_command):
    cli.add_command(_command)
cli.add_command(serve_command)
for _command in (replay_command,):  # serving's archive side
    cli.add_command(_command)
del _command

__all__ = ["EPILOG", "FORMATS", "CliError", "MlnbGroup", "Settings", "cli", "format_option", "main",
           "pass_settings"]
