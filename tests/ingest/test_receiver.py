"""The OCPI Locations and Tariffs receiver (issue 3, "Receiving pushes"), against the real
service in-process, real PostGIS and real Redis."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
import redis as redis_sync
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.live.events import STREAM_KEY, decode_event, is_marker
from app.settings import Settings
from app.store import Store
from ingest import credentials
from tests.conftest import make_app
from tests.ingest.helpers import TOKEN, b64, evse_row, location_example, location_row, raw, spec

BASE = "/ocpi/2.2.1/locations/BE/BEC/LOC1"


@pytest.fixture
async def cpo(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The service, with a static token for the example operator BE*BEC (and DE*ALL tariffs)."""
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store,
            "becharged",
            TOKEN,
            [Party.parse("BE*BEC"), Party.parse("DE*ALL")],
            version="2.2.1",
        )
        await credentials.add_static(
            store,
            "other",
            "other-token-0123456789",
            [Party.parse("NL*TNM")],
            version="2.2.1",
        )
    async with AsyncTestClient(app=make_app(settings)) as client:
        yield client


async def put_example(client: AsyncTestClient[Litestar]) -> None:
    response = await client.put(BASE, json=location_example(), headers=b64(TOKEN))
    assert (response.status_code, response.json()["status_code"]) == (201, 1000)


def body(response: object) -> dict:  # type: ignore[type-arg]
    return response.json()  # type: ignore[attr-defined, no-any-return]


STORED_TABLES = ("locations", "evses", "connectors", "tariffs", "quarantine")


