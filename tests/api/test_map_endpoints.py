"""The map's server side: clusters over the real data (counts recomputed here from the stored
locations and their H3 cells), the live stream (events over real Redis, replay on reconnect),
the bundled routes and the offline base layer."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import httpx
import msgspec
import psycopg
import pytest
import redis as redis_sync
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.filters import Bbox, Filters
from app.domain.parties import Party
from app.live.events import STREAM_KEY
from app.settings import Settings
from app.store import Store
from app.store import clusters as clusters_db
from ingest import credentials
from tests.conftest import ServerProcess, execute, make_app
from tests.ingest.helpers import b64, location_example

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize(
    ("bbox", "zoom", "resolution"),
    [
        ((-25.0, 34.0, 45.0, 72.0), 4, 3),  # Europe
        ((36.8, 55.4, 38.4, 56.1), 9, 6),  # Moscow
        ((4.7, 52.2, 5.1, 52.5), 13, 8),  # Amsterdam
    ],
)
async def test_clusters_count_what_each_cell_holds(
    api: Client,
    db: psycopg.Connection,
    bbox: tuple[float, ...],
    zoom: int,
    resolution: int,
) -> None:
    response = await api.get(
        "/v1/clusters", params={"bbox": ",".join(map(str, bbox)), "zoom": zoom}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["resolution"] == resolution
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for lat, lon, evses, available in db.execute(
        "SELECT lat, lon, evse_count, available_count FROM locations WHERE visible"
    ):
        if bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]:
            # Cells are parents of the point's resolution-9 cell (H3 children do not tile
            # their parent exactly, so this can differ from the direct cell near edges).
            cell = h3.cell_to_parent(h3.latlng_to_cell(lat, lon, 9), resolution)
            expected[cell]["locations"] += 1
            expected[cell]["evses"] += evses
            expected[cell]["available"] += available
    got = {
        c["cell"]: {"locations": c["locations"], "evses": c["evses"], "available": c["available"]}
        for c in body["cells"]
    }
    assert got == {k: dict(v) for k, v in expected.items()}
    assert body["locations"] == sum(v["locations"] for v in expected.values()) > 0


async def test_clusters_honour_filters(api: Client) -> None:
    params = {"bbox": "36.8,55.4,38.4,56.1", "zoom": 9}
    everything = (await api.get("/v1/clusters", params=params)).json()
    dc = (await api.get("/v1/clusters", params={**params, "power_type": "DC"})).json()
    listed = (
        await api.get(
            "/v1/locations", params={"bbox": params["bbox"], "power_type": "DC", "limit": 500}
        )
    ).json()
    assert dc["locations"] == listed["count"] < everything["locations"]
    bad = await api.get("/v1/clusters", params={**params, "zoom": 40})
    assert (bad.status_code, bad.json()["error"]["parameter"]) == (400, "zoom")


async def test_refreshed_clusters_match_the_live_aggregation(fixture_settings: Settings) -> None:
    """The app's refresher fills ``cluster_cells``; read from there (unfiltered, over the whole
    world) the clusters are exactly what aggregating the locations live gives."""
    refreshing = msgspec.structs.replace(fixture_settings, cluster_refresh_s=30.0)
    async with (
        AsyncTestClient(app=make_app(refreshing)),
        await psycopg.AsyncConnection.connect(
            fixture_settings.database_url or "", autocommit=True
        ) as conn,
        Store(fixture_settings.database_url or "", max_size=2, name="test") as store,
    ):
        cells = 0
        for _ in range(100):  # the refresher runs once at start-up
            cur = await conn.execute("SELECT count(*) FROM cluster_cells")
            if (row := await cur.fetchone()) and row[0]:
                cells = row[0]
                break
            await asyncio.sleep(0.1)
        # Filled, and with one row per (resolution, cell, network) of the visible locations:
        # without this the comparison below could be of the live aggregation with itself.
        cur = await conn.execute(
            """
            SELECT count(*) FROM (
                SELECT DISTINCT v.r, v.cell, l.network_id FROM locations l,
                    LATERAL (VALUES (2, l.region_key), (3, l.h3_r3), (4, l.h3_r4), (5, l.h3_r5))
                        AS v(r, cell)
                WHERE l.visible) groups
            """
        )
        expected = await cur.fetchone()
        assert expected is not None and cells == expected[0] > 0
        now = datetime.now(UTC)
        for zoom in (0, 3, 5, 7):
            args: dict[str, Any] = {
                "bbox": Bbox(-180, -90, 180, 90), "zoom": zoom, "filters": Filters(),
                "now": now, "stale_after_s": 900,
            }  # fmt: skip
            _, refreshed = await clusters_db.clusters(
                store, refresh_s=30.0, materialise_from=0, **args
            )
            _, live = await clusters_db.clusters(store, refresh_s=0, **args)

            def counts(cells: list[dict[str, Any]]) -> dict[int, tuple[int, ...]]:
                return {
                    c["cell"]: (c["locations"], c["evses"], c["available"], c["stale"])
                    for c in cells
                }

            assert counts(refreshed) == counts(live)
            assert sum(c["locations"] for c in live) > 1000


async def test_refreshed_clusters_are_used_only_while_fresh_and_worth_it(fixture_db: str) -> None:
    async with Store(fixture_db, max_size=2, name="test") as store:
        assert await clusters_db.refresh_cluster_cells(store)
        # Mark the aggregates so that reading them shows; a refresh at the end undoes it.
        await execute(
            fixture_db, "UPDATE cluster_cells SET locations = locations + 1000 WHERE resolution = 3"
        )
        now = datetime.now(UTC)
        args: dict[str, Any] = {
            "bbox": Bbox(-180, -90, 180, 90), "zoom": 4, "filters": Filters(),
            "stale_after_s": 900, "refresh_s": 15.0, "materialise_from": 0,
        }  # fmt: skip
        _, fresh = await clusters_db.clusters(store, now=now, **args)
        _, old = await clusters_db.clusters(store, now=now + timedelta(minutes=2), **args)
        _, off = await clusters_db.clusters(store, now=now, **{**args, "refresh_s": 0})
        _, filtered = await clusters_db.clusters(
            store, now=now, **{**args, "filters": Filters(power_class="DC")}
        )
        # The bundled data is small: by default it is aggregated live, never behind.
        _, small = await clusters_db.clusters(
            store, now=now, **{**args, "materialise_from": clusters_db.MATERIALISE_FROM}
        )
        assert await clusters_db.refresh_cluster_cells(store)
    assert all(c["locations"] > 1000 for c in fresh)
    assert all(c["locations"] < 1000 for c in old + off + filtered + small)
    assert sum(c["locations"] for c in old) == sum(c["locations"] for c in off)


async def test_routes_and_base_layer(api: Client) -> None:
    routes = (await api.get("/v1/routes")).json()
    names = {r["name"]: r for r in routes}
    assert len(names) == 6
    sf_dc = names["us_sanfrancisco_to_washingtondc_4767km"]
    assert sf_dc["points"] == 28458 and 4700 < sf_dc["length_km"] < 4800
    line = (await api.get("/v1/routes/it_rome_to_amalfi_252km")).json()
    assert line["type"] == "LineString" and len(line["coordinates"]) > 100
    countries = await api.get("/vendor/countries.geojson")
    assert countries.headers["content-type"].startswith("application/geo+json")
    names_ = {f["properties"]["name"] for f in countries.json()["features"]}
    assert {"Netherlands", "Russia", "Fiji", "Malaysia"} <= names_
    page = await api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    script = await api.get("/vendor/maplibre-gl/maplibre-gl.js")
    assert script.status_code == 200 and len(script.content) > 500_000


# ---- the live stream, through a real server and real Redis ---------------------------------------
TOKEN = "stream-token-0123456789"


async def _read_events(
    url: str,
    bbox: str,
    count: int,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10,
    subscribed: asyncio.Event | None = None,
    quiet_after: bool = False,
) -> list[dict[str, Any]]:
    """Read ``count`` events of the stream; ``subscribed`` is set when the hello arrived (the
    server sends it once the subscription is in place). ``quiet_after``: a read that times out
    returns what came before (the test expects silence), instead of raising."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    try:
        return await _read_into(events, current, url, bbox, count, headers, timeout_s, subscribed)
    except httpx.ReadTimeout:
        if quiet_after:
            return events
        raise


