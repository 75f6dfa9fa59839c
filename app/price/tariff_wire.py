"""Strict OCPI Tariff Structs per version, and their conversion into ``model.Tariff``.

msgspec checks shapes, enums and patterns while decoding; ``tariff_from_wire`` then checks what
a schema cannot (finite numbers, real calendar dates, min below max, reservation elements
holding only FLAT/TIME) and raises ``PriceRequestError`` with the field path. Unknown fields are
ignored, as OCPI asks (ocpi.md §6 P21). The lenient reader (``lenient``) builds these same
Structs from repaired feed dicts and reuses the conversion.

Version differences (ocpi.md §4.9): 2.1.1 has no owner fields, ``type``, ``min/max_price``,
``vat``, current or reservation restrictions; 2.2 and 2.2.1 share one shape; 2.3.0 adds the
required ``tax_included`` and turns ``min/max_price`` into PriceLimit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta

from app.price.errors import PriceRequestError
from app.price.model import (
    DAY_S,
    DAYS,
    RESERVATION_DIMENSIONS,
    OcpiVersion,
    PriceComponent,
    PriceLimit,
    Restrictions,
    Tariff,
    TariffElement,
    TariffType,
)
from app.price.money import HUNDRED, TaxBasis

# Restriction formats (mod_tariffs TariffRestrictions regexes).
LocalTime = Annotated[str, Meta(pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$")]
LocalDate = Annotated[
    str, Meta(pattern=r"^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
StepSize = Annotated[int, Meta(ge=0)]
Seconds = Annotated[int, Meta(ge=0)]
DayOfWeek = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
Dimension = Literal["ENERGY", "FLAT", "PARKING_TIME", "TIME"]
Reservation = Literal["RESERVATION", "RESERVATION_EXPIRES"]
TaxIncluded = Literal["YES", "NO", "N/A"]

_MAX_NUMBER: Final = Decimal(10) ** 12  # larger is garbage (and slow to compute with)


class DisplayText(msgspec.Struct, kw_only=True):
    language: str
    text: str


class PriceComponent211(msgspec.Struct, kw_only=True):
    type: Dimension
    price: Decimal
    step_size: StepSize


class PriceComponent22(PriceComponent211, kw_only=True):
    vat: Decimal | None = None  # a percentage; absent = no VAT applicable (2.2.x)


class TariffRestrictions211(msgspec.Struct, kw_only=True):
    start_time: LocalTime | None = None
    end_time: LocalTime | None = None
    start_date: LocalDate | None = None
    end_date: LocalDate | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: Seconds | None = None
    max_duration: Seconds | None = None
    day_of_week: list[DayOfWeek] | None = None


class TariffRestrictions22(TariffRestrictions211, kw_only=True):
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    reservation: Reservation | None = None


class TariffElement211(msgspec.Struct, kw_only=True):
    price_components: Annotated[list[PriceComponent211], Meta(min_length=1)]
    restrictions: TariffRestrictions211 | None = None


class TariffElement22(msgspec.Struct, kw_only=True):
    price_components: Annotated[list[PriceComponent22], Meta(min_length=1)]
    restrictions: TariffRestrictions22 | None = None


class Price22(msgspec.Struct, kw_only=True):
    excl_vat: Decimal
    incl_vat: Decimal | None = None


class PriceLimit230(msgspec.Struct, kw_only=True):
    before_taxes: Decimal
    after_taxes: Decimal | None = None


class Tariff211(msgspec.Struct, kw_only=True):
    id: Annotated[str, Meta(min_length=1, max_length=36)]
    currency: Currency
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    elements: Annotated[list[TariffElement211], Meta(min_length=1)]
    last_updated: datetime


class Tariff22(msgspec.Struct, kw_only=True):
    country_code: Annotated[str, Meta(min_length=2, max_length=2)]
    party_id: Annotated[str, Meta(min_length=3, max_length=3)]
    id: Annotated[str, Meta(min_length=1, max_length=36)]
    currency: Currency
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    min_price: Price22 | None = None
    max_price: Price22 | None = None
    elements: Annotated[list[TariffElement22], Meta(min_length=1)]
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    last_updated: datetime


class Tariff230(msgspec.Struct, kw_only=True):
    country_code: Annotated[str, Meta(min_length=2, max_length=2)]
    party_id: Annotated[str, Meta(min_length=3, max_length=3)]
    id: Annotated[str, Meta(min_length=1, max_length=36)]
    currency: Currency
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    min_price: PriceLimit230 | None = None
    max_price: PriceLimit230 | None = None
    tax_included: TaxIncluded
    elements: Annotated[list[TariffElement22], Meta(min_length=1)]
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    last_updated: datetime


WireTariff = Tariff211 | Tariff22 | Tariff230
WIRE_TARIFF_TYPES: Final[dict[OcpiVersion, type[WireTariff]]] = {
    "2.1.1": Tariff211,
    "2.2": Tariff22,
    "2.2.1": Tariff22,
    "2.3.0": Tariff230,
}
_TAX_BASIS: Final[dict[str, TaxBasis]] = {"YES": "INCL", "NO": "EXCL", "N/A": "NONE"}


def tariff_from_wire(
    wire: WireTariff, version: OcpiVersion, path: str = "", *, vat_known: bool = True
) -> Tariff:
    """The engine's Tariff for a decoded wire Tariff of ``version``; ``PriceRequestError`` with
    the field path when a value cannot be priced. ``vat_known=False`` reads an absent ``vat`` as
    unknown even in 2.2.x (tariffs written from registry free text, where nobody stated it)."""
    if isinstance(wire, Tariff230):
        basis = _TAX_BASIS[wire.tax_included]
        limits = [_limit_230(wire.min_price), _limit_230(wire.max_price)]
    elif isinstance(wire, Tariff22):
        basis = "EXCL"
        limits = [_limit_22(wire.min_price), _limit_22(wire.max_price)]
    else:
        basis = "EXCL"
        limits = [None, None]
    # An absent vat: 2.2.x "no VAT applicable" (0); 2.1.1 and 2.3.0 unknown (module docstring).
    absent_vat = Decimal(0) if version in ("2.2", "2.2.1") and vat_known else None
    if basis == "NONE":
        absent_vat = Decimal(0)
    raw_elements: Sequence[TariffElement211 | TariffElement22] = wire.elements
    elements = tuple(
        _element(element, f"{path}.elements[{index}]".lstrip("."), absent_vat, basis)
        for index, element in enumerate(raw_elements)
    )
    min_price, max_price = (
        _checked_limit(limit, f"{path}.{name}".lstrip("."))
        for limit, name in zip(limits, ("min_price", "max_price"), strict=True)
    )
    if min_price and max_price and min_price.excl_vat > max_price.excl_vat:
        raise PriceRequestError(f"{path}.max_price".lstrip("."), "must not be below min_price")
    start = end = None
    country_code = party_id = None
    tariff_type: TariffType | None = None
    if isinstance(wire, Tariff22 | Tariff230):
        start, end = _utc(wire.start_date_time), _utc(wire.end_date_time)
        if start and end and end <= start:
            raise PriceRequestError(
                f"{path}.end_date_time".lstrip("."), "must be after start_date_time"
            )
        country_code, party_id, tariff_type = wire.country_code, wire.party_id, wire.type
    return Tariff(
        id=wire.id,
        currency=wire.currency,
        ocpi_version=version,
        tax_basis=basis,
        elements=elements,
        type=tariff_type,
        min_price=min_price,
        max_price=max_price,
        start_date_time=start,
        end_date_time=end,
        country_code=country_code,
        party_id=party_id,
    )


def _element(
    wire: TariffElement211 | TariffElement22,
    path: str,
    absent_vat: Decimal | None,
    basis: TaxBasis,
) -> TariffElement:
    restrictions = (
        restrictions_from_wire(wire.restrictions, f"{path}.restrictions")
        if wire.restrictions is not None
        else Restrictions()
    )
    components: list[PriceComponent] = []
    seen: set[str] = set()
    for index, raw in enumerate(wire.price_components):
        where = f"{path}.price_components[{index}]"
        if restrictions.reservation and raw.type not in RESERVATION_DIMENSIONS:
            raise PriceRequestError(
                f"{where}.type", "a reservation element may only price FLAT and TIME"
            )
        if raw.type in seen:
            # Only one component per dimension can be active (mod_tariffs Tariff object).
            raise PriceRequestError(f"{where}.type", f"a second {raw.type} component")
        seen.add(raw.type)
        vat = raw.vat if isinstance(raw, PriceComponent22) else None
        vat = absent_vat if vat is None else number(vat, f"{where}.vat", upper=HUNDRED)
        components.append(
            PriceComponent(
                dimension=raw.type,
                price=number(raw.price, f"{where}.price"),
                vat_percent=Decimal(0) if basis == "NONE" else vat,
                step_size=raw.step_size,
            )
        )
    return TariffElement(tuple(components), restrictions)


def restrictions_from_wire(
    wire: TariffRestrictions211 | TariffRestrictions22, path: str
) -> Restrictions:
    min_current = max_current = None
    reservation = None
    if isinstance(wire, TariffRestrictions22):
        min_current = _optional_number(wire.min_current, f"{path}.min_current")
        max_current = _optional_number(wire.max_current, f"{path}.max_current")
        reservation = wire.reservation
    min_kwh = _optional_number(wire.min_kwh, f"{path}.min_kwh")
    max_kwh = _optional_number(wire.max_kwh, f"{path}.max_kwh")
    min_power = _optional_number(wire.min_power, f"{path}.min_power")
    max_power = _optional_number(wire.max_power, f"{path}.max_power")
    for low, high, name in (
        (min_kwh, max_kwh, "kwh"),
        (min_current, max_current, "current"),
        (min_power, max_power, "power"),
        (wire.min_duration, wire.max_duration, "duration"),
    ):
        if low is not None and high is not None and high <= low:
            # The element could never apply: a mistake the client wants to hear about.
            raise PriceRequestError(f"{path}.max_{name}", f"must be greater than min_{name}")
    start_date = _date(wire.start_date, f"{path}.start_date")
    end_date = _date(wire.end_date, f"{path}.end_date")
    if start_date and end_date and end_date <= start_date:
        raise PriceRequestError(f"{path}.end_date", "must be after start_date (it is exclusive)")
    end_time_s = _time_of_day_s(wire.end_time)
    return Restrictions(
        start_time_s=_time_of_day_s(wire.start_time),
        # "To stop at end of the day use: 00:00" (mod_tariffs end_time).
        end_time_s=DAY_S if end_time_s == 0 else end_time_s,
        start_date=start_date,
        end_date=end_date,
        min_kwh=min_kwh,
        max_kwh=max_kwh,
        min_current_a=min_current,
        max_current_a=max_current,
        min_power_kw=min_power,
        max_power_kw=max_power,
        min_duration_s=wire.min_duration,
        max_duration_s=wire.max_duration,
        days=frozenset(DAYS.index(day) for day in wire.day_of_week) if wire.day_of_week else None,
        reservation=reservation,
    )


def number(value: Decimal, path: str, *, upper: Decimal | None = None) -> Decimal:
    """A finite, non-negative number (at most ``upper``). JSON has no NaN, but "NaN" strings
    decode into Decimal, and 1e999999 would make every multiplication slow."""
    if not value.is_finite():
        raise PriceRequestError(path, "must be a finite number")
    if value < 0:
        raise PriceRequestError(path, "must be ≥ 0")
    if value >= _MAX_NUMBER:
        raise PriceRequestError(path, "is too large")
    if upper is not None and value > upper:
        raise PriceRequestError(path, f"must be ≤ {upper}")
    return value + 0  # + 0 folds -0 into 0


def _optional_number(value: Decimal | None, path: str) -> Decimal | None:
    return None if value is None else number(value, path)


def _limit_22(price: Price22 | None) -> PriceLimit | None:
    return None if price is None else PriceLimit(price.excl_vat, price.incl_vat)


def _limit_230(price: PriceLimit230 | None) -> PriceLimit | None:
    return None if price is None else PriceLimit(price.before_taxes, price.after_taxes)


def _checked_limit(limit: PriceLimit | None, path: str) -> PriceLimit | None:
    if limit is None:
        return None
    excl = number(limit.excl_vat, f"{path}.excl_vat")
    incl = None if limit.incl_vat is None else number(limit.incl_vat, f"{path}.incl_vat")
    return PriceLimit(excl, incl)


def _time_of_day_s(text: str | None) -> int | None:
    if text is None:
        return None
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _date(text: str | None, path: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PriceRequestError(path, f"{text!r} is not a calendar date") from None


def _utc(moment: datetime | None) -> datetime | None:
    """OCPI DateTimes are UTC; one without a zone designator is UTC too (types DateTime)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
