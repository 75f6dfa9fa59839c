"""Read back what we store in OCPI form: a location with its EVSEs and connectors, assembled
from the raw object kept at each level (for the receiver's GET, and to merge a PATCH)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from app.domain.timestamps import parse_timestamp

ABSENT_FROM_PUT = "absent from the last PUT of its location"


@dataclass
class StoredLocation:
    location_pk: int
    network_id: int
    last_updated: datetime
    tree: dict[str, Any]  # the OCPI Location object, EVSEs and connectors included

    def evse(self, uid: str) -> dict[str, Any] | None:
        for evse in self.tree.get("evses", []):
            if str(evse.get("uid", "")).upper() == uid.upper():
                return evse  # type: ignore[no-any-return]
        return None

    @staticmethod
    def connector(evse: dict[str, Any], connector_id: str) -> dict[str, Any] | None:
        for connector in evse.get("connectors", []):
            if str(connector.get("id", "")).upper() == connector_id.upper():
                return connector  # type: ignore[no-any-return]
        return None


_TREE_SQL = """
SELECT l.id, l.network_id, l.last_updated, l.raw,
       coalesce((
           SELECT jsonb_agg(
                      e.raw || jsonb_build_object('connectors', coalesce((
                          SELECT jsonb_agg(c.raw ORDER BY c.id)
                          FROM connectors c WHERE c.evse_pk = e.id AND c.visible), '[]'::jsonb))
                      ORDER BY e.id)
           FROM evses e
           WHERE e.location_id = l.id AND e.hidden_reason IS DISTINCT FROM %(absent)s
       ), '[]'::jsonb) AS evses
FROM locations l
WHERE (l.country_code, l.party_id, l.ocpi_id) = (%(cc)s, %(pid)s, %(id)s)
"""


async def fetch_location(
    conn: AsyncConnection, country_code: str, party_id: str, location_id: str, *, lock: bool = False
) -> StoredLocation | None:
    """The stored location (upper-cased identity), or None. ``lock`` holds its row until commit,
    so that concurrent merges of the same location cannot lose each other's changes."""
    params = {
        "cc": country_code.upper(),
        "pid": party_id.upper(),
        "id": location_id.upper(),
        "absent": ABSENT_FROM_PUT,
    }
    async with conn.cursor() as cur:
        if lock:
            await cur.execute(
                "SELECT id FROM locations WHERE (country_code, party_id, ocpi_id) = "
                "(%(cc)s, %(pid)s, %(id)s) FOR UPDATE",
                params,
            )
        await cur.execute(_TREE_SQL, params)
        row = await cur.fetchone()
    if row is None:
        return None
    pk, network_id, last_updated, raw, evses = row
    tree = dict(raw)
    tree["evses"] = evses
    return StoredLocation(pk, network_id, last_updated, tree)


def later(a: datetime, b: datetime | None) -> datetime:
    return b if b is not None and b > a else a


def object_last_updated(obj: dict[str, Any]) -> datetime | None:
    return parse_timestamp(obj.get("last_updated"))
