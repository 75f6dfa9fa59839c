"""Is a location's point plausible? (ocpi.md §6 P15-P16)

Real feeds place sites at (0, 0) or (1, 1), swap latitude and longitude, or copy one into the
other. Points are checked against Natural Earth's 1:10m country polygons (from the
``world-atlas`` package, public domain data, shipped in ``data/``), which keep small islands
(Bermuda, the Florida Keys, Shetland): a point at sea is rejected, and so is a point whose
swapped twin lies in the location's country. A point on land in another country is accepted
with a note: networks often tag every site with their home country (ocpi.md P16), and the
coordinates, not the label, say where the charger is.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
import pycountry
import shapely
import shapely.errors
from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from app.geo.antimeridian import split_antimeridian
from app.geo.topojson import features

# Natural Earth 1:10m countries as TopoJSON (world-atlas 2.0.2, gzipped; fixtures/LICENSES.md):
# shipped with the package, so ingest needs nothing from npm.
WORLD_ATLAS = Path(__file__).resolve().parent / "data" / "countries-10m.json.gz"
CACHE_DIR = Path.home() / ".cache" / "wattlas"

# Coastlines at 1:10m are good to about a kilometre; piers, harbours and border posts need a
# little slack on top.
NEAR_KM = 10.0


class CountryDataMissing(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str | None = None  # why it was rejected, or a note when ok


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, a)))


@functools.lru_cache(maxsize=512)
def country_alpha3(value: str) -> str | None:
    """ISO 3166 alpha-3 for an alpha-3 or alpha-2 code (feeds send both); None if unknown."""
    code = value.strip().upper()
    if len(code) == 3:
        return code if pycountry.countries.get(alpha_3=code) is not None else None
    if len(code) == 2:
        country = pycountry.countries.get(alpha_2=code)
        return country.alpha_3 if country is not None else None
    return None


def _alpha3_of_numeric(numeric: str | None) -> str | None:
    if not numeric:
        return None
    country = pycountry.countries.get(numeric=numeric.zfill(3))
    return country.alpha_3 if country is not None else None


class CountryShapes:
    def __init__(self, path: Path | None = None) -> None:
        parts: dict[str | None, list[BaseGeometry]] = defaultdict(list)
        for code, geom in _load_country_parts(path or WORLD_ATLAS):
            parts[code].extend(_polygons(geom))
        # Parts of one country are collected, not unioned (a union of thousands of islands is
        # slow and point-in-polygon does not need it).
        self._geoms: list[BaseGeometry] = []
        self._codes: list[str | None] = []
        self._by_code: dict[str, BaseGeometry] = {}
        for code, polygons in parts.items():
            for polygon in polygons:
                self._geoms.append(polygon)
                self._codes.append(code)
            if code is not None:
                country = shapely.multipolygons(polygons)
                shapely.prepare(country)
                self._by_code[code] = country
        self._tree = STRtree(self._geoms)

    def knows(self, code: str) -> bool:
        return code in self._by_code

    def countries_at(self, lat: float, lon: float) -> list[str]:
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        return sorted({c for c in (self._codes[i] for i in hits) if c is not None})

    def distance_km(self, lat: float, lon: float, code: str | None = None) -> float:
        """Distance from the point to a country (or to the nearest land when code is None)."""
        point = Point(lon, lat)
        if code is not None:
            geom = self._by_code.get(code)
            if geom is None:
                return math.inf
        else:
            geom = self._geoms[int(self._tree.nearest(point))]
        nearest = nearest_points(point, geom)[1]
        return haversine_km(lat, lon, nearest.y, nearest.x)

    def inside_many(
        self, lats: list[float], lons: list[float], countries: list[str | None]
    ) -> list[bool]:
        """Whether each point lies inside its (known) country's polygons."""
        inside = [False] * len(lats)
        by_country: dict[str, list[int]] = defaultdict(list)
        for i, code in enumerate(countries):
            if code is not None and code in self._by_code:
                by_country[code].append(i)
        for code, indexes in by_country.items():
            hits = shapely.contains_xy(
                self._by_code[code],
                np.array([lons[i] for i in indexes]),
                np.array([lats[i] for i in indexes]),
            )
            for i, ok in zip(indexes, hits.tolist(), strict=True):
                inside[i] = bool(ok)
        return inside

    def check_many(
        self, lats: list[float], lons: list[float], countries: list[str | None]
    ) -> list[Verdict]:
        """One verdict per point. Most points lie inside their own country: that is tested for
        all of them at once per country; only the rest take the slow path."""
        inside = self.inside_many(lats, lons, countries)
        return [
            Verdict(True) if ok else self._check(lats[i], lons[i], countries[i])
            for i, ok in enumerate(inside)
        ]

    def _check(self, lat: float, lon: float, country: str | None) -> Verdict:
        known = country is not None and self.knows(country)
        if known and self.distance_km(lat, lon, country) <= NEAR_KM:
            return Verdict(True)  # on the coast or the border of its own country
        found = self.countries_at(lat, lon)
        if found:
            if not known:
                return Verdict(True)
            distance = self.distance_km(lat, lon, country)
            return Verdict(
                True,
                f"coordinates lie in {', '.join(found)}, {distance:,.0f} km from {country}, "
                "the location's country",
            )
        if known and -90 <= lon <= 90 and country in self.countries_at(lon, lat):
            return Verdict(
                False,
                f"latitude and longitude appear swapped: ({lat}, {lon}) is outside {country}, "
                f"({lon}, {lat}) is inside it",
            )
        to_land = self.distance_km(lat, lon)
        if to_land > NEAR_KM:
            where = f"{country}, the location's country" if country else "any country"
            return Verdict(
                False,
                f"coordinates ({lat}, {lon}) lie at sea, {to_land:,.0f} km from land "
                f"(outside {where})",
            )
        return Verdict(True)


