"""`mlnb monitor MODEL_URI DATA`: drift and validation of a data file against a model version's
reference profile, as a gate for scheduled jobs and CI (a thin face over `mlnb.monitor`).

Exit codes: 0 when every column is ok (or only warns) and validation passed; 1 when a column
drifts or validation fails (the table is still printed); 2 for bad usage or input (one
`error: ...` line), so a gate can tell "the data moved" from "the check could not run".
"""
from __future__ import annotations

import os
from typing import Any

import click

from mlnb import jsonout
from mlnb.cli.app import CliError, Settings, one_line, pass_settings
from mlnb.cli.output import FORMATS, print_records, print_table, split_columns
from mlnb.errors import MlnbError
from mlnb.extras import install_hint
from mlnb.model_monitoring.report_html import STATUS_RANK, overall_status, report_state, table_rows

READERS = {".parquet": "read_parquet", ".pq": "read_parquet", ".csv": "read_csv"}
TABLE_FIELDS = ("column", "kind", "status", "statistic", "score", "warn_at", "drift_at", "psi", "js",
                "wasserstein", "ks_p_adjusted", "missing_reference", "missing_current", "unseen")


class BadInput(CliError):
    """The check could not run (bad usage, unreadable data, unknown model): exit code 2."""

    exit_code = 2


@click.command("monitor", epilog="""\b
Examples:
  mlnb monitor churn@champion today.parquet
  mlnb monitor churn/3 batch.csv --format json > check.json
  mlnb monitor churn/3 batch.csv --columns age,plan || echo "drift: retrain?"
""")
@click.argument("model_uri")
@click.argument("data", type=click.Path(dir_okay=False, path_type=str))
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; csv (one row per column) or json (the whole check) for programs.")
@click.option("--columns", help="Only these columns (comma-separated) are shown and decide the exit code; "
                                "the stored check covers every column.")
@click.option("--name", help="A name for this check, kept in the history (e.g. the batch date).")
@pass_settings
def monitor_command(settings: Settings, model_uri: str, data: str, fmt: str, columns: str | None,
                    name: str | None) -> None:
    """Check DATA (.parquet or .csv) against MODEL_URI's reference profile: per column drift
    status and statistics, and validation. Exit 0 ok, 1 drift or failed validation, 2 bad input."""
    wanted = split_columns(columns)
    try:
        frame = read_data(data)
        unknown = [c for c in wanted if c not in frame.columns]
        if unknown:  # before the check is made (and stored)
            shown = ", ".join(map(str, list(frame.columns)[:30]))
            raise MlnbError(f"no column {', '.join(unknown)} in {os.path.basename(data)}; its columns are: {shown}")
        from mlnb.model_monitoring import monitor

        result = monitor(model_uri, frame, name=name, project=settings.open_project())
        state = restrict(report_state(result), wanted) if wanted else report_state(result)
    except MlnbError as exc:
        raise BadInput(one_line(str(exc) or type(exc).__name__)) from None
    except ImportError as exc:
        hint = install_hint(getattr(exc, "name", None), "mlnb monitor")
        raise BadInput(hint or one_line(f"cannot read {data}: {exc}")) from None
    except OSError as exc:
        raise BadInput(one_line(f"cannot read {data}: {exc.strerror or exc}")) from None
    print_check(state, fmt)
    if overall_status(state) == "drift":
        click.get_current_context().exit(1)


