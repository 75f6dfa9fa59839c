"""The public wire types of the discovery API (msgspec Structs, kept apart from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from app.domain.status import BucketCounts


class Coordinates(msgspec.Struct):
    lat: float
    lon: float


class NetworkRef(msgspec.Struct):
    country_code: str
    party_id: str
    name: str | None


class Counts(BucketCounts):
    """EVSEs by availability. The buckets partition ``total``: an EVSE whose status is stale
    is counted as ``stale``, never as available or occupied."""

    stale: int


class Availability(Counts, kw_only=True):
    updated_at: datetime | None
    stale_reason: str | None = None


class ConnectorGroup(msgspec.Struct):
    standard: str
    power_type: str
    max_power_kw: float | None
    evses: int
    available: int
    occupied: int
    out_of_service: int
    unknown: int
    planned: int
    stale: int = 0


class LocationSummary(msgspec.Struct, omit_defaults=True):
    id: str
    name: str | None
    address: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    coordinates: Coordinates
    network: NetworkRef
    ocpi_id: str
    operator: str | None
    max_power_kw: float | None
    open_now: bool | None
    connector_groups: list[ConnectorGroup]
    availability: Availability
    matching: Counts | None = None
    distance_m: float | None = None
    route_offset_m: float | None = None
    distance_from_route_m: float | None = None
    score: float | None = None


class Results(msgspec.Struct, omit_defaults=True):
    results: list[LocationSummary]
    count: int
    generated_at: datetime
    next_cursor: str | None = None


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    """What went wrong. ``parameter`` names the query parameter, body field or path segment at
    fault (400, 404); ``code`` says what kind of failure it is; 5xx answers carry the
    ``request_id`` that the service's log line of the failure carries too."""

    message: str
    code: str
    parameter: str | None = None
    request_id: str | None = None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


# ---- detail ------------------------------------------------------------------------------------
class Connector(msgspec.Struct):
    id: str
    standard: str
    standard_raw: str | None
    format: str
    power_type: str
    max_power_kw: float | None
    max_voltage: int | None
    max_amperage: int | None
    tariff_ids: list[str]


class Evse(msgspec.Struct):
    uid: str
    evse_id: str | None
    status: str
    status_bucket: str
    status_updated_at: datetime
    status_age_s: int
    stale: bool
    capabilities: list[str]
    floor_level: str | None
    physical_reference: str | None
    parking_restrictions: list[str]
    coordinates: Coordinates | None
    connectors: list[Connector]


class TariffInfo(msgspec.Struct):
    id: str
    currency: str
    type: str | None
    summary: str | None
    elements: Any
    min_price: Any
    max_price: Any
    alt_text: Any
    alt_url: str | None
    start_date_time: datetime | None
    end_date_time: datetime | None
    active: bool
    last_updated: datetime


class SourceInfo(msgspec.Struct):
    network: str
    ocpi_version: str | None
    last_contact_at: datetime | None
    silent_s: int | None
    live: bool
    last_updated: datetime
    received_at: datetime


class LocationDetail(LocationSummary, kw_only=True, omit_defaults=False):
    state: str | None = None
    time_zone: str | None = None
    parking_type: str | None = None
    facilities: list[str] = msgspec.field(default_factory=list)
    opening_times: Any = None
    charging_when_closed: bool | None = None
    directions: Any = None
    images: Any = None
    operator_details: Any = None
    suboperator: Any = None
    owner: Any = None
    energy_mix: Any = None
    evses: list[Evse] = msgspec.field(default_factory=list)
    tariffs: list[TariffInfo] = msgspec.field(default_factory=list)
    unknown_tariff_ids: list[str] = msgspec.field(default_factory=list)
    price_summary: str | None = None
    last_updated: datetime | None = None
    source: SourceInfo | None = None
