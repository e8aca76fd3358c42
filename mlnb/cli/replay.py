"""`mlnb replay MODEL_URI`: score archived live traffic with a candidate version, offline, and
compare it with what was returned and with the feedback (a thin face over `mlnb.replay`).

Exit codes: 0 when the comparison is printed; 2 for bad usage or input (one `error: ...` line).
"""
from __future__ import annotations

import sys
import warnings
from typing import Any

import click

from mlnb import jsonout
from mlnb.cli.app import CliError, Settings, one_line, pass_settings
from mlnb.cli.output import print_table
from mlnb.errors import MlnbError
from mlnb.extras import install_hint


class BadInput(CliError):
    """The replay could not run (bad usage, unknown model, nothing archived): exit code 2."""

    exit_code = 2


@click.command("replay", epilog="""\b
Examples:
  mlnb replay churn@challenger --since 7d
  mlnb replay churn/4 --since 2026-11-01 --until 2026-11-08 --limit 10000
  mlnb replay churn@challenger --since 1h --json > replay.json
""")
@click.argument("model_uri")
@click.option("--since", metavar="WHEN", help="Start of the window: ISO time (UTC) or a duration back from now (15min, 2h, 7d).")
@click.option("--until", metavar="WHEN", help="End of the window (same forms as --since). Default: now.")
@click.option("--limit", metavar="N", help="At most the latest N archived requests.")
@click.option("--allow-pickle", is_flag=True, default=None,
              help="Load a model format that runs code from the file (only for models you trust).")
@click.option("--json", "as_json", is_flag=True, help="The comparison as JSON, for programs.")
@pass_settings
def replay_command(settings: Settings, model_uri: str, since: str | None, until: str | None, limit: str | None,
                   allow_pickle: bool | None, as_json: bool) -> None:
    """Score the archived inputs of MODEL_URI's model with that version and compare it with the
    answers returned live and the logged feedback (agreement, accuracy or mae, errors)."""
    try:
        count = _limit(limit)
        from mlnb.serving.replay import SkippedWarning, replay

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedWarning)  # said in the footer instead
            frame = replay(model_uri, since=since, until=until, limit=count, allow_pickle=allow_pickle or None,
                           project=settings.open_project(), progress=sys.stderr.isatty() and not as_json)
    except MlnbError as exc:
        raise BadInput(one_line(str(exc) or type(exc).__name__)) from None
    except ImportError as exc:
        hint = install_hint(getattr(exc, "name", None), "mlnb replay")
        raise BadInput(hint or one_line(str(exc))) from None
    attrs = frame.attrs
    if as_json:
        click.echo(jsonout.dumps({"model": attrs["model"], "uri": attrs["uri"], "requests": attrs["requests"],
                                  "replayed": attrs["replayed"], "skipped": attrs["skipped"],
                                  "versions": _records(frame)}, indent=2))
        return
    footer = f"{model_uri} replayed on {attrs['replayed']} of {attrs['requests']} archived request(s)"
    if attrs["skipped"]:
        footer += f"; {attrs['skipped']} skipped (no archived input)"
    print_table(frame, footer, hide_empty=False)


def _limit(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise MlnbError(f"--limit must be a positive whole number, got {text!r}")
    return int(text)


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{k: (None if v != v else v) if isinstance(v, float) else v for k, v in row.items()}
            for row in frame.to_dict(orient="records")]
