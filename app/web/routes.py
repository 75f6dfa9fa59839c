"""The map page and what it loads: our static files, MapLibre from the npm package (installed by
``npm ci``, never from a CDN), the offline base layer shipped with the package, the bundled
routes, the config."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Annotated, Any

import msgspec
import shapely
from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from litestar.response import File, Response
from litestar.static_files import create_static_files_router
from shapely.geometry import mapping, shape

from app.domain.sources import REGISTRIES
from app.geo.antimeridian import split_antimeridian
from app.geo.topojson import features
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = Path(__file__).resolve().parent / "static"
NODE_MODULES = ROOT / "node_modules"  # the map's front-end library (npm ci)
# Natural Earth 1:50m countries (world-atlas 2.0.2, gzipped; fixtures/LICENSES.md): shipped.
COUNTRIES_50M = Path(__file__).resolve().parent / "data" / "countries-50m.json.gz"
ROUTES = ROOT / "fixtures" / "routes"
AnyRequest = Request[Any, Any, Any]


def page_security_headers(settings: Settings) -> dict[str, str]:
    """The map page may run only its own scripts and talk only to this service (and to the
    configured base map's host); it may not be framed by another site (issue 9, finding 7).
    MapLibre runs its workers from blob: URLs and sets inline styles on the map's elements."""
    connect = "'self'"
    if settings.basemap_style:
        connect += " https:"  # the style, its tiles and glyphs live on other hosts
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "worker-src 'self' blob:",
            "child-src 'self' blob:",
            "img-src 'self' data: blob:" + (" https:" if settings.basemap_style else ""),
            "style-src 'self' 'unsafe-inline'",
            "font-src 'self' data:",
            f"connect-src {connect}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }


@get("/", include_in_schema=False)
async def index(settings: NamedDependency[Settings]) -> File:
    return File(
        STATIC / "index.html",
        content_disposition_type="inline",
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache", **page_security_headers(settings)},
    )


# What the map shows under the data: every source, as its licence asks (issue 12).
ATTRIBUTION = (
    "Countries: Natural Earth. Charging data: the networks, via OCPI; "
    + "; ".join(meta.attribution for meta in REGISTRIES.values())
    + "."
)


class MapConfig(msgspec.Struct):
    basemap_style: str | None
    countries_url: str
    attribution: str


@get(
    "/v1/map-config",
    tags=["map"],
    summary="What the map page needs to start",
    operation_id="getMapConfig",
)
async def map_config(settings: NamedDependency[Settings]) -> MapConfig:
    return MapConfig(
        basemap_style=settings.basemap_style,
        countries_url="/vendor/countries.geojson",
        attribution=ATTRIBUTION,
    )


@functools.lru_cache(maxsize=1)
def _countries_geojson() -> bytes:
    """Natural Earth 1:50m countries as GeoJSON (the offline base layer), built once."""
    topology = json.loads(gzip.decompress(COUNTRIES_50M.read_bytes()))
    out = []
    for feature in features(topology, "countries"):
        # 1:50m data does not need more than ~1 km of precision on a base map.
        geometry = shapely.set_precision(shape(feature["geometry"]), 0.01, mode="pointwise")
        polygons = [
            p
            for g in getattr(geometry, "geoms", [geometry])
            if g.geom_type == "Polygon"
            for p in split_antimeridian(g)
        ]
        out.append(
            {
                "type": "Feature",
                "properties": {"name": feature["properties"].get("name")},
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [mapping(p)["coordinates"] for p in polygons],
                },
            }
        )
    return msgspec.json.encode({"type": "FeatureCollection", "features": out})


@get("/vendor/countries.geojson", include_in_schema=False)
async def countries() -> Response[bytes]:
    return Response(
        _countries_geojson(),
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=86400"},
    )


class RouteInfo(msgspec.Struct):
    name: str
    title: str
    points: int
    length_km: float | None


# Readable titles of the bundled routes (fixtures/routes, see fixtures/LICENSES.md).
ROUTE_TITLES = {
    "at_linz_to_tulln_180km_ors_driving": "Linz → Tulln (Austria)",
    "at_vienna_to_linz_177km_ors_driving": "Vienna → Linz (Austria)",
    "ca_alberta_to_us_montana_742km": "Alberta → Montana (Canada, USA)",
    "it_rome_to_amalfi_252km": "Rome → Amalfi (Italy)",
    "us_sanfrancisco_to_washingtondc_4767km": "San Francisco → Washington DC (USA)",
    "us_virginia_to_dc_area_326km": "Southwest Virginia → Washington DC area (USA)",
}


def _route_title(name: str) -> str:
    if name in ROUTE_TITLES:
        return ROUTE_TITLES[name]
    parts = name.split("_")
    words = [
        p.capitalize() for p in parts[1:] if not p.endswith("km") and p not in ("ors", "driving")
    ]
    return " ".join(words).replace(" To ", " → ") + f" ({parts[0].upper()})"


@functools.lru_cache(maxsize=1)
def _routes() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(ROUTES.glob("*.geojson")):
        data = json.loads(path.read_text())
        geometry = (
            data["features"][0]["geometry"]
            if data.get("type") == "FeatureCollection"
            else data.get("geometry", data)
        )
        out[path.stem] = geometry
    return out


@get(
    "/v1/routes",
    tags=["map"],
    summary="The bundled real road routes (for route mode)",
    operation_id="listRoutes",
)
async def list_routes() -> list[RouteInfo]:
    from app.domain.route import route_length_m

    return [
        RouteInfo(
            name,
            _route_title(name),
            len(g["coordinates"]),
            round(route_length_m([tuple(c[:2]) for c in g["coordinates"]]) / 1000, 1),
        )
        for name, g in _routes().items()
    ]


@get(
    "/v1/routes/{name:str}",
    tags=["map"],
    summary="One bundled route as a GeoJSON LineString",
    operation_id="getRoute",
)
async def get_route(
    name: Annotated[str, PathParameter(description="A name from /v1/routes.")],
) -> Response[Any]:
    geometry = _routes().get(name)
    if geometry is None:
        raise NotFoundException(f"no bundled route {name!r}")
    return Response(
        geometry,
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


web_router = Router(
    path="/",
    route_handlers=[
        index,
        map_config,
        countries,
        list_routes,
        get_route,
        # Revalidated on every load: a deploy never leaves a browser on old modules.
        create_static_files_router(
            path="/static",
            directories=[STATIC],
            include_in_schema=False,
            cache_control=CacheControlHeader(no_cache=True),
        ),
        create_static_files_router(
            path="/vendor/maplibre-gl",
            directories=[NODE_MODULES / "maplibre-gl" / "dist"],
            include_in_schema=False,
        ),
    ],
)
