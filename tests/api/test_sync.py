"""The snapshot (``GET /v1/export``) and the change feed (``GET /v1/changes``) of issue 14,
against the real service in-process: pushes go through the OCPI receiver, the feed is read
back over HTTP, and what it carries is compared with the detail endpoint's own answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest import credentials
from tests.conftest import ServerProcess, make_app
from tests.ingest.helpers import TOKEN, b64, location_example, spec

BASE = "/ocpi/2.2.1/locations/BE/BEC/LOC1"
TARIFF_URL = "/ocpi/2.2.1/tariffs/BE/BEC/11"


@pytest.fixture
async def cpo(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store, "becharged", TOKEN, [Party.parse("BE*BEC")], version="2.2.1"
        )
    async with AsyncTestClient(app=make_app(settings)) as client:
        yield client


async def ok(response: Any) -> None:
    assert response.json()["status_code"] == 1000, response.text


def tariff_11() -> dict[str, Any]:
    """The spec's tariff 3 as BE*BEC's tariff 11, which LOC1's connector 1 of EVSE 3256 lists."""
    return {**spec("tariff_3_alt_url.json"), "country_code": "BE", "party_id": "BEC", "id": "11"}


def without_clock(detail: dict[str, Any]) -> dict[str, Any]:
    """A detail without what only the clock or the question changes (ages, prices)."""
    body = json.loads(json.dumps(detail))
    body.pop("price", None)
    for group in body["connector_groups"]:
        group.pop("price", None)
    for evse in body["evses"]:
        evse["status_age_s"] = 0
        for connector in evse["connectors"]:
            connector.pop("price", None)
    body["source"]["silent_s"] = None
    return body


async def feed(client: AsyncTestClient[Litestar], cursor: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/changes", params={"cursor": cursor, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_each_kind_of_change_in_commit_order_with_what_it_is_now(
    cpo: AsyncTestClient[Litestar],
) -> None:
    await ok(await cpo.put(TARIFF_URL, json=tariff_11(), headers=b64(TOKEN)))
    await ok(await cpo.put(BASE, json=location_example(), headers=b64(TOKEN)))
    created = await feed(cpo, "0")
    assert [(c["cursor"], c["kind"]) for c in created["changes"]] == [
        ("1", "tariff"),
        ("2", "location"),
    ]
    assert created["next_cursor"] == "2" and created["more"] is False
    tariff_change, location_change = created["changes"]
    assert tariff_change["location_id"] is None
    assert tariff_change["tariff_key"] == "BE*BEC*11"
    assert (tariff_change["tariff"]["id"], tariff_change["tariff"]["country_code"]) == ("11", "BE")
    location_id = location_change["location_id"]
    detail = (await cpo.get(f"/v1/locations/{location_id}")).json()
    assert without_clock(location_change["location"]) == without_clock(detail)
    assert [t["id"] for t in location_change["location"]["tariffs"]] == ["11"]
    # A tariff change carries the tariff as the detail shows it (the copy keeps one of each).
    as_fed = {
        k: v for k, v in tariff_change["tariff"].items() if k not in ("country_code", "party_id")
    }
    assert as_fed == location_change["location"]["tariffs"][0]
    assert as_fed["tax_included"] == "NO"

    # A status push: an availability change, with the counts and each EVSE's status.
    await ok(
        await cpo.patch(
            f"{BASE}/3256", json=spec("location_patch_example_status.json"), headers=b64(TOKEN)
        )
    )
    patched = await feed(cpo, created["next_cursor"])
    assert [(c["cursor"], c["kind"], c["location_id"]) for c in patched["changes"]] == [
        ("3", "availability", location_id)
    ]
    availability = patched["changes"][0]["availability"]
    assert availability["counts"] == {
        "total": 2,
        "available": 0,
        "occupied": 2,  # CHARGING, and the example's RESERVED
        "out_of_service": 0,
        "unknown": 0,
        "planned": 0,
    }
    assert [(e["uid"], e["status"]) for e in availability["evses"]] == [
        ("3256", "CHARGING"),
        ("3257", "RESERVED"),
    ]

    # Hidden (publish false), then the tariff deleted: a tombstone, then a tariff without one.
    hide = {"publish": False, "last_updated": "2020-01-01T00:00:00Z"}
    await ok(await cpo.patch(BASE, json=hide, headers=b64(TOKEN)))
    await ok(await cpo.delete(TARIFF_URL, headers=b64(TOKEN)))
    gone = await feed(cpo, patched["next_cursor"])
    assert [(c["cursor"], c["kind"], c["location_id"]) for c in gone["changes"]] == [
        ("4", "removed", location_id),
        ("5", "tariff", None),
    ]
    assert "tariff" not in gone["changes"][1] and gone["changes"][1]["tariff_key"] == "BE*BEC*11"
    # Read again from the start, every change reads as what it is now: the location is gone.
    again = await feed(cpo, "0")
    assert [c["kind"] for c in again["changes"]] == [
        "tariff",
        "removed",
        "removed",
        "removed",
        "tariff",
    ]
    assert [c["cursor"] for c in again["changes"]] == ["1", "2", "3", "4", "5"]


