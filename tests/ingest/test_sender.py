"""We as a hub for downstream platforms (issue 14, "OCPI sender"): a subscriber pulls every
visible location page by page, in its own version, with the original party's identity; its token
only reads. Against the real service in-process with two real feeds (2.1.1 Fastned, 2.2.1
EZVolt) loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store, networks
from ingest import credentials
from ingest.loader import load_file
from tests.conftest import OCPI_FIXTURES, make_app
from tests.ingest.helpers import b64, location_example

SUBSCRIBER = "subscriber-token-0123456789"
CPO = "cpo-token-BEC-0123456789"


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await load_file(store, OCPI_FIXTURES / "ocpi_2_1_1_locations-fastned.json",
                        party=Party.parse("NL*FLA"), network_name="fastned")  # fmt: skip
        await load_file(store, OCPI_FIXTURES / "ocpi_2_2_1_locations-ezvolt.json",
                        network_name="ezvolt")  # fmt: skip
        async with store.transaction() as tx:
            network_id = await networks.create_network(
                tx, "downstream", kind="subscriber", status="STATIC", ocpi_version="2.2.1"
            )
            await networks.add_token(tx, network_id, SUBSCRIBER, "STATIC")
        await credentials.add_static(store, "becharged", CPO, [Party.parse("BE*BEC")])
    async with AsyncTestClient(app=make_app(settings)) as client:
        yield client


def visible(sync_conn: psycopg.Connection) -> set[tuple[str, str, str]]:
    rows = sync_conn.execute(
        "SELECT country_code, party_id, ocpi_id FROM locations WHERE visible"
    ).fetchall()
    return {tuple(r) for r in rows}  # type: ignore[misc]


async def pull_all(
    client: AsyncTestClient[Litestar], url: str, limit: int
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Follow ``Link`` from the first page to the last; (objects, each page's headers)."""
    objects: list[dict[str, Any]] = []
    pages: list[dict[str, str]] = []
    next_url = f"{url}?limit={limit}"
    while True:
        response = await client.get(next_url, headers=b64(SUBSCRIBER))
        body = response.json()
        assert (response.status_code, body["status_code"]) == (200, 1000), body
        objects += body["data"]
        pages.append(dict(response.headers))
        link = response.headers.get("link")
        if link is None:
            break
        target = urlsplit(link[1 : link.index(">")])
        assert link.endswith('; rel="next"')
        next_url = f"{target.path}?{target.query}"
    return objects, pages


