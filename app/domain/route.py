"""Routes for the along-route search: decoding (a GeoJSON LineString, a Feature or
FeatureCollection holding one, or a Google encoded polyline of precision 5 or 6), validation
with errors that name the problem, and splitting into short pieces so that each index probe
only covers the bounding box of a short stretch."""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from shapely import linestrings, to_wkb

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
_ABSENT = msgspec.Raw()


class _Shape(msgspec.Struct):
    """A route (or one of its features) as given, its parts still JSON: only the members that
    pick the line are read, and the positions are decoded once, at the end, into tuples (a list
    per position made the garbage collector walk every one: 3× the decoding time)."""

    type: Any = None
    coordinates: msgspec.Raw = _ABSENT
    geometry: msgspec.Raw = _ABSENT
    features: msgspec.Raw = _ABSENT
    encoded_polyline: Any = msgspec.UNSET
    precision: Any = 5


_shape = msgspec.json.Decoder(_Shape)
_features = msgspec.json.Decoder(list[msgspec.Raw])
# Strict: numbers only (no strings, no booleans), checked in C. Pairs first (twice as fast);
# positions with an altitude, or a fault to name, go through the second.
_pairs = msgspec.json.Decoder(list[tuple[float, float]])
_positions = msgspec.json.Decoder(list[tuple[float, ...]])


def route_points(raw: bytes) -> Points:
    """The points of a route given as JSON: a GeoJSON LineString, a Feature's geometry, the one
    LineString Feature of a FeatureCollection (routing engines add waypoint features, which
    are ignored), or an encoded polyline. Not yet validated (``validate``)."""
    shape = _decode_shape(raw, ROUTE_SHAPES_TEXT)
    if shape.encoded_polyline is not msgspec.UNSET and shape.type not in (
        "Feature",
        "FeatureCollection",
    ):
        if not isinstance(shape.encoded_polyline, str) or not isinstance(shape.precision, int):
            raise RouteError("encoded_polyline must be a string, precision 5 or 6")
        return np.array(decode_polyline(shape.encoded_polyline, shape.precision)).reshape(-1, 2)
    return _line_points(_line(shape))


def _decode_shape(raw: bytes, refusal: str) -> _Shape:
    try:
        return _shape.decode(raw)
    except msgspec.ValidationError:
        raise RouteError(refusal) from None


def _line(route: _Shape) -> _Shape:
    if route.type == "Feature":
        refusal = "route is a Feature whose geometry is not a LineString"
        geometry = _decode_shape(route.geometry, refusal) if route.geometry else None
        if geometry is None or geometry.type != "LineString":
            raise RouteError(refusal)
        return geometry
    if route.type == "FeatureCollection":
        try:
            items = _features.decode(route.features) if route.features else None
        except msgspec.ValidationError:
            items = None
        if items is None:
            raise RouteError("route.features must be an array of GeoJSON Features")
        lines = []
        for i, item in enumerate(items):  # RFC 7946 §3.3: each one a Feature
            feature = _decode_shape(item, f"route.features[{i}] is not a GeoJSON Feature")
            if feature.type != "Feature":
                raise RouteError(f"route.features[{i}] is not a GeoJSON Feature")
            with contextlib.suppress(RouteError):
                geometry = _decode_shape(feature.geometry, "") if feature.geometry else None
                if geometry is not None and geometry.type == "LineString":
                    lines.append(geometry)
        if len(lines) != 1:
            raise RouteError(
                f"route is a FeatureCollection with {len(lines)} LineString features; "
                "exactly one is needed"
            )
        return lines[0]
    if route.type != "LineString":
        raise RouteError(ROUTE_SHAPES_TEXT)
    return route