async def test_paging_with_limit_and_more(cpo: AsyncTestClient[Litestar]) -> None:
    for n in range(5):
        location = {**location_example(), "id": f"LOC{n}", "last_updated": "2024-01-01T00:00:00Z"}
        await ok(await cpo.put(f"{BASE[:-1]}{n}", json=location, headers=b64(TOKEN)))
    first = await feed(cpo, "0", limit=2)
    second = await feed(cpo, first["next_cursor"], limit=2)
    third = await feed(cpo, second["next_cursor"], limit=2)
    pages = [first, second, third]
    assert [[c["cursor"] for c in page["changes"]] for page in pages] == [
        ["1", "2"],
        ["3", "4"],
        ["5"],
    ]
    assert [page["more"] for page in pages] == [True, True, False]
    empty = await feed(cpo, third["next_cursor"])
    assert empty == {"changes": [], "next_cursor": "5", "more": False}


async def test_a_long_poll_answers_when_a_change_is_committed(
    settings: Settings, api_server: ServerProcess
) -> None:
    """Over a real server (the in-process test client answers one request at a time)."""
    async with Store(settings.database_url or "", max_size=1, name="test") as store:
        await credentials.add_static(
            store, "becharged", TOKEN, [Party.parse("BE*BEC")], version="2.2.1"
        )
    async with httpx.AsyncClient(base_url=api_server.url, timeout=20) as client:

        async def push_later() -> float:
            await asyncio.sleep(0.5)
            await ok(await client.put(BASE, json=location_example(), headers=b64(TOKEN)))
            return time.monotonic()

        async def wait() -> tuple[float, dict[str, Any]]:
            answer = await client.get("/v1/changes", params={"cursor": "0", "wait_s": 10})
            return time.monotonic(), answer.json()

        pushed, (answered, answer) = await asyncio.gather(push_later(), wait())
        assert [c["kind"] for c in answer["changes"]] == ["location"]
        assert answered - pushed < 1.0  # the watcher polls every 0.1 s
        # With nothing new, the wait ends at wait_s with no change.
        started = time.monotonic()
        quiet = await client.get("/v1/changes", params={"cursor": "1", "wait_s": 0.5})
        assert quiet.json()["changes"] == []
        assert 0.5 <= time.monotonic() - started < 2.0


async def test_bad_expired_and_unknown_cursors(
    cpo: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    bad = await cpo.get("/v1/changes", params={"cursor": "abc"})
    assert bad.status_code == 400 and bad.json()["error"]["parameter"] == "cursor"
    missing = await cpo.get("/v1/changes")
    assert missing.status_code == 400
    for params, name in (({"limit": 0}, "limit"), ({"wait_s": 31}, "wait_s")):
        refused = await cpo.get("/v1/changes", params={"cursor": "0", **params})
        assert (refused.status_code, refused.json()["error"]["parameter"]) == (400, name)
    ahead = await cpo.get("/v1/changes", params={"cursor": "7"})
    assert (ahead.status_code, ahead.json()["error"]["code"]) == (410, "cursor_unknown")

    await ok(await cpo.put(BASE, json=location_example(), headers=b64(TOKEN)))
    await ok(await cpo.put(TARIFF_URL, json=tariff_11(), headers=b64(TOKEN)))
    await feed(cpo, "0")  # numbered
    # Retention: the first change is older than it.
    sync_conn.execute("UPDATE changes SET committed_at = now() - interval '8 days' WHERE seq = 1")
    async with Store(sync_conn.info.dsn, max_size=1, name="test") as store:
        from app.store import changes

        assert await changes.prune(store, older_than=await _days_ago(sync_conn, 7)) == 1
    expired = await cpo.get("/v1/changes", params={"cursor": "0"})
    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "cursor_expired")
    assert "/v1/export" in expired.json()["error"]["message"]
    assert [c["cursor"] for c in (await feed(cpo, "1"))["changes"]] == ["2"]


