"""Polygons whose longitudes run past ±180° (unwrapped rings), cut back into [-180, 180]."""

from __future__ import annotations

import shapely
from shapely.affinity import translate
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

_WINDOWS = ((-540.0, -180.0, 360.0), (-180.0, 180.0, 0.0), (180.0, 540.0, -360.0))


def split_antimeridian(polygon: BaseGeometry) -> list[BaseGeometry]:
    minx, _, maxx, _ = polygon.bounds
    if minx >= -180 and maxx <= 180:
        return [polygon]
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    parts: list[BaseGeometry] = []
    for west, east, shift in _WINDOWS:
        piece = polygon.intersection(box(west, -90, east, 90))
        if not piece.is_empty:
            moved = translate(piece, xoff=shift)
            parts.extend(
                g
                for g in getattr(moved, "geoms", [moved])
                if g.geom_type == "Polygon" and not g.is_empty
            )
    return parts
