"""Tariffs: decode, normalise and apply (ocpi.md §4). Connectors link to them softly by
``tariff_ids`` of the same party (2.1.1: ``tariff_id``); a tariff may arrive before or after the
locations that use it, and a DELETE hides it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from app.domain.tariffs import tariff_summary
from app.domain.timestamps import parse_timestamp
from ingest.normalise import MAX_CLOCK_SKEW, Problem
from ingest.ocpi import wire


@dataclass
class Tariff:
    country_code: str
    party_id: str
    tariff_id: str
    tariff_id_raw: str
    currency: str
    type: str | None
    elements: list[Any]
    alt_text: Any
    alt_url: str | None
    min_price: Any
    max_price: Any
    start_date_time: datetime | None
    end_date_time: datetime | None
    summary: str
    last_updated: datetime
    raw: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.country_code}*{self.party_id}*{self.tariff_id}"


def normalise_tariff(
    raw: bytes,
    *,
    country_code: str | None,
    party_id: str | None,
    received_at: datetime,
    problems: list[Problem],
) -> Tariff | None:
    try:
        wire.tariff_decoder.decode(raw)
        obj: dict[str, Any] = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        problems.append(
            Problem("tariff", None, f"tariff unusable: {exc}".replace("`", ""), raw=raw)
        )
        return None
    tariff_id = str(obj.get("id") or "").strip()
    cc = str(obj.get("country_code") or country_code or "").strip().upper()
    pid = str(obj.get("party_id") or party_id or "").strip().upper()
    key = f"{cc or '?'}*{pid or '?'}*{tariff_id.upper() or '?'}"
    if not tariff_id:
        problems.append(Problem("tariff", key, "tariff without id", raw=raw))
        return None
    if not cc or not pid:
        problems.append(Problem("tariff", key, "tariff without country_code/party_id", raw=raw))
        return None
    currency = str(obj.get("currency") or "").strip().upper()
    if len(currency) != 3:
        problems.append(
            Problem("tariff", key, f"currency {obj.get('currency')!r} is not ISO 4217", raw=raw)
        )
        return None
    elements = obj.get("elements")
    if not isinstance(elements, list) or not elements:
        alt = obj.get("tariff_alt_text")
        if not alt:
            problems.append(Problem("tariff", key, "tariff without elements", raw=raw))
            return None
        elements = []
    last_updated = parse_timestamp(obj.get("last_updated"))
    if last_updated is None:
        problems.append(
            Problem("tariff", key, "tariff last_updated missing; used time of receipt", "note")
        )
        last_updated = received_at
    elif last_updated > received_at + MAX_CLOCK_SKEW:
        last_updated = received_at
    kind = obj.get("type")
    return Tariff(
        country_code=cc,
        party_id=pid,
        tariff_id=tariff_id.upper(),
        tariff_id_raw=tariff_id,
        currency=currency,
        type=kind.strip().upper() if isinstance(kind, str) and kind.strip() else None,
        elements=elements,
        alt_text=obj.get("tariff_alt_text"),
        alt_url=obj.get("tariff_alt_url") if isinstance(obj.get("tariff_alt_url"), str) else None,
        min_price=obj.get("min_price"),
        max_price=obj.get("max_price"),
        start_date_time=parse_timestamp(obj.get("start_date_time")),
        end_date_time=parse_timestamp(obj.get("end_date_time")),
        summary=tariff_summary(obj),
        last_updated=last_updated,
        raw=obj,
    )


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
WHERE t.last_updated <= EXCLUDED.last_updated
RETURNING (xmax = 0) AS created
"""


def _jsonb(value: Any) -> Jsonb | None:
    return Jsonb(value) if value is not None else None


async def apply_tariffs(
    conn: AsyncConnection,
    tariffs: Sequence[Tariff],
    *,
    network_id: int,
    received_at: datetime,
    sync_run_id: int | None = None,
) -> tuple[int, int, int]:
    """Upsert ordered by last_updated; returns (created, updated, stale)."""
    created = updated = stale = 0
    async with conn.cursor() as cur:
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
            if row is None:
                stale += 1
            elif row[0]:
                created += 1
            else:
                updated += 1
    return created, updated, stale


async def hide_absent_tariffs(conn: AsyncConnection, *, network_id: int, sync_run_id: int) -> int:
    """A complete pull of tariffs replaces the whole known list (ocpi.md §4.1): hide the rest."""
    cur = await conn.execute(
        """
        UPDATE tariffs t SET deleted_at = now()
        FROM network_parties p
        WHERE p.network_id = %(network)s
          AND (t.country_code, t.party_id) = (p.country_code, p.party_id)
          AND t.seen_sync_id IS DISTINCT FROM %(run)s AND t.deleted_at IS NULL
        """,
        {"network": network_id, "run": sync_run_id},
    )
    return cur.rowcount
