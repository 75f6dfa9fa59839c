"""The session to price: OCPI charging periods (as in a CDR), or built from a driver's plan.

A ``Session`` is a list of ``Period``s, each with the volumes consumed in it and the state at its
start that restrictions are evaluated against (mod_cdrs ChargingPeriod: "a period ends when the
next period starts, the last period ends when the session ends").

**Plans.** ``plan_session`` turns a plan into periods with a deliberately simple power model:
the car charges at constant power ``min(car_max_power_kw, charger_max_power_kw)`` from the start
until ``energy_kwh`` is delivered (no ramp-up, no taper, no losses), then stays plugged in, not
charging, for ``parked_after_charging_min``. The CPO "SHALL start a new Charging Period every
moment that has relevance for the total costs" (mod_cdrs CDR object), so the plan is split at
every boundary where a restriction of the given tariffs can change its verdict: local times of
day named in ``start_time``/``end_time`` (and local midnights when ``day_of_week`` or dates
are used), the ``min_duration``/``max_duration`` marks, the ``min_kwh``/``max_kwh`` marks (the
energy there is set exactly to the threshold), and the end of charging. Power and current are
constant, so their restrictions need no split.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

from app.price.errors import PriceRequestError
from app.price.model import DAY_S, Tariff
from app.price.money import SECONDS_PER_HOUR, ZERO
from app.price.tariff_wire import number, utc

CdrDimensionType = Literal[
    "CURRENT",
    "ENERGY",
    "ENERGY_EXPORT",
    "ENERGY_IMPORT",
    "MAX_CURRENT",
    "MIN_CURRENT",
    "MAX_POWER",
    "MIN_POWER",
    "PARKING_TIME",
    "POWER",
    "RESERVATION_TIME",
    "STATE_OF_CHARGE",
    "TIME",
]
# Volumes in hours in a CDR; we keep seconds (exact for any timestamp difference).
_HOURS_DIMENSIONS: Final = frozenset({"TIME", "PARKING_TIME", "RESERVATION_TIME"})
_VOLUME_DIMENSIONS: Final = _HOURS_DIMENSIONS | {"ENERGY"}
# Period volumes may exceed the period's own duration by this much (rounded CDR hours).
_DURATION_SLACK_S: Final = Decimal(60)
_MAX_PLAN_S: Final = Decimal(7 * DAY_S)
_MICROSECOND: Final = Decimal("0.000001")
_MICROWATT_HOUR: Final = Decimal("0.000000001")  # in kWh


class Period(msgspec.Struct, frozen=True):
    """One charging period: volumes consumed in it, and the state at its start."""

    start: datetime  # UTC
    offset_s: Decimal  # seconds since the session started
    duration_s: Decimal
    energy_before_kwh: Decimal  # consumed earlier in the session (min_kwh/max_kwh)
    energy_kwh: Decimal = ZERO
    time_s: Decimal = ZERO  # charging time
    parking_s: Decimal = ZERO  # plugged in, not charging
    reservation_s: Decimal = ZERO
    current_a: Decimal | None = None  # average, summed over phases
    min_current_a: Decimal | None = None
    max_current_a: Decimal | None = None
    power_kw: Decimal | None = None  # average
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    tariff_id: str | None = None

    @property
    def is_reservation(self) -> bool:
        """Reserved and not (yet) used: no charging volume in it."""
        return bool(self.reservation_s) and not (self.energy_kwh or self.time_s or self.parking_s)


class Session(msgspec.Struct, frozen=True):
    start: datetime  # UTC
    end: datetime  # UTC
    periods: tuple[Period, ...]
    time_zone: str | None = None  # IANA name of the Location's zone; None: restrictions read in UTC

    @property
    def duration_s(self) -> Decimal:
        return seconds_between(self.start, self.end)

    @property
    def reservation_expired(self) -> bool:
        """Reserved, and no charging session followed (RESERVATION_EXPIRES, mod_tariffs)."""
        return any(p.reservation_s for p in self.periods) and all(
            p.is_reservation for p in self.periods
        )


# ---- wire shapes ---------------------------------------------------------------------------


class CdrDimension(msgspec.Struct, kw_only=True):
    type: CdrDimensionType
    volume: Decimal


class ChargingPeriodIn(msgspec.Struct, kw_only=True):
    start_date_time: datetime
    dimensions: Annotated[list[CdrDimension], Meta(min_length=1)]
    tariff_id: str | None = None


class ChargingSessionIn(msgspec.Struct, kw_only=True):
    """A session as CDR charging periods: ``start_date_time``/``end_date_time`` of the session,
    and periods with ``dimensions`` (ENERGY in kWh, TIME/PARKING_TIME/RESERVATION_TIME in hours,
    CURRENT in A, POWER in kW, as mod_cdrs CdrDimensionType)."""

    start_date_time: datetime
    end_date_time: datetime
    charging_periods: Annotated[list[ChargingPeriodIn], Meta(min_length=1, max_length=1000)]


class ChargingPlan(msgspec.Struct, kw_only=True, frozen=True):
    """A driver's plan; see the module docstring for the power model."""

    start_date_time: datetime
    energy_kwh: Decimal
    car_max_power_kw: Decimal
    charger_max_power_kw: Decimal
    parked_after_charging_min: Decimal = ZERO
    # Summed over phases while charging; without it current restrictions cannot match.
    current_a: Decimal | None = None


