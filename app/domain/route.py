"""Routes for the along-route search: decoding (GeoJSON LineString or Google encoded polyline,
precision 5 or 6), validation with errors that name the problem, and splitting into short
pieces so that each index probe only covers the bounding box of a short stretch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
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
    return float(segment_lengths_m(points).sum())


# WGS 84
_M_PER_DEGREE_LAT = 110_574.0  # the shortest degree of latitude (at the equator)
_A = 6_378_137.0
_E2 = 6.69437999014e-3


def segment_lengths_m(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Length of each segment on the WGS 84 ellipsoid, from the meridional and prime-vertical
    radii at its mid-latitude: exact to a few parts per million for segments of a road route
    (hundreds of metres), and computed for 50,000 points at once."""
    lon = np.radians(np.array([p[0] for p in points]))
    lat = np.radians(np.array([p[1] for p in points]))
    mid = (lat[1:] + lat[:-1]) / 2
    sin2 = np.sin(mid) ** 2
    meridional = _A * (1 - _E2) / (1 - _E2 * sin2) ** 1.5
    normal = _A / np.sqrt(1 - _E2 * sin2)
    d_lat = lat[1:] - lat[:-1]
    d_lon = (lon[1:] - lon[:-1] + np.pi) % (2 * np.pi) - np.pi
    result: np.ndarray = np.hypot(meridional * d_lat, normal * np.cos(mid) * d_lon)
    return result


@dataclass(frozen=True)
class Pieces:
    """A route cut into stretches for the corridor query: WKB linestrings, where each starts
    along the route, how long each is (metres on the ellipsoid), and the cos(latitude) that
    makes a stretch's lon/lat locally true to scale."""

    wkb: list[bytes]
    start_m: list[float]
    length_m: list[float]
    scale: list[float]
    max_abs_lat: list[float]

    def reach(self, margin_m: float) -> dict[str, list[float]]:
        """Per stretch, the lon/lat margins (degrees) that cover ``margin_m`` on the ground."""
        dy = margin_m / _M_PER_DEGREE_LAT
        dxs = [
            margin_m / (_M_PER_DEGREE_LAT * max(0.01, math.cos(math.radians(min(89.0, a + dy)))))
            for a in self.max_abs_lat
        ]
        return {"dxs": dxs, "dys": [dy] * len(dxs)}


def pieces(points: Sequence[tuple[float, float]]) -> Pieces:
    """Consecutive stretches of about ``PIECE_LENGTH_M`` (sharing their end points)."""
    lengths = segment_lengths_m(points)
    out = Pieces([], [], [], [], [])
    first = 0
    walked = 0.0
    length = 0.0
    for i, segment in enumerate(lengths.tolist(), start=1):
        length += segment
        if length >= PIECE_LENGTH_M or i - first + 1 >= PIECE_MAX_POINTS or i == len(points) - 1:
            stretch = points[first : i + 1]
            out.wkb.append(to_wkb(LineString(stretch)))
            out.start_m.append(walked)
            out.length_m.append(length)
            mid_lat = (stretch[0][1] + stretch[-1][1]) / 2
            out.scale.append(math.cos(math.radians(mid_lat)))
            out.max_abs_lat.append(max(abs(p[1]) for p in stretch))
            walked += length
            first = i
            length = 0.0
    return out