async def _read_into(
    events: list[dict[str, Any]],
    current: dict[str, Any],
    url: str,
    bbox: str,
    count: int,
    headers: dict[str, str] | None,
    timeout_s: float,
    subscribed: asyncio.Event | None,
) -> list[dict[str, Any]]:
    async with (
        httpx.AsyncClient(timeout=timeout_s) as client,
        client.stream(
            "GET", f"{url}/v1/stream", params={"bbox": bbox}, headers=headers or {}
        ) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.strip():
                if current:
                    events.append(current)
                    if current.get("event") == "hello" and subscribed is not None:
                        subscribed.set()
                    current = {}
                    if len(events) >= count:
                        return events
                continue
            key, _, value = line.partition(":")
            if key in ("event", "id", "data"):
                current[key] = value.strip()
    return events


async def _subscribed(url: str, bbox: str, count: int, **kwargs: Any) -> asyncio.Task[Any]:
    """A reader of the stream, returned once its subscription is confirmed by the hello."""
    ready = asyncio.Event()
    task = asyncio.create_task(_read_events(url, bbox, count, subscribed=ready, **kwargs))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert ready.is_set(), f"no hello from the stream: {task.exception() if task.done() else ''}"
    return task


@pytest.mark.slow
async def test_stream_sends_changes_in_the_area_and_replays_after_a_reconnect(
    settings: Settings,
    api_server: ServerProcess,
) -> None:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])
    base = "/ocpi/2.2.1/locations/BE/BEC/LOC1"
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        assert (await client.put(base, json=location_example(), headers=b64(TOKEN))).json()[
            "status_code"
        ] == 1000
        gent = "3.6,50.9,3.9,51.2"
        elsewhere = "4.7,52.2,5.1,52.5"
        reader = await _subscribed(api_server.url, gent, 3)
        other = await _subscribed(api_server.url, elsewhere, 2, timeout_s=4)
        for i, status in enumerate(("CHARGING", "AVAILABLE")):
            await client.patch(
                f"{base}/3256",
                headers=b64(TOKEN),
                json={"status": status, "last_updated": f"2026-01-01T00:00:0{i}Z"},
            )
        events = await reader
    assert [e["event"] for e in events] == ["hello", "availability", "availability"]
    first, second = (json.loads(e["data"]) for e in events[1:])
    assert [ev["status"] for ev in first["evses"]] == ["CHARGING"]
    assert (first["availability"]["occupied"], second["availability"]["occupied"]) == (2, 1)
    with pytest.raises(httpx.ReadTimeout):
        await other  # nothing happened in Amsterdam: only the hello, then silence
    # Reconnect after the first change: the second is replayed.
    replayed = await _read_events(
        api_server.url, gent, 2, headers={"Last-Event-ID": events[1]["id"]}
    )
    assert [(e["event"], e.get("id")) for e in replayed] == [
        ("hello", events[1]["id"]),
        ("availability", events[2]["id"]),
    ]
    # The stream trimmed past a client's position: it is told to reload, not replayed a part.
    trim = redis_sync.Redis.from_url(settings.redis_url or "")
    try:
        assert trim.xtrim(STREAM_KEY, minid=events[2]["id"], approximate=False) >= 1
    finally:
        trim.close()
    # A client from before the first change: that change is gone from the stream, so it is told
    # to reload, never replayed only part of what it missed.
    behind = await _read_events(api_server.url, gent, 2, headers={"Last-Event-ID": events[0]["id"]})
    assert [e["event"] for e in behind] == ["hello", "reset"]
    assert json.loads(behind[1]["data"]) == {"reason": "too far behind"}
    # A client at the first change still kept has missed nothing: no reset.
    at_edge = await _read_events(
        api_server.url,
        gent,
        2,
        headers={"Last-Event-ID": events[2]["id"]},
        timeout_s=3,
        quiet_after=True,
    )
    assert [(e["event"], e.get("id")) for e in at_edge] == [("hello", events[2]["id"])]
    # Redis restarted empty (its stream is gone; what changed meanwhile was never published): a
    # client from the old stream is told to reload, before and after the new stream has events.
    gone = redis_sync.Redis.from_url(settings.redis_url or "")
    try:
        assert gone.delete(STREAM_KEY) == 1
    finally:
        gone.close()
    resumed = await _read_events(
        api_server.url, gent, 2, headers={"Last-Event-ID": events[2]["id"]}
    )
    assert [e["event"] for e in resumed] == ["hello", "reset"]
    async with httpx.AsyncClient(base_url=api_server.url) as client:
        changed = await client.patch(
            f"{base}/3256",
            headers=b64(TOKEN),
            json={"status": "CHARGING", "last_updated": "2026-01-01T00:00:09Z"},
        )
        assert changed.json()["status_code"] == 1000
        resumed = await _read_events(
            api_server.url, gent, 2, headers={"Last-Event-ID": events[2]["id"]}
        )
        assert [e["event"] for e in resumed] == ["hello", "reset"]
        # Not an id the stream sent: named, not a stream that fails after its start.
        bad = await client.get("/v1/stream", params={"bbox": gent, "last_event_id": "12;DROP"})
        assert bad.status_code == 400 and bad.json()["error"]["parameter"] == "last_event_id"


