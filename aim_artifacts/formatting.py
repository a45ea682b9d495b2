"""Sizes and times as text: the sidecar's time format, and sizes for people. A leaf module
that the records and both viewers (command line, web page) share."""

from __future__ import annotations

import datetime as dt

__all__ = ["format_time", "human_size", "parse_time"]


def format_time(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the microsecond."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> dt.datetime:
    """Parse `format_time` output (any ISO 8601 with an offset) as an aware datetime."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        msg = f"{text!r} has no time zone"
        raise ValueError(msg)
    return value.astimezone(dt.timezone.utc)


def human_size(size: int) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
