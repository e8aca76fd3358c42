"""`mlnb run`, `reproduce`, `sweep` and `pipeline`: thin click faces over mlnb.batch.

The batch modules hold the Python API and know nothing of click; papermill, yaml and Dask load
only when a command runs (a base install without them gets a `pip install "mlnb[...]"` line).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlnb.cli.app import open_project
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


def parse_overrides(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        step, dot, name = target.partition(".")
        if not sep or not dot or not name.isidentifier():
            raise MlnbError(f"bad --set {item!r}; use --set step.param=value")
        out.setdefault(step, {})[name] = yaml.safe_load(raw)
    return out


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

    project = open_project(ctx, create=True)
    click.echo(f"running {notebook} ...", err=True)
    result = run(notebook, parse_parameters(pairs, files), experiment=experiment, output=output, name=name,
                 timeout=timeout, kernel_name=kernel_name, project=project)
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

    project = open_project(ctx)
    click.echo(f"re-executing run {run_id} ...", err=True)
    result = reproduce(run_id, project=project)
    if result.verdict != "reproduced":
        raise MlnbError(result.summary())
    click.echo(result.summary())


@click.command("sweep")
@click.argument("notebook", type=click.Path(dir_okay=False))
@click.option("--grid", "grids", multiple=True, metavar="NAME=V1,V2", help="Values of one parameter (repeatable).")
@click.option("--random", "random_n", type=int, help="Sample N combinations instead of the full grid.")
@click.option("--seed", type=int, help="Seed of --random.")
@click.option("-w", "--workers", type=int, default=1, show_default=True, help="Executions at a time.")
@click.option("--metric", help="Pick the best run by this metric.")
@click.option("--maximize/--minimize", default=True, show_default=True)
@click.option("--force", is_flag=True, help="Rerun combinations that already finished.")
@click.option("-e", "--experiment", help="Experiment of the runs.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--address", help="Dask scheduler address (tcp://HOST:PORT) for --executor dask.")
@click.pass_context
def sweep_command(ctx: click.Context, notebook: str, grids: tuple[str, ...], random_n: int | None,
                  seed: int | None, workers: int, metric: str | None, maximize: bool, force: bool,
                  experiment: str | None, executor: str, address: str | None) -> None:
    """Run NOTEBOOK once per parameter combination, as child runs of one sweep run.

    \b
    Examples:
      mlnb sweep train.ipynb --grid lr=0.1,0.01 --grid depth=3,5 --workers 2 --metric acc
      mlnb sweep train.ipynb --grid lr=0.1,0.03,0.01 --random 2 --seed 7 --minimize --metric loss
    """
    from mlnb.batch.sweeps import parse_grid, sweep

    project = open_project(ctx, create=True)
    result = sweep(notebook, parse_grid(grids), random=random_n, seed=seed, experiment=experiment, workers=workers,
                   metric=metric, maximize=maximize, force=force, executor=executor, address=address,
                   project=project)
    click.echo(result.summary())
    if result.rows and all(r["status"] != "finished" for r in result.rows):
        raise MlnbError(f"every run of sweep {result.parent_run_id[:8]} failed")


@click.command("pipeline")
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--force", multiple=True, metavar="STEP", help="Rerun this step even if unchanged (repeatable).")
@click.option("--set", "overrides", multiple=True, metavar="STEP.PARAM=VALUE", help="Override a step's param.")
@click.option("-w", "--workers", type=int, default=2, show_default=True, help="Steps at a time.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--address", help="Dask scheduler address (tcp://HOST:PORT) for --executor dask.")
@click.pass_context
def pipeline_command(ctx: click.Context, pipeline_file: str, force: tuple[str, ...], overrides: tuple[str, ...],
                     workers: int, executor: str, address: str | None) -> None:
    """Run the notebook steps of PIPELINE_FILE in dependency order, skipping unchanged steps.

    \b
    Examples:
      mlnb pipeline example-notebooks/pipeline/pipeline.yaml
      mlnb pipeline pipeline.yaml --set train.C=0.5 --force evaluate
    """
    from mlnb.batch.pipelines import run_pipeline

    project = open_project(ctx, create=True)
    result = run_pipeline(pipeline_file, force=list(force), workers=workers, executor=executor, address=address,
                          params_override=parse_overrides(overrides), project=project)
    click.echo(result.summary())
    if not result.ok:
        failed = [n for n, r in result.rows.items() if r["status"] == "failed"]
        raise MlnbError(f"pipeline {result.pipeline.name} failed at step {', '.join(failed)}")
