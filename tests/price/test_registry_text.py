"""Registry pricing text → OCPI tariffs, on real values of the AFDC, Open Charge Map and UK
National Chargepoint Registry files in ../shared/data (app/price/registry_text.py)."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.price import (
    RegistryTariff,
    RegistryUnparsed,
    parse_afdc_ev_pricing,
    parse_ocm_usage_cost,
    parse_uk_ncr_payment,
)
from tests.price.helpers import d, period, price_cdr, stored

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "registries"


def c(kind: str, price: str, step: int = 1) -> dict[str, Any]:
    return {"type": kind, "price": Decimal(price), "step_size": step}


def connected(price: str, step: int = 1) -> list[dict[str, Any]]:
    """An hourly fee on the time plugged in: TIME and PARKING_TIME at the same price."""
    return [c("TIME", price, step), c("PARKING_TIME", price, step)]


FREE = [{"price_components": [c("FLAT", "0.00")]}]

# (text, expected elements) — real AFDC "EV Pricing" values (New York and Washington 2025).
AFDC = [
    ("Free", FREE),
    ("FREE", FREE),
    ("$0.40 per kWh", [{"price_components": [c("ENERGY", "0.40")]}]),
    ("$0.35/kWh", [{"price_components": [c("ENERGY", "0.35")]}]),
    ("$0.50 / kWh", [{"price_components": [c("ENERGY", "0.50")]}]),
    ("$0.20/kWh Energy Fee", [{"price_components": [c("ENERGY", "0.20")]}]),
    ("L2: $0.25 per kWh", [{"price_components": [c("ENERGY", "0.25")]}]),
    (
        "$1.50 per session; $0.75 per kWh",
        [{"price_components": [c("FLAT", "1.50"), c("ENERGY", "0.75")]}],
    ),
    ("$1per session; $0.35 per kWh", [{"price_components": [c("FLAT", "1"), c("ENERGY", "0.35")]}]),
    (
        "$0.50 initiation fee + $0.18 per kWh",
        [{"price_components": [c("FLAT", "0.50"), c("ENERGY", "0.18")]}],
    ),
    ("$2.50 per hour", [{"price_components": connected("2.50")}]),
    ("$1.00 per minute", [{"price_components": connected("60.00")}]),
    ("$2.00/Hr Parking Fee", [{"price_components": connected("2.00")}]),
    (
        "$0.30 per kWh; $2 per hour idle fee",
        [{"price_components": [c("ENERGY", "0.30"), c("PARKING_TIME", "2")]}],
    ),
    (
        "$3 session fee; $2 per kWh; $35 per hour idle fee",
        [{"price_components": [c("FLAT", "3"), c("ENERGY", "2"), c("PARKING_TIME", "35")]}],
    ),
    (
        "$1.00/Hr Parking Fee , $0.08/kWh Energy Fee",
        [{"price_components": [*connected("1.00"), c("ENERGY", "0.08")]}],
    ),
    (
        "$2.50 per hour for first 4 hours; $10 per hour thereafter",
        [
            {"price_components": connected("2.50"), "restrictions": {"max_duration": 14400}},
            {"price_components": connected("10"), "restrictions": {"min_duration": 14400}},
        ],
    ),
    (
        "$2.50 per hour; $10 per hour after 4 hours",
        [
            {"price_components": connected("10"), "restrictions": {"min_duration": 14400}},
            {"price_components": connected("2.50")},
        ],
    ),
    (
        "$2 per hr for the first 4 hrs and $10 per hr afterwards",
        [
            {"price_components": connected("2"), "restrictions": {"max_duration": 14400}},
            {"price_components": connected("10"), "restrictions": {"min_duration": 14400}},
        ],
    ),
    (
        "$0.35 per kWh for public; $0.20 per kWh for employees",
        [{"price_components": [c("ENERGY", "0.35")]}],
    ),
    (
        "Free for guests and employees; $1 per hour for public",
        [{"price_components": connected("1")}],
    ),
    ("Free; $1.50 per hour parking rate", [{"price_components": connected("1.50")}]),
    ("$0.54 per kWh + tax", [{"price_components": [c("ENERGY", "0.54")]}]),
]


@pytest.mark.parametrize(("text", "elements"), AFDC)
def test_afdc_values(text: str, elements: list[dict[str, Any]]) -> None:
    parsed = parse_afdc_ev_pricing(text)
    assert isinstance(parsed, RegistryTariff), parsed
    assert parsed.source_text == text
    assert parsed.tariff == {
        "id": "registry_text",
        "currency": "USD",
        "basis": "registry_text",
        "elements": elements,
    }


@pytest.mark.parametrize(
    ("text", "notes"),
    [
        ("Free; donations encouraged", ("donations asked for",)),
        ("Free; Four hour limit", ("not a price: 'Four hour limit'",)),
        ("$0.54 per kWh + tax", ("taxes are added on top of these prices",)),
        (
            "$0.35 per kWh for public; $0.20 per kWh for employees",
            ("price for employees left out",),
        ),
        ("Free; paid lot", ("a parking fee of unstated amount is not included ('paid lot')",)),
    ],
)
def test_afdc_notes(text: str, notes: tuple[str, ...]) -> None:
    parsed = parse_afdc_ev_pricing(text)
    assert isinstance(parsed, RegistryTariff)
    assert parsed.notes == notes


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("$0.00-$5.00/Hr Variable Parking Fee", "a price range, not one price"),
        ("Free for guests only", "only a price for guests is given"),
        ("Free for customers", "only a price for customers is given"),
        ("Parking fee", "no price for charging given"),
        ("Free; meal purchase required", "not understood: 'meal purchase required'"),
        (
            "$0.46 per kWh; idle fee is $1 per minute after a 15 minute grace period",
            "an idle fee after a grace period cannot be expressed in OCPI",
        ),
        ("", "no pricing text"),
    ],
)
def test_afdc_refusals(text: str, reason: str) -> None:
    parsed = parse_afdc_ev_pricing(text)
    assert parsed == RegistryUnparsed(text, reason)


@pytest.mark.parametrize(
    ("text", "elements"),
    [
        ("0,47€/kWh", [{"price_components": [c("ENERGY", "0.47")]}]),
        ("0,30 € /kWh", [{"price_components": [c("ENERGY", "0.30")]}]),
        ("1€/h", [{"price_components": connected("1")}]),
        ("10€ pauschal", [{"price_components": [c("FLAT", "10")]}]),
        ("Derzeit noch kostenlos ", FREE),
        ("0", FREE),
        ("Spende", FREE),
        ("bisher frei, Parkgebühren 1€/h", [{"price_components": connected("1")}]),
        (
            "€0.34/min >=60kW; €0.17/min <60kW",
            [
                {
                    "price_components": [c("TIME", "20.40"), c("PARKING_TIME", "20.40")],
                    "restrictions": {"min_power": Decimal(60)},
                },
                {
                    "price_components": [c("TIME", "10.20"), c("PARKING_TIME", "10.20")],
                    "restrictions": {"max_power": Decimal(60)},
                },
            ],
        ),
    ],
)
def test_open_charge_map_values(text: str, elements: list[dict[str, Any]]) -> None:
    parsed = parse_ocm_usage_cost(text)
    assert isinstance(parsed, RegistryTariff), parsed
    assert (parsed.tariff["currency"], parsed.tariff["elements"]) == ("EUR", elements)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0.00 afhankelijk van pas", "not understood: '0.00 afhankelijk van pas'"),
        ("0..7€+15€ Parkgebühr", "a price range, not one price"),
        ("Spende ~0.30€/kWh", "an approximate or variable price"),
        ("14,50€ Parken+Laden pro Tag", "no unit for the amount in '14,50€ Parken'"),
    ],
)
def test_open_charge_map_refusals(text: str, reason: str) -> None:
    assert parse_ocm_usage_cost(text) == RegistryUnparsed(text, reason)


def _uk(required: str, details: str = "", flag: str = "0", parking: str = "") -> dict[str, str]:
    return {
        "paymentRequired": required,
        "paymentRequiredDetails": details,
        "parkingFeesFlag": flag,
        "parkingFeesDetails": parking,
    }


@pytest.mark.parametrize(
    ("row", "elements", "limits"),
    [
        (_uk("0"), FREE, {}),
        (_uk("1", "20p per KW/h"), [{"price_components": [c("ENERGY", "0.2")]}], {}),
        (_uk("1", "£6 for 30 minutes"), [{"price_components": connected("12", 1800)}], {}),
        (
            _uk("1", "20p/Kwh, 50p minimum charge"),
            [{"price_components": [c("ENERGY", "0.2")]}],
            {"min_price": {"excl_vat": Decimal("0.5")}},
        ),
        (
            _uk("1", "£0.35p/KWh or a maximum of £18 per session"),
            [{"price_components": [c("ENERGY", "0.35")]}],
            {"max_price": {"excl_vat": Decimal("18")}},
        ),
        (
            _uk("1", "Fixed fee £3.50 PLUS 20p/kWh (or part of)"),
            [{"price_components": [c("FLAT", "3.50"), c("ENERGY", "0.2", 1000)]}],
            {},
        ),
        (_uk("1", "Â£1.70 Per Hour If PAYG"), [{"price_components": connected("1.70")}], {}),
        (
            _uk(
                "1",
                "Rapid chargers require a fee £4:50 for the first hour "
                "£5:00 for each additional hour.",
            ),
            [
                {"price_components": connected("4.50"), "restrictions": {"max_duration": 3600}},
                {"price_components": connected("5.00"), "restrictions": {"min_duration": 3600}},
            ],
            {},
        ),
        (_uk("0", "", "1", "Â£7.00/hour"), [{"price_components": connected("7.00")}], {}),
    ],
)
def test_uk_registry_rows(
    row: dict[str, str], elements: list[dict[str, Any]], limits: dict[str, Any]
) -> None:
    parsed = parse_uk_ncr_payment(row)
    assert isinstance(parsed, RegistryTariff), parsed
    assert parsed.tariff == {
        "id": "registry_text",
        "currency": "GBP",
        "basis": "registry_text",
        "elements": elements,
        **limits,
    }


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (_uk("1"), "payment required, but no price given"),
        (_uk("1", "See www.CPSGenie.com for details"), "no price given ('See for details')"),
        (
            _uk("1", "£4 for first hour, £12 for the second"),
            "no unit for the amount in '£12 for the second'",
        ),
        (
            _uk(
                "1",
                "Initial £1 connection charge, followed by: £0.25 per kWh. "
                "An additional £5 will be charged if more than 25 kWh are drawn.",
            ),
            "no unit for the amount in "
            "'An additional £5 will be charged if more than 25 kWh are drawn.'",
        ),
    ],
)
def test_uk_refusals(row: dict[str, str], reason: str) -> None:
    parsed = parse_uk_ncr_payment(row)
    assert isinstance(parsed, RegistryUnparsed)
    assert parsed.reason == reason


def test_uk_parking_notes() -> None:
    parsed = parse_uk_ncr_payment(_uk("1", "25p/kWh", "1", "Pay and Display Car Park"))
    assert isinstance(parsed, RegistryTariff)
    assert parsed.notes == ("a parking fee of unstated amount is not included ('parking fee')",)
    free_parking = parse_uk_ncr_payment(_uk("1", "25p/kWh", "1", "Free for 2 hours"))
    assert isinstance(free_parking, RegistryTariff)
    assert free_parking.notes == ("parking: Free for 2 hours",)


def test_registry_tariffs_price_with_vat_unknown() -> None:
    # $1.50 per session + $0.75 per kWh, 20 kWh: 1.50 + 15.00 = 16.50; the VAT was never
    # stated, so incl. is unknown.
    parsed = parse_afdc_ev_pricing("$1.50 per session; $0.75 per kWh")
    assert isinstance(parsed, RegistryTariff)
    start = "2024-01-15T15:00:00Z"
    result = price_cdr(
        [stored(parsed.tariff)],
        start,
        "2024-01-15T17:00:00Z",
        period(start, ENERGY="20", TIME="2"),
        time_zone="America/New_York",
    )
    assert (result.currency, result.total_cost.excl_vat, result.total_cost.incl_vat) == (
        "USD",
        d("16.50"),
        None,
    )


def _afdc_counts(name: str) -> Counter[str]:
    with (FIXTURES / name).open(encoding="utf-8-sig", newline="") as file:
        return Counter(
            row["EV Pricing"] for row in csv.DictReader(file) if row["EV Pricing"].strip()
        )


@pytest.mark.parametrize(
    ("name", "parsed", "total"),
    [
        ("us_afdc_elec_NY_full75cols_2025_jingniz.csv", 979, 983),
        ("us_afdc_elec_WA_full75cols_2025_andreagafer98.csv", 457, 501),
    ],
)
def test_afdc_coverage_on_the_real_files(name: str, parsed: int, total: int) -> None:
    # Every non-empty value gives a tariff or a reason; the shares are in the report
    # (NY 99.6 %, WA 91.2 %: what is left is price ranges, user-group-only prices, grace periods).
    counts = _afdc_counts(name)
    results = {text: parse_afdc_ev_pricing(text) for text in counts}
    assert sum(counts.values()) == total
    assert (
        sum(n for text, n in counts.items() if isinstance(results[text], RegistryTariff)) == parsed
    )
    assert all(isinstance(r, RegistryTariff | RegistryUnparsed) for r in results.values())


def test_uk_registry_file_gives_a_tariff_or_a_reason_per_row() -> None:
    path = FIXTURES / "national-charge-point-registry_stephenbrowett_2022.csv"
    text = re.sub(r"\r(?!\n)", " ", path.read_text(encoding="utf-8"))  # bare \r in fields
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    results = [parse_uk_ncr_payment(row) for row in rows]
    unparsed = [r for r in results if isinstance(r, RegistryUnparsed)]
    assert len(rows) == 3968  # records as csv reads them once the bare \r are spaces
    assert all(r.reason for r in unparsed)
    assert len(rows) - len(unparsed) == 2528
