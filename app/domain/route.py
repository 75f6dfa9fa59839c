"""Routes for the along-route search: decoding (GeoJSON LineString or Google encoded polyline,
precision 5 or 6), validation with errors that name the problem, and splitting into short
pieces so that each index probe only covers the bounding box of a short stretch."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from shapely import LineString, to_wkb

MAX_POINTS = 50_000
MAX_LENGTH_M = 10_000_000
PIECE_LENGTH_M = 10_000.0
PIECE_MAX_POINTS = 256
_EARTH_RADIUS_M = 6_371_008.8


class RouteError(ValueError):
    """The route is unusable; the message says why (for a 400 naming ``route``)."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def decode_polyline(encoded: str, precision: int) -> list[tuple[float, float]]:
    """Google's encoded polyline algorithm → [(lon, lat)]; precision 5 or 6 (lat/lon order)."""
    if precision not in (5, 6):
        raise RouteError("precision must be 5 or 6")
    factor = 10.0**precision
    points: list[tuple[float, float]] = []
    index = lat = lon = 0
    length = len(encoded)
    while index < length:
        deltas = []
        for _ in range(2):
            shift = result = 0
            while True:
                if index >= length:
                    raise RouteError("encoded_polyline is truncated")
                byte = ord(encoded[index]) - 63
                index += 1
                if not 0 <= byte < 64:
                    raise RouteError(f"encoded_polyline has an invalid character at {index - 1}")
                result |= (byte & 0x1F) << shift
                shift += 5
                if byte < 0x20:
                    break
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lon += deltas[1]
        points.append((lon / factor, lat / factor))
    return points


def from_geojson(geometry: Any) -> list[tuple[float, float]]:
    if not isinstance(geometry, dict) or geometry.get("type") != "LineString":
        raise RouteError('route must be a GeoJSON LineString or {"encoded_polyline": …}')
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list):
        raise RouteError("route.coordinates must be an array of [lon, lat] positions")
    points = []
    for i, position in enumerate(coordinates):
        if (
            not isinstance(position, list | tuple)
            or len(position) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in position[:2])
        ):
            raise RouteError(f"route.coordinates[{i}] is not a [lon, lat] position")
        points.append((float(position[0]), float(position[1])))
    return points


def validate(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop repeated points; check count, ranges and length (true metres on the sphere)."""
    if len(points) > MAX_POINTS:
        raise RouteError(f"route has {len(points):,} points; at most {MAX_POINTS:,} are accepted")
    clean: list[tuple[float, float]] = []
    for i, (lon, lat) in enumerate(points):
        if not (-180 <= lon <= 180 and -90 <= lat <= 90) or math.isnan(lon) or math.isnan(lat):
            raise RouteError(f"route point {i} ({lon}, {lat}) is out of range")
        if not clean or clean[-1] != (lon, lat):
            clean.append((lon, lat))
    if len(clean) < 2:
        raise RouteError("route needs at least two distinct points")
    length = route_length_m(clean)
    if length > MAX_LENGTH_M:
        raise RouteError(
            f"route is {length / 1000:,.0f} km long; at most "
            f"{MAX_LENGTH_M // 1000:,} km are accepted"
        )
    return clean


def route_length_m(points: Sequence[tuple[float, float]]) -> float:
    return sum(haversine_m(a[1], a[0], b[1], b[0]) for a, b in itertools.pairwise(points))


def pieces(points: Sequence[tuple[float, float]]) -> list[bytes]:
    """Consecutive stretches of about ``PIECE_LENGTH_M`` (sharing their end points), as WKB."""
    out: list[bytes] = []
    current = [points[0]]
    length = 0.0
    for previous, point in itertools.pairwise(points):
        current.append(point)
        length += haversine_m(previous[1], previous[0], point[1], point[0])
        if length >= PIECE_LENGTH_M or len(current) >= PIECE_MAX_POINTS:
            out.append(to_wkb(LineString(current)))
            current = [point]
            length = 0.0
    if len(current) >= 2:
        out.append(to_wkb(LineString(current)))
    return out
