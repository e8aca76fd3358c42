"""The `mlnb` command line: a thin layer over `mlnb.store.queries` for terminals and scripts.

Every command finds the store (``--store``, else ``$MLNB_HOME``, else a ``.mlnb`` folder in
the current directory or a parent), calls one query function and prints the result as a
table (for people) or as CSV / JSON (for programs). Errors mlnb raises on purpose are
printed as one ``error: ...`` line on stderr with exit code 1.

Importing this module stays light: pandas and DuckDB load only when a command runs.
"""
from __future__ import annotations

import errno
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from mlnb import __version__
from mlnb.errors import MlnbError, StaleIndexWarning, StoreNotFoundError

FORMATS = ("table", "csv", "json")
ID_COLUMNS = ("run_id", "parent_run_id")
SHORT_ID = 8
MAX_CELL = 32  # table cells longer than this are cut with an ellipsis
DEFAULT_WIDTH = 120  # when the terminal width is unknown (output piped); $COLUMNS overrides

EPILOG = """\b
Examples:
  mlnb init                                  create .mlnb/ in the current folder
  mlnb runs                                  newest runs first, as a table
  mlnb runs -e cifar --filter "metrics.acc > 0.9 and params.opt = 'adam'"
  mlnb runs --order-by -metrics.acc --limit 5 --columns name,params.lr,metrics.acc
  mlnb runs --format csv > runs.csv          full values, for spreadsheets and scripts
  mlnb show 3f2a9c1e                         one run: params, metrics, tags, artifacts
  mlnb metrics 3f2a9c1e loss                 every logged step of one metric
  mlnb experiments
  mlnb sql "SELECT experiment, count(*) AS n FROM runs GROUP BY ALL"
  mlnb store status
  mlnb store rebuild                         re-create the index from the event logs

\b
The store is found from --store, else $MLNB_HOME, else a .mlnb folder in the
current folder or one of its parents. Times are shown in UTC.
"""


class CliError(click.ClickException):
    """An error shown as one `error: <message>` line on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _one_line(message: str) -> str:
    text = " ".join(str(message).split())
    return text or "unknown error"


class MlnbGroup(click.Group):
    """A click group that turns mlnb's own errors into one-line messages instead of tracebacks."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Python hands undecodable argv bytes over as lone surrogates, which no later step
        # (DuckDB, JSON, the event log) can encode: refuse them here, naming the argument
        for position, arg in enumerate(args, start=1):
            if isinstance(arg, str) and not _is_utf8(arg):
                shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                raise CliError(f"argument {position} ('{_one_line(shown)[:60]}') is not valid UTF-8; "
                               "pass text in UTF-8 (check the terminal's or script's encoding)")
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                _show_stale_index_warnings_in_one_line()
                return super().invoke(ctx)
        except MlnbError as exc:
            raise CliError(_one_line(str(exc) or type(exc).__name__)) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `mlnb runs | head`: let click handle the closed pipe
                raise
            where = f": {exc.filename}" if exc.filename else ""
            raise CliError(_one_line(f"{exc.strerror or exc}{where}")) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug of ours: still one line; MLNB_DEBUG=1 shows the traceback
            if os.environ.get("MLNB_DEBUG"):
                raise
            raise CliError(_one_line(f"unexpected {type(exc).__name__}: {exc}")[:300]
                           + " (this is a bug in mlnb; MLNB_DEBUG=1 shows the traceback)") from None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show_stale_index_warnings_in_one_line() -> None:
    """StaleIndexWarning (a read-only store) as one `warning: ...` line; other warnings as usual."""
    default = warnings.showwarning

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, StaleIndexWarning):
            click.echo(f"warning: {_one_line(str(message))}", err=True)
        else:
            default(message, category, *args, **kwargs)

    warnings.showwarning = show


class Settings:
    """What the top-level options chose; handed to every command as the context object."""

    def __init__(self, store: Path | None) -> None:
        self.store_path = store

    def open_store(self) -> Any:
        """The existing store to read from; never creates one."""
        from mlnb.store.location import is_store
        from mlnb.store.store import Store

        store = Store.open(self.store_path, create=False)
        if not is_store(store.root):  # e.g. $MLNB_HOME names a folder that holds no store
            raise StoreNotFoundError(
                f"no mlnb store at {store.root}; run `mlnb init` there or log a run first"
            )
        return store


