"""Strict decoding of pricing requests (a client asking us, so bad values are refused).

The request, one JSON object::

    {"ocpi_version": "2.2.1",            # "2.1.1" | "2.2" | "2.2.1" | "2.3.0": the tariffs' shape
     "tariffs": [{...OCPI Tariff...}],
     "time_zone": "Europe/Berlin",       # the Location's zone; restrictions are local (optional)
     "tariff_type": "REGULAR",           # which tariff applies when several are valid (optional)
     "session": {"start_date_time": ..., "end_date_time": ..., "charging_periods": [...]}
     # or, instead of "session":
     "plan": {"start_date_time": ..., "energy_kwh": 30, "car_max_power_kw": 11,
              "charger_max_power_kw": 22, "parked_after_charging_min": 15}}

Decoders are built once (msgspec, per style.md). Every refusal is a ``PriceRequestError`` whose
path names the field, e.g. ``tariffs[0].elements[1].price_components[0].step_size: must be ≥ 0``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Final, TypeVar

import msgspec
from msgspec import Meta

from app.price.errors import PriceRequestError
from app.price.model import OcpiVersion, Tariff, TariffType
from app.price.session import (
    ChargingPlan,
    ChargingSessionIn,
    Session,
    check_time_zone,
    plan_session,
    session_from_wire,
)
from app.price.tariff_wire import (
    WIRE_TARIFF_TYPES,
    Tariff22,
    Tariff211,
    Tariff230,
    WireTariff,
    tariff_from_wire,
)


class _Request(msgspec.Struct, kw_only=True, tag_field="ocpi_version"):
    time_zone: str | None = None
    tariff_type: TariffType | None = None
    session: ChargingSessionIn | None = None
    plan: ChargingPlan | None = None


class _Request211(_Request, kw_only=True, tag="2.1.1"):
    tariffs: Annotated[list[Tariff211], Meta(min_length=1)]


class _Request22(_Request, kw_only=True, tag="2.2"):
    tariffs: Annotated[list[Tariff22], Meta(min_length=1)]


class _Request221(_Request, kw_only=True, tag="2.2.1"):
    tariffs: Annotated[list[Tariff22], Meta(min_length=1)]


class _Request230(_Request, kw_only=True, tag="2.3.0"):
    tariffs: Annotated[list[Tariff230], Meta(min_length=1)]


_T = TypeVar("_T")

_AnyRequest = _Request211 | _Request22 | _Request221 | _Request230


class PricingRequest(msgspec.Struct, frozen=True):
    """A decoded, checked request: ready for ``engine.price_session``."""

    tariffs: tuple[Tariff, ...]
    session: Session
    tariff_type: TariffType | None = None


_REQUEST_DECODER: Final = msgspec.json.Decoder(_AnyRequest)
_SESSION_DECODER: Final = msgspec.json.Decoder(ChargingSessionIn)
_PLAN_DECODER: Final = msgspec.json.Decoder(ChargingPlan)
_TARIFF_DECODERS: Final[dict[OcpiVersion, msgspec.json.Decoder[WireTariff]]] = {
    version: msgspec.json.Decoder(wire_type) for version, wire_type in WIRE_TARIFF_TYPES.items()
}


def decode_price_request(data: bytes | str) -> PricingRequest:
    """Decode and check a pricing request; a plan is turned into charging periods here."""
    request = _decode(_REQUEST_DECODER, data)
    version: OcpiVersion = request.__struct_config__.tag
    tariffs = _tariffs(request.tariffs, version)
    time_zone = check_time_zone(request.time_zone, "time_zone")
    if (request.session is None) == (request.plan is None):
        raise PriceRequestError("", "give exactly one of session and plan")
    if request.session is not None:
        session = session_from_wire(request.session, time_zone=time_zone)
        _check_tariff_ids(session, tariffs)
    else:
        assert request.plan is not None
        session = plan_session(request.plan, tariffs, time_zone=time_zone)
    return PricingRequest(tariffs, session, request.tariff_type)


def decode_tariff(data: bytes | str, version: OcpiVersion) -> Tariff:
    """One OCPI Tariff object of ``version``, strictly."""
    return tariff_from_wire(_decode(_TARIFF_DECODERS[version], data), version)


def decode_tariffs(raws: Sequence[bytes], version: OcpiVersion) -> tuple[Tariff, ...]:
    """OCPI Tariff objects of ``version`` given as JSON each, strictly; paths are under
    ``tariffs[i]``, and two tariffs may not share an id."""
    wires = [
        _decode(_TARIFF_DECODERS[version], raw, f"tariffs[{index}]")
        for index, raw in enumerate(raws)
    ]
    return _tariffs(wires, version)


def check_period_tariffs(session: Session, tariffs: tuple[Tariff, ...]) -> None:
    """Every ``tariff_id`` a charging period names is one of ``tariffs``."""
    _check_tariff_ids(session, tariffs)


def decode_charging_session(data: bytes | str, *, time_zone: str | None = None) -> Session:
    """A session given as CDR charging periods (``ChargingSessionIn``), strictly; paths are
    under ``session``."""
    checked_zone = check_time_zone(time_zone, "time_zone")
    return session_from_wire(_decode(_SESSION_DECODER, data, "session"), time_zone=checked_zone)


def decode_plan(data: bytes | str) -> ChargingPlan:
    return _decode(_PLAN_DECODER, data, "plan")


def _tariffs(wires: Sequence[WireTariff], version: OcpiVersion) -> tuple[Tariff, ...]:
    tariffs = []
    seen: dict[str, int] = {}
    for index, wire in enumerate(wires):
        tariff = tariff_from_wire(wire, version, f"tariffs[{index}]")
        key = tariff.id.upper()
        if key in seen:
            raise PriceRequestError(f"tariffs[{index}].id", f"same id as tariffs[{seen[key]}]")
        seen[key] = index
        tariffs.append(tariff)
    return tuple(tariffs)


def _check_tariff_ids(session: Session, tariffs: tuple[Tariff, ...]) -> None:
    known = {t.id.upper() for t in tariffs}
    for index, period in enumerate(session.periods):
        if period.tariff_id is not None and period.tariff_id.upper() not in known:
            raise PriceRequestError(
                f"session.charging_periods[{index}].tariff_id",
                f"no tariff with id {period.tariff_id!r} in tariffs",
            )


# ---- msgspec errors in our words --------------------------------------------------------------

_AT: Final = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_REWRITES: Final = (
    (re.compile(r"Object missing required field `(?P<field>[^`]+)`"), "required"),
    (re.compile(r"Expected `\w+` >= (?P<n>\S+)"), "must be ≥ {n}"),
    (re.compile(r"Expected `\w+` > (?P<n>\S+)"), "must be > {n}"),
    (re.compile(r"Expected `\w+` <= (?P<n>\S+)"), "must be ≤ {n}"),
    (re.compile(r"Expected `array` of length >= 1"), "must not be empty"),
    (re.compile(r"Expected `str` of length >= (?P<n>\d+)"), "must have at least {n} characters"),
    (re.compile(r"Expected `str` of length <= (?P<n>\d+)"), "must have at most {n} characters"),
    (re.compile(r"Invalid decimal string"), "must be a number"),
    (re.compile(r"Invalid RFC3339 encoded datetime"), "must be an RFC 3339 date-time"),
)
_PATTERN_REASONS: Final = {
    "start_time": "must be HH:MM, 00:00–23:59",
    "end_time": "must be HH:MM, 00:00–23:59",
    "start_date": "must be YYYY-MM-DD",
    "end_date": "must be YYYY-MM-DD",
    "currency": "must be an ISO 4217 code (3 capital letters)",
}
_TYPE_NAMES: Final = {
    "decimal": "a number",
    "int": "an integer",
    "str": "a string",
    "object": "an object",
    "array": "a list",
    "datetime": "a date-time",
    "bool": "true or false",
    "null": "null",
    "float": "a number",
}


def _decode(decoder: msgspec.json.Decoder[_T], data: bytes | str, prefix: str = "") -> _T:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as error:
        raise translate(error).under(prefix) from None
    except msgspec.DecodeError as error:
        raise PriceRequestError(prefix, f"malformed JSON: {error}") from None


def translate(error: msgspec.ValidationError) -> PriceRequestError:
    """A msgspec validation error as a ``PriceRequestError`` with a plain path and reason."""
    match = _AT.match(str(error))
    assert match is not None
    message, path = match["message"], (match["path"] or "").lstrip(".")
    field = path.rsplit(".", 1)[-1]
    for pattern, reason in _REWRITES:
        found = pattern.fullmatch(message)
        if found:
            if "field" in found.groupdict():
                return PriceRequestError(f"{path}.{found['field']}".lstrip("."), reason)
            return PriceRequestError(path, reason.format(**found.groupdict()))
    if message.startswith("Expected `str` matching regex"):
        return PriceRequestError(path, _PATTERN_REASONS.get(field, message))
    enum = re.fullmatch(r"Invalid enum value (?P<value>.+)", message)
    if enum:
        dimension = field == "type" and ("dimensions[" in path or "price_components[" in path)
        what = "dimension type" if dimension else "value"
        if path == "ocpi_version" or not path:
            what = "OCPI version"
        return PriceRequestError(path, f"unknown {what} {enum['value']}")
    tag = re.fullmatch(r"Invalid value (?P<value>.+)", message)
    if tag:
        return PriceRequestError(path, f"unknown value {tag['value']}")
    types = re.fullmatch(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`", message)
    if types:
        want = " or ".join(_TYPE_NAMES.get(t, t) for t in types["want"].split(" | "))
        return PriceRequestError(
            path, f"must be {want}, not {_TYPE_NAMES.get(types['got'], types['got'])}"
        )
    return PriceRequestError(path, message[:1].lower() + message[1:])