def stored(sync_conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row the receiver writes, in full: equal before and after means nothing written."""
    return {
        table: sync_conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        for table in STORED_TABLES
    }


def envelope(response: httpx.Response) -> tuple[object, ...]:
    """(HTTP status, OCPI status_code, status_message) of an envelope that carries no data."""
    answer = body(response)
    assert set(answer) == {"status_code", "status_message", "timestamp"}, answer
    return (response.status_code, answer["status_code"], answer["status_message"])


async def test_put_location_creates_it_with_its_projection(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    # 3256 AVAILABLE, 3257 RESERVED (occupied); last_updated as sent.
    assert location_row(sync_conn, "LOC1") == (
        True,
        2,
        1,
        1,
        0,
        0,
        datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC),
        None,
    )
    again = await cpo.put(BASE, json=location_example(), headers=b64(TOKEN))
    assert (again.status_code, body(again)["status_code"]) == (200, 1000)


async def test_status_patch_is_applied_and_bumps_the_location(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    response = await cpo.patch(
        f"{BASE}/3256", headers=b64(TOKEN), json=spec("location_patch_example_status.json")
    )
    assert (response.status_code, body(response)["status_code"]) == (200, 1000)
    moment = datetime(2019, 6, 24, 12, 39, 9, tzinfo=UTC)
    assert evse_row(sync_conn, "3256") == ("CHARGING", "occupied", True, moment)
    # Parent's last_updated follows the child's (OCPI 2.2.1 §3.3); counts follow the status.
    assert location_row(sync_conn, "LOC1") == (True, 2, 0, 2, 0, 0, moment, None)


async def test_older_update_is_ignored(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    await cpo.patch(
        f"{BASE}/3256",
        headers=b64(TOKEN),
        json={"status": "CHARGING", "last_updated": "2019-06-24T12:39:09Z"},
    )
    stale = await cpo.patch(
        f"{BASE}/3256",
        headers=b64(TOKEN),
        json={"status": "AVAILABLE", "last_updated": "2019-06-24T12:00:00Z"},
    )
    assert (stale.status_code, body(stale)["status_code"]) == (200, 1000)
    assert "older than the stored version" in body(stale)["status_message"]
    assert evse_row(sync_conn, "3256")[0] == "CHARGING"  # type: ignore[index]
    # A whole-location PUT older than what is stored is ignored as well.
    old = location_example()
    old["last_updated"] = "2015-01-01T00:00:00Z"
    response = await cpo.put(BASE, json=old, headers=b64(TOKEN))
    assert body(response)["status_message"] == (
        "location is older than the stored version; ignored"
    )
    assert evse_row(sync_conn, "3256")[0] == "CHARGING"  # type: ignore[index]


async def test_patch_without_last_updated_is_2001_in_221(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    response = await cpo.patch(f"{BASE}/3256", headers=b64(TOKEN), json={"status": "CHARGING"})
    assert (response.status_code, body(response)["status_code"]) == (200, 2001)
    assert body(response)["status_message"] == (
        "PATCH without last_updated (required in OCPI 2.2.1)"
    )
    assert evse_row(sync_conn, "3256")[0] == "AVAILABLE"  # type: ignore[index]


async def test_patch_of_an_evse_of_an_unknown_location_is_2003(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    response = await cpo.patch(
        f"{BASE}/3256",
        headers=b64(TOKEN),
        json={"status": "CHARGING", "last_updated": "2019-06-24T12:39:09Z"},
    )
    assert (response.status_code, body(response)["status_code"]) == (404, 2003)
    put_evse = await cpo.put(
        f"{BASE}/3256", headers=b64(TOKEN), json=location_example()["evses"][0]
    )
    assert body(put_evse)["status_code"] == 2003
    assert sync_conn.execute("SELECT count(*) FROM evses").fetchone() == (0,)


async def test_cross_party_write_is_refused_and_nothing_written(
    cpo: AsyncTestClient[Litestar],
    sync_conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    foreign = location_example()
    foreign.update(country_code="NL", party_id="TNM")
    response = await cpo.put("/ocpi/2.2.1/locations/NL/TNM/LOC1", json=foreign, headers=b64(TOKEN))
    assert (response.status_code, body(response)["status_code"]) == (404, 2000)
    assert body(response)["status_message"] == "party NL*TNM is not registered for this token"
    # URL and body disagreeing on the owner: refused too.
    response = await cpo.put(BASE, json=foreign, headers=b64(TOKEN))
    assert (response.status_code, body(response)["status_code"]) == (200, 2001)
    mismatched_id = location_example()
    mismatched_id["id"] = "LOC2"
    response = await cpo.put(BASE, json=mismatched_id, headers=b64(TOKEN))
    assert body(response)["status_code"] == 2001
    assert sync_conn.execute("SELECT count(*) FROM locations").fetchone() == (0,)
    assert any("push.refused_foreign_party" in r.getMessage() for r in caplog.records)


async def test_base64_and_raw_tokens_are_both_accepted(cpo: AsyncTestClient[Litestar]) -> None:
    for headers in (b64(TOKEN), raw(TOKEN)):
        response = await cpo.get("/ocpi/versions", headers=headers)
        assert response.status_code == 200
        assert [v["version"] for v in body(response)["data"]] == ["2.3.0", "2.2.1", "2.2", "2.1.1"]
    refused = await cpo.get("/ocpi/versions", headers=raw("wrong"))
    assert (refused.status_code, body(refused)["status_code"]) == (401, 2000)
    assert (await cpo.get("/ocpi/versions")).status_code == 401


async def test_request_and_correlation_ids_are_echoed(cpo: AsyncTestClient[Litestar]) -> None:
    headers = {**b64(TOKEN), "X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"}
    for response in (
        await cpo.get("/ocpi/2.2.1", headers=headers),
        await cpo.get("/ocpi/2.2.1/locations/BE/BEC/NOPE", headers=headers),
    ):
        assert response.headers["x-request-id"] == "req-1"
        assert response.headers["x-correlation-id"] == "corr-1"


async def test_paths_with_and_without_trailing_slash(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    before = stored(sync_conn)
    example = location_example()
    base_url = "http://127.0.0.1:8000/ocpi"  # the suite's public URL (settings' default)
    expected = {
        BASE: ("LOC1", [(e["uid"], e["status"]) for e in example["evses"]]),
        "/ocpi/2.2.1": ("2.2.1", ["credentials", "locations", "tariffs", "hubclientinfo"]),
        "/ocpi/versions": [
            {"version": v, "url": f"{base_url}/{v}"} for v in ("2.3.0", "2.2.1", "2.2", "2.1.1")
        ],
    }

    def what(path: str, data: Any) -> Any:
        if path == BASE:
            return (data["id"], [(e["uid"], e["status"]) for e in data["evses"]])
        if path == "/ocpi/2.2.1":
            return (data["version"], [e["identifier"] for e in data["endpoints"]])
        return data

    for path, want in expected.items():
        bare = await cpo.get(path, headers=b64(TOKEN))
        slashed = await cpo.get(path + "/", headers=b64(TOKEN))
        for response in (bare, slashed):
            answer = body(response)
            assert (path, response.status_code, answer["status_code"]) == (path, 200, 1000)
            assert (answer["status_message"], "data" in answer) == ("Success", True), answer
            assert what(path, answer["data"]) == want
        assert body(slashed)["data"] == body(bare)["data"]
    assert stored(sync_conn) == before  # reading wrote nothing


async def test_get_returns_the_stored_object_at_each_depth(cpo: AsyncTestClient[Litestar]) -> None:
    await put_example(cpo)
    location = body(await cpo.get(BASE, headers=b64(TOKEN)))["data"]
    assert (location["id"], [e["uid"] for e in location["evses"]]) == ("LOC1", ["3256", "3257"])
    evse = body(await cpo.get(f"{BASE}/3257", headers=b64(TOKEN)))["data"]
    assert (evse["evse_id"], evse["status"]) == ("BE*BEC*E041503002", "RESERVED")
    connector = body(await cpo.get(f"{BASE}/3256/2", headers=b64(TOKEN)))["data"]
    assert (connector["format"], connector["tariff_ids"]) == ("SOCKET", ["13"])
    missing = await cpo.get(f"{BASE}/9999", headers=b64(TOKEN))
    assert (missing.status_code, body(missing)["status_code"]) == (404, 2003)


async def test_patch_is_a_shallow_merge_at_each_depth(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    rename = await cpo.patch(
        BASE, headers=b64(TOKEN), json=spec("location_patch_example_location.json")
    )
    assert body(rename)["status_code"] == 1000
    tariff = await cpo.patch(
        f"{BASE}/3256/1", headers=b64(TOKEN), json=spec("location_patch_example_tariff.json")
    )
    assert body(tariff)["status_code"] == 1000
    row = sync_conn.execute("SELECT name, city FROM locations WHERE ocpi_id = 'LOC1'").fetchone()
    assert row == ("Interparking Gent Zuid", "Gent")  # other fields unchanged
    tariff_ids = sync_conn.execute(
        "SELECT c.connector_id, c.tariff_ids, c.format FROM connectors c JOIN evses e"
        " ON e.id = c.evse_pk WHERE e.uid = '3256' ORDER BY 1"
    ).fetchall()
    assert tariff_ids == [("1", ["15"], "CABLE"), ("2", ["13"], "SOCKET")]
    # The connector change bumped the EVSE and the location.
    stamp = datetime(2019, 6, 24, 12, 39, 9, tzinfo=UTC)
    assert evse_row(sync_conn, "3256")[3] == stamp  # type: ignore[index]
    assert location_row(sync_conn, "LOC1")[6] == stamp  # type: ignore[index]


async def test_removed_hides_the_evse_and_publish_false_hides_the_location(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    removed = await cpo.patch(
        f"{BASE}/3256", headers=b64(TOKEN), json=spec("location_patch_example_remove_evse.json")
    )
    assert body(removed)["status_code"] == 1000
    assert evse_row(sync_conn, "3256")[:3] == ("REMOVED", "hidden", False)  # type: ignore[index]
    assert location_row(sync_conn, "LOC1")[:4] == (True, 1, 0, 1)  # type: ignore[index]
    hidden = await cpo.patch(
        BASE, headers=b64(TOKEN), json={"publish": False, "last_updated": "2020-01-01T00:00:00Z"}
    )
    assert body(hidden)["status_code"] == 1000
    assert location_row(sync_conn, "LOC1")[0] is False  # type: ignore[index]
    assert location_row(sync_conn, "LOC1")[7] == "publish is false"  # type: ignore[index]
    # Nothing is deleted.
    assert sync_conn.execute("SELECT count(*) FROM evses").fetchone() == (2,)


async def test_put_of_an_evse_adds_it_and_a_location_put_without_it_hides_it(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    new_evse = dict(
        location_example()["evses"][1],
        uid="3258",
        evse_id="BE*BEC*E041503003",
        status="AVAILABLE",
        last_updated="2020-01-01T00:00:00Z",
    )
    response = await cpo.put(f"{BASE}/3258", json=new_evse, headers=b64(TOKEN))
    assert (response.status_code, body(response)["status_code"]) == (201, 1000)
    assert location_row(sync_conn, "LOC1")[:3] == (True, 3, 2)  # type: ignore[index]
    newer = location_example()
    newer["last_updated"] = "2021-01-01T00:00:00Z"
    await cpo.put(BASE, json=newer, headers=b64(TOKEN))
    assert evse_row(sync_conn, "3258")[2] is False  # type: ignore[index]
    assert location_row(sync_conn, "LOC1")[:3] == (True, 2, 1)  # type: ignore[index]


async def test_broken_location_push_is_2001_and_quarantined(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    broken = location_example()
    broken["coordinates"] = {"latitude": "0.000000", "longitude": "0.000000"}
    response = await cpo.put(BASE, json=broken, headers=b64(TOKEN))
    assert body(response)["status_code"] == 2001
    assert body(response)["status_message"] == (
        "location rejected: coordinates (0, 0) are a placeholder, not a site"
    )
    assert sync_conn.execute(
        "SELECT source, object_key, reason FROM quarantine WHERE severity = 'rejected'"
    ).fetchall() == [("push", "BE*BEC*LOC1", "coordinates (0, 0) are a placeholder, not a site")]


async def test_a_body_that_is_not_json_is_2001_and_nothing_is_written(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    before = stored(sync_conn)
    refusal = (
        400,
        2001,
        "body is not a JSON object (valid UTF-8 JSON, nested at most a few hundred levels)",
    )
    for path in (BASE, BASE + "/", f"{BASE}/3256", f"{BASE}/3256/1"):
        for send in (cpo.put, cpo.patch):
            for content in (b"{not json", b'["a", "list"]', b"\xff\xfe"):
                response = await send(path, content=content, headers=b64(TOKEN))
                assert (path, content, *envelope(response)) == (path, content, *refusal)
    assert stored(sync_conn) == before


async def test_status_changes_are_published_keyed_by_location_and_cell(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection, redis_url: str
) -> None:
    await put_example(cpo)
    client = redis_sync.Redis.from_url(redis_url)

    # The PUT's own event is published after its acknowledgement: let it pass first.
    def events() -> list[Any]:  # the stream's events (without a hub's position marker)
        return [e for e in client.xrange(STREAM_KEY) if not is_marker(e[1])]

    deadline = time.monotonic() + 2
    while len(events()) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(events()) == 1
    pubsub = client.pubsub()
    public_id = sync_conn.execute(
        "SELECT public_id FROM locations WHERE ocpi_id = 'LOC1'"
    ).fetchone()[0]  # type: ignore[index]
    pubsub.subscribe(f"wattlas:loc:{public_id}")
    pubsub.get_message(timeout=1)  # subscription confirmation
    await cpo.patch(
        f"{BASE}/3257",
        headers=b64(TOKEN),
        json={"status": "AVAILABLE", "last_updated": "2020-01-01T00:00:00Z"},
    )
    message = pubsub.get_message(timeout=2)
    assert message is not None
    event = decode_event(message["data"])
    assert (event.location_id, event.availability.available, event.availability.occupied) == (
        public_id,
        2,
        0,
    )
    assert [(e.uid, e.status) for e in event.evses] == [("3257", "AVAILABLE")]
    assert decode_event(events()[-1][1][b"e"]).evses[0].status == "AVAILABLE"
    pubsub.close()
    client.close()


async def test_2_1_1_push_with_raw_token_and_no_last_updated(
    settings: Settings, sync_conn: psycopg.Connection
) -> None:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store,
            "legacy",
            "legacy-token-0123456789",
            [Party.parse("NL*TNM")],
            version="2.1.1",
        )
    location = spec("2.1.1/locations_06_example.json")  # no country_code / party_id: from URL
    async with AsyncTestClient(app=make_app(settings)) as client:
        headers = raw("legacy-token-0123456789")
        put = await client.put("/ocpi/2.1.1/locations/NL/TNM/LOC1/", json=location, headers=headers)
        assert (put.status_code, body(put)["status_code"]) == (201, 1000)
        patch = await client.patch(
            "/ocpi/2.1.1/locations/NL/TNM/LOC1/3256/",
            headers=headers,
            json=spec("2.1.1/locations_01_example_a_simple_status_update.json"),
        )
        assert body(patch)["status_code"] == 1000
        # 2.1.1 client errors carry an HTTP error code with the OCPI body.
        bad = await client.put(
            "/ocpi/2.1.1/locations/NL/TNM/LOC1/", headers=headers, json={**location, "id": "OTHER"}
        )
        assert (bad.status_code, body(bad)["status_code"]) == (400, 2001)
    assert sync_conn.execute(
        "SELECT l.country_code, l.party_id, l.parking_type, e.status FROM locations l"
        " JOIN evses e ON e.location_id = l.id WHERE e.uid = '3256'"
    ).fetchone() == ("NL", "TNM", "ON_STREET", "CHARGING")
    # voltage/amperage of 2.1.1 read as max_voltage/max_amperage: 3 × 220 V × 16 A.
    assert sync_conn.execute(
        "SELECT max_power_kw, tariff_ids FROM connectors ORDER BY id LIMIT 1"
    ).fetchone() == (10.6, ["11"])


async def test_tariff_put_get_delete_and_221_patch_refused(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    tariff = spec("tariff_3_alt_url.json")  # DE*ALL id 13
    url = "/ocpi/2.2.1/tariffs/DE/ALL/13"
    put = await cpo.put(url, json=tariff, headers=b64(TOKEN))
    assert (put.status_code, body(put)["status_code"]) == (201, 1000)
    assert sync_conn.execute("SELECT currency, type, summary FROM tariffs").fetchone() == (
        "EUR",
        "PROFILE_CHEAP",
        "0.25 EUR/kWh + 0.50 EUR start fee (excl. VAT)",
    )
    got = await cpo.get(url, headers=b64(TOKEN))
    assert body(got)["data"]["id"] == "13"
    assert (await cpo.patch(url, json={"currency": "USD"}, headers=b64(TOKEN))).status_code == 405
    deleted = await cpo.delete(url, headers=b64(TOKEN))
    assert body(deleted)["status_code"] == 1000
    assert (await cpo.get(url, headers=b64(TOKEN))).status_code == 404
    assert sync_conn.execute(
        "SELECT count(*) FROM tariffs WHERE deleted_at IS NOT NULL"
    ).fetchone() == (1,)


async def test_revoked_token_stops_working_and_the_network_data_stays(
    cpo: AsyncTestClient[Litestar], settings: Settings, sync_conn: psycopg.Connection
) -> None:
    await put_example(cpo)
    before = stored(sync_conn)
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.revoke(store, "becharged")
    example = location_example()
    # A process that had not seen the token before (this one remembers it for a few seconds).
    async with AsyncTestClient(app=make_app(settings)) as fresh:
        for response in (
            await fresh.get("/ocpi/versions", headers=b64(TOKEN)),
            await fresh.get(BASE, headers=b64(TOKEN)),
            await fresh.patch(
                f"{BASE}/3256",
                headers=b64(TOKEN),
                json={"status": "CHARGING", "last_updated": "2030-01-01T00:00:00Z"},
            ),
        ):
            assert envelope(response) == (401, 2000, "unknown or missing token")
        # The network's data stays, in the database and in the public API.
        assert location_row(sync_conn, "LOC1")[:4] == (True, 2, 1, 1)  # type: ignore[index]
        assert sync_conn.execute(
            "SELECT uid, status, visible FROM evses ORDER BY uid"
        ).fetchall() == [(e["uid"], e["status"], True) for e in example["evses"]]
        public_id = sync_conn.execute(
            "SELECT public_id FROM locations WHERE ocpi_id = 'LOC1'"
        ).fetchone()[0]  # type: ignore[index]
        detail = await fresh.get(f"/v1/locations/{public_id}")
        assert detail.status_code == 200
        shown = detail.json()
        assert (shown["id"], shown["ocpi_id"], shown["name"], shown["network"]) == (
            public_id,
            "LOC1",
            example["name"],
            {"country_code": "BE", "party_id": "BEC", "name": "becharged"},
        )
        assert [(e["uid"], e["evse_id"], e["status"]) for e in shown["evses"]] == [
            (e["uid"], e["evse_id"], e["status"]) for e in example["evses"]
        ]
    assert stored(sync_conn) == before  # every row as it was