pass_settings = click.make_pass_decorator(Settings)

format_option = click.option(
    "--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
    help="table for people; csv or json (records, ISO dates) for programs, with full values.",
)


@click.group(name="mlnb", cls=MlnbGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="PATH",
    help="The project folder or its .mlnb store. Default: $MLNB_HOME, else the nearest .mlnb "
         "in the current folder or a parent.",
)
@click.version_option(__version__, "--version", "-V", prog_name="mlnb", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, store: Path | None) -> None:
    """mlnb: notebook-native experiment tracking on a local DuckDB store.

    Browse the runs logged with mlnb.start_run() from a terminal: list and filter
    them, look at one in detail, follow a metric, or query the store with SQL.
    """
    ctx.obj = Settings(store)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `mlnb` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="mlnb")


# ---------------------------------------------------------------------------------------------
# commands


@cli.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@pass_settings
def init(settings: Settings, path: Path | None) -> None:
    """Create a store in PATH (a project folder, or the .mlnb folder itself).

    Without PATH: the --store folder, else $MLNB_HOME, else the current folder.
    Running it on an existing store does nothing.
    """
    from mlnb.store.location import ENV_HOME, STORE_DIRNAME, is_store
    from mlnb.store.store import Store

    target = path or settings.store_path
    if target is None and os.environ.get(ENV_HOME):
        target = Path(os.environ[ENV_HOME]).expanduser().resolve()  # MLNB_HOME names the store itself
    else:
        target = Path(target or os.getcwd()).expanduser().resolve()
        if target.name != STORE_DIRNAME and not is_store(target):
            target = target / STORE_DIRNAME  # a project folder: its store goes in .mlnb/
    existed = is_store(target)
    store = Store.open(target, create=True)
    if existed:
        click.echo(f"mlnb store already exists at {store.root}")
    else:
        click.echo(f"created mlnb store at {store.root}")


@cli.command()
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
        _print_empty(frame, fmt, message)
        return
    wanted = _split_columns(columns)
    if fmt == "table" or "duration" in wanted:
        frame["duration"] = (frame["end"] - frame["start"]).dt.total_seconds()
    if wanted:
        frame = frame[_select_columns(list(frame.columns), wanted)]
    elif fmt == "table":
        frame = frame[_table_run_columns(list(frame.columns))]
    if fmt != "table":
        _print_frame(frame, fmt)
        return
    count = len(frame)
    footer = f"{count} run{'' if count == 1 else 's'}"
    if limit is not None and count == limit:
        footer += f" (--limit {limit})"
    _print_table(frame, footer, short_ids=True, hide_empty=not wanted, fit=not wanted)


@cli.command()
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
        click.echo(json.dumps(_jsonable(record.to_dict()), indent=2))
        return
    if fmt == "csv":  # one key,value row per fact: easy to grep or diff
        _print_records(_run_facts(record), ["section", "key", "value"])
        return
    duration = ""
    if record.start is not None and record.end is not None:
        duration = f"  ({_duration((record.end - record.start).total_seconds())})"
    attributes = [
        ("run", record.run_id), ("experiment", record.experiment), ("name", record.name),
        ("status", record.status), ("parent", record.parent_run_id),
        ("start", _text(record.start)), ("end", _text(record.end) + duration if record.end else None),
        ("user", record.user), ("host", record.host), ("pid", record.pid),
        ("notebook", record.notebook), ("git commit", record.git_commit),
    ]
    lines = _key_values(attributes, indent="")
    lines += ["", "Params", *_key_values(record.params.items())]
    lines += ["", "Metrics (latest)", *_key_values((k, _number(v, 10)) for k, v in record.metrics.items())]
    lines += ["", "Tags", *_key_values(record.tags.items())]
    lines += ["", "Artifacts"]
    if record.artifacts:
        rows = [[a["path"], _size(a["size"]), (a["hash"] or "")[:12], a["media_type"] or ""]
                for a in record.artifacts]
        lines += _aligned(rows, right={1}, indent="  ")
    else:
        lines.append("  (none)")
    click.echo("\n".join(lines))


