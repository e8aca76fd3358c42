"""`mlnb runs`, `show`, `experiments`, `metrics` and `sql`: browse the store (over mlnb.store.queries)."""
from __future__ import annotations

import sys
from typing import Any

import click

from mlnb import jsonout
from mlnb.cli.app import Settings, pass_settings
from mlnb.cli.output import (
    aligned, duration_text, format_option, key_values, number_text, print_empty, print_frame, print_records,
    print_table, select_columns, size_text, split_columns, table_run_columns, value_text,
)
from mlnb.errors import MlnbError


@click.command()
@click.option("--experiment", "-e", "experiments", multiple=True, metavar="NAME",
              help="Only runs of this experiment (repeat for several).")
@click.option("--filter", "filter_", metavar="EXPR",
              help="Filter expression, e.g. \"metrics.acc > 0.9 and params.opt = 'adam'\" "
                   "(fields: params.*, metrics.*, tags.*, name, status, start, ...).")
@click.option("--order-by", "-o", "order_by", multiple=True, metavar="KEY",
              help="Sort key, e.g. -metrics.acc (descending), params.lr, 'start desc'; repeatable. "
                   "Default: newest first.")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=None, metavar="N", help="Show at most N runs.")
@format_option
@click.option("--columns", "-c", metavar="A,B,...",
              help="Comma-separated columns to show, in order; globs work (params.*), and a bare "
                   "key finds params./metrics./tags.<key>. 'duration' (end - start) is offered too.")
@pass_settings
def runs(settings: Settings, experiments: tuple[str, ...], filter_: str | None, order_by: tuple[str, ...],
         limit: int | None, fmt: str, columns: str | None) -> None:
    """List runs, newest first, with their params, latest metrics and tags.

    The table shortens run ids to 8 characters, times to seconds and numbers to 4
    significant digits, shows the run's duration instead of its end time, and hides
    empty columns; columns that do not fit the terminal are listed below it.
    Use --format csv or json for full values.
    """
    from mlnb.store import queries

    store = settings.open_store()
    frame = queries.runs(store, list(experiments) or None, filter_, list(order_by) or None, limit)
    if frame.empty:
        total = int(queries.experiments(store)["runs"].sum())
        message = (f"no runs yet in {store.root}; log one with mlnb.start_run()" if total == 0
                   else "no runs match")
        print_empty(frame, fmt, message)
        return
    wanted = split_columns(columns)
    if fmt == "table" or "duration" in wanted:
        frame["duration"] = (frame["end"] - frame["start"]).dt.total_seconds()
    if wanted:
        frame = frame[select_columns(list(frame.columns), wanted)]
    elif fmt == "table":
        frame = frame[table_run_columns(list(frame.columns))]
    if fmt != "table":
        print_frame(frame, fmt)
        return
    count = len(frame)
    footer = f"{count} run{'' if count == 1 else 's'}"
    if limit is not None and count == limit:
        footer += f" (--limit {limit})"
    print_table(frame, footer, short_ids=True, hide_empty=not wanted, fit=not wanted)


