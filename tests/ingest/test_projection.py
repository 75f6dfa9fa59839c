"""The search projection is the same whether written by a whole-location apply (computed in
Python) or refreshed after a status change (computed in SQL)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import psycopg

from app.domain.parties import Party
from app.store import Store
from app.store.locations import refresh_projection
from ingest.loader import load_file
from ingest.ocpi.transport import format_timestamp
from ingest.receiver.operations import Pusher, StatusPatch, status_patches
from tests.conftest import OCPI_FIXTURES

COLUMNS = (
    "evse_count, available_count, occupied_count, out_of_service_count, unknown_count,"
    " planned_count, max_power_kw, connector_standards, power_types, connector_groups,"
    " tariff_links,"
    " visible, hidden_reason"
)


async def test_python_and_sql_projections_agree_on_every_real_feed(
    store: Store, conn: psycopg.AsyncConnection
) -> None:
    manifest = json.loads((OCPI_FIXTURES / "manifest.json").read_text())["networks"]
    for entry in manifest:
        party = Party.parse(entry["party"]) if entry.get("party") else None
        await load_file(
            store, OCPI_FIXTURES / entry["file"], party=party, network_name=entry["name"]
        )
    cur = await conn.execute(f"SELECT id, {COLUMNS} FROM locations ORDER BY id")
    written = await cur.fetchall()
    assert len(written) == 3499  # every accepted location of the 17 dumps
    async with store.transaction() as tx:
        await refresh_projection(tx, [row[0] for row in written])
    cur = await conn.execute(f"SELECT id, {COLUMNS} FROM locations ORDER BY id")
    assert await cur.fetchall() == written


async def test_status_pushes_shift_the_projection_exactly_as_a_recount(
    store: Store, conn: psycopg.AsyncConnection
) -> None:
    """Status pushes update the projection in place (counts and connector groups shifted from
    the old bucket to the new); after hundreds of them, over real locations with several EVSEs
    and connector groups, a full recount changes nothing."""
    for name, file in (
        ("itcharge", "ocpi_2_2_1_locations-itcharge.json"),
        ("evio", "ocpi_2_2_locations-evio.json"),
        ("fastned", "ocpi_2_1_1_locations-fastned.json"),
    ):
        party = Party.parse("NL*FLA") if name == "fastned" else None
        await load_file(store, OCPI_FIXTURES / file, party=party, network_name=name)
    cur = await conn.execute(
        """
        SELECT l.country_code, l.party_id, l.ocpi_id, e.uid, l.network_id
        FROM evses e JOIN locations l ON l.id = e.location_id
        WHERE l.id IN (SELECT location_id FROM evses GROUP BY 1 HAVING count(*) > 1)
        ORDER BY l.id, e.uid
        """
    )
    evses = await cur.fetchall()
    assert len(evses) > 300
    rng = random.Random(7)
    # REMOVED hides an EVSE and a later status shows it again: those locations are recounted.
    statuses = ["AVAILABLE", "CHARGING", "BLOCKED", "OUTOFORDER", "UNKNOWN", "PLANNED", "REMOVED"]
    start = datetime(2030, 1, 1, tzinfo=UTC)
    applied = 0
    for batch_no in range(30):
        items = []
        for k in range(40):
            cc, pid, loc, uid, network_id = rng.choice(evses)
            moment = start + timedelta(seconds=batch_no * 100 + k)
            items.append(
                StatusPatch(
                    cc, pid, loc, uid,
                    {"status": rng.choice(statuses), "last_updated": format_timestamp(moment)},
                    Pusher(network_id, "2.2.1", moment),
                )
            )  # fmt: skip
        async with store.transaction() as tx:
            result = await status_patches(tx, items)
        applied += result.applied
    assert applied > 1000
    cur = await conn.execute(f"SELECT id, {COLUMNS}, status_updated_at FROM locations ORDER BY id")
    shifted = await cur.fetchall()
    assert sum(row[3] for row in shifted) > 0  # something is occupied
    async with store.transaction() as tx:
        await refresh_projection(tx, [row[0] for row in shifted])
    cur = await conn.execute(f"SELECT id, {COLUMNS}, status_updated_at FROM locations ORDER BY id")
    assert await cur.fetchall() == shifted