@cli.command()
@format_option
@pass_settings
def experiments(settings: Settings, fmt: str) -> None:
    """List experiments with their number of runs, when each was created and its last run."""
    from mlnb.store import queries

    store = settings.open_store()
    frame = queries.experiments(store)
    frame = frame[["experiment", "runs", "created", "last_run"]]
    if frame.empty:
        _print_empty(frame, fmt, f"no experiments yet in {store.root}; log a run with mlnb.start_run()")
        return
    if fmt != "table":
        _print_frame(frame, fmt)
        return
    count = len(frame)
    _print_table(frame, f"{count} experiment{'' if count == 1 else 's'}", hide_empty=False)


@cli.command()
@click.argument("run")
@click.argument("key")
@format_option
@pass_settings
def metrics(settings: Settings, run: str, key: str, fmt: str) -> None:
    """Show every logged value of metric KEY of RUN (id or unique prefix): step, value, time."""
    from mlnb.store import queries

    frame = queries.metric_history(settings.open_store(), run, key)
    if fmt != "table":
        _print_frame(frame, fmt)
        return
    count = len(frame)
    _print_table(frame, f"{count} value{'' if count == 1 else 's'} of {key}", digits=8, hide_empty=False)


@cli.command()
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
        _print_frame(frame, fmt)
        return
    if len(frame.columns) == 0:
        click.echo("ok (no result columns)")
        return
    count = len(frame)
    _print_table(frame, f"{count} row{'' if count == 1 else 's'}", hide_empty=False,
                 hint="select fewer columns, or use --format csv")


@cli.group(cls=MlnbGroup)
def store() -> None:
    """Look after the store itself: its size and state, or rebuild its index."""


@store.command()
@pass_settings
def rebuild(settings: Settings) -> None:
    """Re-create the DuckDB index from the event logs (the source of truth).

    Safe to run any time; use it if the index file was deleted or seems wrong.
    """
    st = settings.open_store()
    started = time.perf_counter()
    report = st.rebuild()
    took = time.perf_counter() - started
    click.echo(
        f"rebuilt index of {st.root} in {took:.2f} s: {report['runs']} runs from "
        f"{report['events']} events in {report['files']} event files"
        + (f" ({report['bad_lines']} events quarantined: see `mlnb store status`)" if report.get("bad_lines") else "")
    )


@store.command()
@click.option("--format", "-f", "fmt", type=click.Choice(("text", "json")), default="text",
              show_default=True, help="text for people, json for programs.")
@pass_settings
def status(settings: Settings, fmt: str) -> None:
    """Show where the store is, the size of its event logs, index and artifacts, and runs by status."""
    from mlnb.store import queries
    from mlnb.store.ingest import event_files

    st = settings.open_store()
    events = event_files(st.root)
    event_bytes = sum(_file_size(p) for p in events)
    by_status = queries.sql(st, "SELECT status, count(*) AS runs FROM runs GROUP BY status ORDER BY runs DESC, status")
    counts = {str(s): int(n) for s, n in zip(by_status["status"], by_status["runs"])}
    quarantined = int(queries.sql(st, "SELECT count(*) AS n FROM quarantined_events")["n"][0])
    index_bytes = _file_size(st.db_path) + _file_size(Path(str(st.db_path) + ".wal"))
    files = [p for p in st.blobs.root.rglob("*") if p.is_file()] if st.blobs.root.is_dir() else []
    # artifacts/tmp holds artifacts being written right now (a dead writer's are removed on open)
    writing = [p for p in files if st.blobs.tmp in p.parents or p.name.startswith(".tmp-")]
    blobs = [p for p in files if p not in set(writing)]
    blob_bytes = sum(_file_size(p) for p in blobs)
    if fmt == "json":
        click.echo(json.dumps({
            "store": str(st.root), "event_files": len(events), "event_bytes": event_bytes,
            "index_file": str(st.db_path), "index_bytes": index_bytes, "artifact_blobs": len(blobs),
            "artifact_bytes": blob_bytes, "runs": sum(counts.values()), "runs_by_status": counts,
            "quarantined_events": quarantined, "artifacts_being_written": len(writing),
        }, indent=2))
        return
    total = sum(counts.values())
    breakdown = ", ".join(f"{n} {s}" for s, n in counts.items())
    rows = [
        ("store", str(st.root)),
        ("event files", f"{len(events)} ({_size(event_bytes)})"),
        ("index", f"{st.db_path.name} ({_size(index_bytes)})"),
        ("artifacts", f"{len(blobs)} blob{'' if len(blobs) == 1 else 's'} ({_size(blob_bytes)})"),
        ("runs", f"{total}" + (f": {breakdown}" if breakdown else "")),
    ]
    if writing:
        rows.append(("writing", f"{len(writing)} artifact{'' if len(writing) == 1 else 's'} being written "
                                f"({_size(sum(_file_size(p) for p in writing))}) in {st.blobs.tmp}"))
    if quarantined:
        rows.append(("quarantined", f"{quarantined} event line{'' if quarantined == 1 else 's'} not ingested "
                                    "(see: mlnb sql \"SELECT * FROM quarantined_events\")"))
    click.echo("\n".join(_key_values(rows, indent="")))


