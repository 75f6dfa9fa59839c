"""step_size as the CDRs module defines it (mod_cdrs step_size, ocpi.md §4.6): once per session
for ENERGY, once for TIME and PARKING_TIME combined, with the last component's step, the extra
on the last period. The worked examples of the 2.2.1 errata text (tariff_14: €0.55, €1.30,
€0.73) and of the CDRs module's step_size paragraph, each computed by hand."""

from __future__ import annotations

from decimal import Decimal

from tests.price.helpers import (
    component,
    d,
    element,
    period,
    plan_request,
    price_cdr,
    spec,
    stored,
    tariff,
    totals,
)

T14 = spec("tariff_14_step_size.json")
# 2024-01-15 is a Monday; Europe/Berlin is UTC+1 in January.


def test_switching_tariff_element_1() -> None:
    # Plug in 16:55, charge 10 min, park 2 min. TIME 16:55–17:00 at 1.20 €/h = 0.10, 17:00–
    # 17:05 at 2.40 €/h = 0.20 (charging time is not rounded: parking follows); parking 2 min
    # rounded to 15 min (step 900 of the last parking component) × 1.00 €/h = 0.25. = 0.55
    result = plan_request(
        T14,
        start_date_time="2024-01-15T15:55:00Z",
        energy_kwh="2",  # 10 min at 12 kW
        car_max_power_kw="12",
        charger_max_power_kw="22",
        parked_after_charging_min="2",
    )
    assert result.total_cost.excl_vat == d("0.55")
    time_lines = [x for x in result.breakdown if x.dimension == "TIME"]
    assert [(x.element_index, x.duration_s, x.billed_duration_s) for x in time_lines] == [
        (0, 300, 300),
        (1, 300, 300),
    ]
    parking = next(x for x in result.breakdown if x.dimension == "PARKING_TIME")
    assert (parking.duration_s, parking.billed_duration_s) == (120, 900)


def test_switching_tariff_element_2() -> None:
    # Plug in 16:35, charge 35 min, leave. TIME total 35 min rounded with the last component's
    # step (900) to 45 min; the extra 10 min land after 17:00: 25 min × 1.20 €/h = 0.50 and
    # 20 min × 2.40 €/h = 0.80. = 1.30
    result = plan_request(
        T14,
        start_date_time="2024-01-15T15:35:00Z",
        energy_kwh="7",  # 35 min at 12 kW
        car_max_power_kw="12",
        charger_max_power_kw="12",
    )
    assert result.total_cost.excl_vat == d("1.30")
    assert [x.billed_duration_s for x in result.breakdown if x.dimension == "TIME"] == [
        1500,
        1200,
    ]


def test_switching_to_free_of_charge_element() -> None:
    # Plug in 19:40, charge 12 min, park 20 min (until 20:12). TIME 12 min × 2.40 €/h = 0.48,
    # not rounded (parking follows). Parking 19:52–20:00 is priced (1.00 €/h), after 20:00 no
    # element has PARKING_TIME: free. Priced parking 8 min → 15 min (step 900) = 0.25, the 7
    # extra minutes on the 19:52–20:00 period. = 0.73 (the errata figure)
    result = plan_request(
        T14,
        start_date_time="2024-01-15T18:40:00Z",
        energy_kwh="2.4",  # 12 min at 12 kW
        car_max_power_kw="12",
        charger_max_power_kw="50",
        parked_after_charging_min="20",
    )
    assert result.total_cost.excl_vat == d("0.73")
    parking = [x for x in result.breakdown if x.dimension == "PARKING_TIME"]
    assert [(x.element_index, x.duration_s, x.billed_duration_s) for x in parking] == [
        (1, 480, 900),
        (None, 720, 720),
    ]


TIME_AND_PARKING_5_MIN = tariff(
    element(component("TIME", "3.00", 300), component("PARKING_TIME", "6.00", 300))
)


def test_not_rounded_when_charging_switches_to_parking() -> None:
    # mod_cdrs: step 5 min for both; 21 min charging then 7 min parked. Charging is billed for
    # 21 min (not 25): 21/60 × 3.00 = 1.05; parking for 10 min: 10/60 × 6.00 = 1.00. = 2.05
    result = plan_request(
        TIME_AND_PARKING_5_MIN,
        start_date_time="2024-01-15T10:00:00Z",
        energy_kwh="3.5",  # 21 min at 10 kW
        car_max_power_kw="10",
        charger_max_power_kw="10",
        parked_after_charging_min="7",
    )
    assert result.total_cost.excl_vat == d("2.05")


