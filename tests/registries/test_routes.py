"""All six bundled routes against the registries (issue 12, done-when): along-route returns
every stored station within the corridor, in route order, and nothing outside it. What lies
within the corridor is computed here from the readers' records with our own geometry, not
from the API or PostGIS."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from shapely import STRtree
from shapely.geometry import LineString, box

from ingest.registries import Record, Rejected

ROUTES = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "routes").glob("*.geojson"))
CORRIDOR_M = 1000.0
EDGE = 0.01  # records within 1 % of the corridor's edge are left out of the comparison
EARTH_M = 6_371_008.8


def _route(path: Path) -> list[list[float]]:
    data = json.loads(path.read_text())
    if data["type"] == "FeatureCollection":
        data = data["features"][0]
    geometry = data["geometry"] if data["type"] == "Feature" else data
    return [p[:2] for p in geometry["coordinates"]]


def _distance_to_route_m(
    lat: float, lon: float, coords: list[list[float]], tree: STRtree, segments: list[LineString]
) -> float:
    """Distance to the nearest segment on the tangent plane at the point (exact to well under
    1 % at corridor distances), through the segments whose boxes are near."""
    scale = math.cos(math.radians(lat))
    pad_lat = 3 * CORRIDOR_M / 111_000
    pad_lon = pad_lat / max(scale, 0.1)
    best = math.inf
    for i in tree.query(box(lon - pad_lon, lat - pad_lat, lon + pad_lon, lat + pad_lat)):
        (x1, y1), (x2, y2) = segments[i].coords

        def plane(x: float, y: float) -> tuple[float, float]:
            return (
                math.radians(x - lon) * scale * EARTH_M,
                math.radians(y - lat) * EARTH_M,
            )

        ax, ay = plane(x1, y1)
        bx, by = plane(x2, y2)
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best


def _stored(conn: psycopg.Connection) -> set[tuple[str, str]]:
    """(source, record id) of every record a driver can be shown: visible, or merged into one."""
    rows = conn.execute(
        "SELECT n.name, l.ocpi_id_raw FROM locations l JOIN networks n ON n.id = l.network_id "
        "WHERE l.visible OR l.merged_into IS NOT NULL"
    ).fetchall()
    return {(name, record_id) for name, record_id in rows}


async def _along(api: AsyncTestClient[Litestar], coords: list[list[float]]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    cursor = None
    while True:
        body: dict[str, Any] = {
            "route": {"type": "LineString", "coordinates": coords},
            "corridor_m": CORRIDOR_M,
            "limit": 500,
        }
        if cursor:
            body["cursor"] = cursor
        answer = await api.post("/v1/locations/along-route", json=body)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        results += page["results"]
        cursor = page.get("next_cursor")
        if not cursor:
            return results


@pytest.mark.parametrize("route", ROUTES, ids=lambda p: p.stem)
async def test_along_each_route_every_station_in_route_order(
    route: Path,
    registry_api: AsyncTestClient[Litestar],
    registry_conn: psycopg.Connection,
    read_items: dict[str, list[Record | Rejected]],
) -> None:
    coords = _route(route)
    segments = [LineString([a, b]) for a, b in itertools.pairwise(coords)]
    tree = STRtree(segments)
    stored = _stored(registry_conn)
    inside: set[tuple[str, str]] = set()
    edge: set[tuple[str, str]] = set()
    for source, items in read_items.items():
        for item in items:
            if not isinstance(item, Record) or (source, item.record_id) not in stored:
                continue
            c = item.location["coordinates"]
            d = _distance_to_route_m(float(c["latitude"]), float(c["longitude"]), coords, tree,
                                     segments)  # fmt: skip
            if abs(d - CORRIDOR_M) <= EDGE * CORRIDOR_M:
                edge.add((source, item.record_id))
            elif d < CORRIDOR_M:
                inside.add((source, item.record_id))

    results = await _along(registry_api, coords)
    answered = {(s["source"], s["record_id"]) for r in results for s in r["sources"]}
    offsets = [r["route_offset_m"] for r in results]
    print(f"\n{route.stem}: {len(inside)} records within {CORRIDOR_M:.0f} m, "
          f"{len(results)} stations answered")  # fmt: skip
    assert inside - answered == set()  # every station there is found
    assert answered - inside - edge == set()  # nothing from outside the corridor
    assert offsets == sorted(offsets)  # in route order
    if route.stem.startswith("us_") or route.stem.startswith("ca_"):
        assert len(results) > 0  # the US routes have stations
