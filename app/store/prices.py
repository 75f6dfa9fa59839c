"""What a price in a discovery answer is computed from (issue 13): per result location, its
connectors' kinds and the tariffs they link to, and the stored tariffs themselves.

Two statements, both on the discovery pool: ``connector_tariffs`` for a page of results (one
index probe per location on ``evses.location_id`` and ``connectors.evse_pk``), and
``tariff_objects`` only for the tariffs the caller has not decoded yet (the API keeps decoded
tariffs by ``(row id, last_updated)``, so a busy process rarely runs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from app.store.core import Store


class TariffRef(NamedTuple):
    """A stored tariff as a connector links to it: its row and version."""

    row_id: int
    last_updated: datetime


class ConnectorTariffs(NamedTuple):
    """One kind of connector at one location and the tariffs one of them lists, in its order."""

    location_pk: int
    time_zone: str | None
    standard: str
    power_type: str
    max_power_kw: float | None
    tariffs: tuple[TariffRef, ...]


class StoredTariffRow(NamedTuple):
    row_id: int
    last_updated: datetime
    tariff_id_raw: str
    summary: str | None
    raw: dict[str, Any]


async def connector_tariffs(
    store: Store, location_pks: Sequence[int]
) -> list[ConnectorTariffs]:
    """Every distinct (location, connector kind, tariff list) among these locations, from the
    locations' ``tariff_links`` (migration 0008), with each listed tariff's row and version.

    Connectors link to tariffs of their location's party by id (OCPI: ``tariff_ids`` of the
    same CPO); an id that matches no visible tariff is left out (the detail lists it as
    unknown), and a kind none of whose ids match has no entry. One probe per location on its
    primary key and one on the tariffs' (party, id) index per tariff."""
    if not location_pks:
        return []
    async with store.discovery_connection() as conn:
        cur = await conn.execute(
            """
            SELECT l.id, l.time_zone, l.tariff_links, t.ids, t.rows, t.stamps
            FROM locations l
            CROSS JOIN LATERAL (
                SELECT array_agg(t.tariff_id) AS ids, array_agg(t.id) AS rows,
                       array_agg(t.last_updated) AS stamps
                FROM tariffs t
                WHERE (t.country_code, t.party_id) = (l.country_code, l.party_id)
                  AND t.tariff_id IN (SELECT jsonb_array_elements_text(k -> 3)
                                      FROM jsonb_array_elements(l.tariff_links) k)
                  AND t.deleted_at IS NULL
            ) t
            WHERE l.id = ANY(%(pks)s) AND l.tariff_links <> '[]'
            """,
            {"pks": list(location_pks)},
        )
        rows = await cur.fetchall()
    found: list[ConnectorTariffs] = []
    for pk, zone, links, ids, row_ids, stamps in rows:
        refs = dict(zip(ids or [], map(TariffRef, row_ids or [], stamps or []), strict=True))
        for standard, power_type, kw, tariff_ids in links:
            linked = tuple(refs[t] for t in tariff_ids if t in refs)
            if linked:
                found.append(ConnectorTariffs(pk, zone, standard, power_type, kw, linked))
    return found


async def tariff_objects(store: Store, row_ids: Sequence[int]) -> list[StoredTariffRow]:
    """The stored OCPI Tariff objects of these rows (hidden ones too: a caller asked by a
    reference it just read)."""
    if not row_ids:
        return []
    async with store.discovery_connection() as conn:
        cur = await conn.execute(
            "SELECT id, last_updated, tariff_id_raw, summary, raw FROM tariffs"
            " WHERE id = ANY(%(ids)s)",
            {"ids": list(row_ids)},
        )
        rows = await cur.fetchall()
    return [StoredTariffRow(*row) for row in rows]


async def tariffs_by_key(
    store: Store, keys: Sequence[tuple[str, str, str]]
) -> dict[int, StoredTariffRow]:
    """Visible stored tariffs by (country_code, party_id, tariff id) (identity upper-cased, as
    stored), by the index of their key in ``keys``; a key with no tariff is absent."""
    if not keys:
        return {}
    async with store.discovery_connection() as conn:
        cur = await conn.execute(
            """
            SELECT k.ord, t.id, t.last_updated, t.tariff_id_raw, t.summary, t.raw
            FROM unnest(%(cc)s::text[], %(pid)s::text[], %(tid)s::text[])
                     WITH ORDINALITY AS k(cc, pid, tid, ord)
            JOIN tariffs t ON (t.country_code, t.party_id, t.tariff_id) = (k.cc, k.pid, k.tid)
            WHERE t.deleted_at IS NULL
            """,
            {
                "cc": [k[0].upper() for k in keys],
                "pid": [k[1].upper() for k in keys],
                "tid": [k[2].upper() for k in keys],
            },
        )
        rows = await cur.fetchall()
    return {int(row[0]) - 1: StoredTariffRow(*row[1:]) for row in rows}
