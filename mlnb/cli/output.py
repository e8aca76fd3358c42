"""How the CLI prints results: aligned tables for people, CSV or JSON (mlnb.jsonout) for programs.

Tables fit the terminal: values are shortened (ids to 8 characters, times to seconds, numbers
to 4 significant digits), empty columns hidden, and columns that do not fit listed below.
pandas loads only when something is printed.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import click

from mlnb import jsonout
from mlnb.errors import MlnbError

FORMATS = ("table", "csv", "json")
ID_COLUMNS = ("run_id", "parent_run_id")
SHORT_ID = 8
MAX_CELL = 32  # table cells longer than this are cut with an ellipsis
DEFAULT_WIDTH = 120  # when the terminal width is unknown (output piped); $COLUMNS overrides

format_option = click.option(
    "--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
    help="table for people; csv or json (records, ISO dates) for programs, with full values.",
)


def print_empty(frame: Any, fmt: str, message: str) -> None:
    """Nothing to show: a sentence for people; for programs an empty result, the sentence on stderr."""
    if fmt == "table":
        click.echo(message)
        return
    click.echo(message, err=True)
    print_frame(frame, fmt)


def print_frame(frame: Any, fmt: str) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    else:  # records; json.dumps keeps every float exact (DataFrame.to_json rounds to 10 digits)
        rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        click.echo(jsonout.dumps(rows, indent=2))


def print_records(rows: list[tuple[Any, ...]], header: list[str]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    click.echo(buffer.getvalue(), nl=False)


def split_columns(columns: str | None) -> list[str]:
    return [c.strip() for c in (columns or "").split(",") if c.strip()]


def select_columns(available: list[str], wanted: list[str]) -> list[str]:
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


def table_run_columns(available: list[str]) -> list[str]:
    """Default table columns: attributes (duration instead of end), then metrics, params, tags."""
    head = [c for c in ("run_id", "experiment", "name", "status", "start", "duration", "parent_run_id")
            if c in available]
    by_kind = {kind: [c for c in available if c.startswith(kind + ".")] for kind in ("metrics", "params", "tags")}
    return head + by_kind["metrics"] + by_kind["params"] + by_kind["tags"]


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        return False


def number_text(value: Any, digits: int = 4) -> str:
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


def duration_text(seconds: float) -> str:
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


def size_text(size: Any) -> str:
    if is_missing(size):
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def value_text(value: Any) -> str:
    """A value as short, one-line text (times to seconds, numbers to 4 significant digits)."""
    if is_missing(value):
        return ""
    if isinstance(value, datetime):  # pandas.Timestamp included
        # not strftime: pandas refuses it outside years 1-9999 (DuckDB's 'infinity' timestamps)
        return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
                f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return duration_text(value.total_seconds())
    if isinstance(value, (int, float)) or hasattr(value, "__float__") and not isinstance(value, str):
        try:
            return number_text(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            pass
    return " ".join(str(value).split()) if "\n" in str(value) or "\t" in str(value) else str(value)


def cut(text: str, width: int = MAX_CELL) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(column: str, value: Any, short_ids: bool, digits: int) -> str:
    if is_missing(value):
        return ""
    if column == "duration":
        return duration_text(float(value))
    if short_ids and column in ID_COLUMNS:
        return str(value)[:SHORT_ID]
    if isinstance(value, float) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "f"):
        return number_text(value, digits)
    return cut(value_text(value))


def print_table(frame: Any, footer: str, *, short_ids: bool = False, hide_empty: bool = True,
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
    for line in aligned(rows, right=right, widths=widths):
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


def aligned(rows: Iterable[Sequence[str]], right: set[int] = frozenset(), widths: list[int] | None = None,
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


def key_values(items: Iterable[tuple[str, Any]], indent: str = "  ") -> list[str]:
    pairs = [(str(k), "-" if is_missing(v) or v == "" else cut(value_text(v), 200)) for k, v in items]
    if not pairs:
        return [f"{indent}(none)"]
    width = max(len(k) for k, _ in pairs)
    return [f"{indent}{k.ljust(width)}  {v}".rstrip() for k, v in pairs]
