"""The staleness rule has one definition in Python (``app.domain.staleness``) and one in SQL
(``app.store.pieces``); on a table of cases, PostgreSQL and Python give the same verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from app.domain.filters import Filters
from app.domain.staleness import network_silent, status_too_old
from app.store.pieces import NETWORK_SILENT, Sql, evse_stale

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DEFAULT_S = 1800

# (seconds since the network's last contact or None, the network's own limit or None)
NETWORK_CASES = [
    (None, None),  # never heard from: stale
    (None, 60),
    (0, None),
    (1799, None),
    (1800, None),  # exactly at the limit: not yet stale (older than, not as old as)
    (1801, None),
    (59, 60),  # the network's own limit wins over the default
    (61, 60),
    (3600, 7200),
    (7201, 7200),
    (86400 * 400, None),
    (-30, None),  # a clock ahead of ours
]
# (status age in seconds, the caller's max_status_age_s or None)
STATUS_CASES = [(0, None), (10_000_000, None), (59, 60), (60, 60), (61, 60), (-5, 60)]


@pytest.mark.parametrize(("silent_s", "limit_s"), NETWORK_CASES)
def test_network_staleness_is_the_same_in_sql_and_python(
    sync_conn: psycopg.Connection, silent_s: int | None, limit_s: int | None
) -> None:
    contact = None if silent_s is None else NOW - timedelta(seconds=silent_s)
    q = Sql.at(NOW, DEFAULT_S)
    row = sync_conn.execute(
        f"SELECT {NETWORK_SILENT} FROM (VALUES (%(contact)s::timestamptz, %(limit)s::int))"
        " AS n(last_contact_at, stale_after_s)",
        {**q.params, "contact": contact, "limit": limit_s},
    ).fetchone()
    assert row is not None
    expected = silent_s is None or silent_s > (limit_s if limit_s is not None else DEFAULT_S)
    assert network_silent(contact, NOW, DEFAULT_S, limit_s) is expected
    assert row[0] is expected


@pytest.mark.parametrize(("age_s", "max_age_s"), STATUS_CASES)
def test_status_age_staleness_is_the_same_in_sql_and_python(
    sync_conn: psycopg.Connection, age_s: int, max_age_s: int | None
) -> None:
    updated = NOW - timedelta(seconds=age_s)
    q = Sql.at(NOW, DEFAULT_S)
    fragment = evse_stale(q, Filters(max_status_age_s=max_age_s))
    row = sync_conn.execute(
        f"SELECT {fragment} FROM (VALUES (%(updated)s::timestamptz)) AS e(status_updated_at)",
        {**q.params, "updated": updated},
    ).fetchone()
    assert row is not None
    expected = max_age_s is not None and age_s > max_age_s
    assert status_too_old(updated, NOW, max_age_s) is expected
    assert row[0] is expected
