"""Opening hours (ocpi.md §3.7 Hours, P14): one clean shape for every version and dialect.

Regular hours are local to the location's time zone, exceptional periods are UTC. What the feeds
send that is repaired here: 2.1.1's choice of ``regular_hours`` or ``twentyfourseven``, weekday 0
for Sunday, "until midnight" as 23:59 or 00:00, a week of 00:00–23:59 that means 24/7, and time
zone names with spaces. ``wattlas_open_now()`` in the database evaluates the clean shape.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.timestamps import parse_timestamp

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::\d\d)?$")
_ALL_DAY_ENDS = ("23:59", "00:00", "24:00")


@lru_cache(maxsize=1024)
def normalise_time_zone(value: str | None) -> tuple[str | None, str | None]:
    """``(IANA name, note)``; None when missing or unknown."""
    if value is None or not value.strip():
        return None, None
    for candidate in (value.strip(), value.strip().replace(" ", "_")):
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        note = None if candidate == value else f"time zone {value!r} read as {candidate}"
        return candidate, note
    return None, f"time zone {value!r} is not an IANA name; opening hours cannot be evaluated"


def _time(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    match = _HHMM.match(value.strip())
    if match is None:
        return None
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _periods(values: Any, notes: list[str], what: str) -> list[dict[str, str]]:
    out = []
    for period in values if isinstance(values, list) else []:
        if not isinstance(period, dict):
            continue
        begin = parse_timestamp(period.get("period_begin"))
        end = parse_timestamp(period.get("period_end"))
        if begin is None or end is None or end <= begin:
            notes.append(f"{what} period {period!r} is not a valid UTC interval; ignored")
            continue
        out.append({"period_begin": begin.isoformat(), "period_end": end.isoformat()})
    return out


def normalise_opening_times(raw: Any) -> tuple[dict[str, Any] | None, bool | None, list[str]]:
    """``(clean hours, open 24/7, notes)``; ``(None, None, [])`` when no hours were sent."""
    if not isinstance(raw, dict):
        return None, None, []
    notes: list[str] = []
    regular: list[dict[str, Any]] = []
    for entry in raw.get("regular_hours") or []:
        if not isinstance(entry, dict):
            continue
        weekday = entry.get("weekday")
        if isinstance(weekday, str) and weekday.strip().isdigit():
            weekday = int(weekday)
        if weekday == 0:
            notes.append("regular_hours weekday 0 read as 7 (Sunday)")
            weekday = 7
        begin, end = _time(entry.get("period_begin")), _time(entry.get("period_end"))
        if not isinstance(weekday, int) or not 1 <= weekday <= 7 or begin is None or end is None:
            notes.append(f"regular_hours entry {entry!r} is not usable; ignored")
            continue
        regular.append({"weekday": weekday, "period_begin": begin, "period_end": end})
    flag = raw.get("twentyfourseven")
    always = flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")
    if not always and regular and _covers_whole_week(regular):
        always = True
    if not always and not regular:
        if flag is None and not raw.get("exceptional_openings"):
            return None, None, notes  # nothing usable was said
        if flag is False:
            notes.append("twentyfourseven is false but no regular_hours are given")
    hours = {
        "twentyfourseven": always,
        "regular_hours": []
        if always
        else sorted(regular, key=lambda r: (r["weekday"], r["period_begin"])),
        "exceptional_openings": _periods(raw.get("exceptional_openings"), notes, "opening"),
        "exceptional_closings": _periods(raw.get("exceptional_closings"), notes, "closing"),
    }
    return hours, always, notes


def _covers_whole_week(regular: list[dict[str, Any]]) -> bool:
    days = {
        r["weekday"]
        for r in regular
        if r["period_begin"] == "00:00" and r["period_end"] in _ALL_DAY_ENDS
    }
    return days == set(range(1, 8))
