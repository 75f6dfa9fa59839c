"""Tariff pushes: PUT creates or replaces, DELETE hides, GET returns our copy (ocpi.md §4.2);
2.1.1 also PATCHes."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from app.domain.timestamps import parse_timestamp
from ingest.apply import record_problems
from ingest.normalise import Problem
from ingest.ocpi import transport
from ingest.ocpi.wire import encoder
from ingest.receiver.operations import Outcome, Pusher, ignored, invalid
from ingest.tariffs import apply_tariffs, normalise_tariff


async def fetch_tariff(
    conn: AsyncConnection, cc: str, pid: str, tariff_id: str, *, include_deleted: bool = False
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT raw FROM tariffs WHERE (country_code, party_id, tariff_id) = (%s, %s, %s)"
        " AND (deleted_at IS NULL OR %s)",
        (cc.upper(), pid.upper(), tariff_id.upper(), include_deleted),
    )
    row = await cur.fetchone()
    return dict(row[0]) if row else None


async def put_tariff(
    conn: AsyncConnection, pusher: Pusher, cc: str, pid: str, tariff_id: str, body: dict[str, Any]
) -> Outcome:
    for key, url_value in (("country_code", cc), ("party_id", pid), ("id", tariff_id)):
        value = body.get(key)
        if value is not None and str(value).strip().upper() != url_value.upper():
            return invalid(
                f"{key} {value!r} in the body differs from {url_value!r} in the URL", pusher.version
            )
    document = {
        **body,
        "id": body.get("id", tariff_id),
        "country_code": body.get("country_code", cc),
        "party_id": body.get("party_id", pid),
    }
    problems: list[Problem] = []
    tariff = normalise_tariff(
        encoder.encode(document),
        country_code=cc,
        party_id=pid,
        received_at=pusher.received_at,
        problems=problems,
    )
    await record_problems(conn, problems, network_id=pusher.network_id, source="push")
    if tariff is None:
        reasons = "; ".join(p.reason for p in problems if p.severity == "rejected")
        return invalid(f"tariff rejected: {reasons}", pusher.version)
    created, _, stale = await apply_tariffs(
        conn, [tariff], network_id=pusher.network_id, received_at=pusher.received_at
    )
    if stale:
        return ignored("tariff")
    return Outcome(http_status=201 if created else 200)


async def patch_tariff(
    conn: AsyncConnection, pusher: Pusher, cc: str, pid: str, tariff_id: str, patch: dict[str, Any]
) -> Outcome:
    stored = await fetch_tariff(conn, cc, pid, tariff_id)
    if stored is None:
        return Outcome(transport.CLIENT_ERROR, f"unknown tariff {tariff_id}: PUT it first", 404)
    moment = parse_timestamp(patch.get("last_updated")) or pusher.received_at
    stored.update(patch)
    stored["last_updated"] = transport.format_timestamp(moment)
    return await put_tariff(conn, pusher, cc, pid, tariff_id, stored)


async def delete_tariff(
    conn: AsyncConnection, pusher: Pusher, cc: str, pid: str, tariff_id: str
) -> Outcome:
    """Hidden, never deleted: connectors may still reference it (ocpi.md P26)."""
    cur = await conn.execute(
        "UPDATE tariffs SET deleted_at = %s, network_id = %s"
        " WHERE (country_code, party_id, tariff_id) = (%s, %s, %s) AND deleted_at IS NULL",
        (pusher.received_at, pusher.network_id, cc.upper(), pid.upper(), tariff_id.upper()),
    )
    if cur.rowcount == 0:
        return Outcome(transport.CLIENT_ERROR, f"unknown tariff {tariff_id}", 404)
    return Outcome()
