"""Opening hours: the clean shape (app/domain/hours.py) and its evaluation in the database
(wattlas_open_now), on the official examples and the dialects of real feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ingest.ocpi.hours import normalise_opening_times, normalise_time_zone
from tests.ingest.helpers import spec

WEEKDAYS_8_TO_20 = spec("location_regularhours_example.json")["opening_times"]


def test_time_zone_repairs_and_rejects() -> None:
    assert normalise_time_zone("Europe/Amsterdam") == ("Europe/Amsterdam", None)
    assert normalise_time_zone("Asia/Kuala Lumpur") == (
        "Asia/Kuala_Lumpur",
        "time zone 'Asia/Kuala Lumpur' read as Asia/Kuala_Lumpur",
    )
    assert normalise_time_zone("Mars/Olympus")[0] is None
    assert normalise_time_zone("") == (None, None)


def test_weekday_zero_and_a_full_week_of_days_mean_24_7() -> None:
    itcharge = {
        "twentyfourseven": False,
        "regular_hours": [
            {"weekday": d, "period_begin": "07:00", "period_end": "23:00"} for d in range(7)
        ],
    }
    hours, always, notes = normalise_opening_times(itcharge)
    assert always is False and notes == ["regular_hours weekday 0 read as 7 (Sunday)"]
    assert [h["weekday"] for h in hours["regular_hours"]] == [1, 2, 3, 4, 5, 6, 7]  # type: ignore[index]
    chargesini = {
        "twentyfourseven": False,
        "regular_hours": [
            {"weekday": d, "period_begin": "00:00", "period_end": "23:59"} for d in range(1, 8)
        ],
    }
    assert normalise_opening_times(chargesini)[1] is True
    assert normalise_opening_times(None) == (None, None, [])
    assert normalise_opening_times({"twentyfourseven": True})[1] is True


# Europe/Brussels: UTC+1 in winter, +2 in summer.
CASES: list[tuple[str, Any, str, bool | None]] = [
    ("weekday inside", WEEKDAYS_8_TO_20, "2024-01-15T10:00:00Z", True),  # Mon 11:00 local
    ("weekday before", WEEKDAYS_8_TO_20, "2024-01-15T06:30:00Z", False),  # Mon 07:30 local
    ("weekday end exclusive", WEEKDAYS_8_TO_20, "2024-01-15T19:00:00Z", False),  # Mon 20:00
    ("saturday closed", WEEKDAYS_8_TO_20, "2024-01-20T12:00:00Z", False),
    ("summer time", WEEKDAYS_8_TO_20, "2024-07-15T18:30:00Z", False),  # Mon 20:30 CEST
    ("exceptional opening on a saturday", WEEKDAYS_8_TO_20, "2014-06-21T10:00:00Z", True),
    ("exceptional closing on a tuesday", WEEKDAYS_8_TO_20, "2014-06-24T10:00:00Z", False),
    (
        "night shift, after midnight",
        {"regular_hours": [{"weekday": 5, "period_begin": "22:00", "period_end": "06:00"}]},
        "2024-01-20T03:00:00Z",
        True,
    ),  # Sat 04:00 local, from Friday's period
    (
        "night shift, saturday evening",
        {"regular_hours": [{"weekday": 5, "period_begin": "22:00", "period_end": "06:00"}]},
        "2024-01-20T22:00:00Z",
        False,
    ),
    (
        "until 23:59 means midnight",
        {"regular_hours": [{"weekday": 1, "period_begin": "12:00", "period_end": "23:59"}]},
        "2024-01-15T22:59:30Z",
        True,
    ),
    ("24/7", {"twentyfourseven": True}, "2024-01-20T03:00:00Z", True),
    ("no hours", None, "2024-01-20T03:00:00Z", None),
]


@pytest.mark.parametrize(("case", "raw", "at", "expected"), CASES, ids=[c[0] for c in CASES])
def test_open_now_in_the_database(
    case: str, raw: Any, at: str, expected: bool | None, sync_conn: psycopg.Connection
) -> None:
    hours = normalise_opening_times(raw)[0]
    row = sync_conn.execute(
        "SELECT wattlas_open_now(%s, 'Europe/Brussels', %s)",
        (
            Jsonb(hours) if hours is not None else None,
            datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC),
        ),
    ).fetchone()
    assert row == (expected,)
