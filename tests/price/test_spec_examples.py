"""Every tariff example of the OCPI spec (2.1.1, 2.2.1 with errata, 2.3.0), priced as the
Tariffs module's own worked examples say, plus the CDR example's totals.

Each expected figure is computed by hand in the comment next to it. Local times are in
Europe/Berlin (the examples are German); 2024-01-15 is a Monday, 2024-01-20 a Saturday.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from app.price import (
    Price,
    PriceRequestError,
    decode_charging_session,
    decode_tariff,
    price_session,
)
from tests.price.helpers import (
    FOLDERS,
    d,
    period,
    price_cdr,
    spec,
    spec_tariff,
    spec_text,
    stored,
    totals,
)

BOTH = pytest.mark.parametrize("version", ["2.2.1", "2.3.0"])
MONDAY_0930 = "2024-01-15T08:30:00Z"  # 09:30 CET
SATURDAY_1330 = "2024-01-20T12:30:00Z"  # 13:30 CET

# Every tariff example file: strict decoding accepts it, except the spec's known defects
# (fixtures/spec-examples/README.md), which are refused with the field that is missing.
DEFECTS = {
    ("2.2.1", "tariff_put_example.json"): "last_updated: required",
    ("2.3.0", "tariff_put_example.json"): "last_updated: required",
    ("2.1.1", "tariffs_01_example_new_tariff_2_euro_per_hour.json"): "last_updated: required",
    ("2.1.1", "tariffs_02_example_change_tariff_to_2_50.json"): "id: required",
}
EXAMPLES = [
    (version, path.name)
    for version, folder in FOLDERS.items()
    for path in sorted(folder.glob("tariff*.json"))
]


def test_all_tariff_examples_are_found() -> None:
    # 2.2.1: tariff_1…18 without 7, the PUT body and two restriction examples; 2.3.0 adds
    # tariff_19/20; 2.1.1: the seven examples extracted from its text.
    assert [sum(v == version for v, _ in EXAMPLES) for version in FOLDERS] == [20, 22, 7]


@pytest.mark.parametrize(("version", "name"), EXAMPLES)
def test_strict_decoding_of_every_tariff_example(version: str, name: str) -> None:
    text = spec_text(name, version)
    defect = DEFECTS.get((version, name))
    if defect is None:
        tariff = decode_tariff(text, version)  # type: ignore[arg-type]
        assert tariff.elements
        return
    with pytest.raises(PriceRequestError) as refused:
        decode_tariff(text, version)  # type: ignore[arg-type]
    assert str(refused.value) == defect


# ---- worked examples of mod_tariffs, in file order -------------------------------------------


@BOTH
def test_tariff_1_two_euro_per_hour(version: str) -> None:
    # 2.5 h charging × 2.00 €/h = 5.00; + 10 % VAT = 5.50 (spec: 5.00 / 5.50)
    tariff = spec_tariff("tariff_1_simple_2hour.json", version)
    result = price_cdr(
        [tariff], MONDAY_0930, "2024-01-15T11:00:00Z", period(MONDAY_0930, TIME="2.5")
    )
    assert totals(result) == (d("5.00"), d("5.50"))
    assert result.total_time_cost.excl_vat == d("5.00")
    assert result.total_time == d("2.5000")


@BOTH
def test_tariff_2_ad_hoc_with_alt_text(version: str) -> None:
    # 2.5 h × 1.90 €/h = 4.75; × 1.052 = 4.997 → 5.00 (spec: 4.75 / 5.00)
    tariff = spec_tariff("tariff_2_alt_text.json", version)
    assert tariff.type == "AD_HOC_PAYMENT"
    result = price_cdr(
        [tariff], MONDAY_0930, "2024-01-15T11:00:00Z", period(MONDAY_0930, TIME="2.5")
    )
    assert totals(result) == (d("4.75"), d("5.00"))


@BOTH
def test_tariff_3_energy_step_100_wh(version: str) -> None:
    # 20.45 kWh billed per 100 Wh → 20.5 kWh × 0.25 = 5.125; start fee 0.50.
    # excl 5.625 → 5.63; incl 5.125 × 1.1 + 0.50 × 1.2 = 5.6375 + 0.60 = 6.2375 → 6.24
    # (the spec's breakdown: 5.63 / 6.24; ROUND_HALF_UP, as its 5.125 → 5.13 shows)
    tariff = spec_tariff("tariff_3_alt_url.json", version)
    result = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T11:00:00Z",
        period(MONDAY_0930, ENERGY="20.45", TIME="2.5"),
    )
    assert totals(result) == (d("5.63"), d("6.24"))
    assert result.total_energy_cost == Price(d("5.13"), d("5.64"))
    assert result.total_fixed_cost.excl_vat == d("0.50")
    energy = next(line for line in result.breakdown if line.dimension == "ENERGY")
    assert (energy.energy_kwh, energy.billed_energy_kwh) == (d("20.45"), d("20.5"))


@BOTH
def test_tariff_4_complex_monday(version: str) -> None:
    # Monday 09:30, 165 min charging at max 16 A, then 42 min parking (12:15–12:57, inside
    # the weekday 09:00–18:00 window). FLAT 2.50 (15 %); TIME 165 min × 1.00 €/h = 2.75 (20 %)
    # — not rounded, as parking follows; parking 42 → 45 min (step 300) × 5 €/h = 3.75 (10 %).
    # excl 2.50 + 2.75 + 3.75 = 9.00; incl 2.875 + 3.30 + 4.125 = 10.30 (spec: 9.00 / 10.30)
    tariff = spec_tariff("tariff_4_complex.json", version)
    result = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T11:57:00Z",
        period(MONDAY_0930, TIME="2.75", MAX_CURRENT="16"),
        period("2024-01-15T11:15:00Z", PARKING_TIME="0.7"),
    )
    assert totals(result) == (d("9.00"), d("10.30"))
    assert [(x.dimension, x.element_index) for x in result.breakdown] == [
        ("TIME", 1),
        ("FLAT", 0),
        ("PARKING_TIME", 4),
    ]
    assert result.total_parking_cost == Price(d("3.75"), d("4.13"))  # 4.125 → 4.13


@BOTH
def test_tariff_4_complex_saturday(version: str) -> None:
    # Saturday 13:30, 114 min at min 43 A, then 71 min parking (15:24–16:35, inside Saturday
    # 10:00–17:00). FLAT 2.50 (15 %) → 2.875; TIME weekend ≥ 32 A: 114 min × 1.25 €/h = 2.375
    # (20 %) → 2.85; parking 71 → 75 min × 6 €/h = 7.50 (10 %) → 8.25.
    # excl 12.375 → 12.38; incl 13.975 → 13.98. The spec's table prints 2.28 for the charging
    # time (1.20 €/h × 1.9 h), hence its 12.28 / 13.861: an arithmetic slip in the text.
    tariff = spec_tariff("tariff_4_complex.json", version)
    result = price_cdr(
        [tariff],
        SATURDAY_1330,
        "2024-01-20T15:35:00Z",
        period(SATURDAY_1330, TIME="1.9", MIN_CURRENT="43"),
        period("2024-01-20T14:24:00Z", PARKING_TIME="1.18333333"),
    )
    assert totals(result) == (d("12.38"), d("13.98"))
    assert [(x.dimension, x.element_index) for x in result.breakdown] == [
        ("TIME", 3),
        ("FLAT", 0),
        ("PARKING_TIME", 5),
    ]
    parking = result.breakdown[2]
    assert parking.billed_duration_s == Decimal(4500)  # 75 min


@BOTH
def test_tariff_5_free_of_charge(version: str) -> None:
    # One FLAT 0.00 component; its step_size 0 is harmless (README: do not divide by it).
    tariff = spec_tariff("tariff_5_free_of_charge.json", version)
    result = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T11:00:00Z",
        period(MONDAY_0930, ENERGY="30", TIME="2", PARKING_TIME="0.5"),
    )
    assert totals(result) == (d("0.00"), d("0.00"))


@BOTH
def test_tariff_6_max_price_and_end_date(version: str) -> None:
    # Start fee 0.50 (20 %) + 0.25 €/kWh (10 %), max_price 10 / 11, valid until 2019-06-30.
    # 50 kWh: 0.50 + 12.50 = 13.00 → capped 10.00; incl 0.60 + 13.75 = 14.35 → 11.00.
    # 30 kWh: 0.50 + 7.50 = 8.00; incl 0.60 + 8.25 = 8.85 (spec: both figures)
    tariff = spec_tariff("tariff_6_025kwh_start_max_price.json", version)
    start, end = "2019-06-01T10:00:00Z", "2019-06-01T14:00:00Z"
    capped = price_cdr([tariff], start, end, period(start, ENERGY="50", TIME="4"))
    assert totals(capped) == (d("10.00"), d("11.00"))
    assert [(x.limit, x.before, x.after) for x in capped.price_limits] == [
        ("max_price", Price(d("13.00"), d("14.35")), Price(d("10.00"), d("11.00")))
    ]
    below = price_cdr([tariff], start, end, period(start, ENERGY="30", TIME="4"))
    assert totals(below) == (d("8.00"), d("8.85"))
    assert below.price_limits == []
    # After its end_date_time the tariff no longer applies.
    with pytest.raises(PriceRequestError, match="no tariff is valid at the session start"):
        price_cdr(
            [tariff],
            "2019-07-01T10:00:00Z",
            "2019-07-01T11:00:00Z",
            period("2019-07-01T10:00:00Z", ENERGY="5"),
        )


@BOTH
def test_tariff_8_9_10_energy_start_fee_parking(version: str) -> None:
    start, end = MONDAY_0930, "2024-01-15T11:10:00Z"
    charged = period(start, ENERGY="20", TIME="1")
    parked = period("2024-01-15T09:30:00Z", PARKING_TIME="0.66666667")  # 40 min
    # tariff_8: 20 kWh × 0.25 = 5.00; × 1.1 = 5.50 (spec: 5.00 / 5.50)
    t8 = spec_tariff("tariff_8_simple_025kwh.json", version)
    assert totals(price_cdr([t8], start, end, charged, parked)) == (d("5.00"), d("5.50"))
    # tariff_9: + start fee 0.50 (20 %) → 5.50; 5.50 + 0.60 = 6.10 (spec: 5.50 / 6.10)
    t9 = spec_tariff("tariff_9_025kwh_start.json", version)
    assert totals(price_cdr([t9], start, end, charged, parked)) == (d("5.50"), d("6.10"))
    # tariff_10: + parking 2 €/h billed per 15 min: 40 → 45 min = 1.50 (20 % → 1.80)
    # excl 0.50 + 5.00 + 1.50 = 7.00; incl 0.60 + 5.50 + 1.80 = 7.90 (spec: 7.00 / 7.90)
    t10 = spec_tariff("tariff_10_025kwh_parking_start.json", version)
    assert totals(price_cdr([t10], start, end, charged, parked)) == (d("7.00"), d("7.90"))


@BOTH
def test_tariff_11_ad_hoc_start_fee_and_time(version: str) -> None:
    # No figure in the spec; 2.5 h: FLAT 0.40 (25 % → 0.50) + 2.5 h × 1.90 = 4.75 (5.2 % →
    # 4.997). excl 5.15; incl 5.497 → 5.50, what its alt text calls "2.00 euro p/hour … 0.50
    # euro including VAT" for 2.5 h.
    tariff = spec_tariff("tariff_11_not_possible_alt_text.json", version)
    result = price_cdr(
        [tariff], MONDAY_0930, "2024-01-15T11:00:00Z", period(MONDAY_0930, TIME="2.5")
    )
    assert totals(result) == (d("5.15"), d("5.50"))


@BOTH
def test_tariff_12_min_price(version: str) -> None:
    # 20 kWh: 5.00 / 5.50. 1 kWh: 0.25 / 0.275, below min_price → 0.50 / 0.55 (spec)
    tariff = spec_tariff("tariff_12_025kwh_min_price.json", version)
    start, end = MONDAY_0930, "2024-01-15T10:30:00Z"
    assert totals(price_cdr([tariff], start, end, period(start, ENERGY="20"))) == (
        d("5.00"),
        d("5.50"),
    )
    small = price_cdr([tariff], start, end, period(start, ENERGY="1"))
    assert totals(small) == (d("0.50"), d("0.55"))
    assert small.total_energy_cost.excl_vat == d("0.25")  # the limit is on the total only
    assert small.price_limits[0].limit == "min_price"


@BOTH
def test_tariff_13_time_and_parking(version: str) -> None:
    # 150 min × 3 €/h = 7.50 (10 % → 8.25), not rounded as parking follows; parking 42 → 45
    # min × 5 €/h = 3.75 (20 % → 4.50). 11.25 / 12.75 (spec)
    tariff = spec_tariff("tariff_13_simple_3hour_5parking.json", version)
    result = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T11:42:00Z",
        period(MONDAY_0930, TIME="2.5"),
        period("2024-01-15T11:00:00Z", PARKING_TIME="0.7"),
    )
    assert totals(result) == (d("11.25"), d("12.75"))


RESERVED_0945 = "2024-01-15T08:45:00Z"


@BOTH
def test_tariff_15_reservation_per_hour(version: str) -> None:
    # Reserved 09:30, charging starts 15 min later, 20 kWh. Reservation 15 min × 5 €/h = 1.25
    # (20 % → 1.50); FLAT 0.50 (→ 0.60); energy 5.00 (→ 5.50). 6.75 / 7.60 (spec)
    tariff = spec_tariff("tariff_15_reservation_5_euro_per_hour.json", version)
    result = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T10:45:00Z",
        period(MONDAY_0930, RESERVATION_TIME="0.25"),
        period(RESERVED_0945, ENERGY="20", TIME="2"),
    )
    assert totals(result) == (d("6.75"), d("7.60"))
    assert result.total_reservation_cost.excl_vat == d("1.25")
    assert result.total_fixed_cost.excl_vat == d("0.50")
    # The reservation element's TIME does not price charging time: TIME is free here.
    time = next(x for x in result.breakdown if x.dimension == "TIME")
    assert time.element_index is None


@BOTH
def test_tariff_16_reservation_fee_and_time(version: str) -> None:
    # 13 min → 15 min (step 300) × 5 €/h = 1.25; reservation fee 2.00; start fee 0.50; energy
    # 5.00. excl 8.75; incl 1.50 + 2.40 + 0.60 + 5.50 = 10.00 (spec)
    tariff = spec_tariff("tariff_16_reservation_2_euro_fee_5_euro_per_hour.json", version)
    result = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T10:43:00Z",
        period(MONDAY_0930, RESERVATION_TIME="0.21666667"),
        period("2024-01-15T08:43:00Z", ENERGY="20", TIME="2"),
    )
    assert totals(result) == (d("8.75"), d("10.00"))
    assert result.total_reservation_cost.excl_vat == d("3.25")  # fee + time
    flats = [x for x in result.breakdown if x.dimension == "FLAT"]
    assert [(x.element_index, x.reservation) for x in flats] == [(0, "RESERVATION"), (1, None)]


@BOTH
def test_tariff_17_reservation_with_expire_fee(version: str) -> None:
    tariff = spec_tariff("tariff_17_reservation_with_expire_fee.json", version)
    # Used: 22 → 30 min (step 600) × 2 €/h = 1.00; start fee 0.50; energy 5.00. The expiry fee
    # does not apply. excl 6.50; incl 1.20 + 0.60 + 5.50 = 7.30 (spec)
    used = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T10:52:00Z",
        period(MONDAY_0930, RESERVATION_TIME="0.36666667"),
        period("2024-01-15T08:52:00Z", ENERGY="20", TIME="2"),
    )
    assert totals(used) == (d("6.50"), d("7.30"))
    # Expired after 1 h, no session: expiry fee 4.00 + 60 min × 2 €/h (the RESERVATION
    # element's TIME, the EXPIRES element has none) = 6.00; incl 4.80 + 2.40 = 7.20 (spec)
    expired = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T09:30:00Z",
        period(MONDAY_0930, RESERVATION_TIME="1"),
    )
    assert totals(expired) == (d("6.00"), d("7.20"))
    assert expired.total_fixed_cost.excl_vat == d("0.00")  # no start fee without a session


@BOTH
def test_tariff_18_reservation_with_expire_time(version: str) -> None:
    tariff = spec_tariff("tariff_18_reservation_with_expire_time.json", version)
    # Used: 22 → 30 min × 3 €/h = 1.50; + 0.50 + 5.00 = 7.00; incl 1.80 + 0.60 + 5.50 = 7.90
    used = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T10:52:00Z",
        period(MONDAY_0930, RESERVATION_TIME="0.36666667"),
        period("2024-01-15T08:52:00Z", ENERGY="20", TIME="2"),
    )
    assert totals(used) == (d("7.00"), d("7.90"))
    # Expired after 1.5 h: the RESERVATION_EXPIRES element's 6 €/h: 9.00; incl 10.80 (spec)
    expired = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T10:00:00Z",
        period(MONDAY_0930, RESERVATION_TIME="1.5"),
    )
    assert totals(expired) == (d("9.00"), d("10.80"))
    assert expired.breakdown[0].element_index == 0


@BOTH
def test_tariffrestriction_max_power(version: str) -> None:
    # 0.20 €/kWh below 16 kW, 0.35 below 32 kW, 0.50 from 32 kW; 20 % VAT. 10 kWh:
    # at 11 kW 2.00 / 2.40; at 22 kW 3.50 / 4.20; at 50 kW 5.00 / 6.00
    tariff = spec_tariff("tariffrestriction_example_max_power.json", version)
    for power_kw, expected in (("11", "2.00"), ("22", "3.50"), ("50", "5.00")):
        result = price_cdr(
            [tariff],
            MONDAY_0930,
            "2024-01-15T10:30:00Z",
            period(MONDAY_0930, ENERGY="10", TIME="0.5", POWER=power_kw),
        )
        assert result.total_cost.excl_vat == d(expected)
        assert result.total_cost.incl_vat == d(expected) * Decimal("1.2")


@BOTH
def test_tariffrestriction_max_duration(version: str) -> None:
    # "First 30 min free, then 0.25 €/kWh, after 60 min 0.40": 90 min at 11 kW, periods split
    # at 30 and 60 min of 5.5 kWh each: 0 + 1.375 + 2.20 = 3.575 → 3.58; × 1.2 = 4.29
    tariff = spec_tariff("tariffrestriction_example_max_duration.json", version)
    result = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T10:00:00Z",
        period(MONDAY_0930, ENERGY="5.5", TIME="0.5"),
        period("2024-01-15T09:00:00Z", ENERGY="5.5", TIME="0.5"),
        period("2024-01-15T09:30:00Z", ENERGY="5.5", TIME="0.5"),
    )
    assert totals(result) == (d("3.58"), d("4.29"))
    assert [x.element_index for x in result.breakdown if x.dimension == "ENERGY"] == [0, 1, 2]


def test_tariff_19_north_american_exclusive() -> None:
    # 2.3.0, tax_included NO, no vat: 1.5 h × 2.00 CAD/h = 3.00 before taxes; the tax is added
    # at a rate the tariff does not know, so incl. is unknown.
    tariff = spec_tariff("tariff_19_simple_north_american_exclusive.json", "2.3.0")
    result = price_cdr(
        [tariff],
        "2024-12-05T18:00:00Z",
        "2024-12-05T19:30:00Z",
        period("2024-12-05T18:00:00Z", TIME="1.5"),
        time_zone="America/Toronto",
    )
    assert result.currency == "CAD"
    assert totals(result) == (d("3.00"), None)


def test_tariff_20_north_american_inclusive() -> None:
    # 2.3.0, tax_included YES, no vat: 1.5 h × 2.10 = 3.15 after taxes; before taxes unknown.
    tariff = spec_tariff("tariff_20_simple_north_american_inclusive.json", "2.3.0")
    result = price_cdr(
        [tariff],
        "2024-12-05T18:00:00Z",
        "2024-12-05T19:30:00Z",
        period("2024-12-05T18:00:00Z", TIME="1.5"),
        time_zone="America/Toronto",
    )
    assert totals(result) == (None, d("3.15"))


def test_tariff_put_example_priced_through_the_lenient_path() -> None:
    # The PUT body lacks last_updated (refused strictly above); stored as is, it prices:
    # 2 €/h billed per 5 min: 62 min → 65 min = 2.1666… → 2.17; × 1.1 = 2.3833… → 2.38
    tariff = stored(spec("tariff_put_example.json"))
    result = price_cdr(
        [tariff], MONDAY_0930, "2024-01-15T09:32:00Z", period(MONDAY_0930, TIME="1.03333333")
    )
    assert totals(result) == (d("2.17"), d("2.38"))


# ---- 2.1.1 ----------------------------------------------------------------------------------


def test_2_1_1_two_euro_per_hour() -> None:
    # 2 €/h, step 300: 2.5 h = 5.00; 2.1.1 has no vat, so incl. VAT is unknown.
    tariff = spec_tariff("tariffs_03_simple_tariff_example_2_euro_per_hour.json", "2.1.1")
    result = price_cdr(
        [tariff], MONDAY_0930, "2024-01-15T11:00:00Z", period(MONDAY_0930, TIME="2.5")
    )
    assert totals(result) == (d("5.00"), None)


def test_2_1_1_complex_example_reads_max_power_as_written() -> None:
    # 2.1.1's complex example writes "32 A" as max_power 32 (ocpi/ocpi#516); we price what it
    # says, in kW. Monday 09:30, 165 min at 11 kW, 42 min parking: FLAT 2.50 + TIME 2.75
    # (1.00 €/h, < 32 kW) + parking 45 min × 5 = 3.75 → 9.00, incl. unknown.
    tariff = spec_tariff("tariffs_06_complex_tariff_example.json", "2.1.1")
    result = price_cdr(
        [tariff],
        MONDAY_0930,
        "2024-01-15T11:57:00Z",
        period(MONDAY_0930, ENERGY="30.25", TIME="2.75", POWER="11"),
        period("2024-01-15T11:15:00Z", PARKING_TIME="0.7"),
    )
    assert totals(result) == (d("9.00"), None)


def test_2_1_1_free_and_put_body() -> None:
    free = spec_tariff("tariffs_07_free_of_charge_tariff_example.json", "2.1.1")
    result = price_cdr(
        [free], MONDAY_0930, "2024-01-15T09:30:00Z", period(MONDAY_0930, ENERGY="7", TIME="1")
    )
    assert totals(result) == (d("0.00"), d("0.00"))  # zero is zero, whatever the VAT
    # The PUT example (no last_updated) through the lenient path: 1 h → 2.00
    put = stored(spec("tariffs_01_example_new_tariff_2_euro_per_hour.json", "2.1.1"), "2.1.1")
    result = price_cdr([put], MONDAY_0930, "2024-01-15T09:30:00Z", period(MONDAY_0930, TIME="1"))
    assert totals(result) == (d("2.00"), None)


# ---- the CDR example -------------------------------------------------------------------------


def test_cdr_example_totals_are_reproduced() -> None:
    # The spec's CDR: TIME 2.00 €/h, step 300, VAT 10 %; 1.973 h = 7102.8 s → 7200 s = 2 h
    # → 4.00 excl., 4.40 incl., as its total_cost says. Its tariff lacks the 2.2 owner fields
    # (an old example), so it is read as a stored tariff; the periods are decoded strictly.
    cdr = spec("cdr_example.json")
    tariff = stored(cdr["tariffs"][0], "2.2.1")
    session = decode_charging_session(
        msgspec.json.encode(
            {
                "start_date_time": cdr["start_date_time"],
                "end_date_time": cdr["end_date_time"],
                "charging_periods": cdr["charging_periods"],
            }
        )
    )
    result = price_session([tariff], session)
    assert result.total_cost.excl_vat == Decimal(str(cdr["total_cost"]["excl_vat"])) == d("4.00")
    assert result.total_cost.incl_vat == Decimal(str(cdr["total_cost"]["incl_vat"])) == d("4.40")
    assert result.total_time_cost == result.total_cost
    # total_time: 21:39:09 → 23:37:32 is 7103 s = 1.97306 h; the CDR rounds it to 1.973.
    assert result.total_time.quantize(Decimal("0.001")) == Decimal(str(cdr["total_time"]))
    assert result.tariff_ids == ["12"]
    line = result.breakdown[0]
    assert (line.duration_s, line.billed_duration_s) == (d("7102.800"), d("7200.000"))
