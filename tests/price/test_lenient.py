"""Stored feed tariffs: repaired where the price is not in doubt, refused with a reason where
it is (app/price/lenient.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.price import StoredTariff, Unpriceable, read_stored_tariff
from app.price.model import DAY_S
from tests.price.helpers import spec


def _read(raw: dict[str, Any], version: Any = None) -> StoredTariff:
    read = read_stored_tariff(raw, version=version)
    assert isinstance(read, StoredTariff), read
    return read


def _refused(raw: Any, version: Any = None) -> str:
    read = read_stored_tariff(raw, version=version)
    assert isinstance(read, Unpriceable), read
    return read.reason


SLOPPY = {
    "id": 7,
    "currency": " eur ",
    "type": "regular ",
    "elements": [
        {
            "price_components": [
                {"type": " energy", "price": "0.29", "vat": 19},
                {"type": "parking_time", "price": 6.0, "step_size": 60.0, "vat": "19"},
            ],
            "restrictions": {
                "start_time": "9:00",
                "end_time": "24:00",
                "day_of_week": "monday",
                "min_kwh": "0",
                "start_date": "2024-01-01T00:00:00Z",
            },
        },
        {"price_components": []},
    ],
    "start_date_time": "2024-01-01T00:00:00",
    "end_date_time": "not a date",
}


def test_sloppy_feed_tariff_is_repaired() -> None:
    read = _read(SLOPPY)
    t = read.tariff
    assert (t.id, t.currency, t.type, t.ocpi_version) == ("7", "EUR", "REGULAR", "2.2.1")
    energy, parking = t.elements[0].components
    assert (energy.dimension, energy.price, energy.step_size, energy.vat_percent) == (
        "ENERGY",
        Decimal("0.29"),
        1,
        Decimal(19),
    )
    assert (parking.price, parking.step_size) == (Decimal("6.0"), 60)
    r = t.elements[0].restrictions
    assert (r.start_time_s, r.end_time_s, r.days) == (9 * 3600, DAY_S, frozenset({0}))
    assert str(r.start_date) == "2024-01-01"
    assert t.start_date_time is not None and t.start_date_time.tzinfo is not None
    assert t.end_date_time is None
    assert read.repairs == (
        "elements[0].price_components[0].step_size: missing, read as 1",
        "elements[0].restrictions.start_date: date-time '2024-01-01T00:00:00Z' read as its date",
        "elements[1]: no price components, skipped",
        "end_date_time: unreadable 'not a date', read as absent",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"currency": "€"}, "currency: '€' is not an ISO 4217 code"),
        ({"elements": []}, "elements: no price components to price with"),
        (
            {"elements": [{"price_components": [{"type": "KWH", "price": 1}]}]},
            "elements[0].price_components[0].type: unknown dimension type 'KWH'",
        ),
        (
            {"elements": [{"price_components": [{"type": "ENERGY"}]}]},
            "elements[0].price_components[0].price: None is not a number",
        ),
        (
            {"elements": [{"price_components": [{"type": "ENERGY", "price": -1}]}]},
            "elements[0].price_components[0].price: must be ≥ 0",
        ),
        (
            {"elements": [{"price_components": [{"type": "TIME", "price": 1, "step_size": 1.5}]}]},
            "elements[0].price_components[0].step_size: 1.5 is not a whole number",
        ),
        (
            {
                "elements": [
                    {
                        "price_components": [{"type": "TIME", "price": 1}],
                        "restrictions": {"start_time": "noon"},
                    }
                ]
            },
            "elements[0].restrictions.start_time: 'noon' is not a time of day",
        ),
        (
            {
                "elements": [
                    {
                        "price_components": [{"type": "TIME", "price": 1}],
                        "restrictions": {"day_of_week": ["MO"]},
                    }
                ]
            },
            "elements[0].restrictions.day_of_week: unknown day 'MO'",
        ),
        ({"max_price": {"excl_vat": "lots"}}, "max_price.excl_vat: 'lots' is not a number"),
    ],
)
def test_unpriceable_tariffs_say_why(change: dict[str, Any], reason: str) -> None:
    assert _refused({**SLOPPY, **change}) == reason


def test_not_an_object() -> None:
    assert _refused(["a list"]) == "not a JSON object"


def test_2_3_0_needs_tax_included() -> None:
    t230 = spec("tariff_19_simple_north_american_exclusive.json", "2.3.0")
    assert _read(t230).tariff.tax_basis == "EXCL"
    assert _read({**t230, "tax_included": "n/a "}).tariff.tax_basis == "NONE"
    without = {k: v for k, v in t230.items() if k != "tax_included"}
    assert (
        _refused(without, "2.3.0")
        == "tax_included: missing or unknown: prices could be incl. or excl. taxes"
    )


def test_version_guess_decides_the_vat_semantics() -> None:
    # No vat anywhere and no 2.2 field: read as 2.1.1, VAT unknown. With owner fields: 2.2.1,
    # an absent vat means none applies (0).
    bare = {
        "id": "1",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "TIME", "price": 2, "step_size": 300}]}],
    }
    assert _read(bare).tariff.ocpi_version == "2.1.1"
    assert _read(bare).tariff.elements[0].components[0].vat_percent is None
    owned = {**bare, "country_code": "NL", "party_id": "ABC"}
    assert _read(owned).tariff.elements[0].components[0].vat_percent == 0
    # A registry_text tariff never had its VAT stated: unknown even in 2.2.1 shape.
    registry = {**owned, "basis": "registry_text"}
    assert _read(registry, "2.2.1").tariff.elements[0].components[0].vat_percent is None


def test_every_spec_tariff_example_reads_leniently() -> None:
    # The lenient path accepts all of the spec's examples, the defective ones included.
    from tests.price.helpers import FOLDERS

    for version, folder in FOLDERS.items():
        for path in folder.glob("tariff*.json"):
            raw = spec(path.name, version)
            if "elements" not in raw or "currency" not in raw:
                continue  # 2.1.1 tariffs_02 is a PATCH fragment
            assert isinstance(read_stored_tariff(raw), StoredTariff), path
