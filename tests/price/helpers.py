"""Builders for pricing tests: spec example files, requests, CDR-style sessions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from app.price import (
    PriceResult,
    Tariff,
    decode_charging_session,
    decode_price_request,
    decode_tariff,
    price,
    price_session,
    read_stored_tariff,
)
from app.price.lenient import StoredTariff

SPEC = Path(__file__).resolve().parents[2] / "fixtures" / "spec-examples"
FOLDERS = {"2.2.1": SPEC, "2.3.0": SPEC / "2.3.0", "2.1.1": SPEC / "2.1.1"}


def spec_text(name: str, version: str = "2.2.1") -> str:
    return (FOLDERS[version] / name).read_text(encoding="utf-8")


def spec(name: str, version: str = "2.2.1") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(spec_text(name, version))
    return loaded


def spec_tariff(name: str, version: str = "2.2.1") -> Tariff:
    """A spec example decoded strictly, as a client would send it."""
    return decode_tariff(spec_text(name, version), version)  # type: ignore[arg-type]


def stored(raw: dict[str, Any], version: str | None = None) -> Tariff:
    read = read_stored_tariff(raw, version=version)  # type: ignore[arg-type]
    assert isinstance(read, StoredTariff), read
    return read.tariff


def period(start: str, **volumes: str | int) -> dict[str, Any]:
    """A CDR charging period: ``period("…Z", ENERGY="20", TIME="0.5")``."""
    return {
        "start_date_time": start,
        "dimensions": [{"type": kind, "volume": str(value)} for kind, value in volumes.items()],
    }


def session_json(start: str, end: str, *periods: dict[str, Any]) -> dict[str, Any]:
    return {"start_date_time": start, "end_date_time": end, "charging_periods": list(periods)}


def price_cdr(
    tariffs: list[Tariff],
    start: str,
    end: str,
    *periods: dict[str, Any],
    time_zone: str | None = "Europe/Berlin",
) -> PriceResult:
    body = msgspec.json.encode(session_json(start, end, *periods))
    return price_session(tariffs, decode_charging_session(body, time_zone=time_zone))


def price_request(body: dict[str, Any]) -> PriceResult:
    return price(decode_price_request(json.dumps(body)))


def plan_request(
    tariff: dict[str, Any],
    *,
    version: str = "2.2.1",
    time_zone: str | None = "Europe/Berlin",
    **plan: Any,
) -> PriceResult:
    body: dict[str, Any] = {"ocpi_version": version, "tariffs": [tariff], "plan": plan}
    if time_zone:
        body["time_zone"] = time_zone
    return price_request(body)


def totals(result: PriceResult) -> tuple[Decimal | None, Decimal | None]:
    return result.total_cost.excl_vat, result.total_cost.incl_vat


def d(value: str) -> Decimal:
    return Decimal(value)


def component(kind: str, price: str, step: int = 1, vat: str | None = None) -> dict[str, Any]:
    built: dict[str, Any] = {"type": kind, "price": price, "step_size": step}
    if vat is not None:
        built["vat"] = vat
    return built


def element(*components: dict[str, Any], **restrictions: Any) -> dict[str, Any]:
    built: dict[str, Any] = {"price_components": list(components)}
    if restrictions:
        built["restrictions"] = restrictions
    return built


def tariff(*elements: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A valid 2.2.1 Tariff dict (add ``tax_included`` for 2.3.0)."""
    return {
        "country_code": "DE",
        "party_id": "WAT",
        "id": fields.pop("id", "T1"),
        "currency": fields.pop("currency", "EUR"),
        "elements": list(elements),
        "last_updated": "2024-01-01T00:00:00Z",
        **fields,
    }
