"""Price a charging session against OCPI Tariffs (2.1.1, 2.2, 2.2.1, 2.3.0), and explain it.

Pure: no I/O, no database, no HTTP. Money is ``decimal.Decimal`` throughout, rounded once.

A pricing request (``wire`` docstring has the JSON shape)::

    from app.price import decode_price_request, price

    request = decode_price_request(body)          # PriceRequestError names the bad field
    result = price(request)                        # PriceResult: CDR totals + breakdown
    msgspec.json.encode(result, decimal_format="number")

Pieces, for callers that hold stored tariffs or build sessions themselves::

    stored = read_stored_tariff(jsonb_dict)        # StoredTariff | Unpriceable (lenient)
    session = plan_session(ChargingPlan(...), [stored.tariff], time_zone="Europe/Berlin")
    result = price_session([stored.tariff], session)

Modules: ``model`` (the engine's Tariff), ``tariff_wire`` and ``wire`` (strict decoding),
``lenient`` (stored feed tariffs), ``session`` (charging periods, plans), ``restrictions``,
``choice`` (which tariff applies), ``engine``, ``money``, ``result``, ``registry_text``.
"""

from __future__ import annotations

from app.price.choice import select_tariff
from app.price.engine import price_session
from app.price.errors import PriceRequestError
from app.price.lenient import StoredTariff, Unpriceable, read_stored_tariff
from app.price.model import (
    OcpiVersion,
    PriceComponent,
    PriceLimit,
    Restrictions,
    Tariff,
    TariffElement,
    TariffType,
)
from app.price.registry_text import (
    RegistryPricing,
    RegistryTariff,
    RegistryUnparsed,
    parse_afdc_ev_pricing,
    parse_ocm_usage_cost,
    parse_pricing_text,
    parse_uk_ncr_payment,
)
from app.price.result import BreakdownLine, Price, PriceLimitApplied, PriceResult
from app.price.session import ChargingPlan, ChargingSessionIn, Period, Session, plan_session
from app.price.wire import (
    PricingRequest,
    decode_charging_session,
    decode_plan,
    decode_price_request,
    decode_tariff,
)


def price(request: PricingRequest) -> PriceResult:
    """Price a decoded request."""
    return price_session(request.tariffs, request.session, tariff_type=request.tariff_type)


__all__ = [
    "BreakdownLine",
    "ChargingPlan",
    "ChargingSessionIn",
    "OcpiVersion",
    "Period",
    "Price",
    "PriceComponent",
    "PriceLimit",
    "PriceLimitApplied",
    "PriceRequestError",
    "PriceResult",
    "PricingRequest",
    "RegistryPricing",
    "RegistryTariff",
    "RegistryUnparsed",
    "Restrictions",
    "Session",
    "StoredTariff",
    "Tariff",
    "TariffElement",
    "TariffType",
    "Unpriceable",
    "decode_charging_session",
    "decode_plan",
    "decode_price_request",
    "decode_tariff",
    "parse_afdc_ev_pricing",
    "parse_ocm_usage_cost",
    "parse_pricing_text",
    "parse_uk_ncr_payment",
    "plan_session",
    "price",
    "price_session",
    "read_stored_tariff",
    "select_tariff",
]
