"""The networks drivers can filter by: each party (``CC*PID``) with visible locations, the
network its data comes from, how many locations it has and whether its statuses are live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from app.db.search import _NETWORK_SILENT

_SQL = f"""
    SELECT l.country_code, l.party_id, n.name AS source, count(*) AS locations,
           sum(l.evse_count) AS evses, NOT {_NETWORK_SILENT} AS live,
           n.last_contact_at, min(l.operator_name) AS operator
    FROM locations l
    JOIN networks n ON n.id = l.network_id
    WHERE l.visible
    GROUP BY l.country_code, l.party_id, n.id
    ORDER BY count(*) DESC, l.country_code, l.party_id
"""


async def party_networks(
    conn: AsyncConnection, *, now: datetime, stale_after_s: int
) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SQL, {"now": now, "stale_after_s": stale_after_s})
        return await cur.fetchall()
