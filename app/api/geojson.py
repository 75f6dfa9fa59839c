"""RFC 7946 output: results as a FeatureCollection of Points, properties = the summary."""

from __future__ import annotations

from typing import Any

import msgspec

from app.api.errors import InvalidParameter
from app.api.schemas import LocationSummary, Results

GEOJSON = "application/geo+json"
_encoder = msgspec.json.Encoder()


FORMATS = ("json", "geojson")


def wants_geojson(accept: str | None, format_: str | None) -> bool:
    """``format`` when it is given (json or geojson, else a 400), else the Accept header."""
    if format_ is not None:
        if format_ not in FORMATS:
            raise InvalidParameter("format", f"must be json or geojson, got {format_[:40]!r}")
        return format_ == "geojson"
    return accept is not None and GEOJSON in accept


def feature(summary: LocationSummary) -> dict[str, Any]:
    properties = msgspec.to_builtins(summary)
    coordinates = properties.pop("coordinates")
    return {
        "type": "Feature",
        "id": summary.id,
        "geometry": {"type": "Point", "coordinates": [coordinates["lon"], coordinates["lat"]]},
        "properties": properties,
    }


def feature_collection(results: Results) -> bytes:
    body: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [feature(s) for s in results.results],
        "count": results.count,
        "generated_at": results.generated_at,
    }
    if results.data_as_of is not None:
        body["data_as_of"] = results.data_as_of
    if results.next_cursor is not None:
        body["next_cursor"] = results.next_cursor
    return _encoder.encode(body)
