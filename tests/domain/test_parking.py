"""OCPI 2.3.0 parking places and the places each EVSE serves (ocpi.md §3.13), read leniently,
pinned on the official 2.3.0 example and on copies of it made sloppy the way real feeds are."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from app.domain.lists import enum_list, text_list
from app.domain.parking import EvseParking, ParkingPlace, read_evse_parking, read_parking_places

SPEC_230 = Path(__file__).resolve().parents[2] / "fixtures" / "spec-examples" / "2.3.0"


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SPEC_230 / "location_example.json").read_text())
    return copy.deepcopy(data)


def place(pid: str, reference: str, **fields: Any) -> ParkingPlace:
    base: dict[str, Any] = {
        "id": pid,
        "physical_reference": reference,
        "vehicle_types": ("PERSONAL_VEHICLE",),
        "restricted_to_type": True,
        "reservation_required": False,
    }
    return ParkingPlace(**{**base, **fields})


def test_the_spec_example_links_each_evse_to_its_places() -> None:
    loc = example()
    places, notes = read_parking_places(loc["parking_places"])
    assert notes == []
    assert places == {
        "1": place("1", "B1"),
        "2": place("2", "B2"),
        "3": place("3", "B3"),
    }
    first, notes = read_evse_parking(loc["evses"][0]["parking"], places)
    assert (first, notes) == (
        [EvseParking(places["1"], "LEFT"), EvseParking(places["2"], "RIGHT")],
        [],
    )
    second, _ = read_evse_parking(loc["evses"][1]["parking"], places)
    assert second == [EvseParking(places["2"], "LEFT"), EvseParking(places["3"], "RIGHT")]


def test_every_field_of_a_parking_place_is_read_with_its_unit() -> None:
    raw = {
        "id": "truck-1",
        "physical_reference": "T1",
        "vehicle_types": ["truck_with_trailer", " SEMI_TRACTOR ", "HOVERCRAFT", "SEMI_TRACTOR"],
        "max_vehicle_weight": 40000,
        "max_vehicle_height": "400",
        "max_vehicle_length": 1875.5,
        "max_vehicle_width": 255,
        "parking_space_length": 2500,
        "parking_space_width": 450,
        "dangerous_goods_allowed": False,
        "direction": "parallel",
        "drive_through": "true",
        "restricted_to_type": True,
        "reservation_required": True,
        "time_limit": 45,
        "roofed": False,
        "images": [{"url": "https://example.com/t1.jpg", "category": "LOCATION", "type": "jpeg"}],
        "lighting": True,
        "refrigeration_outlet": True,
        "standards": ["EN 17186"],
        "apds_reference": "APDS-0042",
    }
    places, notes = read_parking_places([raw])
    # VehicleType is an OpenEnum: an unknown value is kept (ocpi.md §1.11), duplicates are not.
    assert places == {
        "TRUCK-1": ParkingPlace(
            id="truck-1",
            physical_reference="T1",
            vehicle_types=("TRUCK_WITH_TRAILER", "SEMI_TRACTOR", "HOVERCRAFT"),
            max_vehicle_weight_kg=40000,
            max_vehicle_height_cm=400,
            max_vehicle_length_cm=1875.5,
            max_vehicle_width_cm=255,
            parking_space_length_cm=2500,
            parking_space_width_cm=450,
            dangerous_goods_allowed=False,
            direction="PARALLEL",
            drive_through=True,
            restricted_to_type=True,
            reservation_required=True,
            time_limit_min=45,
            roofed=False,
            lighting=True,
            refrigeration_outlet=True,
            standards=("EN 17186",),
            apds_reference="APDS-0042",
        )
    }
    assert notes == []


def test_what_cannot_be_read_is_said_and_left_out() -> None:
    places, notes = read_parking_places(
        [
            {"physical_reference": "X", "vehicle_types": ["VAN"]},
            "P9",
            {"id": "1", "vehicle_types": ["VAN"], "max_vehicle_height": -5, "direction": "UP"},
            {"id": "1", "vehicle_types": ["BUS"]},
            {"id": "2", "max_vehicle_weight": "heavy", "time_limit": 10**12},
        ]
    )
    assert sorted(places) == ["1", "2"]
    assert places["1"].vehicle_types == ("VAN",)
    assert places["1"].max_vehicle_height_cm is None
    assert places["1"].direction is None
    assert places["2"].vehicle_types == ()
    assert places["2"].max_vehicle_weight_kg is None
    assert notes == [
        "parking_places[0] has no id; ignored",
        "parking_places[1] is not an object; ignored",
        "parking place 1: max_vehicle_height -5 cm is not plausible (0 to 100,000 cm); ignored",
        "parking place 1: direction 'UP' is not an OCPI ParkingDirection; ignored",
        "parking_places[3]: duplicate id 1; the first is kept",
        "parking place 2: max_vehicle_weight 'heavy' is not a number; ignored",
        "parking place 2: time_limit 1000000000000 min is not plausible (0 to 10,000,000 min);"
        " ignored",
        "parking place 2 has no vehicle_types (OCPI requires at least one)",
    ]
    assert read_parking_places({"id": "1"}) == ({}, ["parking_places is not a list; ignored"])
    assert read_parking_places(None) == ({}, [])


def test_evse_parking_as_the_v2_3_0_tag_wrote_it_and_unknown_links() -> None:
    places, _ = read_parking_places(example()["parking_places"])
    # The v2.3.0 tag's examples listed bare ids (ocpi.md §3.13); ids are case-insensitive.
    links, notes = read_evse_parking(
        ["1", {"parking_id": "9"}, {"parking_id": "2", "evse_position": "middle"}, 7, {}],
        places,
    )
    assert links == [EvseParking(places["1"], None), EvseParking(places["2"], None)]
    assert notes == [
        "parking[1]: parking_id 9 is not among the location's parking_places; ignored",
        "parking[2]: evse_position 'middle' is not an OCPI EVSEPosition; ignored",
        "parking[3] is neither an EVSEParking object nor a parking id; ignored",
        "parking[4] has no parking_id; ignored",
    ]
    assert read_evse_parking("1", places) == ([], ["parking is not a list; ignored"])


def test_lists_of_open_enum_values_and_names() -> None:
    assert enum_list([" iso_15118_2_plug_and_charge", "ISO_15118_2_PLUG_AND_CHARGE", 3, ""]) == [
        "ISO_15118_2_PLUG_AND_CHARGE"
    ]
    assert enum_list("ISO_15118_20_PLUG_AND_CHARGE") == []
    assert text_list([" Shell Recharge ", "Shell Recharge", None, "x" * 300, "Elli"], 255) == [
        "Shell Recharge",
        "x" * 255,
        "Elli",
    ]
    assert text_list({"a": 1}, 50) == []