@click.command()
@click.argument("run")
@format_option
@pass_settings
def show(settings: Settings, run: str, fmt: str) -> None:
    """Show everything recorded for RUN (a run id, or a unique prefix of 4+ characters).

    Prints the run's attributes, then its params, latest metrics, tags and
    artifacts (path, size, short content hash, media type).
    """
    from mlnb.store import queries

    record = queries.get_run(settings.open_store(), run)
    if fmt == "json":
        click.echo(jsonout.dumps(record.to_dict(), indent=2))
        return
    if fmt == "csv":  # one key,value row per fact: easy to grep or diff
        print_records(_run_facts(record), ["section", "key", "value"])
        return
    duration = ""
    if record.start is not None and record.end is not None:
        duration = f"  ({duration_text((record.end - record.start).total_seconds())})"
    attributes = [
        ("run", record.run_id), ("experiment", record.experiment), ("name", record.name),
        ("status", record.status), ("parent", record.parent_run_id),
        ("start", value_text(record.start)), ("end", value_text(record.end) + duration if record.end else None),
        ("user", record.user), ("host", record.host), ("pid", record.pid),
        ("notebook", record.notebook), ("git commit", record.git_commit),
    ]
    lines = key_values(attributes, indent="")
    lines += ["", "Params", *key_values(record.params.items())]
    lines += ["", "Metrics (latest)", *key_values((k, number_text(v, 10)) for k, v in record.metrics.items())]
    lines += ["", "Tags", *key_values(record.tags.items())]
    lines += ["", "Artifacts"]
    if record.artifacts:
        rows = [[a["path"], size_text(a["size"]), (a["hash"] or "")[:12], a["media_type"] or ""]
                for a in record.artifacts]
        lines += aligned(rows, right={1}, indent="  ")
    else:
        lines.append("  (none)")
    click.echo("\n".join(lines))


@click.command()
@format_option
@pass_settings
def experiments(settings: Settings, fmt: str) -> None:
    """List experiments with their number of runs, when each was created and its last run."""
    from mlnb.store import queries

    store = settings.open_store()
    frame = queries.experiments(store)
    frame = frame[["experiment", "runs", "created", "last_run"]]
    if frame.empty:
        print_empty(frame, fmt, f"no experiments yet in {store.root}; log a run with mlnb.start_run()")
        return
    if fmt != "table":
        print_frame(frame, fmt)
        return
    count = len(frame)
    print_table(frame, f"{count} experiment{'' if count == 1 else 's'}", hide_empty=False)


@click.command()
@click.argument("run")
@click.argument("key")
@format_option
@pass_settings
def metrics(settings: Settings, run: str, key: str, fmt: str) -> None:
    """Show every logged value of metric KEY of RUN (id or unique prefix): step, value, time."""
    from mlnb.store import queries

    frame = queries.metric_history(settings.open_store(), run, key)
    if fmt != "table":
        print_frame(frame, fmt)
        return
    count = len(frame)
    print_table(frame, f"{count} value{'' if count == 1 else 's'} of {key}", digits=8, hide_empty=False)


@click.command()
@click.argument("query")
@format_option
@pass_settings
def sql(settings: Settings, query: str, fmt: str) -> None:
    """Run a read-only SQL QUERY (DuckDB dialect) over the store; QUERY '-' reads it from stdin.

    \b
    Views: runs, params, metrics, latest_metrics, tags, artifacts, experiments,
           cells, datasets, lineage.
    Example: mlnb sql "SELECT name, value FROM latest_metrics JOIN runs USING (run_id)
                       WHERE key = 'acc' ORDER BY value DESC LIMIT 5"
    """
    from mlnb.store import queries

    if query == "-":
        raw = sys.stdin.buffer.read()
        try:
            query = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MlnbError(f"the query on stdin is not valid UTF-8 (byte {exc.start}); save it as UTF-8") from None
    frame = queries.sql(settings.open_store(), query)
    if fmt != "table":
        print_frame(frame, fmt)
        return
    if len(frame.columns) == 0:
        click.echo("ok (no result columns)")
        return
    count = len(frame)
    print_table(frame, f"{count} row{'' if count == 1 else 's'}", hide_empty=False,
                 hint="select fewer columns, or use --format csv")


def _run_facts(record: Any) -> list[tuple[str, str, Any]]:
    facts: list[tuple[str, str, Any]] = []
    for key, value in record.to_dict().items():
        if key in ("params", "metrics", "tags"):
            facts += [(key, k, v) for k, v in value.items()]
        elif key == "artifacts":
            facts += [("artifacts", a["path"], f"{a['hash']} {a['size']} {a['media_type'] or ''}".strip())
                      for a in value]
        else:
            facts.append(("run", key, "" if value is None else value))
    return facts
