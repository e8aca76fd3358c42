"""`mlnb run` (and the helpers every batch command shares): thin click faces over mlnb.batch."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlnb.errors import MlnbError


def parse_parameters(pairs: tuple[str, ...], files: tuple[str, ...] = ()) -> dict[str, Any]:
    """`-f params.yaml` files, then `-p name=value` pairs (values read as YAML: 0.1, true, [1, 2], text)."""
    import yaml

    values: dict[str, Any] = {}
    for file in files:
        try:
            loaded = yaml.safe_load(Path(file).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise MlnbError(f"cannot read parameters from {file}: {str(exc).splitlines()[0]}") from None
        if not isinstance(loaded, dict):
            raise MlnbError(f"{file} must hold a mapping of parameter names to values")
        values.update(loaded)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.isidentifier():
            raise MlnbError(f"bad parameter {pair!r}; use -p name=value (name a Python identifier)")
        try:
            values[name] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            values[name] = raw
    return values


@click.command("run")
@click.argument("notebook", type=click.Path(dir_okay=False))
@click.option("-p", "--parameter", "pairs", multiple=True, metavar="NAME=VALUE", help="A parameter (repeatable).")
@click.option("-f", "--parameters-file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A YAML file of parameters (repeatable; -p wins).")
@click.option("-e", "--experiment", help="Experiment of the run (default: Default).")
@click.option("-n", "--name", help="Run name (default: the notebook's file name).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Where to write the executed notebook.")
@click.option("--timeout", type=float, help="Seconds a single cell may run.")
@click.option("-k", "--kernel", "kernel_name", help="Kernel name (default: the notebook's).")
@click.pass_context
def run_command(ctx: click.Context, notebook: str, pairs: tuple[str, ...], files: tuple[str, ...],
                experiment: str | None, name: str | None, output: str | None, timeout: float | None,
                kernel_name: str | None) -> None:
    """Execute NOTEBOOK with papermill as a tracked run.

    Every cell is captured as in interactive use; the parameters, the executed notebook and the
    outcome are recorded. A failing cell marks the run failed and exits with status 1.

    \b
    Examples:
      mlnb run train.ipynb -p lr=0.01 -p epochs=5
      mlnb run train.ipynb -f params.yaml -e churn -o out/train-run.ipynb
    """
    from mlnb.batch.runner import run
    from mlnb.store.store import Store

    store = Store.open(getattr(ctx.obj, "store_path", None), create=True)
    click.echo(f"running {notebook} ...", err=True)
    result = run(notebook, parse_parameters(pairs, files), experiment=experiment, output=output, name=name,
                 timeout=timeout, kernel_name=kernel_name, store=store)
    if not result.ok:
        raise MlnbError(f"run {result.run_id[:8]} failed: {result.error} (executed notebook: {result.output})")
    click.echo(f"run {result.run_id[:8]} finished in {result.seconds:.1f} s; executed notebook: {result.output}")


@click.command("reproduce")
@click.argument("run_id")
@click.pass_context
def reproduce_command(ctx: click.Context, run_id: str) -> None:
    """Re-execute RUN_ID's notebook snapshot with the same params in a fresh kernel and compare
    cell by cell (data fingerprints, metrics, text outputs). Exit status 1 unless it reproduced.

    \b
    Example:
      mlnb reproduce 3f2a9c1d
    """
    from mlnb.batch.reproduce import reproduce
    from mlnb.store.store import Store

    store = Store.open(getattr(ctx.obj, "store_path", None), create=False)
    click.echo(f"re-executing run {run_id} ...", err=True)
    result = reproduce(run_id, store=store)
    if result.verdict != "reproduced":
        raise MlnbError(result.summary())
    click.echo(result.summary())
