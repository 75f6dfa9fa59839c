"""``POST /v1/price`` (issue 13): price a session against OCPI tariffs, answered with the CDR's
own totals and a breakdown of which tariff element priced which period.

The body (``PriceRequest``) gives the tariffs inline (``tariffs``, OCPI Tariff objects, checked
strictly: a client asking us, not a feed we tolerate) or by reference to stored ones
(``tariff_ids``: ``{country_code, party_id, id}``, as the networks published them), and the
session either as CDR charging periods (``start_date_time``, ``end_date_time``,
``charging_periods``) or as a driver's plan (``energy_kwh``, ``max_power_kw``, ``start_at``,
``parking_min``, ``power_type``; power model in ``app.price.session``, current in
``app.price.quote``). Every refusal is a 400 naming the
field (``tariffs[0].elements[1].price_components[0].step_size``).

The handler reads the body itself and decodes it once (``_RawRequest``: the tariffs and the
session stay JSON until the version's strict decoder reads them). Litestar's own body parsing
decoded it to Python objects first, then its signature model converted them, and the engine's
decoder had to have JSON again: ~0.2 ms of a ~0.5 ms request, measured in-process. The document
shows the body as ``PriceRequest`` (app.api.openapi).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.response import Response
from msgspec import Meta

from app.api.errors import InvalidParameter
from app.api.pricer import Lru, trusted_object
from app.api.pricing import EARLIEST, LATEST
from app.price import (
    PriceRequestError,
    PriceResult,
    Tariff,
    TariffType,
    Unpriceable,
    decode_charging_session,
    plan_session,
    price_session,
    read_stored_tariff,
)
from app.price.model import OcpiVersion
from app.price.quote import DEFAULT_AC_KW, SessionAsk, driver_plan
from app.price.session import Session, check_time_zone
from app.price.wire import check_period_tariffs, decode_tariffs, translate
from app.services import Services
from app.store import prices

MAX_PRICE_BODY_BYTES: Final = 1024 * 1024
MAX_TARIFFS: Final = 50
_encoder: Final = msgspec.json.Encoder(decimal_format="number")


class TariffKey(msgspec.Struct, forbid_unknown_fields=True):
    """A stored tariff's OCPI identity (CiString: printable ASCII), checked before it is sent
    to the database (schemathesis sent lone surrogates, which no database text can hold)."""

    country_code: Annotated[str, Meta(pattern="^[A-Za-z]{2}$")]
    party_id: Annotated[str, Meta(pattern="^[A-Za-z0-9]{3}$")]
    id: Annotated[str, Meta(pattern="^[\\x20-\\x7e]{1,36}$")]


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    """A driver's plan: ``energy_kwh`` at up to ``max_power_kw`` (the lower of the car's and the
    charger's; default 11 kW) from ``start_at`` (default now), then ``parking_min`` plugged in."""

    # Numbers as JSON floats (msgspec bounds only those); each becomes the Decimal of its
    # shortest repr, i.e. of the digits the client wrote.
    energy_kwh: Annotated[float, Meta(gt=0, le=1000)]
    max_power_kw: Annotated[float, Meta(gt=0, le=2000)] | None = None
    start_at: Annotated[datetime, Meta(tz=True)] | None = None
    parking_min: Annotated[float, Meta(ge=0, le=10080)] = 0
    # The current restrictions are read against: the power over 230 V a phase (AC) or 400 V.
    power_type: Literal["AC", "DC"] = "AC"


class PriceRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /v1/price``: exactly one of ``tariffs`` and ``tariff_ids``."""

    session: Annotated[
        dict[str, Any],
        Meta(
            description="CDR-shaped {start_date_time, end_date_time, charging_periods: "
            "[{start_date_time, dimensions: [{type, volume}], tariff_id?}]} (volumes as in a "
            "CDR: kWh, hours, A, kW), or a plan {energy_kwh, max_power_kw?, start_at?, "
            "parking_min?} (kWh, kW, RFC 3339, minutes; default 11 kW, now, 0)."
        ),
    ]
    tariffs: (
        Annotated[
            list[dict[str, Any]],
            Meta(max_length=MAX_TARIFFS, description="OCPI Tariff objects of ocpi_version."),
        ]
        | None
    ) = None
    tariff_ids: (
        Annotated[
            list[TariffKey],
            Meta(max_length=MAX_TARIFFS, description="Stored tariffs, as networks publish them."),
        ]
        | None
    ) = None
    time_zone: Annotated[
        str | None,
        Meta(description="The location's IANA zone; time restrictions are local. Default UTC."),
    ] = None
    ocpi_version: Annotated[
        OcpiVersion | None,
        Meta(
            description="The shape of `tariffs`. Default: 2.3.0 when a tariff has "
            "tax_included, else 2.2.1."
        ),
    ] = None
    tariff_type: Annotated[
        TariffType | None,
        Meta(description="Which tariff applies when several are valid (OCPI TariffType)."),
    ] = None


class _RawRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``PriceRequest`` as decoded: the tariffs and the session still JSON."""

    session: msgspec.Raw
    tariffs: Annotated[list[msgspec.Raw], Meta(max_length=MAX_TARIFFS)] | None = None
    tariff_ids: Annotated[list[TariffKey], Meta(max_length=MAX_TARIFFS)] | None = None
    time_zone: str | None = None
    ocpi_version: OcpiVersion | None = None
    tariff_type: TariffType | None = None


