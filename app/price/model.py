"""The engine's own Tariff model: one shape for OCPI 2.1.1, 2.2, 2.2.1 and 2.3.0 Tariffs.

Both the strict request decoder (``wire``) and the lenient reader of stored feed tariffs
(``lenient``) produce these frozen Structs; the engine only ever sees them. Values are checked
and pre-parsed (local times as seconds after midnight, weekdays as 0 = Monday, prices as
Decimal), and the version's tax semantics are resolved into ``tax_basis`` plus a per-component
``vat_percent`` that is None only when the VAT is unknown (ocpi.md §4.4, §4.9):

* 2.1.1 has no ``vat``: the VAT is unknown.
* 2.2 / 2.2.1: an absent ``vat`` means "no VAT applicable", so it is 0 here.
* 2.3.0: ``tax_included`` YES/NO/N/A gives the basis; an absent ``vat`` is unknown (the North
  American examples tariff_19/20 omit it because the tax rate is not known up front).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal

import msgspec

from app.price.money import TaxBasis

OcpiVersion = Literal["2.1.1", "2.2", "2.2.1", "2.3.0"]
TariffDimension = Literal["FLAT", "ENERGY", "TIME", "PARKING_TIME"]
TariffType = Literal["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]
ReservationKind = Literal["RESERVATION", "RESERVATION_EXPIRES"]

DAYS: Final = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
DAY_S: Final = 86_400
# Reservation elements may only hold FLAT and TIME components (mod_tariffs
# ReservationRestrictionType, ocpi.md §4.4).
RESERVATION_DIMENSIONS: Final = frozenset({"FLAT", "TIME"})


class PriceComponent(msgspec.Struct, frozen=True):
    """``price`` per kWh (ENERGY), per hour (TIME, PARKING_TIME) or per session (FLAT), on the
    Tariff's ``tax_basis``; ``step_size`` in Wh (ENERGY) or s (time), ignored for FLAT."""

    dimension: TariffDimension
    price: Decimal
    vat_percent: Decimal | None
    step_size: int


class Restrictions(msgspec.Struct, frozen=True):
    """All conditions AND-ed (mod_tariffs TariffRestrictions). Local-time fields are in the
    Location's time zone; ``end_time_s`` of "00:00" is stored as 86 400 (end of the day)."""

    start_time_s: int | None = None
    end_time_s: int | None = None
    start_date: date | None = None  # inclusive
    end_date: date | None = None  # exclusive
    min_kwh: Decimal | None = None  # inclusive
    max_kwh: Decimal | None = None  # exclusive
    min_current_a: Decimal | None = None
    max_current_a: Decimal | None = None
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    min_duration_s: int | None = None
    max_duration_s: int | None = None
    days: frozenset[int] | None = None  # 0 = Monday
    reservation: ReservationKind | None = None

    @property
    def uses_local_time(self) -> bool:
        return (
            self.start_time_s is not None
            or self.end_time_s is not None
            or self.start_date is not None
            or self.end_date is not None
            or self.days is not None
        )


NO_RESTRICTIONS: Final = Restrictions()


class TariffElement(msgspec.Struct, frozen=True):
    components: tuple[PriceComponent, ...]
    restrictions: Restrictions = NO_RESTRICTIONS


class PriceLimit(msgspec.Struct, frozen=True):
    """``min_price``/``max_price``: 2.2.x Price ``{excl_vat, incl_vat}`` or 2.3.0 PriceLimit
    ``{before_taxes, after_taxes}``; both bounds apply separately (mod_tariffs notes)."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None


class Tariff(msgspec.Struct, frozen=True):
    id: str
    currency: str
    ocpi_version: OcpiVersion
    tax_basis: TaxBasis
    elements: tuple[TariffElement, ...]
    type: TariffType | None = None  # absent: valid for all sessions (§4.3)
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    start_date_time: datetime | None = None  # UTC, aware
    end_date_time: datetime | None = None  # UTC, aware
    country_code: str | None = None
    party_id: str | None = None

    def is_valid_at(self, moment: datetime) -> bool:
        """Inside the validity window (§4.3): active from ``start_date_time``, no longer valid
        after ``end_date_time``."""
        if self.start_date_time is not None and moment < self.start_date_time:
            return False
        return self.end_date_time is None or moment <= self.end_date_time
