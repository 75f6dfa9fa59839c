"""Everything about one location, for ``GET /v1/locations/{id}``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from app.domain.filters import NO_FILTERS
from app.store.core import Store
from app.store.pieces import Sql, summary_columns


async def location_detail(
    store: Store, public_id: str, *, now: datetime, stale_after_s: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None:
    """(location row, EVSE rows with their connectors, tariff rows), or None if not visible."""
    q = Sql.at(now, stale_after_s)
    q.params["public_id"] = public_id
    async with store.discovery_connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""
            SELECT {summary_columns(q, NO_FILTERS)}, l.state, l.time_zone, l.parking_type,
                   l.facilities, l.opening_times, l.charging_when_closed, l.last_updated,
                   l.received_at, l.raw->'directions' AS directions, l.raw->'images' AS images,
                   l.raw->'operator' AS operator_details, l.raw->'suboperator' AS suboperator,
                   l.raw->'owner' AS owner, l.raw->'energy_mix' AS energy_mix,
                   n.ocpi_version, n.last_contact_at,
                   extract(epoch FROM %(now)s - n.last_contact_at)::int AS silent_s
            FROM locations l JOIN networks n ON n.id = l.network_id
            WHERE l.public_id = %(public_id)s AND l.visible
            """,
            q.params,
        )
        location = await cur.fetchone()
        if location is None:
            return None
        await cur.execute(
            """
            SELECT e.uid_raw, e.evse_id, e.status, e.status_bucket, e.status_updated_at,
                   extract(epoch FROM %(now)s - e.status_updated_at)::int AS status_age_s,
                   e.capabilities, e.floor_level, e.physical_reference, e.parking_restrictions,
                   e.lat, e.lon,
                   coalesce((
                       SELECT jsonb_agg(jsonb_build_object(
                                  'id', c.connector_id_raw, 'standard', c.standard,
                                  'standard_raw', c.standard_raw, 'format', c.format,
                                  'power_type', c.power_type, 'max_power_kw', c.max_power_kw,
                                  'max_voltage', c.max_voltage, 'max_amperage', c.max_amperage,
                                  'tariff_ids', c.tariff_ids) ORDER BY c.connector_id)
                       FROM connectors c WHERE c.evse_pk = e.id AND c.visible), '[]') AS connectors
            FROM evses e
            WHERE e.location_id = %(pk)s AND e.visible
            ORDER BY e.uid
            """,
            {"now": now, "pk": location["pk"]},
        )
        evses = await cur.fetchall()
        await cur.execute(
            """
            SELECT t.tariff_id_raw, t.tariff_id, t.currency, t.type, t.summary, t.elements,
                   t.min_price, t.max_price, t.alt_text, t.alt_url, t.start_date_time,
                   t.end_date_time, t.last_updated,
                   (t.start_date_time IS NULL OR t.start_date_time <= %(now)s)
                   AND (t.end_date_time IS NULL OR t.end_date_time > %(now)s) AS active
            FROM tariffs t
            WHERE (t.country_code, t.party_id) = (%(cc)s, %(pid)s)
              AND t.tariff_id = ANY(%(ids)s) AND t.deleted_at IS NULL
            ORDER BY t.tariff_id
            """,
            {
                "now": now,
                "cc": location["country_code"],
                "pid": location["party_id"],
                "ids": sorted({t for e in evses for c in e["connectors"] for t in c["tariff_ids"]}),
            },
        )
        tariffs = await cur.fetchall()
    return location, evses, tariffs
