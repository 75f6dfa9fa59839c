"""The discovery API on the bundled real data: which locations, in which order, with which
counts — recomputed here independently (pyproj geodesics over the stored points, Python over the
stored EVSEs and connectors) wherever possible."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
AMSTERDAM = (52.37, 4.89)
MOSCOW = (55.7558, 37.6173)
KUALA_LUMPUR = (3.139, 101.6869)

Client = AsyncTestClient[Litestar]


def visible_points(db: psycopg.Connection) -> list[tuple[str, float, float]]:
    return db.execute("SELECT public_id, lat, lon FROM locations WHERE visible").fetchall()


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def brute_force_nearby(
    db: psycopg.Connection, lat: float, lon: float, radius_m: float, keep: set[str] | None = None
) -> list[tuple[str, float]]:
    found = []
    for public_id, plat, plon in visible_points(db):
        if keep is not None and public_id not in keep:
            continue
        d = geodesic_m(lat, lon, plat, plon)
        if d <= radius_m:
            found.append((public_id, d))
    return sorted(found, key=lambda x: (x[1], x[0]))


def evse_index(db: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    """public_id → visible EVSEs with bucket, capabilities and visible connectors."""
    rows = db.execute(
        """
        SELECT l.public_id, e.id, e.status_bucket, e.capabilities, c.standard, c.power_type,
               c.max_power_kw
        FROM locations l JOIN evses e ON e.location_id = l.id AND e.visible
        JOIN connectors c ON c.evse_pk = e.id AND c.visible
        WHERE l.visible
        """
    ).fetchall()
    evses: dict[tuple[str, int], dict[str, Any]] = {}
    for public_id, evse_pk, bucket, caps, standard, power_type, kw in rows:
        evse = evses.setdefault(
            (public_id, evse_pk), {"bucket": bucket, "caps": set(caps), "connectors": []}
        )
        evse["connectors"].append((standard, power_type, kw))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (public_id, _), evse in evses.items():
        out[public_id].append(evse)
    return out


async def get(client: Client, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("point", "radius_m", "limit"),
    [
        (AMSTERDAM, 5000, 20),
        (AMSTERDAM, 50000, 200),
        (MOSCOW, 5000, 50),
        (KUALA_LUMPUR, 20000, 500),
        (AMSTERDAM, 50000, 7),  # the limit binds: exactly the seven closest
    ],
)
async def test_nearby_returns_the_closest_in_true_distance_order(
    api: Client,
    db: psycopg.Connection,
    point: tuple[float, float],
    radius_m: int,
    limit: int,
) -> None:
    body = await get(
        api, "/v1/locations/nearby", lat=point[0], lon=point[1], radius_m=radius_m, limit=limit
    )
    in_range = brute_force_nearby(db, point[0], point[1], radius_m)
    expected = in_range[:limit]
    assert len(expected) > 0
    if limit == 7:
        assert len(in_range) > limit  # the case is there to bind the limit
    assert [r["id"] for r in body["results"]] == [e[0] for e in expected]
    for result, (_, distance) in zip(body["results"], expected, strict=True):
        assert result["distance_m"] == pytest.approx(distance, abs=0.1)
    assert body["count"] == len(expected)


async def test_summary_counts_and_groups_match_the_stored_evses(
    api: Client,
    db: psycopg.Connection,
) -> None:
    body = await get(
        api, "/v1/locations/nearby", lat=MOSCOW[0], lon=MOSCOW[1], radius_m=30000, limit=100
    )
    # The summaries checked below are those of exactly these locations (not of an empty list).
    expected = brute_force_nearby(db, MOSCOW[0], MOSCOW[1], 30000)[:100]
    assert len(expected) == 100
    assert [r["id"] for r in body["results"]] == [pid for pid, _ in expected]
    index = evse_index(db)
    for result in body["results"]:
        evses = index[result["id"]]
        buckets = defaultdict(int)
        for evse in evses:
            buckets[evse["bucket"]] += 1
        availability = result["availability"]
        assert availability["total"] == len(evses)
        assert {
            k: availability[k]
            for k in ("available", "occupied", "out_of_service", "unknown", "planned")
        } == {
            k: buckets[k] for k in ("available", "occupied", "out_of_service", "unknown", "planned")
        }
        assert availability["stale"] == 0
        groups = defaultdict(int)
        for evse in evses:
            for key in set(evse["connectors"]):
                groups[key] += 1
        assert {
            (g["standard"], g["power_type"], g["max_power_kw"]): g["evses"]
            for g in result["connector_groups"]
        } == dict(groups)
        assert result["max_power_kw"] == max(
            (kw for e in evses for _, _, kw in e["connectors"] if kw is not None), default=None
        )


def _matches(
    evse: dict[str, Any],
    standards: set[str] | None,
    min_kw: float | None,
    power: str | None,
    available: bool,
) -> bool:
    if available and evse["bucket"] != "available":
        return False
    for standard, power_type, kw in evse["connectors"]:
        if standards is not None and standard not in standards:
            continue
        if min_kw is not None and (kw is None or kw < min_kw):
            continue
        if power == "DC" and power_type != "DC":
            continue
        if power == "AC" and not power_type.startswith("AC"):
            continue
        return True
    return False


@pytest.mark.parametrize(
    ("params", "standards", "min_kw", "power", "available"),
    [
        ({"connector": "ccs2"}, {"IEC_62196_T2_COMBO"}, None, None, False),
        ({"connector": "ccs2", "min_power_kw": 100}, {"IEC_62196_T2_COMBO"}, 100, None, False),
        (
            {"connector": "chademo,gbt", "available": "true"},
            {"CHADEMO", "GBT_AC", "GBT_DC"},
            None,
            None,
            True,
        ),
        ({"power_type": "AC", "available": "true"}, None, None, "AC", True),
        ({"min_power_kw": 50, "power_type": "DC", "available": "true"}, None, 50, "DC", True),
    ],
)
async def test_evse_level_filters_hold_on_one_evse(
    api: Client,
    db: psycopg.Connection,
    params: dict[str, Any],
    standards: set[str] | None,
    min_kw: float | None,
    power: str | None,
    available: bool,
) -> None:
    lat, lon = MOSCOW
    body = await get(
        api, "/v1/locations/nearby", lat=lat, lon=lon, radius_m=100000, limit=500, **params
    )
    index = evse_index(db)
    keep = {
        pid
        for pid, evses in index.items()
        if any(_matches(e, standards, min_kw, power, available) for e in evses)
    }
    expected = brute_force_nearby(db, lat, lon, 100000, keep)[:500]
    assert len(expected) > 0
    assert [r["id"] for r in body["results"]] == [e[0] for e in expected]
    for result in body["results"]:
        matching = sum(
            1 for e in index[result["id"]] if _matches(e, standards, min_kw, power, available)
        )
        assert result["matching"]["total"] == matching


async def test_location_level_filters(api: Client, db: psycopg.Connection) -> None:
    lat, lon = AMSTERDAM
    rows = db.execute(
        "SELECT public_id, country_code || '*' || party_id, operator_name FROM locations"
        " WHERE visible"
    ).fetchall()
    fastned = {pid for pid, network, _ in rows if network == "NL*FLA"}
    powergo = {pid for pid, _, operator in rows if "powergo" in (operator or "").lower()}

    async def nearby_ids(**params: str) -> list[str]:
        body = await get(
            api, "/v1/locations/nearby", lat=lat, lon=lon, radius_m=100000, limit=500, **params
        )
        assert body["count"] == len(body["results"])
        return [r["id"] for r in body["results"]]

    def expected(keep: set[str] | None) -> list[str]:
        return [pid for pid, _ in brute_force_nearby(db, lat, lon, 100000, keep)[:500]]

    everything = expected(None)
    only = expected(fastned)
    without = expected({pid for pid, _, _ in rows} - fastned)
    operator = expected(powergo)
    # Each filter keeps some and leaves out some of what is there (the cases mean something).
    assert (len(everything), len(only), len(without), len(operator)) == (142, 69, 73, 73)
    assert await nearby_ids() == everything
    assert await nearby_ids(network="NL*FLA") == only
    assert await nearby_ids(exclude_network="NL*FLA") == without
    assert await nearby_ids(operator="powergo") == operator
    assert await nearby_ids(operator="POWERGO") == operator  # case-insensitive


async def test_viewport_pages_cover_every_location_once_in_stable_order(
    api: Client,
    db: psycopg.Connection,
) -> None:
    bbox = (37.2, 55.5, 38.0, 56.0)  # Moscow
    expected = {
        pid
        for pid, lat, lon in visible_points(db)
        if bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]
    }
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"bbox": ",".join(map(str, bbox)), "limit": 100}
        if cursor:
            params["cursor"] = cursor
        body = await get(api, "/v1/locations", **params)
        seen += [r["id"] for r in body["results"]]
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert len(expected) > 300
    assert len(seen) == len(set(seen)) and set(seen) == expected
    assert pages == len(expected) // 100 + 1
    again = await get(api, "/v1/locations", bbox=",".join(map(str, bbox)), limit=100)
    assert [r["id"] for r in again["results"]] == seen[:100]


async def test_a_truncated_viewport_page_is_spread_over_the_area(
    api: Client,
    db: psycopg.Connection,
) -> None:
    bbox = (37.2, 55.5, 38.0, 56.0)
    body = await get(api, "/v1/locations", bbox=",".join(map(str, bbox)), limit=50)
    lons = sorted(r["coordinates"]["lon"] for r in body["results"])
    # Not bunched in one corner: the page spans most of the box.
    assert lons[-1] - lons[0] > 0.5 * (bbox[2] - bbox[0])


async def test_text_search_tolerates_typos_and_ranks_by_distance(
    api: Client,
    db: psycopg.Connection,
) -> None:
    exact = await get(api, "/v1/search", q="fastned", lat=AMSTERDAM[0], lon=AMSTERDAM[1], limit=5)
    typo = await get(api, "/v1/search", q="fastnet", lat=AMSTERDAM[0], lon=AMSTERDAM[1], limit=5)
    assert exact["count"] == 5 and typo["count"] == 5
    assert all(
        "fastned" in (r["name"] or "").lower() or "fastned" in (r["operator"] or "").lower()
        for r in exact["results"]
    )
    distances = [r["distance_m"] for r in exact["results"]]
    assert distances == sorted(distances)
    # The typo finds Fastned sites too (its similarity is lower, so the order may differ).
    assert all(
        "fastned" in ((r["name"] or "") + (r["operator"] or "")).lower() for r in typo["results"]
    )


async def test_geojson_output(api: Client) -> None:
    response = await api.get(
        "/v1/locations/nearby",
        params={"lat": AMSTERDAM[0], "lon": AMSTERDAM[1], "limit": 3},
        headers={"Accept": "application/geo+json"},
    )
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 3
    first = body["features"][0]
    assert first["geometry"]["type"] == "Point" and len(first["geometry"]["coordinates"]) == 2
    assert "coordinates" not in first["properties"] and first["id"] == first["properties"]["id"]
    same = await api.get(
        "/v1/locations/nearby",
        params={"lat": AMSTERDAM[0], "lon": AMSTERDAM[1], "limit": 3, "format": "geojson"},
    )
    assert [f["id"] for f in same.json()["features"]] == [f["id"] for f in body["features"]]


@pytest.mark.parametrize(
    ("path", "params", "parameter", "message"),
    [
        ("/v1/locations/nearby", {"lat": 91, "lon": 4}, "lat", "latitude 91.0 is out of range"),
        ("/v1/locations/nearby", {"lat": 52, "lon": 181}, "lon", "longitude 181.0 is out of range"),
        (
            "/v1/locations/nearby",
            {"lat": 52, "lon": 4, "radius_m": 250000},
            "radius_m",
            "at most 200,000 m",
        ),
        ("/v1/locations/nearby", {"lat": 52, "lon": 4, "limit": 501}, "limit", "between 1 and 500"),
        (
            "/v1/locations/nearby",
            {"lat": 52, "lon": 4, "connector": "ccs3"},
            "connector",
            "unknown connector 'ccs3'",
        ),
        (
            "/v1/locations/nearby",
            {"lat": 52, "lon": 4, "power_type": "HVDC"},
            "power_type",
            "must be AC or DC",
        ),
        (
            "/v1/locations/nearby",
            {"lat": 52, "lon": 4, "available": "maybe"},
            "available",
            "must be true or false",
        ),
        (
            "/v1/locations/nearby",
            {"lat": 52, "lon": 4, "network": "NLFLA"},
            "network",
            "is not a network CC*PID",
        ),
        ("/v1/locations/nearby", {"lon": 4}, "lat", "is required"),
        ("/v1/locations/nearby", {"lat": "north", "lon": 4}, "lat", "Expected `float`"),
        ("/v1/locations", {"bbox": "1,2,3"}, "bbox", "four numbers"),
        ("/v1/locations", {"bbox": "1,50,3,40"}, "bbox", "minLat must be below maxLat"),
        (
            "/v1/locations",
            {"bbox": "1,2,3,4", "cursor": "garbage"},
            "cursor",
            "is not a cursor this API issued",
        ),
        ("/v1/search", {"q": "a"}, "q", "at least two letters"),
    ],
)
async def test_bad_input_is_a_400_naming_the_parameter(
    api: Client,
    path: str,
    params: dict[str, Any],
    parameter: str,
    message: str,
) -> None:
    response = await api.get(path, params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert message in error["message"]


async def test_cursor_of_another_query_is_refused(api: Client) -> None:
    first = await get(api, "/v1/locations", bbox="37.2,55.5,38.0,56.0", limit=10)
    response = await api.get(
        "/v1/locations",
        params={"bbox": "37.2,55.5,38.0,56.1", "limit": 10, "cursor": first["next_cursor"]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("belongs to a different query")


async def test_unknown_location_is_404(api: Client) -> None:
    response = await api.get("/v1/locations/doesnotexist")
    assert response.status_code == 404


async def test_openapi_documents_every_endpoint_and_filter(api: Client) -> None:
    document = (await api.get("/schema")).json()
    paths = document["paths"]
    for path in (
        "/v1/locations/nearby",
        "/v1/locations",
        "/v1/locations/along-route",
        "/v1/search",
        "/v1/locations/{location_id}",
    ):
        assert path in paths, path
    names = {p["name"] for p in paths["/v1/locations/nearby"]["get"]["parameters"]}
    assert {
        "lat",
        "lon",
        "radius_m",
        "limit",
        "connector",
        "min_power_kw",
        "max_power_kw",
        "power_type",
        "available",
        "max_status_age_s",
        "capability",
        "network",
        "exclude_network",
        "operator",
        "parking_type",
        "facility",
        "open_now",
        "format",
    } <= names
