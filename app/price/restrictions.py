"""Does a TariffRestrictions hold for a charging period? (mod_tariffs TariffRestrictions)

Every restriction is evaluated at the start of the period, on the state the session is in
then; the CPO, or ``session.plan_session``, starts a new period wherever a verdict can change
(mod_cdrs CDR object). Conditions are AND-ed and each is read independently:

* ``start_time``/``end_time``: local time of day, start inclusive, end exclusive; an end before
  the start wraps past midnight, ``00:00`` as end means the end of the day, equal start and end
  mean the whole day. ``day_of_week``, ``start_date`` (inclusive), ``end_date`` (exclusive):
  the local date of that same instant. So a 22:00–06:00 window limited to FRIDAY matches Friday
  00:00–06:00 and Friday 22:00–24:00, not Saturday early morning (tandemdrive/ocpi-tariffs#64
  shows readings differ; the spec text does not tie the window to the day it started on).
* ``min_kwh``/``max_kwh``: energy consumed before the period, min inclusive, max exclusive.
* ``min_duration``/``max_duration``: seconds since the session started, same bounds.
* ``min_current``/``max_current`` and ``min_power``/``max_power`` ("active while current ≥ min",
  "< max"): compared with the period's MIN_x for a minimum and MAX_x for a maximum (what must
  hold throughout the period), falling back to the average (CURRENT/POWER, for power also
  energy ÷ charging time) and then to the other extreme. A period with none of these values
  cannot show the restriction holds: the element does not match, and the engine says so.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from app.price.model import DAY_S, Restrictions
from app.price.money import SECONDS_PER_HOUR
from app.price.session import Period


def matches(restrictions: Restrictions, period: Period, local: datetime, unknown: set[str]) -> bool:
    """Whether ``restrictions`` hold for ``period`` (``local``: its start in the Location's
    time zone). ``reservation`` is not looked at here: the engine picks reservation elements
    for reservation volumes only. Adds "current" or "power" to ``unknown`` when such a
    restriction decided against the element for want of a measured value."""
    r = restrictions
    timed = r.start_time_s is not None or r.end_time_s is not None
    if timed and not _in_time_window(r.start_time_s, r.end_time_s, local):
        return False
    if r.days is not None and local.weekday() not in r.days:
        return False
    if r.start_date is not None and local.date() < r.start_date:
        return False
    if r.end_date is not None and local.date() >= r.end_date:
        return False
    if r.min_kwh is not None and period.energy_before_kwh < r.min_kwh:
        return False
    if r.max_kwh is not None and period.energy_before_kwh >= r.max_kwh:
        return False
    if r.min_duration_s is not None and period.offset_s < r.min_duration_s:
        return False
    if r.max_duration_s is not None and period.offset_s >= r.max_duration_s:
        return False
    if r.min_current_a is not None or r.max_current_a is not None:
        lowest = _first(period.min_current_a, period.current_a, period.max_current_a)
        highest = _first(period.max_current_a, period.current_a, period.min_current_a)
        if not _in_band(r.min_current_a, r.max_current_a, lowest, highest, "current", unknown):
            return False
    if r.min_power_kw is not None or r.max_power_kw is not None:
        average = _first(period.power_kw, _average_power_kw(period))
        lowest = _first(period.min_power_kw, average, period.max_power_kw)
        highest = _first(period.max_power_kw, average, period.min_power_kw)
        if not _in_band(r.min_power_kw, r.max_power_kw, lowest, highest, "power", unknown):
            return False
    return True


def _in_time_window(start_s: int | None, end_s: int | None, local: datetime) -> bool:
    now_s = local.hour * 3600 + local.minute * 60 + local.second  # whole seconds suffice:
    start = 0 if start_s is None else start_s  # the bounds are whole minutes
    end = DAY_S if end_s is None else end_s
    if start < end:
        return start <= now_s < end
    return now_s >= start or now_s < end  # wraps past midnight; equal bounds: all day


def _in_band(
    minimum: Decimal | None,
    maximum: Decimal | None,
    lowest: Decimal | None,
    highest: Decimal | None,
    what: str,
    unknown: set[str],
) -> bool:
    if minimum is not None:
        if lowest is None:
            unknown.add(what)
            return False
        if lowest < minimum:
            return False
    if maximum is not None:
        if highest is None:
            unknown.add(what)
            return False
        if highest >= maximum:
            return False
    return True


def _average_power_kw(period: Period) -> Decimal | None:
    if period.energy_kwh and period.time_s:
        return period.energy_kwh * SECONDS_PER_HOUR / period.time_s
    return None


def _first(*values: Decimal | None) -> Decimal | None:
    for value in values:
        if value is not None:
            return value
    return None
