"""Every write keeps its own data under concurrency (issue 9, finding 0).

Concurrent OCPI PUTs of new locations share the push writer's batched transaction: each one's
EVSEs must end up on that location, and on no other, in the OCPI GET and in the public API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest import credentials
from tests.conftest import settings_env, start_granian
from tests.ingest.helpers import TOKEN, b64, location_example

ROUNDS = 10
PER_ROUND = 4


@pytest.fixture
async def cpo(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real service under granian, and a network that may write BE*BEC."""
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store, "becharged", TOKEN, [Party.parse("BE*BEC")], version="2.2.1"
        )
    server = start_granian("wattlas.asgi:app", settings_env(settings), tmp_path, name="api")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()


def new_location(location_id: str, index: int) -> dict[str, Any]:
    """The spec's example location under another id, its two EVSEs renamed after it, placed a
    few hundred metres apart so that each is its own site."""
    body = location_example()
    body["id"] = location_id
    body["coordinates"] = {"latitude": f"{51.0 + index * 0.01:.6f}", "longitude": "3.729944"}
    for n, evse in enumerate(body["evses"]):
        evse["uid"] = f"{location_id}-E{n}"
        evse["evse_id"] = f"BE*BEC*E{location_id}{n}"
    return body


async def test_concurrent_puts_of_new_locations_keep_their_own_evses(
    cpo: httpx.AsyncClient, sync_conn: psycopg.Connection
) -> None:
    for round_no in range(ROUNDS):
        ids = [f"R{round_no}L{i}" for i in range(PER_ROUND)]
        answers = await asyncio.gather(
            *(
                cpo.put(
                    f"/ocpi/2.2.1/locations/BE/BEC/{location_id}",
                    json=new_location(location_id, round_no * PER_ROUND + i),
                    headers=b64(TOKEN),
                )
                for i, location_id in enumerate(ids)
            )
        )
        assert [(a.status_code, a.json()["status_code"]) for a in answers] == [
            (201, 1000)
        ] * PER_ROUND

    stored = sync_conn.execute(
        """
        SELECT l.ocpi_id, array_agg(e.uid ORDER BY e.uid)
        FROM locations l JOIN evses e ON e.location_id = l.id
        GROUP BY l.ocpi_id ORDER BY l.ocpi_id
        """
    ).fetchall()
    expected = sorted(
        (f"R{r}L{i}", [f"R{r}L{i}-E0", f"R{r}L{i}-E1"])
        for r in range(ROUNDS)
        for i in range(PER_ROUND)
    )
    assert stored == expected
    connectors = sync_conn.execute(
        "SELECT e.uid, count(*) FROM connectors c JOIN evses e ON e.id = c.evse_pk"
        " GROUP BY e.uid ORDER BY e.uid"
    ).fetchall()
    # The example's first EVSE has two connectors, its second one.
    assert connectors == sorted(
        (f"R{r}L{i}-E{n}", 2 - n) for r in range(ROUNDS) for i in range(PER_ROUND) for n in (0, 1)
    )

    for round_no in (0, ROUNDS - 1):
        for i in range(PER_ROUND):
            location_id = f"R{round_no}L{i}"
            ocpi = await cpo.get(f"/ocpi/2.2.1/locations/BE/BEC/{location_id}", headers=b64(TOKEN))
            assert [e["uid"] for e in ocpi.json()["data"]["evses"]] == [
                f"{location_id}-E0",
                f"{location_id}-E1",
            ]
            (public_id,) = sync_conn.execute(
                "SELECT public_id FROM locations WHERE ocpi_id = %s", (location_id,)
            ).fetchone() or (None,)
            detail = (await cpo.get(f"/v1/locations/{public_id}")).json()
            assert sorted(e["uid"] for e in detail["evses"]) == [
                f"{location_id}-E0",
                f"{location_id}-E1",
            ]