async def _days_ago(sync_conn: psycopg.Connection, days: int) -> Any:
    row = sync_conn.execute("SELECT now() - make_interval(days => %s)", (days,)).fetchone()
    assert row is not None
    return row[0]


def lines(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.decode().splitlines()]


async def test_export_is_consistent_with_its_cursor_in_ndjson_geojson_and_gzip(
    cpo: AsyncTestClient[Litestar],
) -> None:
    await ok(await cpo.put(TARIFF_URL, json=tariff_11(), headers=b64(TOKEN)))
    for n in range(3):
        location = {**location_example(), "id": f"LOC{n}", "last_updated": "2024-01-01T00:00:00Z"}
        await ok(await cpo.put(f"{BASE[:-1]}{n}", json=location, headers=b64(TOKEN)))
    response = await cpo.get("/v1/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["wattlas-cursor"] == "4"
    exported = lines(response.content)
    assert exported[-1] == {"cursor": "4"}
    ids = [line["ocpi_id"] for line in exported[:-1]]
    assert ids == ["LOC0", "LOC1", "LOC2"]
    for line in exported[:-1]:
        detail = (await cpo.get(f"/v1/locations/{line['id']}")).json()
        assert without_clock(line) == without_clock(detail)

    zipped = await cpo.get("/v1/export", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    # httpx decodes gzip; what came over the wire was smaller.
    unzipped = lines(zipped.content)
    assert [without_clock(line) for line in unzipped[:-1]] == [
        without_clock(line) for line in exported[:-1]
    ]
    assert unzipped[-1] == {"cursor": "4"}
    assert zipped.num_bytes_downloaded < len(response.content) / 3

    seq = await cpo.get("/v1/export", headers={"Accept": "application/geo+json-seq"})
    records = seq.content.split(b"\x1e")
    assert records[0] == b""
    features = [json.loads(r) for r in records[1:]]
    assert [f["properties"]["ocpi_id"] for f in features[:-1]] == ids
    assert features[0]["geometry"]["type"] == "Point" and features[-1] == {"cursor": "4"}


async def test_export_filters(cpo: AsyncTestClient[Litestar]) -> None:
    await ok(await cpo.put(BASE, json=location_example(), headers=b64(TOKEN)))
    lon, lat = 3.72994, 51.047599  # the spec example's coordinates (Gent)

    async def ids(**params: Any) -> list[str]:
        response = await cpo.get("/v1/export", params=params)
        assert response.status_code == 200, response.text
        return [line["ocpi_id"] for line in lines(response.content)[:-1]]

    assert await ids(bbox=f"{lon - 0.1},{lat - 0.1},{lon + 0.1},{lat + 0.1}") == ["LOC1"]
    assert await ids(bbox="10,10,11,11") == []
    assert await ids(country="BEL") == ["LOC1"]
    assert await ids(country="be,nl") == ["LOC1"]
    assert await ids(country="DEU") == []
    assert await ids(network="becharged") == ["LOC1"]
    assert await ids(network="other") == []
    assert await ids(updated_since="2015-01-01T00:00:00Z") == ["LOC1"]
    assert await ids(updated_since="2016-01-01T00:00:00Z") == []
    for params, name in (
        ({"bbox": "1,2,3"}, "bbox"),
        ({"country": "B1"}, "country"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"since": "x"}, "since"),
    ):
        refused = await cpo.get("/v1/export", params=params)
        assert refused.status_code == 400, params
        assert refused.json()["error"]["parameter"] == name


async def test_the_sync_endpoints_are_keyed_and_open_to_browsers_like_discovery(
    settings: Settings,
) -> None:
    keyed = msgspec.structs.replace(settings, api_keys_required=True)
    async with AsyncTestClient(app=make_app(keyed)) as client:
        for path in ("/v1/changes?cursor=0", "/v1/export"):
            refused = await client.get(path)
            assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthorized")
            preflight = await client.options(
                path,
                headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
            )
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == "*"
    # A browser's copy reads the snapshot's cursor from the header.
    async with AsyncTestClient(app=make_app(settings)) as client:
        answer = await client.get("/v1/export", headers={"Origin": "https://app.example"})
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "Wattlas-Cursor" in answer.headers["access-control-expose-headers"]
