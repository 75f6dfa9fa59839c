"""Plans → charging periods (app/price/session.py: constant power min(car, charger), then
parking; split where a restriction can change)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from app.price import ChargingPlan, plan_session
from app.price.session import Session
from tests.price.helpers import component, element, stored, tariff

START = datetime.fromisoformat("2024-01-15T16:00:00+00:00")  # 17:00 in Berlin


def _plan(energy_kwh: str, car_kw: str, charger_kw: str, parked_min: str = "0") -> ChargingPlan:
    return ChargingPlan(
        start_date_time=START,
        energy_kwh=Decimal(energy_kwh),
        car_max_power_kw=Decimal(car_kw),
        charger_max_power_kw=Decimal(charger_kw),
        parked_after_charging_min=Decimal(parked_min),
    )


def _shape(session: Session) -> list[tuple[Decimal, Decimal, Decimal, Decimal, Decimal]]:
    return [
        (p.offset_s, p.duration_s, p.energy_before_kwh, p.energy_kwh, p.parking_s)
        for p in session.periods
    ]


def test_constant_power_then_parking() -> None:
    # 22 kWh at min(11, 22) = 11 kW → 2 h charging, then 30 min parked. No restrictions: two
    # periods.
    plain = stored(tariff(element(component("ENERGY", "0.30"))))
    session = plan_session(_plan("22", "11", "22", "30"), [plain])
    assert _shape(session) == [
        (0, 7200, 0, 22, 0),
        (7200, 1800, 22, 0, 1800),
    ]
    assert session.periods[0].power_kw == 11
    assert session.duration_s == 9000


def test_split_at_every_restriction_boundary() -> None:
    # Boundaries: 18:00 local (= 1 h in), 12 kWh, 5400 s; charging ends at 2 h (22 kWh).
    t = stored(
        tariff(
            element(component("ENERGY", "0.50"), end_time="18:00"),
            element(component("ENERGY", "0.40"), max_kwh="12"),
            element(component("TIME", "1"), max_duration=5400),
            element(component("ENERGY", "0.30")),
        )
    )
    session = plan_session(_plan("22", "11", "11", "10"), [t], time_zone="Europe/Berlin")
    offsets = [p.offset_s for p in session.periods]
    assert offsets == [0, 3600, Decimal("3927.272727"), 5400, 7200]  # 12 kWh at 11 kW, to the µs
    # The kWh boundary carries exactly 12 kWh before it.
    assert session.periods[2].energy_before_kwh == Decimal(12)
    assert sum(p.energy_kwh for p in session.periods) == Decimal(22)
    assert session.periods[-1].parking_s == 600


def test_parking_only_plan() -> None:
    plain = stored(tariff(element(component("PARKING_TIME", "2"))))
    session = plan_session(_plan("0", "11", "11", "45"), [plain])
    assert _shape(session) == [(0, 2700, 0, 0, 2700)]


def test_local_midnight_splits_only_when_days_or_dates_matter() -> None:
    by_day = stored(tariff(element(component("ENERGY", "0.2"), day_of_week=["MONDAY"])))
    late = ChargingPlan(
        start_date_time=datetime.fromisoformat("2024-01-15T22:00:00+00:00"),
        energy_kwh=Decimal("20"),
        car_max_power_kw=Decimal("10"),
        charger_max_power_kw=Decimal("10"),
    )
    # 23:00 local + 2 h: one split at local midnight (23:00Z).
    session = plan_session(late, [by_day], time_zone="Europe/Berlin")
    assert [p.offset_s for p in session.periods] == [0, 3600]
    plain = stored(tariff(element(component("ENERGY", "0.2"))))
    assert len(plan_session(late, [plain], time_zone="Europe/Berlin").periods) == 1
