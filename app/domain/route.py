"""Routes for the along-route search: decoding (a GeoJSON LineString, a Feature or
FeatureCollection holding one, or a Google encoded polyline of precision 5 or 6), validation
with errors that name the problem, and splitting into short pieces so that each index probe
only covers the bounding box of a short stretch."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from shapely import LineString, to_wkb

MAX_POINTS = 50_000
MAX_LENGTH_M = 10_000_000
PIECE_LENGTH_M = 10_000.0
PIECE_MAX_POINTS = 256
_EARTH_RADIUS_M = 6_371_008.8
_POSITION_INDEX = re.compile(r"at `\$\[(\d+)\]")

Floats = npt.NDArray[np.float64]
Points = npt.NDArray[np.float64]  # (n, 2): lon, lat


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


ROUTE_SHAPES_TEXT = (
    "route must be a GeoJSON LineString, a Feature or FeatureCollection holding one, or "
    '{"encoded_polyline": …, "precision": 5}'
)


def line_geometry(route: Any) -> Any:
    """The LineString of a route given as GeoJSON: the route itself, a Feature's geometry, or
    the one LineString Feature of a FeatureCollection (routing engines add waypoint features,
    which are ignored); the route as it is when it is an encoded polyline."""
    if not isinstance(route, dict):
        raise RouteError(ROUTE_SHAPES_TEXT)
    kind = route.get("type")
    if kind == "Feature":
        geometry = route.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") != "LineString":
            raise RouteError("route is a Feature whose geometry is not a LineString")
        return geometry
    if kind == "FeatureCollection":
        features = route.get("features")
        if not isinstance(features, list):
            raise RouteError("route.features must be an array of GeoJSON Features")
        for i, item in enumerate(features):  # RFC 7946 §3.3: each one a Feature
            if not isinstance(item, dict) or item.get("type") != "Feature":
                raise RouteError(f"route.features[{i}] is not a GeoJSON Feature")
        lines = [
            f["geometry"]
            for f in features
            if isinstance(f, dict)
            and isinstance(f.get("geometry"), dict)
            and f["geometry"].get("type") == "LineString"
        ]
        if len(lines) != 1:
            raise RouteError(
                f"route is a FeatureCollection with {len(lines)} LineString features; "
                "exactly one is needed"
            )
        return lines[0]
    return route


def from_geojson(geometry: Any) -> Points:
    if not isinstance(geometry, dict) or geometry.get("type") != "LineString":
        raise RouteError(ROUTE_SHAPES_TEXT)
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list):
        raise RouteError("route.coordinates must be an array of [lon, lat] positions")
    try:  # strict: numbers only (no strings, no booleans), checked in C
        positions = msgspec.convert(coordinates, list[list[float]])
    except msgspec.ValidationError as exc:
        at = _POSITION_INDEX.search(str(exc))
        raise RouteError(
            f"route.coordinates[{at.group(1) if at else '?'}] is not a [lon, lat] position"
        ) from None
    if positions and min(map(len, positions)) < 2:
        i = next(i for i, position in enumerate(positions) if len(position) < 2)
        raise RouteError(f"route.coordinates[{i}] is not a [lon, lat] position")
    return np.array([position[:2] for position in positions], dtype=np.float64).reshape(-1, 2)


def validate(points: Sequence[tuple[float, float]] | Points) -> Points:
    """Drop repeated points; check count, ranges and length (true metres on the ellipsoid).
    The clean route as an (n, 2) array of (lon, lat)."""
    if len(points) > MAX_POINTS:
        raise RouteError(f"route has {len(points):,} points; at most {MAX_POINTS:,} are accepted")
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    lon, lat = array[:, 0], array[:, 1]
    bad = ~((lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90))  # NaN is bad too
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RouteError(f"route point {i} ({lon[i]}, {lat[i]}) is out of range")
    keep = np.ones(len(array), dtype=bool)
    keep[1:] = np.any(array[1:] != array[:-1], axis=1)
    clean = array[keep]
    if len(clean) < 2:
        raise RouteError("route needs at least two distinct points")
    length = route_length_m(clean)
    if length > MAX_LENGTH_M:
        raise RouteError(
            f"route is {length / 1000:,.0f} km long; at most "
            f"{MAX_LENGTH_M // 1000:,} km are accepted"
        )
    return clean


def route_length_m(points: Sequence[tuple[float, float]] | Points) -> float:
    return float(segment_lengths_m(points).sum())


# WGS 84
_M_PER_DEGREE_LAT = 110_574.0  # the shortest degree of latitude (at the equator)
_A = 6_378_137.0
_E2 = 6.69437999014e-3


def segment_lengths_m(points: Sequence[tuple[float, float]] | Points) -> Floats:
    """Length of each segment on the WGS 84 ellipsoid, from the meridional and prime-vertical
    radii at its mid-latitude: exact to a few parts per million for segments of a road route
    (hundreds of metres), and computed for 50,000 points at once."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    lon = np.radians(array[:, 0])
    lat = np.radians(array[:, 1])
    mid = (lat[1:] + lat[:-1]) / 2
    sin2 = np.sin(mid) ** 2
    meridional = _A * (1 - _E2) / (1 - _E2 * sin2) ** 1.5
    normal = _A / np.sqrt(1 - _E2 * sin2)
    d_lat = lat[1:] - lat[:-1]
    d_lon = (lon[1:] - lon[:-1] + np.pi) % (2 * np.pi) - np.pi
    result: Floats = np.hypot(meridional * d_lat, normal * np.cos(mid) * d_lon)
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


def pieces(points: Sequence[tuple[float, float]] | Points) -> Pieces:
    """Consecutive stretches of about ``PIECE_LENGTH_M`` (sharing their end points)."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    lengths = segment_lengths_m(array)
    ends: list[int] = []  # the last point of each stretch
    first = 0
    length = 0.0
    last = len(array) - 1
    for i, segment in enumerate(lengths.tolist(), start=1):
        length += segment
        if length >= PIECE_LENGTH_M or i - first + 1 >= PIECE_MAX_POINTS or i == last:
            ends.append(i)
            first = i
            length = 0.0
    starts = [0, *ends[:-1]]
    walked = np.concatenate(([0.0], np.cumsum(lengths)))
    lines = [LineString(array[a : b + 1]) for a, b in zip(starts, ends, strict=True)]
    abs_lat = np.abs(array[:, 1])
    return Pieces(
        wkb=list(to_wkb(lines)),
        start_m=[float(walked[a]) for a in starts],
        length_m=[float(walked[b] - walked[a]) for a, b in zip(starts, ends, strict=True)],
        scale=[
            math.cos(math.radians((array[a, 1] + array[b, 1]) / 2))
            for a, b in zip(starts, ends, strict=True)
        ],
        max_abs_lat=[float(abs_lat[a : b + 1].max()) for a, b in zip(starts, ends, strict=True)],
    )
