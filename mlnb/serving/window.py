"""Time windows over the archive: `since=`/`until=` and `every=` as users write them.

A bound is a datetime, ISO text ("2026-11-29T10:00", "2026-11-29 10:00:00+01:00") or a duration back
from now ("90s", "15min", "2h", "7d", "1w"). Naive datetimes and ISO text without an offset are UTC,
as the index stores times (what `mlnb.sql` shows in `ts` can be pasted back).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from mlnb.errors import InvalidValueError

_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
          "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
          "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
_EXAMPLES = "a datetime, ISO text like '2026-11-29T10:00' or a duration like '15min', '2h', '7d'"


def duration_seconds(value: Any, what: str = "every") -> float:
    """Seconds in a duration ('15min', '2h', '7d', a timedelta or a number of seconds); one-line error."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.lower())) and match[2] in _UNITS:
        seconds = float(match[1]) * _UNITS[match[2]]
    else:
        raise InvalidValueError(f"{what} must be a duration like '30s', '15min', '2h' or '7d', got {str(value)[:40]!r}",
                                field=what)
    if not 0 < seconds <= 100 * 365 * 86400:
        raise InvalidValueError(f"{what} must be a positive duration of at most 100 years, got {str(value)[:40]!r}",
                                field=what)
    return seconds


def time_bound(value: Any, what: str, now: datetime | None = None) -> datetime | None:
    """`since`/`until` as a naive UTC datetime (None stays None); one-line error otherwise."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return _utc(value.to_pydatetime())
    if isinstance(value, timedelta):
        return _now(now) - value
    if isinstance(value, str):
        text = value.strip()
        if _DURATION.fullmatch(text.lower()):
            return _now(now) - timedelta(seconds=duration_seconds(text, what))
        try:
            return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise InvalidValueError(f"{what} must be {_EXAMPLES}, got {str(value)[:40]!r}", field=what)


def window(since: Any, until: Any) -> tuple[datetime | None, datetime | None]:
    """Both bounds, checked (since before until)."""
    now = _now(None)
    start, end = time_bound(since, "since", now), time_bound(until, "until", now)
    if start is not None and end is not None and start >= end:
        raise InvalidValueError(f"since ({start:%Y-%m-%d %H:%M:%S}) must be before until ({end:%Y-%m-%d %H:%M:%S})",
                                field="since")
    return start, end


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo is not None else value


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc).replace(tzinfo=None)
