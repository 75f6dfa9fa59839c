"""The search projection is the same whether written by a whole-location apply (computed in
Python) or refreshed after a status change (computed in SQL)."""

from __future__ import annotations

import json

import psycopg

from ingest.apply import refresh_projection
from ingest.loader import load_file
from tests.conftest import OCPI_FIXTURES

COLUMNS = (
    "evse_count, available_count, occupied_count, out_of_service_count, unknown_count,"
    " planned_count, max_power_kw, connector_standards, power_types, connector_groups,"
    " visible, hidden_reason"
)


async def test_python_and_sql_projections_agree_on_every_real_feed(
    conn: psycopg.AsyncConnection,
) -> None:
    manifest = json.loads((OCPI_FIXTURES / "manifest.json").read_text())["networks"]
    for entry in manifest:
        from ingest.networks import Party

        party = Party.parse(entry["party"]) if entry.get("party") else None
        await load_file(
            conn, OCPI_FIXTURES / entry["file"], party=party, network_name=entry["name"]
        )
    cur = await conn.execute(f"SELECT id, {COLUMNS} FROM locations ORDER BY id")
    written = await cur.fetchall()
    assert len(written) == 3499  # every accepted location of the 17 dumps
    async with conn.transaction():
        await refresh_projection(conn, [row[0] for row in written])
    cur = await conn.execute(f"SELECT id, {COLUMNS} FROM locations ORDER BY id")
    assert await cur.fetchall() == written
