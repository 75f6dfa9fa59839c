"""The price of one driver's session on one kind of connector (issue 13: a price in every
discovery answer). Pure: the caller brings the decoded tariffs the connector lists.

The session is a plan (``ChargingPlan``, power model in ``session``): ``energy_kwh`` at the
lower of the car's and the connector's maximum power, from ``start`` (local restrictions read in
the location's time zone), then ``parking_min`` plugged in. A connector whose power is not
stated is taken at ``DEFAULT_CHARGER_KW`` of its power type. The current that
``min_current``/``max_current`` are read against (OCPI: summed over the phases) is the power
over ``NOMINAL_VOLTS`` (230 V a phase for AC, 400 V for DC): 22 kW AC is 96 A, 50 kW DC 125 A.
Without it, a tariff priced by current (the spec's tariff_4) would price only its start fee.

``comparable`` is what sorting and ``max_price`` compare: the price incl. VAT, or, where the VAT
is unknown (2.1.1 tariffs, registry text, 2.3.0 ``tax_included: NO`` without ``vat``), the price
as published. Both are reported, so a client can tell which it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from app.price.engine import price_session
from app.price.errors import PriceRequestError
from app.price.model import Tariff
from app.price.result import PriceResult
from app.price.session import ChargingPlan, plan_session

DEFAULT_CHARGER_KW: Final = {"DC": Decimal(50)}
DEFAULT_AC_KW: Final = Decimal(11)  # AC_1_PHASE, AC_3_PHASE, AC_2_PHASE_SPLIT, unknown
NOMINAL_VOLTS: Final = {"DC": Decimal(400)}
NOMINAL_AC_VOLTS: Final = Decimal(230)
_MILLIAMP: Final = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class SessionAsk:
    """What the driver asked to be priced (the discovery endpoints' price parameters)."""

    energy_kwh: Decimal
    car_max_power_kw: Decimal | None = None
    parking_min: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Quote:
    currency: str
    excl_vat: Decimal | None
    incl_vat: Decimal | None
    tariff_index: int  # which of the given tariffs priced it

    @property
    def comparable(self) -> Decimal:
        amount = self.incl_vat if self.incl_vat is not None else self.excl_vat
        assert amount is not None  # the engine sets at least one of them
        return amount


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """What, besides the session asked for, can change a plan's price on these tariffs: the
    charging power (it sets how long charging takes), the start moment, the local time zone.
    A cache of quotes keys on only these, so that an energy-only tariff is priced once per
    session whatever the connector's power, start or zone."""

    power: bool
    start: bool
    zone: bool


def sensitivity(tariffs: Sequence[Tariff]) -> Sensitivity:
    local = any(e.restrictions.uses_local_time for t in tariffs for e in t.elements)
    timed = any(
        c.dimension == "TIME" for t in tariffs for e in t.elements for c in e.components
    ) or any(
        r.min_power_kw is not None
        or r.max_power_kw is not None
        or r.min_current_a is not None
        or r.max_current_a is not None
        or r.min_duration_s is not None
        or r.max_duration_s is not None
        for r in (e.restrictions for t in tariffs for e in t.elements)
    )
    windows = any(t.start_date_time is not None or t.end_date_time is not None for t in tariffs)
    return Sensitivity(power=timed or local, start=local or windows, zone=local)


def charger_power_kw(power_type: str, max_power_kw: float | None) -> Decimal:
    if max_power_kw is not None and max_power_kw > 0:
        return Decimal(str(max_power_kw))
    return DEFAULT_CHARGER_KW.get(power_type, DEFAULT_AC_KW)


def driver_plan(
    ask: SessionAsk, *, start: datetime, charger_kw: Decimal, power_type: str
) -> ChargingPlan:
    """The plan of ``ask`` on a charger of ``charger_kw`` (its current: the power over
    ``NOMINAL_VOLTS``), as discovery and ``POST /v1/price`` both price it."""
    car_kw = ask.car_max_power_kw or charger_kw
    volts = NOMINAL_VOLTS.get(power_type, NOMINAL_AC_VOLTS)
    return ChargingPlan(
        start_date_time=start,
        energy_kwh=ask.energy_kwh,
        car_max_power_kw=car_kw,
        charger_max_power_kw=charger_kw,
        parked_after_charging_min=ask.parking_min,
        current_a=(min(car_kw, charger_kw) * 1000 / volts).quantize(_MILLIAMP),
    )


def quote(
    tariffs: Sequence[Tariff],
    ask: SessionAsk,
    *,
    start: datetime,
    power_type: str,
    max_power_kw: float | None,
    time_zone: str | None,
) -> Quote | None:
    """The session's price on this connector, or None when none of its tariffs applies then
    (none valid at ``start``, or they disagree on the currency)."""
    charger_kw = charger_power_kw(power_type, max_power_kw)
    plan = driver_plan(ask, start=start, charger_kw=charger_kw, power_type=power_type)
    try:
        session = plan_session(plan, tariffs, time_zone=time_zone)
        result: PriceResult = price_session(tariffs, session)
    except PriceRequestError:
        return None
    used = result.tariff_ids[0] if result.tariff_ids else tariffs[0].id
    index = next((i for i, t in enumerate(tariffs) if t.id == used), 0)
    total = result.total_cost
    return Quote(result.currency, total.excl_vat, total.incl_vat, index)