def _line_points(line: _Shape) -> Points:
    if not line.coordinates:
        raise RouteError("route.coordinates must be an array of [lon, lat] positions")
    with contextlib.suppress(msgspec.ValidationError):
        pairs = _pairs.decode(line.coordinates)
        flat = itertools.chain.from_iterable(pairs)
        return np.fromiter(flat, dtype=np.float64, count=2 * len(pairs)).reshape(-1, 2)
    try:
        positions = _positions.decode(line.coordinates)
    except msgspec.ValidationError as exc:
        at = _POSITION_INDEX.search(str(exc))
        if at is None:
            raise RouteError("route.coordinates must be an array of [lon, lat] positions") from None
        raise RouteError(f"route.coordinates[{at.group(1)}] is not a [lon, lat] position") from None
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
    bounds: Floats  # (n, 4): min lon, min lat, max lon, max lat of each stretch

    def __len__(self) -> int:
        return len(self.wkb)

    def reach(self, margin_m: float) -> Floats:
        """Per stretch, its bounds widened by the lon/lat margins (degrees) that cover
        ``margin_m`` on the ground: (n, 4), like ``bounds``. The index probe of each stretch
        and the choice of its neighbours both use these boxes."""
        dy = margin_m / _M_PER_DEGREE_LAT
        widest = np.minimum(89.0, np.asarray(self.max_abs_lat) + dy)
        dx = margin_m / (_M_PER_DEGREE_LAT * np.maximum(0.01, np.cos(np.radians(widest))))
        boxes: Floats = self.bounds + np.stack(
            [-dx, np.full_like(dx, -dy), dx, np.full_like(dx, dy)], axis=1
        )
        return boxes

    def first_ending_at(self, offset_m: float) -> int:
        """The first stretch that ends at or after ``offset_m`` along the route (``len`` if
        none): no stretch before it holds an offset that far along."""
        ends = np.asarray(self.start_m) + np.asarray(self.length_m)
        return int(np.searchsorted(ends, offset_m, side="left"))

    @staticmethod
    def neighbours(reach: Floats, lo: int, hi: int) -> list[int]:
        """The stretches outside ``[lo, hi)`` whose reach (``reach``) overlaps the reach of one
        inside it: the only ones that can be closer than the window to a location the window's
        reach holds (the stretches before and after it, and those of any other pass of the
        route nearby)."""
        window = reach[lo:hi]
        meets = (
            (reach[:, None, 0] <= window[None, :, 2])
            & (reach[:, None, 2] >= window[None, :, 0])
            & (reach[:, None, 1] <= window[None, :, 3])
            & (reach[:, None, 3] >= window[None, :, 1])
        )
        overlaps = np.asarray(meets.any(axis=1))
        overlaps[lo:hi] = False
        return [int(i) for i in np.flatnonzero(overlaps)]


def pieces(points: Sequence[tuple[float, float]] | Points) -> Pieces:
    """Consecutive stretches of about ``PIECE_LENGTH_M`` (sharing their end points)."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    walked = np.concatenate(([0.0], np.cumsum(segment_lengths_m(array))))
    ends: list[int] = []  # the last point of each stretch: a step per stretch, not per point
    first, last = 0, len(array) - 1
    while first < last:
        far = int(np.searchsorted(walked, walked[first] + PIECE_LENGTH_M, side="left"))
        first = min(far, first + PIECE_MAX_POINTS - 1, last)
        ends.append(first)
    last_points = np.array(ends)
    first_points = np.concatenate(([0], last_points[:-1]))
    # Each stretch's points, shared end points repeated, as one array: built in one call.
    counts = last_points - first_points + 1
    stretch = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(stretch)) - np.repeat(np.cumsum(counts) - counts, counts)
    lines = linestrings(array[first_points[stretch] + within], indices=stretch)
    # Per stretch [first, last]: reduceat covers [first, next first) = [first, last), then the
    # last point (for the final stretch, reduceat already reaches the end).
    low = np.minimum(np.minimum.reduceat(array, first_points), array[last_points])
    high = np.maximum(np.maximum.reduceat(array, first_points), array[last_points])
    lats = array[:, 1]
    return Pieces(
        wkb=list(to_wkb(lines)),
        start_m=walked[first_points].tolist(),
        length_m=(walked[last_points] - walked[first_points]).tolist(),
        scale=np.cos(np.radians((lats[first_points] + lats[last_points]) / 2)).tolist(),
        max_abs_lat=np.maximum(np.abs(low[:, 1]), np.abs(high[:, 1])).tolist(),
        bounds=np.concatenate((low, high), axis=1),
    )
