"""The discovery filters that had no test (issue 16): ``max_power_kw``, ``capability``,
``parking_type`` and ``facility``, alone and combined, on the bundled real data.

Every expected answer is computed here from the stored rows with SQL of the test's own (joins,
not the product's EXISTS fragments): EVSE-level filters hold on ONE visible EVSE, with one
visible connector meeting the power bounds; location-level filters are about the location. The
API is asked for the whole world through the viewport, page by page, and must return exactly
that set of locations, each once, with its number of matching EVSEs."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
WORLD = "-180,-90,180,90"
PAGE = 500


async def viewport(api: Client, **params: Any) -> dict[str, dict[str, Any]]:
    """Every location of the world's viewport with these filters: public id → summary."""
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    for _ in range(20):  # the bundled data is 7 pages; more means the cursor loops
        query = {"bbox": WORLD, "limit": PAGE, **params}
        if cursor:
            query["cursor"] = cursor
        response = await api.get("/v1/locations", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["results"]) <= PAGE
        for result in body["results"]:
            assert result["id"] not in found, f"{result['id']} on two pages"
            found[result["id"]] = result
        cursor = body.get("next_cursor")
        if not cursor:
            return found
    raise AssertionError("the viewport's pages did not end")


def evse_level_expected(
    db: psycopg.Connection,
    *,
    min_kw: float | None = None,
    max_kw: float | None = None,
    capabilities: tuple[str, ...] = (),
) -> dict[str, int]:
    """public id → how many of its visible EVSEs have all the capabilities and a visible
    connector within the power bounds (the same connector for both bounds)."""
    rows = db.execute(
        """
        SELECT l.public_id, count(DISTINCT e.id)
        FROM locations l
        JOIN evses e ON e.location_id = l.id
        JOIN connectors c ON c.evse_pk = e.id
        WHERE l.visible AND e.visible AND c.visible
          AND (%(min_kw)s::float8 IS NULL OR c.max_power_kw >= %(min_kw)s::float8)
          AND (%(max_kw)s::float8 IS NULL OR c.max_power_kw <= %(max_kw)s::float8)
          AND (SELECT bool_and(wanted = ANY(e.capabilities))
               FROM unnest(%(capabilities)s::text[]) AS wanted) IS NOT FALSE
        GROUP BY l.public_id
        """,
        {"min_kw": min_kw, "max_kw": max_kw, "capabilities": list(capabilities)},
    ).fetchall()
    return dict(rows)


def location_level_expected(
    db: psycopg.Connection,
    *,
    parking_types: tuple[str, ...] | None = None,
    facilities: tuple[str, ...] | None = None,
) -> set[str]:
    """Visible locations whose parking type is any of these and with any of these facilities."""
    rows = db.execute("SELECT public_id, parking_type, facilities FROM locations WHERE visible")
    return {
        public_id
        for public_id, parking_type, location_facilities in rows.fetchall()
        if (parking_types is None or parking_type in parking_types)
        and (facilities is None or set(location_facilities) & set(facilities))
    }


def assert_matches(found: dict[str, dict[str, Any]], expected: dict[str, int]) -> None:
    assert sorted(found) == sorted(expected)
    assert {pid: r["matching"]["total"] for pid, r in found.items()} == expected


@pytest.mark.parametrize(
    ("max_power_kw", "size"),
    [
        (3.7, 22),  # a bound that equals stored values: at most means "<="
        (11, 267),
        (22, 1245),
        (50, 2444),
        (1, 8),
    ],
)
async def test_max_power_is_a_connector_of_at_most_that_power(
    api: Client, db: psycopg.Connection, max_power_kw: float, size: int
) -> None:
    expected = evse_level_expected(db, max_kw=max_power_kw)
    assert len(expected) == size  # the data this case was chosen for
    assert_matches(await viewport(api, max_power_kw=max_power_kw), expected)


@pytest.mark.parametrize(
    ("capability", "wanted", "size"),
    [
        ("RESERVABLE", ("RESERVABLE",), 1664),
        ("credit_card_payable", ("CREDIT_CARD_PAYABLE",), 14),
        # A list: the EVSE must have ALL of them.
        (
            "CREDIT_CARD_PAYABLE,DEBIT_CARD_PAYABLE",
            ("CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE"),
            14,
        ),
        ("RFID_READER,RESERVABLE", ("RFID_READER", "RESERVABLE"), 0),
        (
            "REMOTE_START_STOP_CAPABLE,RESERVABLE",
            ("REMOTE_START_STOP_CAPABLE", "RESERVABLE"),
            1663,
        ),
    ],
)
async def test_capability_is_every_listed_capability_on_one_evse(
    api: Client, db: psycopg.Connection, capability: str, wanted: tuple[str, ...], size: int
) -> None:
    expected = evse_level_expected(db, capabilities=wanted)
    assert len(expected) == size
    assert_matches(await viewport(api, capability=capability), expected)


