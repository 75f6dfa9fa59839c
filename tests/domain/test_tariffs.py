"""Tariff summaries and the tariff to show (ocpi.md §4), pinned on the official spec examples."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from app.domain.tariffs import active_tariffs, display_tariff, tariff_summary, tax_included

SPEC_EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "spec-examples"

TARIFF_4 = (
    "1.00 EUR/h < 32 A, 2.00 EUR/h ≥ 32 A Mon–Fri, 1.25 EUR/h ≥ 32 A Sat–Sun; 2.50 EUR start fee; "
    "parking 5.00 EUR/h Mon–Fri 09:00–18:00, 6.00 EUR/h Sat 10:00–17:00 (excl. VAT)"
)
RESERVATION_BASE = "0.25 EUR/kWh + 0.50 EUR start fee"

# 2.2.1 examples; the 2.3.0 copies differ only by tax_included "NO" and PriceLimit: the same
# text, with the 2.3.0 word for what is left out (taxes: VAT, or a sales tax, §4.9).
SPEC_SUMMARIES = {
    "tariff_1_simple_2hour.json": "2.00 EUR/h (excl. VAT)",
    # AD_HOC_PAYMENT; alt text ("2.00 euro p/hour including VAT") is extra info, not used
    "tariff_2_alt_text.json": "1.90 EUR/h (excl. VAT)",
    "tariff_3_alt_url.json": "0.25 EUR/kWh + 0.50 EUR start fee (excl. VAT)",
    "tariff_4_complex.json": TARIFF_4,
    "tariff_5_free_of_charge.json": "Free",  # step_size 0 must not matter
    "tariff_6_025kwh_start_max_price.json": (
        "0.25 EUR/kWh + 0.50 EUR start fee; max 10.00 EUR (excl. VAT)"
    ),
    "tariff_8_simple_025kwh.json": "0.25 EUR/kWh (excl. VAT)",
    "tariff_9_025kwh_start.json": "0.25 EUR/kWh + 0.50 EUR start fee (excl. VAT)",
    "tariff_10_025kwh_parking_start.json": (
        "0.25 EUR/kWh + 0.50 EUR start fee; parking 2.00 EUR/h (excl. VAT)"
    ),
    "tariff_11_not_possible_alt_text.json": "1.90 EUR/h + 0.40 EUR start fee (excl. VAT)",
    "tariff_12_025kwh_min_price.json": "0.25 EUR/kWh; min 0.50 EUR (excl. VAT)",
    # 3.00/h would be 0.05/min: below the per-minute threshold
    "tariff_13_simple_3hour_5parking.json": "3.00 EUR/h; parking 5.00 EUR/h (excl. VAT)",
    # no fallback for parking: free 20:00–00:00 (§4.5 rule 3), not spelled out
    "tariff_14_step_size.json": (
        "1.20 EUR/h 00:00–17:00, 2.40 EUR/h 17:00–20:00, 2.40 EUR/h 20:00–00:00; "
        "parking 1.00 EUR/h 00:00–17:00, 1.00 EUR/h 17:00–20:00 (excl. VAT)"
    ),
    "tariff_15_reservation_5_euro_per_hour.json": (
        f"{RESERVATION_BASE}; reservation 5.00 EUR/h (excl. VAT)"
    ),
    "tariff_16_reservation_2_euro_fee_5_euro_per_hour.json": (
        f"{RESERVATION_BASE}; reservation 2.00 EUR + 5.00 EUR/h (excl. VAT)"
    ),
    "tariff_17_reservation_with_expire_fee.json": (
        f"{RESERVATION_BASE}; reservation 2.00 EUR/h; expired reservation 4.00 EUR (excl. VAT)"
    ),
    "tariff_18_reservation_with_expire_time.json": (
        f"{RESERVATION_BASE}; reservation 3.00 EUR/h; expired reservation 0.10 EUR/min (excl. VAT)"
    ),
    "tariff_put_example.json": "2.00 EUR/h (excl. VAT)",
    # first match wins (§4.5): the max_duration ladder reads as consecutive windows
    "tariffrestriction_example_max_duration.json": (
        "0.00 EUR/kWh first 30 min, 0.25 EUR/kWh 30–60 min, 0.40 EUR/kWh after 60 min (excl. VAT)"
    ),
    "tariffrestriction_example_max_power.json": (
        "0.20 EUR/kWh < 16 kW, 0.35 EUR/kWh 16–32 kW, 0.50 EUR/kWh ≥ 32 kW (excl. VAT)"
    ),
}
SPEC_SUMMARIES_230 = {
    **{name: text.replace("(excl. VAT)", "(excl. taxes)") for name, text in SPEC_SUMMARIES.items()},
    "tariff_19_simple_north_american_exclusive.json": "2.00 CAD/h (excl. taxes)",
    "tariff_20_simple_north_american_inclusive.json": "2.10 CAD/h (incl. taxes)",
}
SPEC_SUMMARIES_211 = {
    "tariffs_01_example_new_tariff_2_euro_per_hour.json": "2.00 EUR/h (excl. VAT)",
    # a PATCH body: no currency
    "tariffs_02_example_change_tariff_to_2_50.json": "2.50/h (excl. VAT)",
    "tariffs_03_simple_tariff_example_2_euro_per_hour.json": "2.00 EUR/h (excl. VAT)",
    "tariffs_04_simple_tariff_example_with_alternative_multi_langu.json": (
        "2.00 EUR/h (excl. VAT)"
    ),
    "tariffs_05_simple_tariff_example_with_alternative_url.json": "2.00 EUR/h (excl. VAT)",
    # the 2.1.1 example says max_power 32.00 where it means 32 A (ocpi/ocpi#516): shown as sent
    "tariffs_06_complex_tariff_example.json": TARIFF_4.replace(" A", " kW"),
    "tariffs_07_free_of_charge_tariff_example.json": "Free",
}
SPEC_CASES = [
    *((name, expected) for name, expected in SPEC_SUMMARIES.items()),
    *((f"2.3.0/{name}", expected) for name, expected in SPEC_SUMMARIES_230.items()),
    *((f"2.1.1/{name}", expected) for name, expected in SPEC_SUMMARIES_211.items()),
]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SPEC_EXAMPLES / name).read_text())
    return data


def tariff(*elements: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "1", "currency": "EUR", "elements": list(elements), **fields}


def element(*components: tuple[str, Any], **restrictions: Any) -> dict[str, Any]:
    built: dict[str, Any] = {
        "price_components": [
            {"type": kind, "price": price, "step_size": 1} for kind, price in components
        ]
    }
    if restrictions:
        built["restrictions"] = restrictions
    return built


@pytest.mark.parametrize(("name", "expected"), SPEC_CASES)
def test_spec_example_summary(name: str, expected: str) -> None:
    assert tariff_summary(load(name)) == expected


def test_every_spec_tariff_example_is_pinned() -> None:
    on_disk = {
        str(path.relative_to(SPEC_EXAMPLES))
        for pattern in ("tariff*.json", "2.3.0/tariff*.json", "2.1.1/tariffs_*.json")
        for path in SPEC_EXAMPLES.glob(pattern)
    }
    assert on_disk == {name for name, _ in SPEC_CASES}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # the shapes the summary style was specified with
        (
            tariff(element(("ENERGY", 0.39)), element(("TIME", 6), min_duration=3600)),
            "0.39 EUR/kWh + 0.10 EUR/min after 60 min (excl. VAT)",
        ),
        (tariff(element(("TIME", 2))), "2.00 EUR/h (excl. VAT)"),
        # prices as int, float or numeric string; finer than cents kept exact
        (tariff(element(("ENERGY", "0.2899"))), "0.2899 EUR/kWh (excl. VAT)"),
        (tariff(element(("ENERGY", " 0.3 "))), "0.30 EUR/kWh (excl. VAT)"),
        (
            tariff(element(("FLAT", 1), ("ENERGY", 0.1))),
            "0.10 EUR/kWh + 1.00 EUR start fee (excl. VAT)",
        ),
        (tariff(element(("ENERGY", 0.123456))), "0.1235 EUR/kWh (excl. VAT)"),
        # unreadable prices and unknown dimensions are skipped, the rest still shown
        (tariff(element(("ENERGY", "0,25"), ("TIME", 2))), "2.00 EUR/h (excl. VAT)"),
        (tariff(element(("ENERGY", True), ("TIME", None))), ""),
        (tariff(element(("CO2", 1.5), ("ENERGY", 0.25))), "0.25 EUR/kWh (excl. VAT)"),
        (tariff(element(("energy", 0.25))), "0.25 EUR/kWh (excl. VAT)"),
        (
            tariff(element(("ENERGY", "NaN"), ("ENERGY", "1e400"), ("TIME", 2))),
            "2.00 EUR/h (excl. VAT)",
        ),
        # a zero start fee says nothing
        (tariff(element(("FLAT", 0), ("ENERGY", 0.25))), "0.25 EUR/kWh (excl. VAT)"),
        # no currency: amounts alone
        ({"elements": [element(("ENERGY", 0.25))]}, "0.25/kWh (excl. VAT)"),
    ],
)
def test_prices(given: dict[str, Any], expected: str) -> None:
    assert tariff_summary(given) == expected


@pytest.mark.parametrize(
    ("hourly", "expected"),
    [
        (6, "0.10 EUR/min"),  # ≥ 0.10/min and exact
        (7.5, "0.125 EUR/min"),
        (30, "0.50 EUR/min"),
        (3, "3.00 EUR/h"),  # exact (0.05/min) but below 0.10/min
        (5, "5.00 EUR/h"),  # 0.0833…/min would need rounding
        (10, "10.00 EUR/h"),
        (0, "0.00 EUR/h"),
    ],
)
def test_time_per_hour_or_per_minute(hourly: float, expected: str) -> None:
    given = tariff(element(("ENERGY", 0.3)), element(("TIME", hourly)))
    assert tariff_summary(given) == f"0.30 EUR/kWh + {expected} (excl. VAT)"


def test_one_unit_per_dimension() -> None:
    given = tariff(element(("TIME", 6), max_power=50), element(("TIME", 5)))
    assert tariff_summary(given) == "6.00 EUR/h < 50 kW, 5.00 EUR/h ≥ 50 kW (excl. VAT)"


@pytest.mark.parametrize(
    ("restrictions", "expected"),
    [
        ({"min_duration": 3600}, "after 60 min"),
        ({"max_duration": 1800}, "first 30 min"),
        ({"min_duration": 1800, "max_duration": 5400}, "30–90 min"),
        ({"max_duration": 90}, "first 1.5 min"),
        ({"min_kwh": 10}, "after 10 kWh"),
        ({"max_kwh": 20.5}, "first 20.5 kWh"),
        ({"min_power": 50}, "≥ 50 kW"),
        ({"max_power": "11"}, "< 11 kW"),
        ({"min_power": 50.0, "max_power": 150.0}, "50–150 kW"),
        ({"min_current": 16, "max_current": 32}, "16–32 A"),
        ({"start_time": "08:00", "end_time": "18:00"}, "08:00–18:00"),
        ({"start_time": "22:00", "end_time": "06:00"}, "22:00–06:00"),
        ({"start_time": "08:00"}, "from 08:00"),
        ({"end_time": "18:00"}, "until 18:00"),
        ({"day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]}, "Mon–Fri"),
        ({"day_of_week": ["FRIDAY", "MONDAY", "WEDNESDAY", "THURSDAY"]}, "Mon/Wed–Fri"),
        ({"day_of_week": "sunday"}, "Sun"),
        (
            {"start_date": "2025-01-01", "end_date": "2025-07-01"},
            "from 2025-01-01 before 2025-07-01",
        ),
        (
            {"min_power": 50, "day_of_week": ["SATURDAY", "SUNDAY"], "start_time": "10:00"},
            "≥ 50 kW Sat–Sun from 10:00",
        ),
        # null and empty values are no restriction; unknown keys are tolerated and not shown
        ({"min_power": None, "day_of_week": [], "min_soc": 20}, ""),
    ],
)
def test_restrictions(restrictions: dict[str, Any], expected: str) -> None:
    given = tariff(element(("ENERGY", 0.5), **restrictions))
    assert tariff_summary(given) == " ".join(
        filter(None, ("0.50 EUR/kWh", expected, "(excl. VAT)"))
    )


@pytest.mark.parametrize(
    "restrictions",
    [
        {"max_power": "fast"},
        {"start_time": "8 am"},
        {"day_of_week": ["MONDAY", "HOLIDAY"]},
        {"reservation": "SOMETIMES"},
        {"start_date": 20250101},
    ],
)
def test_unreadable_restriction_skips_the_element(restrictions: dict[str, Any]) -> None:
    # Shown without its condition, the price would pass for the unconditional one.
    given = tariff(element(("ENERGY", 0.5), **restrictions), element(("ENERGY", 0.4)))
    assert tariff_summary(given) == "0.40 EUR/kWh (excl. VAT)"


def test_elements_that_can_never_apply_are_left_out() -> None:
    given = tariff(
        element(("ENERGY", 0.3), day_of_week=["MONDAY"]),
        element(("ENERGY", 0.4), day_of_week=["MONDAY"]),  # same condition: never first
        element(("ENERGY", 0.5)),
        element(("ENERGY", 0.6), min_power=50),  # after the fallback: never reached
    )
    assert tariff_summary(given) == "0.30 EUR/kWh Mon, 0.50 EUR/kWh (excl. VAT)"


def test_ladder_from_min_bounds() -> None:
    given = tariff(element(("ENERGY", 0.6), min_power=50), element(("ENERGY", 0.4), min_power=11))
    assert tariff_summary(given) == "0.60 EUR/kWh ≥ 50 kW, 0.40 EUR/kWh 11–50 kW (excl. VAT)"


def test_ladder_leaving_no_room_hides_the_element() -> None:
    given = tariff(element(("ENERGY", 0.2), max_power=50), element(("ENERGY", 0.3), max_power=22))
    assert tariff_summary(given) == "0.20 EUR/kWh < 50 kW (excl. VAT)"


def test_several_prices_in_one_dimension_are_not_joined_with_plus() -> None:
    given = tariff(
        element(("FLAT", 1), ("ENERGY", 0.3), max_power=50),
        element(("ENERGY", 0.5)),
    )
    assert tariff_summary(given) == (
        "0.30 EUR/kWh < 50 kW, 0.50 EUR/kWh ≥ 50 kW; 1.00 EUR start fee < 50 kW (excl. VAT)"
    )


def test_reservation_only_prices_flat_and_time() -> None:
    given = tariff(
        element(("ENERGY", 9), ("TIME", 1.5), reservation="RESERVATION"),
        element(("ENERGY", 0.3)),
    )
    assert tariff_summary(given) == "0.30 EUR/kWh; reservation 1.50 EUR/h (excl. VAT)"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (load("tariff_5_free_of_charge.json"), "Free"),
        (tariff(element(("ENERGY", 0), ("TIME", "0.00"))), "Free"),
        (tariff(element(("FLAT", 0), day_of_week=["MONDAY"])), "Free"),
        (tariff(element(("FLAT", 0)), max_price={"excl_vat": 5}), "Free"),
        (tariff(element(("FLAT", 0)), tax_included="YES"), "Free"),
        # a minimum price makes a session cost something
        (
            tariff(element(("ENERGY", 0)), min_price={"excl_vat": 1}),
            "0.00 EUR/kWh; min 1.00 EUR (excl. VAT)",
        ),
        (tariff(element(("FLAT", 0)), min_price={"excl_vat": 0}), "Free"),
    ],
)
def test_free(given: dict[str, Any], expected: str) -> None:
    assert tariff_summary(given) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "2.00 CAD/h (excl. VAT)"),  # 2.1.1 / 2.2.x: excl. VAT by definition (§4.4)
        # 2.3.0 (§4.9): taxes, not only VAT (a North American sales tax is not one)
        ({"tax_included": "NO"}, "2.00 CAD/h (excl. taxes)"),
        ({"tax_included": "YES"}, "2.00 CAD/h (incl. taxes)"),
        ({"tax_included": "yes"}, "2.00 CAD/h (incl. taxes)"),
        ({"tax_included": " n/a"}, "2.00 CAD/h (no taxes)"),  # no tax applies
        # a 2.3.0 tariff that does not say: nothing is claimed (ingest refuses such a tariff)
        ({"tax_included": "MAYBE"}, "2.00 CAD/h (taxes not stated)"),
        ({"tax_included": ["YES"]}, "2.00 CAD/h (taxes not stated)"),
    ],
)
def test_tax_included(fields: dict[str, Any], expected: str) -> None:
    given = tariff(element(("TIME", 2)), currency="CAD", **fields)
    assert tariff_summary(given) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "NO"),  # 2.1.1 / 2.2.x prices are excl. VAT (§4.4)
        ({"tax_included": "NO"}, "NO"),
        ({"tax_included": "yes "}, "YES"),
        ({"tax_included": "N/A"}, "N/A"),
        ({"tax_included": "na"}, "N/A"),
        ({"tax_included": "MAYBE"}, None),
        ({"tax_included": 1}, None),
    ],
)
def test_tax_treatment_of_a_tariff(fields: dict[str, Any], expected: str | None) -> None:
    assert tax_included(tariff(element(("TIME", 2)), **fields)) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_price": {"excl_vat": 10.0, "incl_vat": 11.0}}, "max 10.00 EUR (excl. VAT)"),
        ({"min_price": {"excl_vat": "0.5"}}, "min 0.50 EUR (excl. VAT)"),
        (
            {"min_price": {"excl_vat": 0.5}, "max_price": {"excl_vat": 10}},
            "min 0.50 EUR; max 10.00 EUR (excl. VAT)",
        ),
        # 2.3.0 PriceLimit, on the prices' tax basis
        ({"max_price": {"before_taxes": 10}, "tax_included": "NO"}, "max 10.00 EUR (excl. taxes)"),
        (
            {"max_price": {"before_taxes": 10, "after_taxes": 12}, "tax_included": "YES"},
            "max 12.00 EUR (incl. taxes)",
        ),
        (
            {"max_price": {"before_taxes": 10}, "tax_included": "YES"},
            "max 10.00 EUR excl. taxes (incl. taxes)",
        ),
        ({"max_price": {"before_taxes": 10}, "tax_included": "N/A"}, "max 10.00 EUR (no taxes)"),
        # unreadable or meaningless limits are left out
        ({"max_price": 10}, "(excl. VAT)"),
        ({"max_price": {"excl_vat": "ten"}}, "(excl. VAT)"),
        ({"min_price": {"excl_vat": -1}}, "(excl. VAT)"),
    ],
)
def test_price_limits(fields: dict[str, Any], expected: str) -> None:
    summary = tariff_summary(tariff(element(("ENERGY", 0.25)), **fields))
    separator = " " if expected.startswith("(") else "; "
    assert summary == f"0.25 EUR/kWh{separator}{expected}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (tariff(), ""),
        (
            tariff(tariff_alt_text=[{"language": "en", "text": "See the display"}]),
            "See the display",
        ),
        (
            tariff(
                tariff_alt_text=[
                    {"language": "nl", "text": "Zie het scherm"},
                    {"language": "en", "text": " See the display "},
                ]
            ),
            "See the display",
        ),
        (tariff(tariff_alt_text=[{"language": "nl", "text": "Zie het scherm"}]), "Zie het scherm"),
        (tariff(tariff_alt_text=[{"language": "en"}, "text", {"text": ""}]), ""),
        # no element can be summarised: same as none
        (
            tariff(element(("CO2", 1)), tariff_alt_text=[{"language": "en", "text": "Dynamic"}]),
            "Dynamic",
        ),
        ({"currency": "EUR", "tariff_alt_text": [{"language": "en", "text": "x"}]}, "x"),
    ],
)
def test_alt_text_only_without_elements(given: dict[str, Any], expected: str) -> None:
    assert tariff_summary(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        None,
        [],
        "tariff",
        {},
        {"elements": "none"},
        {"elements": [None, 1, "x", {"price_components": "x"}]},
        {"elements": [{"price_components": [None, {"type": ["ENERGY"], "price": 1}]}]},
        {"elements": [{"price_components": [{"type": "ENERGY", "price": {}}]}]},
        {"elements": [element(("ENERGY", 1))], "currency": 978, "tax_included": {}},
        {"elements": [element(("ENERGY", 1), day_of_week={"MONDAY": 1})]},
        {"elements": [{"restrictions": [], "price_components": [{"type": "FLAT", "price": 1}]}]},
    ],
)
def test_malformed_input_does_not_raise(given: Any) -> None:
    assert isinstance(tariff_summary(given), str)


def _mutations(value: Any) -> Iterator[Any]:
    """Copies of ``value`` with one node replaced by an odd value, for every node."""
    odd: list[Any] = [None, True, -1, 1e308, "x", "", [], {}, [None], {"x": None}]
    if isinstance(value, dict):
        for key, child in value.items():
            for replacement in (*odd, *_mutations(child)):
                yield {**value, key: replacement}
    elif isinstance(value, list):
        for index, child in enumerate(value):
            for replacement in (*odd, *_mutations(child)):
                yield [*value[:index], replacement, *value[index + 1 :]]


@pytest.mark.parametrize(
    "name",
    [
        "tariff_4_complex.json",
        "tariff_6_025kwh_start_max_price.json",
        "tariff_17_reservation_with_expire_fee.json",
        "tariffrestriction_example_max_power.json",
        "2.3.0/tariff_20_simple_north_american_inclusive.json",
    ],
)
def test_any_single_odd_value_in_a_spec_example_does_not_raise(name: str) -> None:
    original = load(name)
    pristine = copy.deepcopy(original)
    for mutated in _mutations(original):
        assert isinstance(tariff_summary(mutated), str)
    assert original == pristine  # the input is never modified


NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def dated(tariff_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": tariff_id, "currency": "EUR", "elements": [], **fields}


def ids(tariffs: list[dict[str, Any]]) -> list[str]:
    return [t["id"] for t in tariffs]


def test_active_tariffs_validity_window() -> None:
    tariffs = [
        dated("always"),
        dated("future", start_date_time="2025-07-01T00:00:00Z"),
        dated("past", end_date_time="2025-06-15T11:59:59.999Z"),
        dated("started", start_date_time="2025-06-01T00:00:00Z"),
        dated("ending", end_date_time="2025-06-30T23:59:59Z"),
        dated("window", start_date_time="2025-06-01T00:00:00", end_date_time="2025-07-01"),
        dated("starts now", start_date_time="2025-06-15T12:00:00Z"),
        dated("ends now", end_date_time="2025-06-15T12:00:00.000000000Z"),
        # 13:30 in UTC+2 is 11:30 UTC: already over
        dated("offset past", end_date_time="2025-06-15T13:30:00+02:00"),
        # naive means UTC: 12:00:01 UTC is still ahead
        dated("naive future", start_date_time="2025-06-15T12:00:01"),
        # an unreadable bound counts as absent
        dated("bad bound", start_date_time="soon", end_date_time=20250101),
    ]
    assert ids(active_tariffs(tariffs, NOW)) == [
        "always",
        "started",
        "ending",
        "window",
        "starts now",
        "ends now",
        "bad bound",
    ]


def test_active_tariffs_spec_example_with_end_date() -> None:
    tariff_6 = load("tariff_6_025kwh_start_max_price.json")  # ends 2019-06-30T23:59:59Z
    assert active_tariffs([tariff_6], datetime(2019, 6, 30, 23, 59, tzinfo=UTC)) == [tariff_6]
    assert active_tariffs([tariff_6], datetime(2019, 7, 1, tzinfo=UTC)) == []


def test_active_tariffs_accepts_naive_and_offset_now() -> None:
    tariffs = [dated("ends", end_date_time="2025-06-15T12:30:00Z")]
    assert ids(active_tariffs(tariffs, datetime(2025, 6, 15, 12, 0))) == ["ends"]
    in_cest = datetime(2025, 6, 15, 14, 45, tzinfo=timezone(timedelta(hours=2)))
    assert active_tariffs(tariffs, in_cest) == []


def test_active_tariffs_skips_non_objects() -> None:
    odd: list[Any] = [None, "1", dated("ok")]
    assert ids(active_tariffs(odd, NOW)) == ["ok"]


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["PROFILE_CHEAP", "AD_HOC_PAYMENT", "REGULAR"], "REGULAR"),
        (["PROFILE_GREEN", "AD_HOC_PAYMENT", None], None),
        (["PROFILE_FAST", "AD_HOC_PAYMENT"], "AD_HOC_PAYMENT"),
        (["PROFILE_GREEN", "PROFILE_FAST"], "PROFILE_GREEN"),
        (["regular", "AD_HOC_PAYMENT"], "regular"),
        ([["REGULAR"], "PROFILE_FAST"], ["REGULAR"]),  # odd type ranks with "anything"
    ],
)
def test_display_tariff_preference(types: list[Any], expected: Any) -> None:
    tariffs = []
    for number, tariff_type in enumerate(types):
        entry = dated(str(number))
        if tariff_type is not None:
            entry["type"] = tariff_type
        tariffs.append(entry)
    chosen = display_tariff(tariffs, NOW)
    assert chosen is not None
    assert chosen.get("type") == expected


def test_display_tariff_ties_keep_list_order() -> None:
    tariffs = [dated("a", type="REGULAR"), dated("b"), dated("c", type="REGULAR")]
    chosen = display_tariff(tariffs, NOW)
    assert chosen is not None
    assert chosen["id"] == "a"


def test_display_tariff_ignores_inactive() -> None:
    tariffs = [
        dated("old regular", type="REGULAR", end_date_time="2025-01-01T00:00:00Z"),
        dated("next regular", type="REGULAR", start_date_time="2025-07-01T00:00:00Z"),
        dated("card", type="AD_HOC_PAYMENT"),
    ]
    chosen = display_tariff(tariffs, NOW)
    assert chosen is not None
    assert chosen["id"] == "card"


def test_display_tariff_none() -> None:
    assert display_tariff([], NOW) is None
    assert display_tariff([dated("old", end_date_time="2020-01-01T00:00:00Z")], NOW) is None
