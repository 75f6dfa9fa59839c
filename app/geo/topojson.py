"""A TopoJSON → GeoJSON geometry decoder (quantized, delta-encoded arcs), enough for the
Natural Earth files of the ``world-atlas`` package (Polygon and MultiPolygon objects)."""

from __future__ import annotations

from typing import Any


def _decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    transform = topology.get("transform")
    arcs: list[list[tuple[float, float]]] = []
    for arc in topology["arcs"]:
        if transform is None:
            arcs.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
        x = y = 0
        points = []
        for dx, dy, *_ in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(indices: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    ring: list[tuple[float, float]] = []
    for index in indices:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        # Consecutive arcs share their joining point.
        ring.extend(points if not ring else points[1:])
    return _unwrap(ring)


def _unwrap(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """world-atlas rings are spherical: one may jump from 180° to -180° and on (Russia, Fiji).
    Continuous longitudes (beyond ±180 where needed) make it a proper planar ring;
    ``split_antimeridian`` then cuts it back into [-180, 180]."""
    out: list[tuple[float, float]] = []
    shift = 0.0
    for i, (lon, lat) in enumerate(ring):
        if i:
            step = lon + shift - out[-1][0]
            if step > 180:
                shift -= 360
            elif step < -180:
                shift += 360
        out.append((lon + shift, lat))
    return out


def _polygon(
    rings: list[list[int]], arcs: list[list[tuple[float, float]]]
) -> list[list[tuple[float, float]]]:
    """A polygon's rings; quantization can collapse tiny rings, which are left out (and a
    polygon whose outer ring collapsed with them)."""
    decoded = [_ring(r, arcs) for r in rings]
    if not decoded or len(decoded[0]) < 4:
        return []
    return [decoded[0], *(r for r in decoded[1:] if len(r) >= 4)]


def features(topology: dict[str, Any], object_name: str) -> list[dict[str, Any]]:
    """The object's geometries as GeoJSON Features (id and properties kept)."""
    arcs = _decode_arcs(topology)
    out = []
    for geometry in topology["objects"][object_name]["geometries"]:
        kind = geometry.get("type")
        if kind == "Polygon":
            polygons = [_polygon(geometry["arcs"], arcs)]
        elif kind == "MultiPolygon":
            polygons = [_polygon(p, arcs) for p in geometry["arcs"]]
        else:
            continue
        polygons = [p for p in polygons if p]
        if not polygons:
            continue
        coordinates: Any = polygons[0] if kind == "Polygon" else polygons
        out.append(
            {
                "type": "Feature",
                "id": geometry.get("id"),
                "properties": geometry.get("properties") or {},
                "geometry": {"type": kind, "coordinates": coordinates},
            }
        )
    return out
