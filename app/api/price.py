"""``POST /v1/price`` (issue 13): price a session against OCPI tariffs, answered with the CDR's
own totals and a breakdown of which tariff element priced which period.

The body (``PriceRequest``) gives the tariffs inline (``tariffs``, OCPI Tariff objects, checked
strictly: a client asking us, not a feed we tolerate) or by reference to stored ones
(``tariff_ids``: ``{country_code, party_id, id}``, as the networks published them), and the
session either as CDR charging periods (``start_date_time``, ``end_date_time``,
``charging_periods``) or as a driver's plan (``energy_kwh``, ``max_power_kw``, ``start_at``,
``parking_min``; power model in ``app.price.session``). Every refusal is a 400 naming the
field (``tariffs[0].elements[1].price_components[0].step_size``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import post
from litestar.di import NamedDependency
from litestar.params import RequestBody
from litestar.response import Response
from msgspec import Meta

from app.api.errors import InvalidParameter
from app.price import (
    PriceRequestError,
    PriceResult,
    Tariff,
    Unpriceable,
    decode_charging_session,
    decode_price_request,
    plan_session,
    price,
    price_session,
    read_stored_tariff,
)
from app.price.session import ChargingPlan, Session, check_time_zone
from app.price.wire import translate
from app.services import Services
from app.store import prices

MAX_PRICE_BODY_BYTES: Final = 1024 * 1024
MAX_TARIFFS: Final = 50
DEFAULT_PLAN_POWER_KW: Final = Decimal(11)
_encoder: Final = msgspec.json.Encoder(decimal_format="number")


class TariffKey(msgspec.Struct, forbid_unknown_fields=True):
    country_code: Annotated[str, Meta(min_length=2, max_length=2)]
    party_id: Annotated[str, Meta(min_length=3, max_length=3)]
    id: Annotated[str, Meta(min_length=1, max_length=36)]


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    """A driver's plan: ``energy_kwh`` at up to ``max_power_kw`` (the lower of the car's and the
    charger's; default 11 kW) from ``start_at`` (default now), then ``parking_min`` plugged in."""

    # Numbers as JSON floats (msgspec bounds only those); each becomes the Decimal of its
    # shortest repr, i.e. of the digits the client wrote.
    energy_kwh: Annotated[float, Meta(gt=0, le=1000)]
    max_power_kw: Annotated[float, Meta(gt=0, le=2000)] | None = None
    start_at: Annotated[datetime, Meta(tz=True)] | None = None
    parking_min: Annotated[float, Meta(ge=0, le=10080)] = 0


class PriceRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /v1/price``: exactly one of ``tariffs`` and ``tariff_ids``."""

    session: Annotated[
        dict[str, Any],
        Meta(
            description="CDR-shaped {start_date_time, end_date_time, charging_periods: "
            "[{start_date_time, dimensions: [{type, volume}], tariff_id?}]} (volumes as in a "
            "CDR: kWh, hours, A, kW), or a plan {energy_kwh, max_power_kw?, start_at?, "
            "parking_min?}."
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
        Literal["2.1.1", "2.2", "2.2.1", "2.3.0"] | None,
        Meta(
            description="The shape of `tariffs`. Default: 2.3.0 when a tariff has "
            "tax_included, else 2.2.1."
        ),
    ] = None
    tariff_type: Annotated[
        Literal["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]
        | None,
        Meta(description="Which tariff applies when several are valid (OCPI TariffType)."),
    ] = None


def _refused(error: PriceRequestError) -> InvalidParameter:
    return InvalidParameter(error.path or "body", error.reason)


@post(
    "/v1/price",
    summary="Price a charging session against OCPI tariffs",
    operation_id="priceSession",
    status_code=200,
    request_max_body_size=MAX_PRICE_BODY_BYTES,
    tags=["price"],
)
async def price_a_session(
    services: NamedDependency[Services], data: RequestBody[PriceRequest]
) -> Response[PriceResult]:
    """The CDR's totals (``total_cost``, ``total_energy_cost``, ``total_time_cost``,
    ``total_parking_cost``, ``total_fixed_cost``, ``total_reservation_cost``, each
    ``{excl_vat, incl_vat}``; ``total_energy`` kWh, ``total_time`` and ``total_parking_time``
    hours), the ``currency``, and a ``breakdown`` line per period and dimension naming the
    tariff element that priced it."""
    if (data.tariffs is None) == (data.tariff_ids is None):
        raise InvalidParameter("tariffs", "give exactly one of tariffs and tariff_ids")
    try:
        if data.tariffs is not None:
            result = _price_inline(data)
        else:
            assert data.tariff_ids is not None
            tariffs = await _stored(services, data.tariff_ids)
            session = _session(data, tariffs)
            result = price_session(tariffs, session, tariff_type=data.tariff_type)
    except PriceRequestError as error:
        raise _refused(error) from None
    body: Any = _encoder.encode(result)  # decimals as JSON numbers, exactly
    return Response(body, media_type="application/json")


def _price_inline(data: PriceRequest) -> PriceResult:
    assert data.tariffs is not None
    version = data.ocpi_version or (
        "2.3.0"
        if any(isinstance(t, dict) and "tax_included" in t for t in data.tariffs)
        else "2.2.1"
    )
    request: dict[str, Any] = {
        "ocpi_version": version,
        "tariffs": data.tariffs,
        "time_zone": data.time_zone,
        "tariff_type": data.tariff_type,
    }
    if "charging_periods" in data.session:
        request["session"] = data.session
    else:
        request["plan"] = _engine_plan(_plan(data.session))
    return price(decode_price_request(msgspec.json.encode(request)))


def _plan(raw: dict[str, Any]) -> PlanIn:
    try:
        return msgspec.convert(raw, PlanIn)
    except msgspec.ValidationError as error:
        raise translate(error).under("session") from None


def _engine_plan(plan: PlanIn) -> dict[str, Any]:
    power = Decimal(repr(plan.max_power_kw)) if plan.max_power_kw else DEFAULT_PLAN_POWER_KW
    return {
        "start_date_time": (plan.start_at or datetime.now(UTC)).isoformat(),
        "energy_kwh": repr(plan.energy_kwh),
        "car_max_power_kw": str(power),
        "charger_max_power_kw": str(power),
        "parked_after_charging_min": repr(plan.parking_min),
    }


def _session(data: PriceRequest, tariffs: list[Tariff]) -> Session:
    zone = check_time_zone(data.time_zone, "time_zone")
    if "charging_periods" in data.session:
        return decode_charging_session(msgspec.json.encode(data.session), time_zone=zone)
    plan = msgspec.convert(_engine_plan(_plan(data.session)), ChargingPlan, strict=False)
    return plan_session(plan, tariffs, time_zone=zone, path="session")


async def _stored(services: Services, keys: list[TariffKey]) -> list[Tariff]:
    found = await prices.tariffs_by_key(
        services.store, [(k.country_code, k.party_id, k.id) for k in keys]
    )
    tariffs: list[Tariff] = []
    for index, key in enumerate(keys):
        row = found.get(index)
        if row is None:
            raise InvalidParameter(
                f"tariff_ids[{index}]",
                f"no tariff {key.country_code}*{key.party_id} {key.id!r} is known",
            )
        read = read_stored_tariff(row.raw)
        if isinstance(read, Unpriceable):
            raise InvalidParameter(f"tariff_ids[{index}]", f"cannot be priced: {read.reason}")
        tariffs.append(read.tariff)
    return tariffs
