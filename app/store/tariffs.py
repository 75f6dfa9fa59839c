"""Tariffs in the store: upserted ordered by ``last_updated``, hidden (never deleted) by a DELETE
or by their absence from a complete pull (ocpi.md §4.1, P26). Connectors link to them softly by
``tariff_ids`` of the same party."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from app.store import locks
from app.store.core import Db, Tx, using
from app.store.records import TariffRecord

_UPSERT = """
INSERT INTO tariffs AS t (
    network_id, country_code, party_id, tariff_id, tariff_id_raw, currency, type, elements,
    alt_text, alt_url, min_price, max_price, start_date_time, end_date_time, summary,
    last_updated, received_at, deleted_at, seen_sync_id, raw
) VALUES (
    %(network_id)s, %(cc)s, %(pid)s, %(id)s, %(id_raw)s, %(currency)s, %(type)s, %(elements)s,
    %(alt_text)s, %(alt_url)s, %(min_price)s, %(max_price)s, %(start)s, %(end)s, %(summary)s,
    %(last_updated)s, %(received_at)s, NULL, %(sync)s, %(raw)s
)
ON CONFLICT (country_code, party_id, tariff_id) DO UPDATE SET
    network_id = EXCLUDED.network_id, tariff_id_raw = EXCLUDED.tariff_id_raw,
    currency = EXCLUDED.currency, type = EXCLUDED.type, elements = EXCLUDED.elements,
    alt_text = EXCLUDED.alt_text, alt_url = EXCLUDED.alt_url, min_price = EXCLUDED.min_price,
    max_price = EXCLUDED.max_price, start_date_time = EXCLUDED.start_date_time,
    end_date_time = EXCLUDED.end_date_time, summary = EXCLUDED.summary,
    last_updated = EXCLUDED.last_updated, received_at = EXCLUDED.received_at, deleted_at = NULL,
    seen_sync_id = coalesce(EXCLUDED.seen_sync_id, t.seen_sync_id), raw = EXCLUDED.raw
WHERE t.last_updated < EXCLUDED.last_updated
   OR (t.last_updated = EXCLUDED.last_updated
       AND (t.raw IS DISTINCT FROM EXCLUDED.raw OR t.deleted_at IS NOT NULL
            OR t.network_id <> EXCLUDED.network_id))
RETURNING (xmax = 0) AS created, t.id
"""
_STORED_NEWER = """
SELECT last_updated > %s FROM tariffs WHERE (country_code, party_id, tariff_id) = (%s, %s, %s)
"""


@dataclass
class TariffCounts:
    """What ``apply_tariffs`` did with each tariff given (they add up to the number given)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0  # the same version as stored
    stale: int = 0  # older than stored

    @property
    def accepted(self) -> int:
        return self.created + self.updated


def _jsonb(value: Any) -> Jsonb | None:
    return Jsonb(value) if value is not None else None


async def apply_tariffs(
    tx: Tx,
    tariffs: Sequence[TariffRecord],
    *,
    network_id: int,
    received_at: datetime,
    sync_run_id: int | None = None,
) -> TariffCounts:
    """Upsert ordered by last_updated: a tariff older than stored, or the same version again,
    is left as it is."""
    counts = TariffCounts()
    await locks.lock_objects(
        tx, (locks.object_key("tariff", t.country_code, t.party_id, t.tariff_id) for t in tariffs)
    )
    async with tx.conn.cursor() as cur:
        for t in tariffs:
            if sync_run_id is not None:
                await cur.execute(
                    "UPDATE tariffs SET seen_sync_id = %s WHERE (country_code, party_id, tariff_id)"
                    " = (%s, %s, %s)",
                    (sync_run_id, t.country_code, t.party_id, t.tariff_id),
                )
            await cur.execute(
                _UPSERT,
                {
                    "network_id": network_id,
                    "cc": t.country_code,
                    "pid": t.party_id,
                    "id": t.tariff_id,
                    "id_raw": t.tariff_id_raw,
                    "currency": t.currency,
                    "type": t.type,
                    "elements": Jsonb(t.elements),
                    "alt_text": _jsonb(t.alt_text),
                    "alt_url": t.alt_url,
                    "min_price": _jsonb(t.min_price),
                    "max_price": _jsonb(t.max_price),
                    "start": t.start_date_time,
                    "end": t.end_date_time,
                    "summary": t.summary,
                    "last_updated": t.last_updated,
                    "received_at": received_at,
                    "sync": sync_run_id,
                    "raw": Jsonb(t.raw),
                },
            )
            row = await cur.fetchone()
            if row is not None:
                tx.record_tariffs([row[1]])
                if row[0]:
                    counts.created += 1
                else:
                    counts.updated += 1
                continue
            await cur.execute(
                _STORED_NEWER, (t.last_updated, t.country_code, t.party_id, t.tariff_id)
            )
            newer = await cur.fetchone()
            if newer is not None and newer[0]:
                counts.stale += 1
            else:
                counts.unchanged += 1
    return counts


async def hide_absent_tariffs(tx: Tx, *, network_id: int, sync_run_id: int) -> int:
    """A complete pull of tariffs replaces the whole known list (ocpi.md §4.1): hide the rest."""
    cur = await tx.conn.execute(
        """
        UPDATE tariffs t SET deleted_at = now()
        -- Only what this network wrote: a hub knows parties whose tariffs others write.
        WHERE t.network_id = %(network)s
          AND t.seen_sync_id IS DISTINCT FROM %(run)s AND t.deleted_at IS NULL
        RETURNING t.id
        """,
        {"network": network_id, "run": sync_run_id},
    )
    hidden = [row[0] for row in await cur.fetchall()]
    tx.record_tariffs(hidden)
    return len(hidden)


async def fetch_tariff(
    db: Db, cc: str, pid: str, tariff_id: str, *, include_deleted: bool = False
) -> dict[str, Any] | None:
    """The stored OCPI object (upper-cased identity), or None."""
    async with using(db) as conn:
        cur = await conn.execute(
            "SELECT raw FROM tariffs WHERE (country_code, party_id, tariff_id) = (%s, %s, %s)"
            " AND (deleted_at IS NULL OR %s)",
            (cc.upper(), pid.upper(), tariff_id.upper(), include_deleted),
        )
        row = await cur.fetchone()
    return dict(row[0]) if row else None


async def delete_tariff(
    tx: Tx, cc: str, pid: str, tariff_id: str, *, network_id: int, at: datetime
) -> bool:
    """Hidden, never deleted: connectors may still reference it (ocpi.md P26). False when
    there is no such (visible) tariff."""
    await locks.lock_objects(tx, [locks.object_key("tariff", cc, pid, tariff_id)])
    cur = await tx.conn.execute(
        "UPDATE tariffs SET deleted_at = %s, network_id = %s"
        " WHERE (country_code, party_id, tariff_id) = (%s, %s, %s) AND deleted_at IS NULL"
        " RETURNING id",
        (at, network_id, cc.upper(), pid.upper(), tariff_id.upper()),
    )
    hidden = [row[0] for row in await cur.fetchall()]
    tx.record_tariffs(hidden)
    return bool(hidden)
