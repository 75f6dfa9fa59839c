"""Tariff pushes: PUT creates or replaces, DELETE hides, GET returns our copy (ocpi.md §4.2);
2.1.1 also PATCHes."""

from __future__ import annotations

from typing import Any

from app.domain.timestamps import parse_timestamp
from app.store import Tx
from app.store import tariffs as tariff_store
from app.store.quarantine import record_problems
from app.store.records import Problem
from ingest.ocpi import transport
from ingest.ocpi.tariffs import normalise_tariff
from ingest.ocpi.wire import encoder
from ingest.receiver.operations import Outcome, Pusher, ignored, invalid


async def put_tariff(
    tx: Tx, pusher: Pusher, cc: str, pid: str, tariff_id: str, body: dict[str, Any]
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
        ocpi_version=pusher.version,
    )
    await record_problems(tx, problems, network_id=pusher.network_id, source="push")
    if tariff is None:
        reasons = "; ".join(p.reason for p in problems if p.severity == "rejected")
        return invalid(f"tariff rejected: {reasons}", pusher.version)
    counts = await tariff_store.apply_tariffs(
        tx, [tariff], network_id=pusher.network_id, received_at=pusher.received_at
    )
    if counts.stale:
        return ignored("tariff")
    return Outcome(http_status=201 if counts.created else 200)


async def patch_tariff(
    tx: Tx, pusher: Pusher, cc: str, pid: str, tariff_id: str, patch: dict[str, Any]
) -> Outcome:
    stored = await tariff_store.fetch_tariff(tx, cc, pid, tariff_id)
    if stored is None:
        return Outcome(transport.CLIENT_ERROR, f"unknown tariff {tariff_id}: PUT it first", 404)
    moment = parse_timestamp(patch.get("last_updated")) or pusher.received_at
    stored.update(patch)
    stored["last_updated"] = transport.format_timestamp(moment)
    return await put_tariff(tx, pusher, cc, pid, tariff_id, stored)


async def delete_tariff(tx: Tx, pusher: Pusher, cc: str, pid: str, tariff_id: str) -> Outcome:
    """Hidden, never deleted: connectors may still reference it (ocpi.md P26)."""
    if not await tariff_store.delete_tariff(
        tx, cc, pid, tariff_id, network_id=pusher.network_id, at=pusher.received_at
    ):
        return Outcome(transport.CLIENT_ERROR, f"unknown tariff {tariff_id}", 404)
    return Outcome()
