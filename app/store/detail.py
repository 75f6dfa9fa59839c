"""Everything about one location, for ``GET /v1/locations/{id}``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from app.domain.filters import NO_FILTERS
from app.domain.lists import enum_list, text_list
from app.domain.parking import read_evse_parking, read_parking_places
from app.domain.tariffs import tax_included
from app.store.core import Store, discovery_read
from app.store.pieces import Sql, summary_columns

# ``accepted_service_providers``: eMSP names, string(50) in OCPI; longer ones are cut at this.
_MAX_NAME_CHARS = 255


Found = tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]

_LOCATION = """
    SELECT {summary}, l.state, l.time_zone, l.parking_type,
           l.facilities, l.opening_times, l.charging_when_closed, l.last_updated,
           l.received_at, l.raw->'directions' AS directions, l.raw->'images' AS images,
           l.raw->'operator' AS operator_details, l.raw->'suboperator' AS suboperator,
           l.raw->'owner' AS owner, l.raw->'energy_mix' AS energy_mix,
           l.raw->'help_phone' AS help_phone, l.raw->'parking_places' AS parking_places,
           n.ocpi_version, n.last_contact_at,
           extract(epoch FROM %(now)s - n.last_contact_at)::int AS silent_s
    FROM locations l JOIN networks n ON n.id = l.network_id
    WHERE {where} AND l.visible
    ORDER BY l.id
"""
_EVSES = """
    SELECT e.location_id, e.uid_raw, e.evse_id, e.status, e.status_bucket, e.status_updated_at,
           extract(epoch FROM %(now)s - e.status_updated_at)::int AS status_age_s,
           e.capabilities, e.floor_level, e.physical_reference, e.parking_restrictions,
           e.lat, e.lon, e.raw->'parking' AS parking,
           e.raw->'accepted_service_providers' AS accepted_service_providers,
           coalesce((
               SELECT jsonb_agg(jsonb_build_object(
                          'id', c.connector_id_raw, 'standard', c.standard,
                          'standard_raw', c.standard_raw, 'format', c.format,
                          'power_type', c.power_type, 'max_power_kw', c.max_power_kw,
                          'max_voltage', c.max_voltage, 'max_amperage', c.max_amperage,
                          'tariff_ids', c.tariff_ids,
                          'capabilities', c.raw->'capabilities') ORDER BY c.connector_id)
               FROM connectors c WHERE c.evse_pk = e.id AND c.visible), '[]') AS connectors
    FROM evses e
    WHERE e.location_id = ANY(%(pks)s) AND e.visible
    ORDER BY e.location_id, e.uid
"""
_TARIFFS = """
    SELECT t.id AS row_id, t.country_code, t.party_id, t.tariff_id_raw, t.tariff_id, t.currency,
           t.type, t.summary, t.elements, t.min_price, t.max_price, t.alt_text, t.alt_url,
           t.start_date_time, t.end_date_time, t.last_updated,
           t.raw->'tax_included' AS tax_included,
           (t.start_date_time IS NULL OR t.start_date_time <= %(now)s)
           AND (t.end_date_time IS NULL OR t.end_date_time > %(now)s) AS active
    FROM unnest(%(cc)s::text[], %(pid)s::text[], %(ids)s::text[]) AS k(cc, pid, id)
    JOIN tariffs t ON (t.country_code, t.party_id, t.tariff_id) = (k.cc, k.pid, k.id)
    WHERE t.deleted_at IS NULL
    ORDER BY t.tariff_id
"""


@discovery_read
async def location_detail(
    store: Store, public_id: str, *, now: datetime, stale_after_s: int
) -> Found | None:
    """(location row, EVSE rows with their connectors, tariff rows), or None if not visible."""
    async with store.discovery_connection() as conn:
        found = await read_details(
            conn, "l.public_id = %(public_id)s", {"public_id": public_id}, now, stale_after_s
        )
    return found[0] if found else None


async def read_details(
    conn: AsyncConnection,
    where: str,
    params: dict[str, Any],
    now: datetime,
    stale_after_s: int,
) -> list[Found]:
    """Every visible location ``where`` says, in id order, each with its EVSEs and tariffs: the
    detail of one location, and the snapshot's and change feed's batches (three statements
    whatever the number of locations)."""
    q = Sql.at(now, stale_after_s)
    q.params.update(params)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _LOCATION.format(summary=summary_columns(q, NO_FILTERS), where=where), q.params
        )
        locations = await cur.fetchall()
        if not locations:
            return []
        await cur.execute(_EVSES, {"now": now, "pks": [loc["pk"] for loc in locations]})
        evses_of: dict[int, list[dict[str, Any]]] = {}
        for evse in await cur.fetchall():
            evses_of.setdefault(evse.pop("location_id"), []).append(evse)
        wanted = sorted(
            {
                (loc["country_code"], loc["party_id"], tid)
                for loc in locations
                for e in evses_of.get(loc["pk"], ())
                for c in e["connectors"]
                for tid in c["tariff_ids"]
            }
        )
        # Per party, its tariffs in the statement's order (the detail's order).
        tariffs_of: dict[tuple[str, str], list[dict[str, Any]]] = {}
        if wanted:
            cc, pid, ids = (list(column) for column in zip(*wanted, strict=True))
            await cur.execute(_TARIFFS, {"now": now, "cc": cc, "pid": pid, "ids": ids})
            for tariff in await cur.fetchall():
                party = (tariff.pop("country_code"), tariff.pop("party_id"))
                tariffs_of.setdefault(party, []).append(tariff)
    found = []
    for loc in locations:
        evses = evses_of.get(loc["pk"], [])
        referenced = {tid for e in evses for c in e["connectors"] for tid in c["tariff_ids"]}
        tariffs = [
            dict(t)  # shared by the party's locations; each reads its own copy
            for t in tariffs_of.get((loc["country_code"], loc["party_id"]), ())
            if t["tariff_id"] in referenced
        ]
        _read_raw_fields(loc, evses, tariffs)
        found.append((loc, evses, tariffs))
    return found


def _read_raw_fields(
    location: dict[str, Any], evses: list[dict[str, Any]], tariffs: list[dict[str, Any]]
) -> None:
    """What 2.3.0 adds is kept in the raw objects (ocpi.md §3.13, §4.9): read here the way
    ingest checked it, into plain values (each EVSE's parking places with its position)."""
    phone = location["help_phone"]
    location["help_phone"] = (phone.strip() or None) if isinstance(phone, str) else None
    places, _ = read_parking_places(location.pop("parking_places"))
    for evse in evses:
        links, _ = read_evse_parking(evse["parking"], places)
        evse["parking"] = [
            {**_plain(asdict(link.place)), "evse_position": link.evse_position} for link in links
        ]
        evse["accepted_service_providers"] = text_list(
            evse["accepted_service_providers"], _MAX_NAME_CHARS
        )
        for connector in evse["connectors"]:
            connector["capabilities"] = enum_list(connector["capabilities"])
    for tariff in tariffs:
        tariff["tax_included"] = tax_included({"tax_included": tariff["tax_included"]})


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@discovery_read
async def merged_head(store: Store, public_id: str) -> str | None:
    """The id of the site a merged record belongs to (issue 12), or None."""
    async with store.discovery_connection() as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT h.public_id FROM locations l JOIN locations h ON h.id = l.merged_into "
            "WHERE l.public_id = %s AND h.visible",
            (public_id,),
        )
        row = await cur.fetchone()
    return str(row[0]) if row else None
