"""Read a stored Tariff (a JSON-decoded dict, as real feeds sent it) for pricing.

Real feeds are sloppy (ocpi.md §6 P13, P19): enums with odd case or spaces, numbers as strings,
missing ``step_size``, ``9:00`` for ``09:00``, one weekday as a bare string. What can be read
without guessing the price is repaired, and each repair is said; what cannot be priced is
refused with the reason, never dropped silently:

* a component of an unknown dimension, a missing or negative price, a fractional ``step_size``;
* a restriction value that cannot be read (it decides when a price applies);
* unreadable ``min_price``/``max_price``, an unknown currency code, no elements at all;
* a 2.3.0 tariff without ``tax_included`` (its prices could be incl. or excl. taxes).

Repairs: enums trimmed and upper-cased; numeric strings read as numbers; ``step_size`` missing →
1; times ``H:MM`` or ``HH:MM:SS`` → ``HH:MM``, ``24:00`` as an end → end of day; a date-time where
a date belongs → its date; an unknown tariff ``type`` or unreadable validity bound → absent.

The version decides the tax semantics (``model``); without one it is guessed: ``tax_included``
or a PriceLimit → 2.3.0; owner fields, ``type``, ``vat``, price limits or 2.2 restrictions →
2.2.1; otherwise 2.1.1. A dict with ``"basis": "registry_text"`` (``registry_text``) never had a
VAT stated, so its incl. VAT amounts are unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast, get_args

import msgspec

from app.price.errors import PriceRequestError
from app.price.model import DAYS, OcpiVersion, Tariff, TariffType
from app.price.tariff_wire import (
    Dimension,
    Price22,
    PriceComponent22,
    PriceLimit230,
    Reservation,
    Tariff22,
    Tariff211,
    Tariff230,
    TariffElement22,
    TariffElement211,
    TariffRestrictions22,
    WireTariff,
    tariff_from_wire,
)


class StoredTariff(msgspec.Struct, frozen=True):
    tariff: Tariff
    repairs: tuple[str, ...] = ()


class Unpriceable(msgspec.Struct, frozen=True):
    reason: str


_DIMENSIONS: Final = frozenset(get_args(Dimension))
_RESERVATIONS: Final = frozenset(get_args(Reservation))
_TYPES: Final = frozenset(get_args(TariffType))
_TAX_INCLUDED: Final = {"YES": "YES", "NO": "NO", "N/A": "N/A", "NA": "N/A", "NONE": "N/A"}
_TIME: Final = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$")
_DATE: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})(T.*)?$")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER_KEYS: Final = ("min_kwh", "max_kwh", "min_power", "max_power", "min_current", "max_current")


def read_stored_tariff(
    raw: Mapping[str, Any], *, version: OcpiVersion | None = None
) -> StoredTariff | Unpriceable:
    """The priceable Tariff in ``raw`` with the repairs made, or why it cannot be priced."""
    repairs: list[str] = []
    try:
        if not isinstance(raw, Mapping):
            raise PriceRequestError("", "not a JSON object")
        chosen = version or _guess_version(raw)
        wire = _wire_tariff(raw, chosen, repairs)
        registry = raw.get("basis") == "registry_text"
        return StoredTariff(tariff_from_wire(wire, chosen, vat_known=not registry), tuple(repairs))
    except PriceRequestError as error:
        return Unpriceable(str(error))


def _guess_version(raw: Mapping[str, Any]) -> OcpiVersion:
    limits = [raw.get("min_price"), raw.get("max_price")]
    if "tax_included" in raw or any(isinstance(x, Mapping) and "before_taxes" in x for x in limits):
        return "2.3.0"
    if any(
        raw.get(key) is not None
        for key in ("country_code", "party_id", "type", "min_price", "max_price")
    ):
        return "2.2.1"
    for element in _list(raw.get("elements")):
        if not isinstance(element, Mapping):
            continue
        restrictions = element.get("restrictions")
        if isinstance(restrictions, Mapping) and any(
            restrictions.get(k) is not None for k in ("reservation", "min_current", "max_current")
        ):
            return "2.2.1"
        for component in _list(element.get("price_components")):
            if isinstance(component, Mapping) and component.get("vat") is not None:
                return "2.2.1"
    return "2.1.1"


def _wire_tariff(raw: Mapping[str, Any], version: OcpiVersion, repairs: list[str]) -> WireTariff:
    currency = _enum(raw.get("currency"))
    if currency is None or not re.fullmatch(r"[A-Z]{3}", currency):
        raise PriceRequestError("currency", f"{raw.get('currency')!r} is not an ISO 4217 code")
    elements = [
        element
        for index, item in enumerate(_list(raw.get("elements")))
        if (element := _element(item, f"elements[{index}]", repairs)) is not None
    ]
    if not elements:
        raise PriceRequestError("elements", "no price components to price with")
    tariff_id = str(raw.get("id") or "").strip()
    start = _timestamp(raw.get("start_date_time"), "start_date_time", repairs)
    end = _timestamp(raw.get("end_date_time"), "end_date_time", repairs)
    tariff_type = _enum(raw.get("type"))
    if tariff_type is not None and tariff_type not in _TYPES:
        repairs.append(f"type: unknown {raw.get('type')!r}, read as absent")
        tariff_type = None
    if version == "2.1.1":
        # The 2.2 element shape is a superset the converter reads for 2.1.1 too (a feed that
        # sends a vat or a current restriction anyway has it honoured).
        elements_211 = cast(list[TariffElement211], elements)
        return Tariff211(
            id=tariff_id, currency=currency, elements=elements_211, last_updated=_EPOCH
        )
    if version == "2.3.0":
        tax_included = _TAX_INCLUDED.get(_enum(raw.get("tax_included")) or "")
        if tax_included is None:
            raise PriceRequestError(
                "tax_included", "missing or unknown: prices could be incl. or excl. taxes"
            )
        return Tariff230(
            country_code="",
            party_id="",
            id=tariff_id,
            currency=currency,
            type=tariff_type,  # type: ignore[arg-type]
            min_price=_limit_230(raw.get("min_price"), "min_price"),
            max_price=_limit_230(raw.get("max_price"), "max_price"),
            tax_included=tax_included,  # type: ignore[arg-type]
            elements=elements,
            start_date_time=start,
            end_date_time=end,
            last_updated=_EPOCH,
        )
    return Tariff22(
        country_code="",
        party_id="",
        id=tariff_id,
        currency=currency,
        type=tariff_type,  # type: ignore[arg-type]
        min_price=_limit_22(raw.get("min_price"), "min_price"),
        max_price=_limit_22(raw.get("max_price"), "max_price"),
        elements=elements,
        start_date_time=start,
        end_date_time=end,
        last_updated=_EPOCH,
    )


def _element(raw: Any, path: str, repairs: list[str]) -> TariffElement22 | None:
    if not isinstance(raw, Mapping):
        raise PriceRequestError(path, "not an object")
    components = [
        _component(item, f"{path}.price_components[{index}]", repairs)
        for index, item in enumerate(_list(raw.get("price_components")))
    ]
    if not components:
        repairs.append(f"{path}: no price components, skipped")
        return None
    restrictions = raw.get("restrictions")
    return TariffElement22(
        price_components=components,
        restrictions=None
        if restrictions is None
        else _restrictions(restrictions, f"{path}.restrictions", repairs),
    )


def _component(raw: Any, path: str, repairs: list[str]) -> PriceComponent22:
    if not isinstance(raw, Mapping):
        raise PriceRequestError(path, "not an object")
    dimension = _enum(raw.get("type"))
    if dimension not in _DIMENSIONS:
        raise PriceRequestError(f"{path}.type", f"unknown dimension type {raw.get('type')!r}")
    price = _required_number(raw.get("price"), f"{path}.price")
    vat = raw.get("vat")
    step = raw.get("step_size")
    if step is None:
        repairs.append(f"{path}.step_size: missing, read as 1")
        step_size = 1
    else:
        step_size = _integer(step, f"{path}.step_size")
    return PriceComponent22(
        type=dimension,  # type: ignore[arg-type]
        price=price,
        vat=None if vat is None else _required_number(vat, f"{path}.vat"),
        step_size=step_size,
    )


def _restrictions(raw: Any, path: str, repairs: list[str]) -> TariffRestrictions22:
    if not isinstance(raw, Mapping):
        raise PriceRequestError(path, "not an object")
    numbers = {
        key: _required_number(raw[key], f"{path}.{key}")
        for key in _NUMBER_KEYS
        if raw.get(key) is not None
    }
    days = raw.get("day_of_week")
    if isinstance(days, str):
        days = [days]
    day_names = [_enum(day) for day in _list(days)]
    for day in day_names:
        if day not in DAYS:
            raise PriceRequestError(f"{path}.day_of_week", f"unknown day {day!r}")
    reservation = _enum(raw.get("reservation"))
    if reservation is not None and reservation not in _RESERVATIONS:
        raise PriceRequestError(f"{path}.reservation", f"unknown value {raw.get('reservation')!r}")
    return TariffRestrictions22(
        start_time=_local_time(raw.get("start_time"), f"{path}.start_time", end=False),
        end_time=_local_time(raw.get("end_time"), f"{path}.end_time", end=True),
        start_date=_local_date(raw.get("start_date"), f"{path}.start_date", repairs),
        end_date=_local_date(raw.get("end_date"), f"{path}.end_date", repairs),
        min_duration=_optional_integer(raw.get("min_duration"), f"{path}.min_duration"),
        max_duration=_optional_integer(raw.get("max_duration"), f"{path}.max_duration"),
        day_of_week=day_names or None,  # type: ignore[arg-type]
        reservation=reservation,  # type: ignore[arg-type]
        **numbers,
    )


def _local_time(value: Any, path: str, *, end: bool) -> str | None:
    if value is None:
        return None
    match = _TIME.match(str(value).strip())
    if match is None:
        raise PriceRequestError(path, f"{value!r} is not a time of day")
    hours, minutes = int(match[1]), int(match[2])
    if end and (hours, minutes) == (24, 0):
        return "00:00"  # "to stop at end of the day use 00:00" (mod_tariffs end_time)
    if hours > 23 or minutes > 59:
        raise PriceRequestError(path, f"{value!r} is not a time of day")
    return f"{hours:02d}:{minutes:02d}"


def _local_date(value: Any, path: str, repairs: list[str]) -> str | None:
    if value is None:
        return None
    match = _DATE.match(str(value).strip())
    if match is None:
        raise PriceRequestError(path, f"{value!r} is not a date")
    if match[2]:
        repairs.append(f"{path}: date-time {value!r} read as its date")
    return match[1]


def _limit_22(value: Any, path: str) -> Price22 | None:
    pair = _limit(value, path)
    return None if pair is None else Price22(excl_vat=pair[0], incl_vat=pair[1])


def _limit_230(value: Any, path: str) -> PriceLimit230 | None:
    pair = _limit(value, path)
    return None if pair is None else PriceLimit230(before_taxes=pair[0], after_taxes=pair[1])


def _limit(value: Any, path: str) -> tuple[Decimal, Decimal | None] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return _required_number(value, path), None
    before = value.get("excl_vat", value.get("before_taxes"))
    after = value.get("incl_vat", value.get("after_taxes"))
    return (
        _required_number(before, f"{path}.excl_vat"),
        None if after is None else _required_number(after, f"{path}.incl_vat"),
    )


def _timestamp(value: Any, path: str, repairs: list[str]) -> datetime | None:
    """OCPI DateTime, read leniently (no zone means UTC, types DateTime); unreadable → absent."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None:
        repairs.append(f"{path}: unreadable {value!r}, read as absent")
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _required_number(value: Any, path: str) -> Decimal:
    number = _decimal(value)
    if number is None:
        raise PriceRequestError(path, f"{value!r} is not a number")
    return number


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(str(value).strip())  # str(float) is its shortest repr: 0.1 stays 0.1
    except InvalidOperation:
        return None


def _integer(value: Any, path: str) -> int:
    number = _decimal(value)
    if number is None or not number.is_finite() or number != number.to_integral_value():
        raise PriceRequestError(path, f"{value!r} is not a whole number")
    if number < 0:
        raise PriceRequestError(path, "must be ≥ 0")
    return int(number)


def _optional_integer(value: Any, path: str) -> int | None:
    return None if value is None else _integer(value, path)


def _enum(value: Any) -> str | None:
    return value.strip().upper() or None if isinstance(value, str) else None


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else []
