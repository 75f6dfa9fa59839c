"""What a price in a discovery answer is computed from (issue 13). The kinds of connector of a
result and the tariff ids they list come with its summary row (``locations.tariff_links``,
migration 0008); here are the parties' tariffs (``party_tariff_refs``: ids → row and version,
which the API keeps for a few seconds) and the stored objects (``tariff_objects``, only for
versions the API has not decoded yet), both on the discovery pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from app.store.core import Store, discovery_read


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
    network_kind: str  # ocpi | registry: only a registry's tariffs are registry text


@discovery_read
async def party_tariff_refs(
    store: Store, parties: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, TariffRef]]:
    """The visible tariffs of these parties: by party, then by (stored, upper-cased) id."""
    if not parties:
        return {}
    async with store.discovery_connection() as conn:
        cur = await conn.execute(
            """
            SELECT t.country_code, t.party_id, t.tariff_id, t.id, t.last_updated
            FROM unnest(%(cc)s::text[], %(pid)s::text[]) AS p(cc, pid)
            JOIN tariffs t ON (t.country_code, t.party_id) = (p.cc, p.pid)
            WHERE t.deleted_at IS NULL
            """,
            {"cc": [p[0] for p in parties], "pid": [p[1] for p in parties]},
        )
        rows = await cur.fetchall()
    found: dict[tuple[str, str], dict[str, TariffRef]] = {}
    for cc, pid, tariff_id, row_id, stamp in rows:
        found.setdefault((cc, pid), {})[tariff_id] = TariffRef(row_id, stamp)
    return found


@discovery_read
async def tariff_objects(store: Store, row_ids: Sequence[int]) -> list[StoredTariffRow]:
    """The stored OCPI Tariff objects of these rows (hidden ones too: a caller asked by a
    reference it just read)."""
    if not row_ids:
        return []
    async with store.discovery_connection() as conn:
        cur = await conn.execute(
            "SELECT t.id, t.last_updated, t.tariff_id_raw, t.summary, t.raw, n.kind"
            " FROM tariffs t JOIN networks n ON n.id = t.network_id WHERE t.id = ANY(%(ids)s)",
            {"ids": list(row_ids)},
        )
        rows = await cur.fetchall()
    return [StoredTariffRow(*row) for row in rows]


@discovery_read
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
            SELECT k.ord, t.id, t.last_updated, t.tariff_id_raw, t.summary, t.raw, n.kind
            FROM unnest(%(cc)s::text[], %(pid)s::text[], %(tid)s::text[])
                     WITH ORDINALITY AS k(cc, pid, tid, ord)
            JOIN tariffs t ON (t.country_code, t.party_id, t.tariff_id) = (k.cc, k.pid, k.tid)
            JOIN networks n ON n.id = t.network_id
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