async def test_a_subscriber_pulls_every_visible_location_page_by_page(
    hub: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    objects, pages = await pull_all(hub, "/ocpi/2.2.1/hub/locations", 40)
    expected = visible(sync_conn)
    assert len(expected) == 195  # of 106 Fastned + 91 EZVolt, those with a usable EVSE
    assert [p["x-total-count"] for p in pages] == ["195"] * 5
    assert {p["x-limit"] for p in pages} == {"40"}
    assert len(objects) == 195
    assert {(o["country_code"], o["party_id"], o["id"].upper()) for o in objects} == expected
    # Fastned's 2.1.1 objects, sent as 2.2.1: the party's identity, publish, time zone, a
    # connector's tariff_ids, parking_type for type.
    fastned = [o for o in objects if o["party_id"] == "FLA"]
    assert len(fastned) == len([k for k in expected if k[1] == "FLA"])
    assert all(o["publish"] is True and o["time_zone"] for o in fastned)
    assert not any("type" in o for o in fastned)
    connectors = [c for o in fastned for e in o["evses"] for c in e["connectors"]]
    assert not any("tariff_id" in c for c in connectors)
    # The library's limit is ours at most: asking for more gets 500 a page, and X-Limit says so.
    big = await hub.get("/ocpi/2.2.1/hub/locations?limit=100000", headers=b64(SUBSCRIBER))
    assert big.headers["x-limit"] == "500" and len(big.json()["data"]) == 195
    assert "link" not in big.headers


async def test_date_window_single_objects_and_tariffs(
    hub: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    row = sync_conn.execute(
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY last_updated) FROM locations"
    ).fetchone()
    assert row is not None
    middle = row[0].isoformat()
    (newer,) = sync_conn.execute(
        "SELECT count(*) FROM locations WHERE visible AND last_updated >= %s", (row[0],)
    ).fetchone() or (0,)
    windowed = await hub.get(
        "/ocpi/2.2.1/hub/locations", params={"date_from": middle}, headers=b64(SUBSCRIBER)
    )
    assert windowed.headers["x-total-count"] == str(newer) and 0 < newer < 195
    assert all(o["last_updated"] >= middle[:19] for o in windowed.json()["data"])

    one = windowed.json()["data"][0]
    evse = one["evses"][0]
    connector = evse["connectors"][0]
    got = await hub.get(f"/ocpi/2.2.1/hub/locations/{one['id']}", headers=b64(SUBSCRIBER))
    assert got.json()["data"] == one
    assert (got.headers["ocpi-from-country-code"], got.headers["ocpi-from-party-id"]) == (
        one["country_code"],
        one["party_id"],
    )
    got_evse = await hub.get(
        f"/ocpi/2.2.1/hub/locations/{one['id']}/{evse['uid']}", headers=b64(SUBSCRIBER)
    )
    assert got_evse.json()["data"] == evse
    got_connector = await hub.get(
        f"/ocpi/2.2.1/hub/locations/{one['id']}/{evse['uid']}/{connector['id']}",
        headers=b64(SUBSCRIBER),
    )
    assert got_connector.json()["data"] == connector
    unknown = await hub.get("/ocpi/2.2.1/hub/locations/NO-SUCH", headers=b64(SUBSCRIBER))
    assert (unknown.status_code, unknown.json()["status_code"]) == (404, 2003)
    bad = await hub.get(
        "/ocpi/2.2.1/hub/locations", params={"date_from": "soon"}, headers=b64(SUBSCRIBER)
    )
    assert bad.json()["status_code"] == 2001 and "date_from" in bad.json()["status_message"]

    tariffs = await hub.get("/ocpi/2.2.1/hub/tariffs", headers=b64(SUBSCRIBER))
    (stored,) = sync_conn.execute(
        "SELECT count(*) FROM tariffs WHERE deleted_at IS NULL"
    ).fetchone() or (0,)
    assert tariffs.headers["x-total-count"] == str(stored)
    assert len(tariffs.json()["data"]) == min(stored, 100)


async def test_in_211_objects_have_no_party_and_a_type(
    hub: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    sync_conn.execute("UPDATE networks SET ocpi_version = '2.1.1' WHERE name = 'downstream'")
    response = await hub.get(
        "/ocpi/2.1.1/hub/locations?limit=500", headers={"Authorization": f"Token {SUBSCRIBER}"}
    )
    objects = response.json()["data"]
    assert len(objects) == 195
    assert not any("country_code" in o or "publish" in o for o in objects)
    assert all("type" in o and "parking_type" not in o for o in objects)
    assert not any("tariff_ids" in c for o in objects for e in o["evses"] for c in e["connectors"])


async def test_version_details_tell_each_caller_its_own_endpoints(
    hub: AsyncTestClient[Litestar],
) -> None:
    theirs = (await hub.get("/ocpi/2.2.1", headers=b64(SUBSCRIBER))).json()["data"]["endpoints"]
    assert [(e["identifier"], e["role"], e["url"].split("/ocpi/")[1]) for e in theirs] == [
        ("credentials", "SENDER", "2.2.1/credentials"),
        ("locations", "SENDER", "2.2.1/hub/locations"),
        ("tariffs", "SENDER", "2.2.1/hub/tariffs"),
    ]
    cpo = (await hub.get("/ocpi/2.2.1", headers=b64(CPO))).json()["data"]["endpoints"]
    assert ("locations", "RECEIVER") in {(e["identifier"], e["role"]) for e in cpo}
    assert not any("/hub/" in e["url"] for e in cpo)
    ours = (await hub.get("/ocpi/2.2.1/credentials", headers=b64(SUBSCRIBER))).json()["data"]
    assert [r["role"] for r in ours["roles"]] == ["HUB"]


async def test_a_subscriber_only_reads_and_a_network_does_not_pull_the_hub(
    hub: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    before = sync_conn.execute("SELECT count(*), max(received_at) FROM locations").fetchone()
    # Even on a party no one owns, with a location that would be valid.
    location = {**location_example(), "country_code": "ZZ", "party_id": "ZZZ"}
    write = await hub.put(
        "/ocpi/2.2.1/locations/ZZ/ZZZ/LOC1", json=location, headers=b64(SUBSCRIBER)
    )
    assert (write.status_code, write.json()["status_code"]) == (403, 2000)
    assert "only reads" in write.json()["status_message"]
    status = await hub.patch(
        "/ocpi/2.2.1/locations/NL/FLA/31199/3119902",
        json={"status": "CHARGING", "last_updated": "2030-01-01T00:00:00Z"},
        headers=b64(SUBSCRIBER),
    )
    assert status.status_code == 403
    assert (
        sync_conn.execute("SELECT count(*), max(received_at) FROM locations").fetchone() == before
    )
    pulled_by_network = await hub.get("/ocpi/2.2.1/hub/locations", headers=b64(CPO))
    assert (pulled_by_network.status_code, pulled_by_network.json()["status_code"]) == (403, 2000)
    nobody = await hub.get("/ocpi/2.2.1/hub/locations", headers=b64("no-such-token-000000"))
    assert nobody.status_code == 401


async def test_in_230_objects_are_the_22_shape(
    hub: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    sync_conn.execute("UPDATE networks SET ocpi_version = '2.3.0' WHERE name = 'downstream'")
    details = (await hub.get("/ocpi/2.3.0", headers=b64(SUBSCRIBER))).json()["data"]
    assert {e["identifier"]: e["url"].split("/ocpi/")[1] for e in details["endpoints"]} == {
        "credentials": "2.3.0/credentials",
        "locations": "2.3.0/hub/locations",
        "tariffs": "2.3.0/hub/tariffs",
    }
    response = await hub.get("/ocpi/2.3.0/hub/locations?limit=500", headers=b64(SUBSCRIBER))
    objects = response.json()["data"]
    assert len(objects) == 195
    assert all(o["publish"] is True and o["country_code"] in ("NL", "BR") for o in objects)
    assert not any("type" in o for o in objects)
