"""What the engine answers: the CDR's own totals plus a breakdown (msgspec Structs, serialised
as they are by ``POST /v1/price``; encode with ``decimal_format="number"`` for JSON numbers).

``incl_vat`` is None when the VAT of some priced component is unknown: a 2.1.1 tariff (it has no
``vat``), a 2.3.0 ``tax_included: NO`` tariff without ``vat`` (North American style, tax added at
an unknown rate), or a tariff written from registry free text. ``excl_vat`` is None only for a
2.3.0 ``tax_included: YES`` tariff without ``vat`` (taxes are inside the price, their share is
unknown). A zero amount is zero on both sides.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

from app.price.model import ReservationKind

PricedDimension = Literal["FLAT", "ENERGY", "TIME", "PARKING_TIME", "RESERVATION_TIME"]


class Price(msgspec.Struct, frozen=True):
    excl_vat: Decimal | None
    incl_vat: Decimal | None


class BreakdownLine(msgspec.Struct, frozen=True):
    """One dimension of one charging period, and the price component that priced it.

    ``element_index``/``component_index`` are None when no element matched: that volume is free
    (mod_tariffs: "there will be no costs for that Tariff Dimension"). ``billed_*`` is the volume
    after ``step_size``: the rounding is applied once per session and its extra lands on the last
    line of that dimension (mod_cdrs step_size). ``cost`` is exact, before the final rounding."""

    period_index: int
    period_start: datetime
    dimension: PricedDimension
    tariff_index: int
    tariff_id: str
    element_index: int | None
    component_index: int | None
    price: Decimal | None  # per kWh, per hour, or per session, on the tariff's tax basis
    vat_percent: Decimal | None
    step_size: int | None
    reservation: ReservationKind | None  # the reservation element's kind, for reservation lines
    energy_kwh: Decimal | None  # ENERGY lines
    billed_energy_kwh: Decimal | None
    duration_s: Decimal | None  # TIME, PARKING_TIME and RESERVATION_TIME lines
    billed_duration_s: Decimal | None
    cost: Price


class PriceLimitApplied(msgspec.Struct, frozen=True):
    tariff_id: str
    limit: Literal["min_price", "max_price"]
    before: Price  # the tariff's subtotal, rounded
    after: Price


class PriceResult(msgspec.Struct, frozen=True):
    """Totals named and shaped as in the OCPI CDR (mod_cdrs CDR object), rounded once to the
    currency's minor unit. ``total_cost`` includes ``min_price``/``max_price``; the per-dimension
    totals do not (the spec puts the limits on the session total only). ``total_energy`` is in
    kWh, ``total_time`` (end − start, charging and not) and ``total_parking_time`` in hours, to 4
    decimals (OCPI's default for numbers)."""

    currency: str
    total_cost: Price
    total_fixed_cost: Price  # FLAT, except reservation FLAT fees
    total_energy_cost: Price
    total_time_cost: Price
    total_parking_cost: Price
    total_reservation_cost: Price  # reservation time and reservation FLAT fees
    total_energy: Decimal
    total_time: Decimal
    total_parking_time: Decimal
    tariff_ids: list[str]  # tariffs used, in first-use order
    breakdown: list[BreakdownLine]
    price_limits: list[PriceLimitApplied]
    notes: list[str]