async def test_networks_list_what_the_network_filter_takes(
    api: Client, db: psycopg.Connection
) -> None:
    body = (await api.get("/v1/networks")).json()
    expected = {
        f"{cc}*{pid}": (count, source)
        for cc, pid, count, source in db.execute(
            "SELECT l.country_code, l.party_id, count(*), n.name FROM locations l"
            " JOIN networks n ON n.id = l.network_id WHERE l.visible GROUP BY 1, 2, 4"
        )
    }
    assert {n["id"]: (n["locations"], n["source"]) for n in body} == expected
    assert [n["locations"] for n in body] == sorted((n["locations"] for n in body), reverse=True)
    assert all(n["live"] for n in body)  # the fixture marks every network as in contact
    # Every listed id is accepted by the filter and narrows to exactly its locations.
    first = body[0]
    narrowed = (
        await api.get(
            "/v1/clusters", params={"bbox": "-180,-90,180,90", "zoom": 0, "network": first["id"]}
        )
    ).json()
    assert narrowed["locations"] == first["locations"]


@pytest.mark.slow
async def test_a_client_that_started_on_an_empty_stream_is_told_reset_when_the_stream_is_gone(
    settings: Settings, api_server: ServerProcess
) -> None:
    """Issue 9: a client given "0-0" on an empty stream could not tell a Redis that restarted
    empty (what changed meanwhile was never published) from one where nothing happened. Its
    position is now a marker entry of that very stream."""
    gent = "3.6,50.9,3.9,51.2"
    hello = await _read_events(api_server.url, gent, 1)
    position = hello[0]["id"]
    assert position != "0-0"
    still_here = await _read_events(
        api_server.url, gent, 2, headers={"Last-Event-ID": position}, timeout_s=2,
        quiet_after=True,
    )  # fmt: skip
    assert [e["event"] for e in still_here] == ["hello"]  # nothing missed: no reset
    gone = redis_sync.Redis.from_url(settings.redis_url or "")
    try:
        assert gone.delete(STREAM_KEY) == 1  # Redis restarted empty
    finally:
        gone.close()
    resumed = await _read_events(api_server.url, gent, 2, headers={"Last-Event-ID": position})
    assert [e["event"] for e in resumed] == ["hello", "reset"]
