"""Price a session against OCPI Tariffs, as the Tariffs and CDRs modules specify.

1. Each period is priced by its ``tariff_id``'s tariff, or by the one ``choice.select_tariff``
   picks for the session start (ocpi.md §4.7).
2. Per period and per dimension (ENERGY, TIME, PARKING_TIME) the first element that has a
   component of that dimension and whose restrictions hold applies; none: that volume is free
   (mod_tariffs Tariff object, ocpi.md §4.5). RESERVATION_TIME is priced by the TIME component
   of reservation elements only, and charging volumes never by them. For an expired reservation
   (reservation periods and no charging at all) RESERVATION_EXPIRES elements come first, then
   RESERVATION ones (ReservationRestrictionType note).
3. FLAT is charged once per session: the FLAT component active in the first charging period
   where any is (a start fee, not a fee per period; ocpi/ocpi#390, #176). Reservation FLAT fees
   likewise once, in the first reservation period.
4. ``step_size`` (mod_cdrs step_size, ocpi.md §4.6): once per session on the total of ENERGY,
   once on the total of TIME and PARKING_TIME combined (only PARKING_TIME when both are priced,
   as charging time followed by parking is not rounded), with the step of the last component
   used, the extra added to the last priced period. Only priced volume counts (the spec's
   "switching to Free-of-Charge" example). Reservation time is rounded on its own total.
5. Cost = price × billed volume per line, exact; VAT per component (``money.split_tax``).
6. ``min_price``/``max_price`` on each tariff's subtotal, excl. and incl. VAT separately (§4.5).
   A limit without ``incl_vat`` moves the incl. VAT total in proportion.
7. Every total rounded once at the end (``money.round_money``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from decimal import (
    ROUND_CEILING,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Final, Literal

from app.price.choice import select_tariff
from app.price.errors import PriceRequestError
from app.price.model import (
    PriceComponent,
    PriceLimit,
    ReservationKind,
    Restrictions,
    Tariff,
    TariffType,
)
from app.price.money import SECONDS_PER_HOUR, WH_PER_KWH, ZERO, add, round_money, split_tax
from app.price.restrictions import matches
from app.price.result import BreakdownLine, Price, PricedDimension, PriceLimitApplied, PriceResult
from app.price.session import Period, Session, zone_info

_CONTEXT: Final = Context(
    prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_FOUR_DECIMALS: Final = Decimal("0.0001")
_ONE: Final = Decimal(1)
_CATEGORIES: Final = ("fixed", "energy", "time", "parking", "reservation")


@dataclass(frozen=True, slots=True)
class _Candidate:
    element_index: int
    component_index: int
    component: PriceComponent
    restrictions: Restrictions


@dataclass(slots=True)
class _Line:
    period_index: int
    period: Period
    dimension: PricedDimension
    tariff_index: int
    candidate: _Candidate | None
    volume: Decimal  # kWh (ENERGY), s (time dimensions), 1 (FLAT)
    billed: Decimal


class _Index:
    """A tariff's components by dimension, in element order: charging elements, RESERVATION
    elements and RESERVATION_EXPIRES elements apart."""

    def __init__(self, tariff: Tariff) -> None:
        self.charging: dict[str, list[_Candidate]] = {}
        self.reserved: dict[str, list[_Candidate]] = {}
        self.expired: dict[str, list[_Candidate]] = {}
        for e_index, element in enumerate(tariff.elements):
            kind = element.restrictions.reservation
            target = {None: self.charging, "RESERVATION": self.reserved}.get(kind, self.expired)
            for c_index, component in enumerate(element.components):
                target.setdefault(component.dimension, []).append(
                    _Candidate(e_index, c_index, component, element.restrictions)
                )
        self.uses_local_time = any(e.restrictions.uses_local_time for e in tariff.elements)


def price_session(
    tariffs: Sequence[Tariff], session: Session, *, tariff_type: TariffType | None = None
) -> PriceResult:
    """Price ``session`` against ``tariffs`` (see the module docstring for the rules).
    ``PriceRequestError`` when a period names an unknown tariff, no tariff is valid at the
    session start, or the tariffs used disagree on the currency."""
    with localcontext(_CONTEXT):
        return _Pricing(tariffs, session, tariff_type).result()


class _Pricing:
    def __init__(
        self, tariffs: Sequence[Tariff], session: Session, tariff_type: TariffType | None
    ) -> None:
        if not tariffs:
            raise PriceRequestError("tariffs", "must not be empty")
        self.tariffs = tariffs
        self.session = session
        self.notes: dict[str, None] = {}  # an ordered set
        self.tariff_of_period = self._tariff_per_period(tariff_type)
        self.indexes = {i: _Index(tariffs[i]) for i in dict.fromkeys(self.tariff_of_period)}
        currencies = {tariffs[i].currency for i in self.indexes}
        if len(currencies) > 1:
            raise PriceRequestError(
                "tariffs", f"the tariffs used differ in currency: {', '.join(sorted(currencies))}"
            )
        self.currency = tariffs[next(iter(self.indexes))].currency
        zone: tzinfo = zone_info(session.time_zone) if session.time_zone else UTC
        if session.time_zone is None and any(x.uses_local_time for x in self.indexes.values()):
            self._note("no time_zone given: local-time restrictions were read in UTC")
        self.local_starts = [p.start.astimezone(zone) for p in session.periods]
        self.unknown: set[str] = set()

    def _note(self, text: str) -> None:
        self.notes[text] = None

    def _tariff_per_period(self, tariff_type: TariffType | None) -> list[int]:
        by_id: dict[str, int] = {}
        for index, tariff in enumerate(self.tariffs):
            by_id.setdefault(tariff.id.upper(), index)  # CiString (2.2+)
        default: int | None = None
        chosen = []
        for p_index, period in enumerate(self.session.periods):
            if period.tariff_id is not None:
                found = by_id.get(period.tariff_id.upper())
                if found is None:
                    raise PriceRequestError(
                        f"session.charging_periods[{p_index}].tariff_id",
                        f"no tariff with id {period.tariff_id!r}",
                    )
                index = found
            else:
                if default is None:
                    default = select_tariff(self.tariffs, self.session.start, tariff_type)
                    if len(self.tariffs) > 1:
                        self._note(f"tariff {self.tariffs[default].id!r} priced the session")
                index = default
            chosen.append(index)
        return chosen

    # ---- lines -------------------------------------------------------------------------------

    def _find(self, candidates: list[_Candidate], p_index: int) -> _Candidate | None:
        period, local = self.session.periods[p_index], self.local_starts[p_index]
        for candidate in candidates:
            if matches(candidate.restrictions, period, local, self.unknown):
                return candidate
        return None

    def _reservation_candidates(self, index: _Index, dimension: str) -> list[_Candidate]:
        reserved = index.reserved.get(dimension, [])
        if self.session.reservation_expired:
            return index.expired.get(dimension, []) + reserved
        return reserved

    def _lines(self) -> list[_Line]:
        lines: list[_Line] = []
        flat: _Line | None = None
        reservation_flat: _Line | None = None
        for p_index, period in enumerate(self.session.periods):
            t_index = self.tariff_of_period[p_index]
            index = self.indexes[t_index]
            volumes: tuple[tuple[PricedDimension, Decimal, list[_Candidate]], ...] = (
                ("ENERGY", period.energy_kwh, index.charging.get("ENERGY", [])),
                ("TIME", period.time_s, index.charging.get("TIME", [])),
                ("PARKING_TIME", period.parking_s, index.charging.get("PARKING_TIME", [])),
                (
                    "RESERVATION_TIME",
                    period.reservation_s,
                    self._reservation_candidates(index, "TIME"),
                ),
            )
            for dimension, volume, candidates in volumes:
                if volume:
                    found = self._find(candidates, p_index)
                    lines.append(_Line(p_index, period, dimension, t_index, found, volume, volume))
            if flat is None and not period.is_reservation:
                found = self._find(index.charging.get("FLAT", []), p_index)
                if found is not None:
                    flat = _Line(p_index, period, "FLAT", t_index, found, _ONE, _ONE)
                    lines.append(flat)
            if reservation_flat is None and period.reservation_s:
                found = self._find(self._reservation_candidates(index, "FLAT"), p_index)
                if found is not None:
                    reservation_flat = _Line(p_index, period, "FLAT", t_index, found, _ONE, _ONE)
                    lines.append(reservation_flat)
        return lines

    # ---- result ------------------------------------------------------------------------------

    def result(self) -> PriceResult:
        lines = self._lines()
        _apply_step_sizes(lines)
        for what in sorted(self.unknown):
            self._note(
                f"{what} restrictions could not be evaluated in some periods (no {what} value "
                "given): those elements did not apply"
            )
        categories = {c: _Sum() for c in _CATEGORIES}
        subtotals = {i: _Sum() for i in self.indexes}
        breakdown = []
        for line in lines:
            excl, incl = self._cost(line)  # per hour × seconds for the time dimensions
            timed = line.dimension not in ("ENERGY", "FLAT")
            categories[_category(line)].add(excl, incl, timed)
            subtotals[line.tariff_index].add(excl, incl, timed)
            if timed:
                excl, incl = _per_hour(excl), _per_hour(incl)
            breakdown.append(self._breakdown_line(line, Price(excl, incl)))
        total: list[Decimal | None] = [ZERO, ZERO]
        limits: list[PriceLimitApplied] = []
        for t_index, subtotal in subtotals.items():
            excl, incl = self._limited(self.tariffs[t_index], *subtotal.value(), limits)
            total = [add(total[0], excl), add(total[1], incl)]
        session = self.session
        return PriceResult(
            currency=self.currency,
            total_cost=self._rounded(total),
            total_fixed_cost=self._rounded(categories["fixed"].value()),
            total_energy_cost=self._rounded(categories["energy"].value()),
            total_time_cost=self._rounded(categories["time"].value()),
            total_parking_cost=self._rounded(categories["parking"].value()),
            total_reservation_cost=self._rounded(categories["reservation"].value()),
            total_energy=_four(sum((p.energy_kwh for p in session.periods), ZERO)),
            total_time=_four(session.duration_s / SECONDS_PER_HOUR),
            total_parking_time=_four(
                sum((p.parking_s for p in session.periods), ZERO) / SECONDS_PER_HOUR
            ),
            tariff_ids=[self.tariffs[i].id for i in self.indexes],
            breakdown=breakdown,
            price_limits=limits,
            notes=list(self.notes),
        )

    def _cost(self, line: _Line) -> tuple[Decimal | None, Decimal | None]:
        """Exact cost; for the time dimensions in price-seconds (÷ 3600 later, once, so a sum
        that is exactly half a cent stays exactly that and rounds as it should)."""
        if line.candidate is None:
            return ZERO, ZERO
        component = line.candidate.component
        amount = component.price * line.billed
        tariff = self.tariffs[line.tariff_index]
        return split_tax(amount, component.vat_percent, tariff.tax_basis)

    def _limited(
        self,
        tariff: Tariff,
        excl: Decimal | None,
        incl: Decimal | None,
        applied: list[PriceLimitApplied],
    ) -> tuple[Decimal | None, Decimal | None]:
        bounds: tuple[tuple[Literal["min_price", "max_price"], PriceLimit | None], ...] = (
            ("min_price", tariff.min_price),
            ("max_price", tariff.max_price),
        )
        for name, limit in bounds:
            if limit is None:
                continue
            bound = max if name == "min_price" else min
            new_excl = excl if excl is None else bound(excl, limit.excl_vat)
            new_incl = incl
            if incl is not None and limit.incl_vat is not None:
                new_incl = bound(incl, limit.incl_vat)
            elif incl is not None and new_excl != excl:
                # Only the excl. VAT bound is given: carry the session's own VAT ratio over.
                new_incl = incl * new_excl / excl if excl and new_excl is not None else None
            if excl is None and limit.incl_vat is None:
                self._note(f"{name} of tariff {tariff.id!r} not applied: amount before tax unknown")
            if (new_excl, new_incl) != (excl, incl):
                before, after = self._rounded([excl, incl]), self._rounded([new_excl, new_incl])
                applied.append(PriceLimitApplied(tariff.id, name, before, after))
            excl, incl = new_excl, new_incl
        return excl, incl

    def _rounded(self, amounts: Sequence[Decimal | None]) -> Price:
        return Price(round_money(amounts[0], self.currency), round_money(amounts[1], self.currency))

    def _breakdown_line(self, line: _Line, cost: Price) -> BreakdownLine:
        candidate = line.candidate
        component = candidate.component if candidate else None
        is_energy = line.dimension == "ENERGY"
        is_time = line.dimension not in ("ENERGY", "FLAT")
        return BreakdownLine(
            period_index=line.period_index,
            period_start=line.period.start,
            dimension=line.dimension,
            tariff_index=line.tariff_index,
            tariff_id=self.tariffs[line.tariff_index].id,
            element_index=candidate.element_index if candidate else None,
            component_index=candidate.component_index if candidate else None,
            price=component.price if component else None,
            vat_percent=component.vat_percent if component else None,
            step_size=component.step_size if component and line.dimension != "FLAT" else None,
            reservation=_reservation_kind(candidate),
            energy_kwh=line.volume if is_energy else None,
            billed_energy_kwh=line.billed if is_energy else None,
            duration_s=line.volume if is_time else None,
            billed_duration_s=line.billed if is_time else None,
            cost=cost,
        )


class _Sum:
    """Costs added up exactly: amounts, and price × seconds of the time dimensions apart."""

    def __init__(self) -> None:
        self.amounts: list[Decimal | None] = [ZERO, ZERO]
        self.per_hour_seconds: list[Decimal | None] = [ZERO, ZERO]

    def add(self, excl: Decimal | None, incl: Decimal | None, timed: bool) -> None:
        target = self.per_hour_seconds if timed else self.amounts
        target[0], target[1] = add(target[0], excl), add(target[1], incl)

    def value(self) -> tuple[Decimal | None, Decimal | None]:
        excl, incl = (_per_hour(x) for x in self.per_hour_seconds)
        return add(self.amounts[0], excl), add(self.amounts[1], incl)


def _per_hour(price_seconds: Decimal | None) -> Decimal | None:
    return None if price_seconds is None else price_seconds / SECONDS_PER_HOUR


def _apply_step_sizes(lines: list[_Line]) -> None:
    def priced(dimension: str) -> list[_Line]:
        return [x for x in lines if x.dimension == dimension and x.candidate is not None]

    _round_up(priced("ENERGY"), WH_PER_KWH)  # step in Wh, volume in kWh
    parking = priced("PARKING_TIME")
    _round_up(parking or priced("TIME"), _ONE)  # step in s, volume in s
    _round_up(priced("RESERVATION_TIME"), _ONE)


def _round_up(group: list[_Line], units_per_volume: Decimal) -> None:
    """Round the group's total up to a multiple of its last component's step_size; the extra
    goes to the last line."""
    if not group or group[-1].candidate is None:
        return
    step = group[-1].candidate.component.step_size
    if step <= 0:
        return
    total = sum((x.volume for x in group), ZERO) * units_per_volume
    billed = (total / step).to_integral_value(ROUND_CEILING) * step
    if billed > total:
        group[-1].billed += (billed - total) / units_per_volume


def _category(line: _Line) -> str:
    if line.dimension == "FLAT":
        return "reservation" if _reservation_kind(line.candidate) else "fixed"
    return {"ENERGY": "energy", "TIME": "time", "PARKING_TIME": "parking"}.get(
        line.dimension, "reservation"
    )


def _reservation_kind(candidate: _Candidate | None) -> ReservationKind | None:
    return candidate.restrictions.reservation if candidate else None


def _four(value: Decimal) -> Decimal:
    return value.quantize(_FOUR_DECIMALS, ROUND_HALF_UP) + 0
