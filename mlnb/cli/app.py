"""The root `mlnb` group: its options, the settings handed to every command, and error handling.

Errors mlnb raises on purpose are printed as one ``error: ...`` line on stderr with exit code 1;
so are a missing optional dependency (naming the ``pip install "mlnb[...]"`` to run), an OS error,
and, as a last resort, a bug of ours (``MLNB_DEBUG=1`` shows its traceback).
"""
from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Sequence
from typing import Any

import click

from mlnb import __version__
from mlnb.errors import MlnbError, StaleIndexWarning, StoreNotFoundError
from mlnb.extras import install_hint

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


def one_line(message: str) -> str:
    """`message` on one line (runs of whitespace, newlines included, become one space)."""
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
                raise CliError(f"argument {position} ('{one_line(shown)[:60]}') is not valid UTF-8; "
                               "pass text in UTF-8 (check the terminal's or script's encoding)")
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                _show_stale_index_warnings_in_one_line()
                return super().invoke(ctx)
        except MlnbError as exc:
            raise CliError(one_line(str(exc) or type(exc).__name__)) from None
        except ModuleNotFoundError as exc:
            hint = install_hint(exc.name, f"{ctx.command_path} {ctx.invoked_subcommand or ''}".strip())
            if hint is not None:  # an optional dependency this command needs is not installed
                raise CliError(hint) from None
            if os.environ.get("MLNB_DEBUG"):  # not one of ours: a broken install, or a bug
                raise
            raise CliError(_unexpected(exc)) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `mlnb runs | head`: let click handle the closed pipe
                raise
            where = f": {exc.filename}" if exc.filename else ""
            raise CliError(one_line(f"{exc.strerror or exc}{where}")) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug of ours: still one line; MLNB_DEBUG=1 shows the traceback
            if os.environ.get("MLNB_DEBUG"):
                raise
            raise CliError(_unexpected(exc)) from None


def _unexpected(exc: Exception) -> str:
    return (one_line(f"unexpected {type(exc).__name__}: {exc}")[:300]
            + " (this is a bug in mlnb; MLNB_DEBUG=1 shows the traceback)")


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
            click.echo(f"warning: {one_line(str(message))}", err=True)
        else:
            default(message, category, *args, **kwargs)

    warnings.showwarning = show


class Settings:
    """What the top-level options chose; handed to every command as the context object."""

    def __init__(self, store: str | None) -> None:
        self.store_path = store  # a path or a store URL (kept as text: Path would mangle `s3://`)

    def open_project(self, create: bool = False) -> Any:
        """The project of --store ($MLNB_HOME, else found from the cwd), handed to the Python API as
        `project=`: the process's current project stays as it was. Without `create`, an existing
        store only."""
        from mlnb.project import Project

        project = Project.open(self.store_path, create=create)
        if not create and not project.store.exists():  # e.g. $MLNB_HOME names a folder that holds no store
            raise StoreNotFoundError(
                f"no mlnb store at {project.store.root}; run `mlnb init` there or log a run first"
            )
        return project

    def open_store(self) -> Any:
        """The existing store to read from; never creates one."""
        return self.open_project().store


def open_project(ctx: click.Context, create: bool = False) -> Any:
    """The project a command works on (see `Settings.open_project`)."""
    settings = ctx.find_object(Settings) or Settings(None)
    return settings.open_project(create=create)


pass_settings = click.make_pass_decorator(Settings)


@click.group(name="mlnb", cls=MlnbGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store", type=click.Path(file_okay=False, path_type=str), default=None, metavar="PATH",
    help="The project folder or its .mlnb store (or a store URL). Default: $MLNB_HOME, else the "
         "nearest .mlnb in the current folder or a parent.",
)
@click.version_option(__version__, "--version", "-V", prog_name="mlnb", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, store: str | None) -> None:
    """mlnb: notebook-native experiment tracking on a local DuckDB store.

    Browse the runs logged with mlnb.start_run() from a terminal: list and filter
    them, look at one in detail, follow a metric, or query the store with SQL.
    """
    ctx.obj = Settings(store)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `mlnb` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="mlnb")
