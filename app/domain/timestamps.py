"""One lenient parser for OCPI DateTimes (ocpi.md §6 P13), used everywhere a timestamp is read."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(value: object) -> datetime | None:
    """'Z' optional (no zone means UTC), any fraction, offsets allowed, space for 'T'; → aware UTC.

    None for anything that is not such a string.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range
        return None
