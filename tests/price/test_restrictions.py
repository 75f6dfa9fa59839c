"""Every TariffRestrictions field, each with an exact case (mod_tariffs TariffRestrictions;
evaluation rules in app/price/restrictions.py). Plans split at the boundaries, so each case
also checks that the split lands where the restriction changes. Local zone: Europe/Berlin
(UTC+1 in winter, +2 in summer)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.price import PriceResult
from tests.price.helpers import (
    component,
    d,
    element,
    period,
    plan_request,
    price_cdr,
    price_request,
    stored,
    tariff,
    totals,
)


def _plan(t: dict[str, Any], start: str, kwh: str, kw: str, **extra: Any) -> PriceResult:
    return plan_request(
        t,
        start_date_time=start,
        energy_kwh=kwh,
        car_max_power_kw=kw,
        charger_max_power_kw=kw,
        **extra,
    )


def energy_costs(result: PriceResult) -> list[tuple[int | None, Decimal | None, Decimal | None]]:
    return [
        (x.element_index, x.energy_kwh, x.cost.excl_vat)
        for x in result.breakdown
        if x.dimension == "ENERGY"
    ]


def test_start_and_end_time() -> None:
    # 0.30 €/kWh 08:00–20:00, else 0.20. 19:00–21:00 local at 10 kW: 10 kWh before 20:00
    # (3.00) and 10 after (2.00) = 5.00
    t = tariff(
        element(component("ENERGY", "0.30"), start_time="08:00", end_time="20:00"),
        element(component("ENERGY", "0.20")),
    )
    result = _plan(t, "2024-01-15T18:00:00Z", "20", "10")
    assert result.total_cost.excl_vat == d("5.00")
    assert energy_costs(result) == [(0, d("10"), d("3.00")), (1, d("10"), d("2.00"))]


def test_time_window_across_midnight() -> None:
    # Night 22:00–06:00 (end < start wraps) 0.10, else 0.40. 21:00–07:00 at 2 kW (20 kWh):
    # 2 kWh day (0.80) + 16 kWh night (1.60) + 2 kWh day (0.80) = 3.20
    t = tariff(
        element(component("ENERGY", "0.10"), start_time="22:00", end_time="06:00"),
        element(component("ENERGY", "0.40")),
    )
    result = _plan(t, "2024-01-15T20:00:00Z", "20", "2")
    assert result.total_cost.excl_vat == d("3.20")
    assert [x[0] for x in energy_costs(result)] == [1, 0, 1]


def test_end_time_midnight_is_end_of_day() -> None:
    # 20:00–00:00 ("00:00" = end of day) 0.50, else 0.20. 23:00–01:00 at 1 kW: 0.50 + 0.20
    t = tariff(
        element(component("ENERGY", "0.50"), start_time="20:00", end_time="00:00"),
        element(component("ENERGY", "0.20")),
    )
    result = _plan(t, "2024-01-15T22:00:00Z", "2", "1")
    assert result.total_cost.excl_vat == d("0.70")


def test_start_and_end_date() -> None:
    # 0.10 on 2024-01-15 only (end_date exclusive), else 0.30. 23:00–01:00 local at 5 kW:
    # 5 kWh on the 15th (0.50) + 5 kWh on the 16th (1.50) = 2.00
    t = tariff(
        element(component("ENERGY", "0.10"), start_date="2024-01-15", end_date="2024-01-16"),
        element(component("ENERGY", "0.30")),
    )
    result = _plan(t, "2024-01-15T22:00:00Z", "10", "5")
    assert result.total_cost.excl_vat == d("2.00")


def test_day_of_week() -> None:
    # Weekend 0.20, else 0.40. Sunday 23:00 – Monday 01:00 at 5 kW: 1.00 + 2.00 = 3.00
    t = tariff(
        element(component("ENERGY", "0.20"), day_of_week=["SATURDAY", "SUNDAY"]),
        element(component("ENERGY", "0.40")),
    )
    result = _plan(t, "2024-01-21T22:00:00Z", "10", "5")
    assert result.total_cost.excl_vat == d("3.00")


def test_day_of_week_with_a_window_across_midnight() -> None:
    # FRIDAY 22:00–06:00 at 0.10, else 0.40: read independently (restrictions.py docstring),
    # Saturday 00:00–01:00 is not Friday. Friday 23:00 – Saturday 01:00 at 1 kW: 0.10 + 0.40
    t = tariff(
        element(
            component("ENERGY", "0.10"),
            start_time="22:00",
            end_time="06:00",
            day_of_week=["FRIDAY"],
        ),
        element(component("ENERGY", "0.40")),
    )
    result = _plan(t, "2024-01-19T22:00:00Z", "2", "1")
    assert result.total_cost.excl_vat == d("0.50")


def test_min_and_max_kwh() -> None:
    # First 10 kWh 0.50 (max_kwh exclusive), from 10 kWh on 0.30 (min_kwh inclusive).
    # 25 kWh: 10 × 0.50 + 15 × 0.30 = 9.50; the split is exactly at 10 kWh.
    t = tariff(
        element(component("ENERGY", "0.50"), max_kwh="10"),
        element(component("ENERGY", "0.30"), min_kwh="10"),
    )
    result = _plan(t, "2024-01-15T10:00:00Z", "25", "50")
    assert result.total_cost.excl_vat == d("9.50")
    assert [x[:2] for x in energy_costs(result)] == [(0, d("10")), (1, d("15"))]


def test_min_and_max_current() -> None:
    # TIME 2 €/h below 16 A, 4 €/h from 16 A; 1 h charging at 11 kW.
    t = tariff(
        element(component("TIME", "2"), max_current="16"),
        element(component("TIME", "4"), min_current="16"),
    )
    start = "2024-01-15T10:00:00Z"
    assert _plan(t, start, "11", "11", current_a="48").total_cost.excl_vat == d("4.00")
    assert _plan(t, start, "11", "11", current_a="10").total_cost.excl_vat == d("2.00")
    # Without a current neither holds: TIME is free, and the result says why.
    unknown = _plan(t, start, "11", "11")
    assert unknown.total_cost.excl_vat == d("0.00")
    assert any("current restrictions" in note for note in unknown.notes)
    # A CDR period: MIN_CURRENT decides a minimum, MAX_CURRENT a maximum, else the average.
    cdr = [stored(t)]
    end = "2024-01-15T11:00:00Z"
    assert price_cdr(
        cdr, start, end, period(start, TIME="1", CURRENT="20")
    ).total_cost.excl_vat == d("4.00")
    assert price_cdr(
        cdr, start, end, period(start, TIME="1", MIN_CURRENT="12", MAX_CURRENT="20")
    ).total_cost.excl_vat == d("0.00")  # neither held throughout the period


def test_min_and_max_power() -> None:
    # 0.60 €/kWh from 50 kW, 0.40 below. 30 kWh at 150 kW → 18.00; at 11 kW → 12.00
    t = tariff(
        element(component("ENERGY", "0.60"), min_power="50"),
        element(component("ENERGY", "0.40"), max_power="50"),
    )
    start = "2024-01-15T10:00:00Z"
    assert _plan(t, start, "30", "150").total_cost.excl_vat == d("18.00")
    assert _plan(t, start, "30", "11").total_cost.excl_vat == d("12.00")
    # In a CDR without POWER the average (energy ÷ charging time) is used: 30 kWh in 0.5 h
    # = 60 kW → 18.00
    result = price_cdr(
        [stored(t)], start, "2024-01-15T10:30:00Z", period(start, ENERGY="30", TIME="0.5")
    )
    assert result.total_cost.excl_vat == d("18.00")


def test_min_and_max_duration() -> None:
    # Parking free for the first 2 h of the session, then 6 €/h. Charge 1 h (11 kWh at 11 kW),
    # park 2 h: parking 1–2 h free, 2–3 h 6.00. TIME is not priced.
    t = tariff(
        element(component("PARKING_TIME", "0"), max_duration=7200),
        element(component("PARKING_TIME", "6"), min_duration=7200),
    )
    result = _plan(t, "2024-01-15T10:00:00Z", "11", "11", parked_after_charging_min="120")
    assert result.total_cost.excl_vat == d("6.00")
    parking = [x for x in result.breakdown if x.dimension == "PARKING_TIME"]
    assert [(x.element_index, x.duration_s) for x in parking] == [(0, 3600), (1, 3600)]


def test_reservation_expires_takes_precedence_over_list_order() -> None:
    # RESERVATION TIME listed first at 1 €/h, RESERVATION_EXPIRES TIME second at 5 €/h: an
    # expired reservation of 1 h uses the EXPIRES element (mod_tariffs note): 5.00; a used
    # one the RESERVATION element: 30 min → 0.50, plus 10 kWh × 0.30 = 3.00 → 3.50
    t = stored(
        tariff(
            element(component("TIME", "1"), reservation="RESERVATION"),
            element(component("TIME", "5"), reservation="RESERVATION_EXPIRES"),
            element(component("ENERGY", "0.30")),
        )
    )
    start = "2024-01-15T10:00:00Z"
    expired = price_cdr([t], start, "2024-01-15T11:00:00Z", period(start, RESERVATION_TIME="1"))
    assert totals(expired) == (d("5.00"), d("5.00"))
    used = price_cdr(
        [t],
        start,
        "2024-01-15T11:30:00Z",
        period(start, RESERVATION_TIME="0.5"),
        period("2024-01-15T10:30:00Z", ENERGY="10", TIME="1"),
    )
    assert totals(used) == (d("3.50"), d("3.50"))


def test_restrictions_follow_daylight_saving_time() -> None:
    # 2024-03-31 Europe/Berlin skips 02:00–03:00. Night 00:00–06:00 local at 0.10, else 0.40.
    # From local midnight (23:00Z on the 30th) at 2 kW for 7 h: 00:00–06:00 local is only 5 h
    # → 10 kWh × 0.10 = 1.00; then 2 h → 4 kWh × 0.40 = 1.60; = 2.60
    t = tariff(
        element(component("ENERGY", "0.10"), start_time="00:00", end_time="06:00"),
        element(component("ENERGY", "0.40")),
    )
    result = _plan(t, "2024-03-30T23:00:00Z", "14", "2")
    assert result.total_cost.excl_vat == d("2.60")


def test_first_matching_element_per_dimension() -> None:
    # Per dimension the first element with a matching restriction wins, and dimensions may come
    # from different elements (mod_tariffs Tariff object): ENERGY from element 1, TIME from 0.
    t = tariff(
        element(component("TIME", "1.00"), max_power="22"),
        element(component("ENERGY", "0.25"), component("TIME", "9.00")),
    )
    result = _plan(t, "2024-01-15T10:00:00Z", "11", "11")
    # 11 kWh × 0.25 = 2.75; 1 h × 1.00 = 1.00 (element 0 matches first for TIME)
    assert result.total_cost.excl_vat == d("3.75")
    assert [(x.dimension, x.element_index) for x in result.breakdown] == [
        ("ENERGY", 1),
        ("TIME", 0),
    ]


def test_no_time_zone_reads_local_restrictions_in_utc_and_says_so() -> None:
    t = tariff(
        element(component("ENERGY", "0.30"), start_time="08:00", end_time="20:00"),
        element(component("ENERGY", "0.20")),
    )
    result = price_request(
        {
            "ocpi_version": "2.2.1",
            "tariffs": [t],
            "plan": {
                "start_date_time": "2024-01-15T19:00:00Z",
                "energy_kwh": "20",
                "car_max_power_kw": "10",
                "charger_max_power_kw": "10",
            },
        }
    )
    assert result.total_cost.excl_vat == d("5.00")  # split at 20:00 UTC
    assert result.notes == ["no time_zone given: local-time restrictions were read in UTC"]


def test_min_and_max_power_from_cdr_extremes() -> None:
    # MIN_POWER decides a min_power restriction, MAX_POWER a max_power one. 10 kWh:
    # MIN_POWER 55 ≥ 50 → 0.60 (6.00); MAX_POWER 45 < 50 → 0.40 (4.00)
    t = stored(
        tariff(
            element(component("ENERGY", "0.60"), min_power="50"),
            element(component("ENERGY", "0.40"), max_power="50"),
        )
    )
    start, end = "2024-01-15T10:00:00Z", "2024-01-15T11:00:00Z"
    fast = price_cdr([t], start, end, period(start, ENERGY="10", MIN_POWER="55", MAX_POWER="60"))
    slow = price_cdr([t], start, end, period(start, ENERGY="10", MIN_POWER="5", MAX_POWER="45"))
    assert (fast.total_cost.excl_vat, slow.total_cost.excl_vat) == (d("6.00"), d("4.00"))
