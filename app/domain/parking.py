"""OCPI 2.3.0 parking (ocpi.md §3.13): a Location's ``parking_places`` (Parking objects) and the
places each EVSE serves (``EVSE.parking``: EVSEParking, a ``parking_id`` and the EVSE's
position beside it).

Read leniently from the objects as a network sent them, by ingest (whose notes go to the
quarantine) and by the location detail alike, so that both say the same. Numbers may come as
strings; a value outside what any parking place measures is left out with a note. VehicleType
is an OpenEnum: an unknown value is kept. ParkingDirection and EVSEPosition are closed enums: an
unknown value is left out with a note. Ids are CiStrings (matched case-insensitively).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from app.domain.lists import enum_list, text_list

VEHICLE_TYPES: Final = (
    "MOTORCYCLE",
    "PERSONAL_VEHICLE",
    "PERSONAL_VEHICLE_WITH_TRAILER",
    "VAN",
    "SEMI_TRACTOR",
    "RIGID",
    "TRUCK_WITH_TRAILER",
    "BUS",
    "DISABLED",
)
PARKING_DIRECTIONS: Final = ("PARALLEL", "PERPENDICULAR", "ANGLE")
EVSE_POSITIONS: Final = ("LEFT", "RIGHT", "CENTER")

# Ids are CiString(36), references string(12): longer is kept up to this many characters.
_MAX_ID_CHARS: Final = 255
# Beyond any parking place: a value above is a unit error or garbage.
_MAX_BY_UNIT: Final = {"kg": 1_000_000, "cm": 100_000, "min": 10_000_000}
# (OCPI field, unit): the dimensions and limits of a Parking object, in the spec's units.
_NUMBERS: Final = (
    ("max_vehicle_weight", "kg"),
    ("max_vehicle_height", "cm"),
    ("max_vehicle_length", "cm"),
    ("max_vehicle_width", "cm"),
    ("parking_space_length", "cm"),
    ("parking_space_width", "cm"),
    ("time_limit", "min"),
)


@dataclass(frozen=True, slots=True)
class ParkingPlace:
    """One Parking object. Units are in the names: OCPI gives weight in kg, lengths in cm and
    the time limit in minutes."""

    id: str
    physical_reference: str | None = None
    vehicle_types: tuple[str, ...] = ()
    max_vehicle_weight_kg: float | None = None
    max_vehicle_height_cm: float | None = None
    max_vehicle_length_cm: float | None = None
    max_vehicle_width_cm: float | None = None
    parking_space_length_cm: float | None = None
    parking_space_width_cm: float | None = None
    dangerous_goods_allowed: bool | None = None
    direction: str | None = None
    drive_through: bool | None = None
    restricted_to_type: bool | None = None
    reservation_required: bool | None = None
    time_limit_min: float | None = None
    roofed: bool | None = None
    lighting: bool | None = None
    refrigeration_outlet: bool | None = None
    standards: tuple[str, ...] = ()
    apds_reference: str | None = None


@dataclass(frozen=True, slots=True)
class EvseParking:
    """A parking place an EVSE serves, and where the EVSE stands beside it."""

    place: ParkingPlace
    evse_position: str | None


def read_parking_places(raw: Any) -> tuple[dict[str, ParkingPlace], list[str]]:
    """``Location.parking_places`` → (places by upper-cased id, notes)."""
    if raw is None:
        return {}, []
    if not isinstance(raw, list):
        return {}, ["parking_places is not a list; ignored"]
    places: dict[str, ParkingPlace] = {}
    notes: list[str] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            notes.append(f"parking_places[{i}] is not an object; ignored")
            continue
        place_id = _text(item.get("id"))
        if place_id is None:
            notes.append(f"parking_places[{i}] has no id; ignored")
            continue
        if place_id.upper() in places:
            notes.append(f"parking_places[{i}]: duplicate id {place_id}; the first is kept")
            continue
        places[place_id.upper()] = _place(place_id, item, notes)
    return places, notes


def read_evse_parking(
    raw: Any, places: dict[str, ParkingPlace]
) -> tuple[list[EvseParking], list[str]]:
    """``EVSE.parking`` → (the places it serves, in its order; notes). A link to a place the
    location does not list is left out with a note."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], ["parking is not a list; ignored"]
    links: list[EvseParking] = []
    notes: list[str] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"parking_id": item}  # the v2.3.0 tag's examples (fixed in its errata)
        if not isinstance(item, dict):
            notes.append(f"parking[{i}] is neither an EVSEParking object nor a parking id; ignored")
            continue
        parking_id = _text(item.get("parking_id"))
        if parking_id is None:
            notes.append(f"parking[{i}] has no parking_id; ignored")
            continue
        place = places.get(parking_id.upper())
        if place is None:
            notes.append(
                f"parking[{i}]: parking_id {parking_id} is not among the location's "
                "parking_places; ignored"
            )
            continue
        position = _closed_enum(
            item.get("evse_position"), EVSE_POSITIONS, f"parking[{i}]: evse_position",
            "EVSEPosition", notes,
        )  # fmt: skip
        links.append(EvseParking(place, position))
    return links, notes