def test_energy_total_rounded_once_not_per_element() -> None:
    # mod_cdrs: 0.20 €/kWh before 17:00, 0.27 after, both step 500 Wh; 4.3 kWh before and 1.1
    # after: 5.4 kWh total → 5.5, so 1.2 kWh after 17:00 (not 1.5).
    # 4.3 × 0.20 = 0.86; 1.2 × 0.27 = 0.324; = 1.184 → 1.18
    energy = tariff(
        element(component("ENERGY", "0.20", 500), start_time="00:00", end_time="17:00"),
        element(component("ENERGY", "0.27", 500)),
    )
    result = price_cdr(
        [stored(energy)],
        "2024-01-15T15:00:00Z",
        "2024-01-15T17:00:00Z",
        period("2024-01-15T15:00:00Z", ENERGY="4.3"),
        period("2024-01-15T16:00:00Z", ENERGY="1.1"),
    )
    assert result.total_cost.excl_vat == d("1.18")
    assert [x.billed_energy_kwh for x in result.breakdown] == [d("4.3"), d("1.2")]


def test_time_total_rounded_once_not_per_element() -> None:
    # mod_cdrs: 5 €/h before 17:00, 7 €/h after, both step 10 min; 6 min before and 22 after:
    # 28 → 30 min, 24 min after 17:00 billed. 6/60 × 5 = 0.50; 24/60 × 7 = 2.80; = 3.30
    hourly = tariff(
        element(component("TIME", "5", 600), start_time="00:00", end_time="17:00"),
        element(component("TIME", "7", 600)),
    )
    result = plan_request(
        hourly,
        start_date_time="2024-01-15T15:54:00Z",
        energy_kwh="14",  # 28 min at 30 kW
        car_max_power_kw="30",
        charger_max_power_kw="30",
    )
    assert result.total_cost.excl_vat == d("3.30")


def test_only_parking_rounded_when_both_are_used() -> None:
    # mod_cdrs: charging 1.00 €/h, parking 2.00 €/h, both step 10 min; 21 min charging, 16 min
    # parked: parking → 20 min, 41 min in all. 21/60 × 1 = 0.35; 20/60 × 2 = 0.666…; = 1.0166…
    # → 1.02
    result = plan_request(
        tariff(element(component("TIME", "1.00", 600), component("PARKING_TIME", "2.00", 600))),
        start_date_time="2024-01-15T10:00:00Z",
        energy_kwh="7",  # 21 min at 20 kW
        car_max_power_kw="20",
        charger_max_power_kw="20",
        parked_after_charging_min="16",
    )
    assert result.total_cost.excl_vat == d("1.02")


def test_reservation_time_rounded_on_its_own() -> None:
    # Reservation TIME (step 600) and charging TIME (step 60) priced in one session: the
    # reservation's 22 min → 30 min × 2 €/h = 1.00; charging 61 min → 61 min (step 60) × 3 €/h
    # = 3.05 (not pulled into the reservation's rounding). = 4.05
    reserved = tariff(
        element(component("TIME", "2", 600), reservation="RESERVATION"),
        element(component("TIME", "3", 60)),
    )
    result = price_cdr(
        [stored(reserved)],
        "2024-01-15T10:00:00Z",
        "2024-01-15T11:23:00Z",
        period("2024-01-15T10:00:00Z", RESERVATION_TIME="0.36666667"),
        period("2024-01-15T10:22:00Z", TIME="1.01666666", ENERGY="10"),  # 3659.99998 s
    )
    assert result.total_cost.excl_vat == d("4.05")
    assert result.total_reservation_cost.excl_vat == d("1.00")


def test_step_rounding_can_make_more_energy_cost_less() -> None:
    # A consequence of the spec's rule, kept deliberately: the extra from rounding is billed at
    # the last period's price. First 10 kWh at 1.00 €/kWh, then 0.10, both step 15 kWh.
    # 9 kWh: 9 → 15 kWh, all in the first tier: 15.00.
    # 10.5 kWh: 10 × 1.00 + (0.5 + 4.5 extra) × 0.10 = 10.50.
    tiers = tariff(
        element(component("ENERGY", "1.00", 15000), max_kwh="10"),
        element(component("ENERGY", "0.10", 15000)),
    )
    costs = [
        plan_request(
            tiers,
            start_date_time="2024-01-15T10:00:00Z",
            energy_kwh=kwh,
            car_max_power_kw="50",
            charger_max_power_kw="50",
        ).total_cost.excl_vat
        for kwh in ("9", "10.5")
    ]
    assert costs == [d("15.00"), d("10.50")]


def test_zero_step_size_means_no_rounding() -> None:
    # step_size 0 (allowed, ≥ 0): 1234 Wh at 0.30 = 0.3702 → 0.37
    result = plan_request(
        tariff(element(component("ENERGY", "0.30", 0))),
        start_date_time="2024-01-15T10:00:00Z",
        energy_kwh="1.234",
        car_max_power_kw="10",
        charger_max_power_kw="10",
    )
    assert totals(result) == (d("0.37"), d("0.37"))
    assert result.breakdown[0].billed_energy_kwh == Decimal("1.234")