# ---------------------------------------------------------------------------------------------
# output helpers


def _print_empty(frame: Any, fmt: str, message: str) -> None:
    """Nothing to show: a sentence for people; for programs an empty result, the sentence on stderr."""
    if fmt == "table":
        click.echo(message)
        return
    click.echo(message, err=True)
    _print_frame(frame, fmt)


def _print_frame(frame: Any, fmt: str) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    else:  # records; json.dumps keeps every float exact (DataFrame.to_json rounds to 10 digits)
        rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        click.echo(json.dumps(_jsonable(rows), indent=2, default=_json_default))


def _print_records(rows: list[tuple[Any, ...]], header: list[str]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    click.echo(buffer.getvalue(), nl=False)


def _split_columns(columns: str | None) -> list[str]:
    return [c.strip() for c in (columns or "").split(",") if c.strip()]


def _select_columns(available: list[str], wanted: list[str]) -> list[str]:
    """Columns named by `wanted`: exact names, globs, or a bare params/metrics/tags key."""
    import fnmatch

    chosen: list[str] = []
    for name in wanted:
        if name in available:
            matches = [name]
        elif any(c in name for c in "*?["):
            matches = [c for c in available if fnmatch.fnmatchcase(c, name)]
        else:
            matches = [c for c in available if c.split(".", 1)[-1] == name and "." in c]
        if not matches:
            shown = ", ".join(available[:30]) + (", ..." if len(available) > 30 else "")
            raise MlnbError(f"no column {name!r} in the result; columns are: {shown}")
        if len(matches) > 1 and not any(c in name for c in "*?["):
            raise MlnbError(f"column {name!r} is ambiguous ({', '.join(matches)}); give the full name")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def _table_run_columns(available: list[str]) -> list[str]:
    """Default table columns: attributes (duration instead of end), then metrics, params, tags."""
    head = [c for c in ("run_id", "experiment", "name", "status", "start", "duration", "parent_run_id")
            if c in available]
    by_kind = {kind: [c for c in available if c.startswith(kind + ".")] for kind in ("metrics", "params", "tags")}
    return head + by_kind["metrics"] + by_kind["params"] + by_kind["tags"]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        return False


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return format(number, f".{digits}g")


def _duration(seconds: float) -> str:
    if seconds < 0 or not math.isfinite(seconds):
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _size(size: Any) -> str:
    if _is_missing(size):
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _text(value: Any) -> str:
    """A value as short, one-line text (times to seconds, numbers to 4 significant digits)."""
    if _is_missing(value):
        return ""
    if isinstance(value, datetime):  # pandas.Timestamp included
        # not strftime: pandas refuses it outside years 1-9999 (DuckDB's 'infinity' timestamps)
        return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
                f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _duration(value.total_seconds())
    if isinstance(value, (int, float)) or hasattr(value, "__float__") and not isinstance(value, str):
        try:
            return _number(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            pass
    return " ".join(str(value).split()) if "\n" in str(value) or "\t" in str(value) else str(value)


def _cut(text: str, width: int = MAX_CELL) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(column: str, value: Any, short_ids: bool, digits: int) -> str:
    if _is_missing(value):
        return ""
    if column == "duration":
        return _duration(float(value))
    if short_ids and column in ID_COLUMNS:
        return str(value)[:SHORT_ID]
    if isinstance(value, float) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "f"):
        return _number(value, digits)
    return _cut(_text(value))


def _print_table(frame: Any, footer: str, *, short_ids: bool = False, hide_empty: bool = True,
                 fit: bool = True, digits: int = 4, hint: str = "pick with --columns, or use --format csv") -> None:
    """Print `frame` as an aligned text table that fits the terminal, then `footer`."""
    import shutil

    import pandas as pd

    columns = list(frame.columns)
    if hide_empty:
        columns = [c for c in columns if not frame[c].isna().all()]
    cells = {c: [_cell(c, v, short_ids, digits) for v in frame[c].tolist()] for c in columns}
    if hide_empty:
        columns = [c for c in columns if any(cells[c])]
    right_names = {c for c in columns
                   if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])}
    widths = [max([len(c), *map(len, cells[c])]) for c in columns]
    width_of = dict(zip(columns, widths))
    hidden: list[str] = []
    if fit:  # drop the least useful columns (rightmost first among equals) until the rest fit
        limit = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
        rank = {c: (_drop_rank(c, i), -i) for i, c in enumerate(columns)}
        kept = list(columns)
        for column in sorted(columns, key=lambda c: rank[c]):
            if len(kept) <= 1 or sum(width_of[c] + 2 for c in kept) - 2 <= limit:
                break
            kept.remove(column)
            hidden.append(column)
        hidden = [c for c in columns if c in hidden]
        columns = kept
    right = {i for i, c in enumerate(columns) if c in right_names}
    widths = [width_of[c] for c in columns]
    rows = [list(columns)] + [["-" * w for w in widths]]
    rows += [[cells[c][i] for c in columns] for i in range(len(frame))]
    for line in _aligned(rows, right=right, widths=widths):
        click.echo(line)
    if hidden:
        names = ", ".join(hidden[:8]) + (", ..." if len(hidden) > 8 else "")
        footer += f"; {len(hidden)} more column{'' if len(hidden) == 1 else 's'} not shown ({names}): {hint}"
    click.echo(footer)