_request_decoder: Final = msgspec.json.Decoder(_RawRequest)
DECODED_TARIFF_SETS: Final = 256
DECODED_TARIFFS_MAX_BYTES: Final = 64 * 1024
_decoded: Lru[bytes, tuple[Tariff, ...]] = Lru(DECODED_TARIFF_SETS)
_plan_decoder: Final = msgspec.json.Decoder(PlanIn)


@post(
    "/v1/price",
    summary="Price a charging session against OCPI tariffs",
    operation_id="priceSession",
    status_code=200,
    request_max_body_size=MAX_PRICE_BODY_BYTES,
    tags=["price"],
)
async def price_a_session(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[PriceResult]:
    """The CDR's totals (``total_cost``, ``total_energy_cost``, ``total_time_cost``,
    ``total_parking_cost``, ``total_fixed_cost``, ``total_reservation_cost``, each
    ``{excl_vat, incl_vat}``; ``total_energy`` kWh, ``total_time`` and ``total_parking_time``
    hours), the ``currency``, and a ``breakdown`` line per period and dimension naming the
    tariff element that priced it."""
    try:
        data = _decode(await request.body())
        if (data.tariffs is None) == (data.tariff_ids is None):
            raise PriceRequestError("tariffs", "give exactly one of tariffs and tariff_ids")
        zone = check_time_zone(data.time_zone, "time_zone")
        if data.tariffs is not None:
            tariffs = _inline_tariffs(data.tariffs, _version(data))
        else:
            assert data.tariff_ids is not None
            tariffs = await _stored(services, data.tariff_ids)
        session = _session(data.session, tariffs, zone)
        result = price_session(tariffs, session, tariff_type=data.tariff_type)
    except PriceRequestError as error:
        raise InvalidParameter(error.path or "body", error.reason) from None
    body: Any = _encoder.encode(result)  # decimals as JSON numbers, exactly
    return Response(body, media_type="application/json")


def _decode(body: bytes) -> _RawRequest:
    try:
        return _request_decoder.decode(body)
    except msgspec.ValidationError as error:
        raise translate(error) from None
    except msgspec.DecodeError as error:
        raise PriceRequestError("", f"malformed JSON: {error}") from None


def _inline_tariffs(raws: list[msgspec.Raw], version: OcpiVersion) -> tuple[Tariff, ...]:
    """Decoded once per process for the same JSON (by its SHA-256; up to 64 KiB of tariffs):
    a client asks about the same few tariffs again and again, and decoding a 4-element tariff
    is ~15 % of pricing a session with it."""
    size = sum(len(raw) for raw in raws)
    if size > DECODED_TARIFFS_MAX_BYTES:
        return decode_tariffs(raws, version)
    digest = hashlib.sha256(version.encode())
    for raw in raws:
        digest.update(b"\0" + bytes(raw))
    key = digest.digest()
    found = _decoded.get(key)
    if found is None:
        found = _decoded.put(key, decode_tariffs(raws, version))
    return found


def _version(data: _RawRequest) -> OcpiVersion:
    if data.ocpi_version is not None:
        return data.ocpi_version
    assert data.tariffs is not None
    return "2.3.0" if any(b'"tax_included"' in bytes(t) for t in data.tariffs) else "2.2.1"


def _session(raw: msgspec.Raw, tariffs: tuple[Tariff, ...], zone: str | None) -> Session:
    if b'"charging_periods"' in bytes(raw):
        session = decode_charging_session(bytes(raw), time_zone=zone)
        check_period_tariffs(session, tariffs)
        return session
    try:
        given = _plan_decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise translate(error).under("session") from None
    start = given.start_at or datetime.now(UTC)
    if not EARLIEST <= start <= LATEST:
        raise PriceRequestError(
            "session.start_at", f"must be between {EARLIEST:%Y} and {LATEST:%Y}"
        )
    power = Decimal(repr(given.max_power_kw)) if given.max_power_kw else DEFAULT_AC_KW
    ask = SessionAsk(Decimal(repr(given.energy_kwh)), power, Decimal(repr(given.parking_min)))
    plan = driver_plan(ask, start=start, charger_kw=power, power_type=given.power_type)
    return plan_session(plan, tariffs, time_zone=zone, path="session")


async def _stored(services: Services, keys: list[TariffKey]) -> tuple[Tariff, ...]:
    found = await prices.tariffs_by_key(
        services.store, [(k.country_code, k.party_id, k.id) for k in keys]
    )
    tariffs: list[Tariff] = []
    for index, key in enumerate(keys):
        row = found.get(index)
        if row is None:
            raise PriceRequestError(
                f"tariff_ids[{index}]",
                f"no tariff {key.country_code}*{key.party_id} {key.id!r} is known",
            )
        read = read_stored_tariff(trusted_object(row))
        if isinstance(read, Unpriceable):
            raise PriceRequestError(f"tariff_ids[{index}]", f"cannot be priced: {read.reason}")
        tariffs.append(read.tariff)
    return tuple(tariffs)