def _place(place_id: str, item: dict[str, Any], notes: list[str]) -> ParkingPlace:
    where = f"parking place {place_id}"
    weight, height, length, width, space_length, space_width, time_limit = (
        _number(item.get(name), name, unit, where, notes) for name, unit in _NUMBERS
    )
    direction = _closed_enum(
        item.get("direction"), PARKING_DIRECTIONS, f"{where}: direction", "ParkingDirection",
        notes,
    )  # fmt: skip
    vehicle_types = tuple(enum_list(item.get("vehicle_types")))
    if not vehicle_types:
        notes.append(f"{where} has no vehicle_types (OCPI requires at least one)")
    return ParkingPlace(
        id=place_id,
        physical_reference=_text(item.get("physical_reference")),
        vehicle_types=vehicle_types,
        max_vehicle_weight_kg=weight,
        max_vehicle_height_cm=height,
        max_vehicle_length_cm=length,
        max_vehicle_width_cm=width,
        parking_space_length_cm=space_length,
        parking_space_width_cm=space_width,
        dangerous_goods_allowed=_bool(item.get("dangerous_goods_allowed")),
        direction=direction,
        drive_through=_bool(item.get("drive_through")),
        restricted_to_type=_bool(item.get("restricted_to_type")),
        reservation_required=_bool(item.get("reservation_required")),
        time_limit_min=time_limit,
        roofed=_bool(item.get("roofed")),
        lighting=_bool(item.get("lighting")),
        refrigeration_outlet=_bool(item.get("refrigeration_outlet")),
        standards=tuple(text_list(item.get("standards"), _MAX_ID_CHARS)),
        apds_reference=_text(item.get("apds_reference")),
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()[:_MAX_ID_CHARS]
    return text or None


def _number(value: Any, field: str, unit: str, where: str, notes: list[str]) -> float | None:
    if value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        notes.append(f"{where}: {field} {value!r} is not a number; ignored")
        return None
    maximum = _MAX_BY_UNIT[unit]
    if not math.isfinite(number) or not 0 <= number <= maximum:
        notes.append(
            f"{where}: {field} {value!r} {unit} is not plausible (0 to {maximum:,} {unit}); ignored"
        )
        return None
    return int(number) if float(number).is_integer() else number


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None


def _closed_enum(
    value: Any, known: tuple[str, ...], what: str, enum: str, notes: list[str]
) -> str | None:
    if value is None:
        return None
    cleaned = value.strip().upper() if isinstance(value, str) else None
    if cleaned in known:
        return cleaned
    notes.append(f"{what} {value!r} is not an OCPI {enum}; ignored")
    return None