# Which columns a narrow terminal gives up first (lowest rank first; rightmost first among equals).
_DROP_RANKS = {"tags": 0, "parent_run_id": 1, "end": 1, "duration": 2, "start": 3, "params": 4,
               "experiment": 5, "status": 6, "metrics": 7, "name": 8, "run_id": 9}


def _drop_rank(column: str, position: int) -> int:
    rank = _DROP_RANKS.get(column, _DROP_RANKS.get(column.split(".", 1)[0] if "." in column else "", -1))
    return rank if rank >= 0 else -position  # other columns (SQL results): rightmost first


def _aligned(rows: Iterable[Sequence[str]], right: set[int] = frozenset(), widths: list[int] | None = None,
             indent: str = "") -> list[str]:
    rows = [list(map(str, row)) for row in rows]
    if not rows:
        return []
    if widths is None:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        parts = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append((indent + "  ".join(parts)).rstrip())
    return lines


def _key_values(items: Iterable[tuple[str, Any]], indent: str = "  ") -> list[str]:
    pairs = [(str(k), "-" if _is_missing(v) or v == "" else _cut(_text(v), 200)) for k, v in items]
    if not pairs:
        return [f"{indent}(none)"]
    width = max(len(k) for k, _ in pairs)
    return [f"{indent}{k.ljust(width)}  {v}".rstrip() for k, v in pairs]


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


def _jsonable(value: Any) -> Any:
    """Plain JSON values: ISO times, null for NaN/inf (JSON has no literal for them)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    """JSON for what SQL results may hold beyond plain values: numpy scalars and arrays, times, bytes."""
    if isinstance(value, timedelta):  # pandas.Timedelta included
        return value.total_seconds()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays (DuckDB lists)
        return _jsonable(value.tolist())
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _register_commands() -> None:
    """Commands kept in their own modules (batch, registry); importing them loads no heavy library."""
    from mlnb.batch.commands import reproduce_command, run_command
    from mlnb.batch.pipelines import pipeline_command
    from mlnb.batch.sweeps import sweep_command
    from mlnb.cli_models import models_group

    cli.add_command(run_command)
    cli.add_command(reproduce_command)
    cli.add_command(models_group)
    cli.add_command(sweep_command)
    cli.add_command(pipeline_command)


if __name__ == "__main__":  # `python -m mlnb.cli`: run the one `mlnb.cli` module the commands import
    from mlnb.cli import main as _main

    sys.exit(_main())
else:
    _register_commands()