def read_data(path: str) -> Any:
    """DATA as a DataFrame; an MlnbError saying what to do otherwise."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in READERS:
        raise MlnbError(f"DATA must be a .parquet or .csv file, got {os.path.basename(path)!r}")
    if not os.path.isfile(path):
        raise MlnbError(f"no file {path}; give the path of a .parquet or .csv file")
    import pandas as pd

    try:
        frame = getattr(pd, READERS[suffix])(path)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MlnbError(f"cannot read {path} as {suffix[1:]}: {one_line(str(exc))[:200]}") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow's own errors (a damaged parquet file) are not ValueErrors
        if type(exc).__module__.startswith("pyarrow"):
            raise MlnbError(f"cannot read {path} as parquet: {one_line(str(exc))[:200]}") from None
        raise
    return frame


def restrict(state: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """The check seen through `columns` only: their rows, schema changes and validation failures, and
    the status they give (the worst column status; a removed or retyped column drifts, an added one warns)."""
    report = state["drift"]
    schema = report.get("schema") or {}
    known = {str(c.get("column")) for c in report.get("columns", [])}
    known |= {str(c) for key in ("added", "removed") for c in schema.get(key) or []}
    missing = [c for c in columns if c not in known]
    if missing:
        raise MlnbError(f"no column {', '.join(missing)} in the check; its columns are: {', '.join(sorted(known)[:30])}")
    picked = [c for c in report.get("columns", []) if str(c.get("column")) in columns]
    kept = {"added": [c for c in schema.get("added") or [] if str(c) in columns],
            "removed": [c for c in schema.get("removed") or [] if str(c) in columns],
            "retyped": [r for r in schema.get("retyped") or [] if str(r.get("column")) in columns]}
    statuses = [str(c.get("status")) for c in picked] + ["drift"] * len(kept["removed"] + kept["retyped"])
    statuses += ["warn"] * len(kept["added"])
    status = min(statuses, key=lambda s: STATUS_RANK.get(s, 3), default="ok")
    validation = state.get("validation")
    if validation is not None:
        failures = [f for f in validation.get("failures") or [] if str(f.get("column")) in columns]
        validation = {**validation, "failures": failures, "passed": not failures}
    return {**state, "drift": {**report, "columns": picked, "schema": kept, "status": status},
            "validation": validation}


def print_check(state: dict[str, Any], fmt: str) -> None:
    """The column table (table/csv) or the whole check (json); a one-line verdict after the table."""
    rows = table_rows(state["drift"], "status")
    if fmt == "json":
        click.echo(jsonout.dumps({**state.get("check", {}), "status": overall_status(state),
                                  "drift": state["drift"], "validation": state.get("validation")}, indent=2))
        return
    if fmt == "csv":
        print_records([tuple(r.get(k) for k in TABLE_FIELDS) for r in rows], list(TABLE_FIELDS))
        return
    import pandas as pd

    frame = pd.DataFrame([{k: r.get(k) for k in TABLE_FIELDS} for r in rows], columns=list(TABLE_FIELDS))
    for key in TABLE_FIELDS[4:-1]:  # numbers ("inf" text from JSON included) as floats
        frame[key] = pd.to_numeric(frame[key], errors="coerce")
    print_table(frame, f"{len(rows)} column{'s' if len(rows) != 1 else ''} checked", hide_empty=True,
                hint="--format csv or json shows every statistic")
    validation = state.get("validation")
    for failure in (validation or {}).get("failures") or []:
        examples = ", ".join(f"{e:.6g}" if isinstance(e, float) else str(e) for e in failure.get("examples") or [])
        detail = f" - {failure['detail']}" if failure.get("detail") else ""
        click.echo(f"validation: {failure.get('expectation')} {failure.get('column')}: {failure.get('count')} "
                   f"row(s){' e.g. ' + examples[:80] if examples else ''}{detail}")
    click.echo(verdict(state))  # last: what a CI log shows at its end


def verdict(state: dict[str, Any]) -> str:
    """`drift: 2 of 9 columns drifted (age, plan), 1 warning; validation failed (3 expectations)`."""
    report, validation, check = state["drift"], state.get("validation"), state.get("check") or {}
    columns = report.get("columns", [])
    drifted = [str(c.get("column")) for c in columns if c.get("status") == "drift"]
    warned = sum(1 for c in columns if c.get("status") == "warn")
    text = f"{overall_status(state)}: {len(drifted)} of {len(columns)} columns drifted"
    text += f" ({', '.join(drifted[:8])}{', ...' if len(drifted) > 8 else ''})" if drifted else ""
    text += f", {warned} warning{'s' if warned != 1 else ''}"
    schema = report.get("schema") or {}
    for key in ("added", "removed"):
        if schema.get(key):
            text += f"; {key}: {', '.join(map(str, schema[key]))}"
    if schema.get("retyped"):
        text += f"; retyped: {', '.join(str(r.get('column')) for r in schema['retyped'])}"
    if validation is not None:
        failures = validation.get("failures") or []
        text += "; validation passed" if validation.get("passed", True) else \
            f"; validation failed ({len(failures)} expectation{'s' if len(failures) != 1 else ''})"
    check_id = check.get("check") or check.get("id")
    if check_id:
        text += f"; check {str(check_id)[:12]}"
    return text