def _polygons(geom: BaseGeometry) -> list[BaseGeometry]:
    """The polygons of a (multi)polygon or of what make_valid returns (collections may hold
    collapsed lines, which are not land)."""
    if geom.geom_type == "Polygon":
        return split_antimeridian(geom)
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def _load_country_parts(path: Path) -> list[tuple[str | None, BaseGeometry]]:
    """(alpha-3, geometry) of every Natural Earth country; decoded and repaired once, then read
    back from a WKB cache (in ``~/.cache/wattlas``, keyed by the data file's size and time)."""
    if not path.exists():
        raise CountryDataMissing(
            f"the country shapes {path} are missing from the installation (reinstall wattlas)"
        )
    stat = path.stat()
    cache = CACHE_DIR / f"{path.name}-{stat.st_size}-{int(stat.st_mtime)}.msgpack"
    if cache.exists():
        with contextlib.suppress(msgspec.DecodeError, shapely.errors.GEOSException, OSError):
            stored = msgspec.msgpack.decode(cache.read_bytes(), type=list[tuple[str | None, bytes]])
            return [(code, shapely.from_wkb(wkb)) for code, wkb in stored]
    topology = json.loads(gzip.decompress(path.read_bytes()))
    loaded = []
    for feature in features(topology, "countries"):
        geom = shape(feature["geometry"])
        if not geom.is_valid:
            # Quantization leaves some rings crossing themselves (Russia, the USA, …);
            # point-in-polygon on such a ring answers wrongly. Repaired once, then cached.
            geom = shapely.make_valid(geom)
        loaded.append((_alpha3_of_numeric(feature.get("id")), geom))
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(msgspec.msgpack.encode([(c, shapely.to_wkb(g)) for c, g in loaded]))
    return loaded


@functools.lru_cache(maxsize=1)
def country_shapes() -> CountryShapes:
    return CountryShapes()