@pytest.mark.parametrize(
    ("parking_type", "wanted", "size"),
    [
        ("ON_STREET", ("ON_STREET",), 638),
        ("parking_lot,PARKING_GARAGE", ("PARKING_LOT", "PARKING_GARAGE"), 68),
        ("UNDERGROUND_GARAGE", ("UNDERGROUND_GARAGE",), 0),
    ],
)
async def test_parking_type_is_any_of_the_listed_types(
    api: Client, db: psycopg.Connection, parking_type: str, wanted: tuple[str, ...], size: int
) -> None:
    expected = location_level_expected(db, parking_types=wanted)
    assert len(expected) == size
    found = await viewport(api, parking_type=parking_type)
    assert sorted(found) == sorted(expected)
    assert all("matching" not in r for r in found.values())  # not an EVSE-level filter


@pytest.mark.parametrize(
    ("facility", "wanted", "size"),
    [
        ("RESTAURANT", ("RESTAURANT",), 7),
        ("wifi", ("WIFI",), 1),
        ("SUPERMARKET,FUEL_STATION", ("SUPERMARKET", "FUEL_STATION"), 6),
    ],
)
async def test_facility_is_any_of_the_listed_facilities(
    api: Client, db: psycopg.Connection, facility: str, wanted: tuple[str, ...], size: int
) -> None:
    expected = location_level_expected(db, facilities=wanted)
    assert len(expected) == size
    found = await viewport(api, facility=facility)
    assert sorted(found) == sorted(expected)


async def test_max_power_and_capability_hold_on_the_same_evse(
    api: Client, db: psycopg.Connection
) -> None:
    expected = evse_level_expected(db, max_kw=43, capabilities=("CHARGING_PROFILE_CAPABLE",))
    # One location has an EVSE of at most 43 kW and another with the capability, none with
    # both: it is what tells "one EVSE" from "the location as a whole".
    per_location = set(evse_level_expected(db, max_kw=43)) & set(
        evse_level_expected(db, capabilities=("CHARGING_PROFILE_CAPABLE",))
    )
    assert (len(expected), len(per_location)) == (54, 55)
    found = await viewport(api, max_power_kw=43, capability="CHARGING_PROFILE_CAPABLE")
    assert_matches(found, expected)


async def test_min_and_max_power_hold_on_the_same_connector(
    api: Client, db: psycopg.Connection
) -> None:
    expected = evse_level_expected(db, min_kw=10, max_kw=12)
    # 37 more locations have an EVSE with a connector above 10 kW and another below 12 kW.
    across_connectors = db.execute(
        """
        SELECT count(DISTINCT l.id) FROM locations l
        JOIN evses e ON e.location_id = l.id AND e.visible
        JOIN connectors c ON c.evse_pk = e.id AND c.visible
        JOIN connectors c2 ON c2.evse_pk = e.id AND c2.visible
        WHERE l.visible AND c.max_power_kw >= 10 AND c2.max_power_kw <= 12
        """
    ).fetchone()
    assert (len(expected), across_connectors) == (94, (131,))
    assert_matches(await viewport(api, min_power_kw=10, max_power_kw=12), expected)


async def test_location_and_evse_filters_combine(api: Client, db: psycopg.Connection) -> None:
    on_street = location_level_expected(db, parking_types=("ON_STREET",))
    reservable = evse_level_expected(db, max_kw=22, capabilities=("RESERVABLE",))
    expected = {pid: n for pid, n in reservable.items() if pid in on_street}
    assert len(expected) == 10
    found = await viewport(api, parking_type="ON_STREET", max_power_kw=22, capability="RESERVABLE")
    assert_matches(found, expected)
    cafes = location_level_expected(db, parking_types=("ON_STREET",), facilities=("CAFE",))
    assert len(cafes) == 7
    found = await viewport(api, parking_type="ON_STREET", facility="CAFE")
    assert sorted(found) == sorted(cafes)