def check_time_zone(name: str | None, path: str) -> str | None:
    if name is None:
        return None
    try:
        zone_info(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PriceRequestError(path, f"unknown IANA time zone {name!r}") from None
    return name


def zone_info(name: str) -> ZoneInfo:
    return ZoneInfo(name)  # ZoneInfo caches instances per key


def session_from_wire(
    wire: ChargingSessionIn, *, time_zone: str | None = None, path: str = "session"
) -> Session:
    """A Session for CDR-style charging periods, checked: end after start, periods in order
    inside the session, one volume per dimension type, volumes ≥ 0 that fit their period."""
    start, end = utc(wire.start_date_time), utc(wire.end_date_time)
    if end <= start:
        raise PriceRequestError(f"{path}.end_date_time", "must be after start_date_time")
    starts = [utc(p.start_date_time) for p in wire.charging_periods]
    for index, period_start in enumerate(starts):
        where = f"{path}.charging_periods[{index}].start_date_time"
        if period_start < start or period_start >= end:
            raise PriceRequestError(where, "must lie inside the session (start ≤ it < end)")
        if index and period_start <= starts[index - 1]:
            raise PriceRequestError(
                where, f"must be after charging_periods[{index - 1}].start_date_time"
            )
    periods: list[Period] = []
    energy_before = ZERO
    for index, raw in enumerate(wire.charging_periods):
        where = f"{path}.charging_periods[{index}]"
        period_start = starts[index]
        period_end = starts[index + 1] if index + 1 < len(starts) else end
        values: dict[str, Decimal] = {}
        for d_index, dimension in enumerate(raw.dimensions):
            d_where = f"{where}.dimensions[{d_index}]"
            if dimension.type in values:
                raise PriceRequestError(f"{d_where}.type", f"a second {dimension.type} volume")
            volume = _volume(dimension, f"{d_where}.volume")
            values[dimension.type] = (
                volume * SECONDS_PER_HOUR if dimension.type in _HOURS_DIMENSIONS else volume
            )
        duration = seconds_between(period_start, period_end)
        timed = sum((values.get(t, ZERO) for t in _HOURS_DIMENSIONS), ZERO)
        if timed > duration + _DURATION_SLACK_S:
            raise PriceRequestError(
                f"{where}.dimensions",
                f"TIME + PARKING_TIME + RESERVATION_TIME ({timed / SECONDS_PER_HOUR:.4f} h) "
                f"exceed the period ({duration / SECONDS_PER_HOUR:.4f} h)",
            )
        period = Period(
            start=period_start,
            offset_s=seconds_between(start, period_start),
            duration_s=duration,
            energy_before_kwh=energy_before,
            energy_kwh=values.get("ENERGY", ZERO),
            time_s=values.get("TIME", ZERO),
            parking_s=values.get("PARKING_TIME", ZERO),
            reservation_s=values.get("RESERVATION_TIME", ZERO),
            current_a=values.get("CURRENT"),
            min_current_a=values.get("MIN_CURRENT"),
            max_current_a=values.get("MAX_CURRENT"),
            power_kw=values.get("POWER"),
            min_power_kw=values.get("MIN_POWER"),
            max_power_kw=values.get("MAX_POWER"),
            tariff_id=raw.tariff_id,
        )
        energy_before += period.energy_kwh
        periods.append(period)
    return Session(start, end, tuple(periods), time_zone)


def _volume(dimension: CdrDimension, path: str) -> Decimal:
    if dimension.type in _VOLUME_DIMENSIONS:
        return number(dimension.volume, path)
    # Current and power may be negative (EV to grid); only insist on a sane number.
    if not dimension.volume.is_finite() or abs(dimension.volume) >= Decimal(10) ** 9:
        raise PriceRequestError(path, "must be a finite number")
    return dimension.volume + 0


# ---- plans -----------------------------------------------------------------------------------


def plan_session(
    plan: ChargingPlan,
    tariffs: Sequence[Tariff],
    *,
    time_zone: str | None = None,
    path: str = "plan",
) -> Session:
    """Charging periods for ``plan``, split where a restriction of ``tariffs`` can change."""
    energy_kwh = number(plan.energy_kwh, f"{path}.energy_kwh")
    car_kw = _positive(plan.car_max_power_kw, f"{path}.car_max_power_kw")
    charger_kw = _positive(plan.charger_max_power_kw, f"{path}.charger_max_power_kw")
    parked_min = number(plan.parked_after_charging_min, f"{path}.parked_after_charging_min")
    current_a = None if plan.current_a is None else _positive(plan.current_a, f"{path}.current_a")
    power_kw = min(car_kw, charger_kw)
    # Instants are whole microseconds (as timestamps are) and computed energies whole µWh, so
    # every volume is a terminating decimal and costs stay exact (no 47.36842105… s).
    charging_s = energy_kwh * SECONDS_PER_HOUR / power_kw
    if charging_s + parked_min * 60 > _MAX_PLAN_S:
        raise PriceRequestError(path, "the planned session would last more than 7 days")
    charging_s = _to_microsecond(charging_s)
    end_s = charging_s + _to_microsecond(parked_min * 60)
    if end_s < 1:
        raise PriceRequestError(path, "nothing to price: the session would last under 1 s")
    start = utc(plan.start_date_time)

    # Boundary offsets (s) → cumulative energy there when it is known exactly.
    marks: dict[Decimal, Decimal | None] = {ZERO: ZERO, charging_s: energy_kwh}
    marks.setdefault(end_s, None)
    for offset in _local_time_marks(tariffs, start, end_s, time_zone):
        marks.setdefault(offset, None)
    for restrictions in (e.restrictions for t in tariffs for e in t.elements):
        for mark_s in (restrictions.min_duration_s, restrictions.max_duration_s):
            if mark_s is not None and 0 < mark_s < end_s:
                marks.setdefault(Decimal(mark_s), None)
        for threshold in (restrictions.min_kwh, restrictions.max_kwh):
            if threshold is not None and 0 < threshold < energy_kwh:
                offset = _to_microsecond(threshold * SECONDS_PER_HOUR / power_kw)
                if 0 < offset < charging_s:
                    marks[offset] = threshold

    offsets = sorted(marks)

    def energy_at(offset: Decimal) -> Decimal:
        exact = marks.get(offset)
        if exact is not None:
            return exact
        return min(energy_kwh, (power_kw * offset / SECONDS_PER_HOUR).quantize(_MICROWATT_HOUR))

    periods: list[Period] = []
    for begin, finish in itertools.pairwise(offsets):
        duration = finish - begin
        moment = start + timedelta(microseconds=int((begin * 1_000_000).to_integral_value()))
        before = energy_at(begin)
        if begin < charging_s:
            periods.append(
                Period(
                    start=moment,
                    offset_s=begin,
                    duration_s=duration,
                    energy_before_kwh=before,
                    energy_kwh=energy_at(finish) - before,
                    time_s=duration,
                    current_a=current_a,
                    power_kw=power_kw,
                )
            )
        else:
            periods.append(
                Period(
                    start=moment,
                    offset_s=begin,
                    duration_s=duration,
                    energy_before_kwh=energy_kwh,
                    parking_s=duration,
                )
            )
    end = start + timedelta(microseconds=int((end_s * 1_000_000).to_integral_value()))
    return Session(start, end, tuple(periods), time_zone)


def _to_microsecond(seconds: Decimal) -> Decimal:
    return seconds.quantize(_MICROSECOND)


def _positive(value: Decimal, path: str) -> Decimal:
    checked = number(value, path)
    if not checked:
        raise PriceRequestError(path, "must be > 0")
    return checked


def _local_time_marks(
    tariffs: Sequence[Tariff], start: datetime, end_s: Decimal, time_zone: str | None
) -> list[Decimal]:
    """Offsets of the local times of day the restrictions name, over the session's days."""
    times_s: set[int] = set()
    for restrictions in (e.restrictions for t in tariffs for e in t.elements):
        if restrictions.days is not None or restrictions.start_date or restrictions.end_date:
            times_s.add(0)  # the weekday or date changes at local midnight
        for mark in (restrictions.start_time_s, restrictions.end_time_s):
            if mark is not None:
                times_s.add(mark % DAY_S)
    if not times_s:
        return []
    zone = zone_info(time_zone) if time_zone else UTC
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    day_count = int(end_s // DAY_S) + 3
    offsets = []
    for day in (first_day + timedelta(days=n) for n in range(day_count)):
        midnight = datetime.combine(day, time())
        for mark in times_s:
            # Wall-clock time on that day in the Location's zone (DST handled by zoneinfo).
            moment = (midnight + timedelta(seconds=mark)).replace(tzinfo=zone).astimezone(UTC)
            offset = seconds_between(start, moment)  # whole µs already
            if 0 < offset < end_s:
                offsets.append(offset)
    return offsets


def seconds_between(earlier: datetime, later: datetime) -> Decimal:
    """Exact seconds from ``earlier`` to ``later`` (timedelta has whole microseconds)."""
    delta = later - earlier
    return Decimal(delta.days * DAY_S + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)
