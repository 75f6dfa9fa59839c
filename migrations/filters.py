"""What autogenerate compares: our tables, not PostGIS' own."""

from __future__ import annotations

_FOREIGN_TABLES = {"spatial_ref_sys", "topology", "layer"}


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name in _FOREIGN_TABLES)
