"""Is a location's point plausible? (ocpi.md §6 P15-P16)

Real feeds place sites at (0, 0) or (1, 1), swap latitude and longitude, or copy one into the
other. Coordinates are checked against country land borders (the ``@geo-maps/countries-land-10km``
package from the npm registry, OpenStreetMap data, ODbL): a point at sea is rejected, a point
whose swapped twin lies in the location's country is rejected as swapped. A point on land in
another country is accepted with a note: networks often tag every site with their home country
(ocpi.md P16), and the coordinates, not the label, say where the charger is.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pycountry
from shapely import STRtree, points
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

COUNTRIES_GEOJSON = (
    Path(__file__).resolve().parent.parent
    / "node_modules"
    / "@geo-maps"
    / "countries-land-10km"
    / "map.geo.json"
)

# The land borders are simplified to about 10 km; coasts and borders need that much slack.
ON_LAND_TOLERANCE_KM = 25.0
_KM_PER_DEGREE = 111.32


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


class CountryShapes:
    def __init__(self, path: Path = COUNTRIES_GEOJSON) -> None:
        if not path.exists():
            raise CountryDataMissing(
                f"{path} is missing: run `npm ci` in the project root (the Makefile does)"
            )
        features = json.loads(path.read_text())["features"]
        self._geoms: list[BaseGeometry] = []
        self._codes: list[str] = []
        self._by_code: dict[str, BaseGeometry] = {}
        for feature in features:
            geom = shape(feature["geometry"])
            code = feature["properties"]["A3"]
            self._geoms.append(geom)
            self._codes.append(code)
            self._by_code[code] = geom
        self._tree = STRtree(self._geoms)

    def countries_at(self, lat: float, lon: float) -> list[str]:
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        return [self._codes[i] for i in hits]

    def countries_at_many(self, lats: list[float], lons: list[float]) -> list[set[str]]:
        found: list[set[str]] = [set() for _ in lats]
        if not lats:
            return found
        idx_points, idx_geoms = self._tree.query(points(lons, lats), predicate="intersects")
        for p, g in zip(idx_points.tolist(), idx_geoms.tolist(), strict=True):
            found[p].add(self._codes[g])
        return found

    def distance_km(self, lat: float, lon: float, code: str | None = None) -> float:
        """Distance from the point to a country (or to the nearest land when code is None)."""
        point = Point(lon, lat)
        if code is not None:
            geom = self._by_code.get(code)
            if geom is None:
                return math.inf
        else:
            index = self._tree.nearest(point)
            geom = self._geoms[int(index)]
        nearest = nearest_points(point, geom)[1]
        return haversine_km(lat, lon, nearest.y, nearest.x)

    def knows(self, code: str) -> bool:
        return code in self._by_code

    def check(self, lat: float, lon: float, country: str | None, found: set[str]) -> Verdict:
        """``found``: the countries containing the point (from ``countries_at_many``)."""
        if country is not None and country in found:
            return Verdict(True)
        if country is not None and self.knows(country):
            # Near the border or the coast of its own country: fine.
            if self._near(lat, lon, country):
                return Verdict(True)
            if -90 <= lon <= 90 and country in self.countries_at(lon, lat):
                return Verdict(
                    False,
                    f"latitude and longitude appear swapped: ({lat}, {lon}) is outside {country}, "
                    f"({lon}, {lat}) is inside it",
                )
        if not found and not self._near_land(lat, lon):
            where = f"{country}, the location's country" if country else "any country"
            return Verdict(
                False,
                f"coordinates ({lat}, {lon}) lie at sea, "
                f"{self.distance_km(lat, lon):,.0f} km from land (outside {where})",
            )
        if country is not None and self.knows(country):
            distance = self.distance_km(lat, lon, country)
            inside = ", ".join(sorted(found)) or "no country"
            return Verdict(
                True,
                f"coordinates lie in {inside}, {distance:,.0f} km from {country}, "
                "the location's country",
            )
        return Verdict(True)

    def _near(self, lat: float, lon: float, code: str) -> bool:
        geom = self._by_code[code]
        slack_deg = ON_LAND_TOLERANCE_KM / (_KM_PER_DEGREE * max(0.2, math.cos(math.radians(lat))))
        if not geom.envelope.buffer(slack_deg).contains(Point(lon, lat)):
            return False
        return self.distance_km(lat, lon, code) <= ON_LAND_TOLERANCE_KM

    def _near_land(self, lat: float, lon: float) -> bool:
        return self.distance_km(lat, lon) <= ON_LAND_TOLERANCE_KM


@functools.lru_cache(maxsize=1)
def country_shapes() -> CountryShapes:
    return CountryShapes()
