"""The public wire types of the discovery API (msgspec Structs, kept apart from the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from app.domain.status import BucketCounts

# Every time the API sends is timezone-aware (UTC, RFC 3339). Saying so (tz=True) is what makes
# msgspec's schema say ``format: date-time``, from which client generators make datetimes.
Timestamp = Annotated[datetime, Meta(tz=True)]


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
    updated_at: Timestamp | None
    stale_reason: str | None = None


class PriceQuote(msgspec.Struct):
    """The price of the session asked about (``energy_kwh`` …) on one kind of connector, or the
    location's cheapest. Amounts are rounded to the currency's minor unit. ``incl_vat`` is null
    where the VAT is unknown (OCPI 2.1.1, registry text, a 2.3.0 tariff excl. taxes without a
    rate); ``excl_vat`` is null for a 2.3.0 tariff incl. taxes without a rate. ``basis``:
    ``tariff`` (the network's OCPI tariff), ``registry_text`` (read from a public register's
    pricing text) or ``demo`` (the spec's example tariffs on demo data). ``summary``: the tariff
    in words, as published."""

    currency: str
    incl_vat: float | None
    excl_vat: float | None
    tariff_id: str
    basis: Literal["tariff", "registry_text", "demo"]  # app.api.pricer.Basis
    summary: str | None


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
    # Only with energy_kwh: null when no tariff prices the session here.
    price: PriceQuote | msgspec.UnsetType | None = msgspec.UNSET


class SourceRecord(msgspec.Struct, omit_defaults=True):
    """One source's record of the location (issue 12): the location's own record first, then
    each record of another source merged into it, with what that record says."""

    source: str  # ocpi:<network> | afdc | bnetza | ukncr | ocm
    record_id: str  # the source's own id (or its documented stable key)
    name: str | None
    coordinates: Coordinates
    licence: str
    updated_at: Timestamp
    location_id: str | None = None  # a merged record's own id (it answers as this location)
    address: str | None = None
    postal_code: str | None = None
    operator: str | None = None
    evse_count: int | None = None  # None: the source lists the site, not its charge points
    max_power_kw: float | None = None
    connector_standards: list[str] = msgspec.field(default_factory=list)
    match_score: float | None = None  # how alike it is to the location's own record
    distance_m: float | None = None


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
    sources: list[SourceRecord] = msgspec.field(default_factory=list)
    # Fields the location's own record does not say, filled from a merged record: which source.
    field_sources: dict[str, str] = msgspec.field(default_factory=dict)
    # Only with energy_kwh: the cheapest of its connector groups' prices (of the kinds the
    # connector filters ask for), or null.
    price: PriceQuote | msgspec.UnsetType | None = msgspec.UNSET


class Results(msgspec.Struct, omit_defaults=True):
    results: list[LocationSummary]
    count: int
    generated_at: Timestamp
    next_cursor: str | None = None
    # Only when a read replica answered: the data is complete up to this instant (the
    # replica's measured replay lag before generated_at). Absent: read on the primary.
    data_as_of: Timestamp | None = None


# ---- along a route ------------------------------------------------------------------------------
# The shapes ``route`` takes (issue 11). The body is decoded leniently (``AlongRouteRequest``
# holds the route as raw JSON) and the route is read by app.domain.route, once, straight into an
# array, naming the fault; these types are what the OpenAPI document shows, and the README's
# examples are checked against them.
Position = Annotated[
    list[float], Meta(min_length=2, max_length=3, description="[lon, lat] (an altitude is ignored)")
]


class LineString(msgspec.Struct, tag_field="type", tag="LineString"):
    """A GeoJSON LineString (RFC 7946 §3.1.4): the route's positions in order."""

    coordinates: Annotated[list[Position], Meta(min_length=2, max_length=50_000)]


class Feature(msgspec.Struct, tag_field="type", tag="Feature"):
    """A GeoJSON Feature whose geometry is the route's LineString (properties are ignored)."""

    geometry: LineString
    properties: Annotated[Any, Meta(description="Ignored (any JSON value).")] = None


class FeatureCollection(msgspec.Struct, tag_field="type", tag="FeatureCollection"):
    """A GeoJSON FeatureCollection holding exactly one LineString Feature, as routing engines
    return them (other features, such as waypoints, are ignored)."""

    features: Annotated[list[Feature], Meta(min_length=1)]


class EncodedPolyline(msgspec.Struct):
    """Google's encoded polyline algorithm, latitude first, 5 or 6 decimals."""

    encoded_polyline: Annotated[str, Meta(min_length=1)]
    precision: Literal[5, 6] = 5


ROUTE_SHAPES = (LineString, Feature, FeatureCollection, EncodedPolyline)


class AlongRouteRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /v1/locations/along-route``."""

    route: Annotated[
        msgspec.Raw,
        Meta(
            description="A GeoJSON LineString, a Feature or FeatureCollection holding one, or "
            '{"encoded_polyline", "precision"}.'
        ),
    ]
    corridor_m: Annotated[
        float, Meta(description="Metres either side of the route (more than 0, at most 50,000).")
    ] = 2000
    start_offset_m: Annotated[
        float, Meta(description="Only locations at least this far along the route.")
    ] = 0
    limit: Annotated[int, Meta(description="Page size (1–500).")] = 100
    cursor: Annotated[
        str | None, Meta(description="next_cursor of the previous page of the same question.")
    ] = None
    filters: Annotated[
        dict[str, Any],
        Meta(description="The filters of the GET endpoints by the same names, as JSON values."),
    ] = msgspec.field(default_factory=dict)
    # The price of a session at each stop (issue 13), as the GET endpoints' parameters.
    energy_kwh: Annotated[
        float | None, Meta(description="Price a session of this many kWh at each stop.")
    ] = None
    car_max_power_kw: Annotated[
        float | None, Meta(description="The car's maximum charging power (kW).")
    ] = None
    start_at: Annotated[
        str | None,
        Meta(
            description="When the session starts (RFC 3339; default now): each stop's time "
            "restrictions are read in that stop's own time zone."
        ),
    ] = None
    parking_min: Annotated[float | None, Meta(description="Minutes plugged in after charging.")] = (
        None
    )
    sort: Annotated[
        Literal["price"] | None,
        Meta(description="price: the cheapest of the next 500 stops first."),
    ] = None
    max_price: Annotated[
        float | None, Meta(description="Only stops priced at most this (incl. VAT) in currency.")
    ] = None
    currency: Annotated[
        str | None, Meta(description="ISO 4217 code of max_price and sort=price.")
    ] = None


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
    # OCPI 2.3.0 ConnectorCapability (e.g. ISO_15118_2_PLUG_AND_CHARGE); values we do not know
    # are shown as the network sent them.
    capabilities: list[str] = msgspec.field(default_factory=list)
    # The detail's session (energy_kwh, default 30 kWh) on this connector; null: not priced.
    price: PriceQuote | msgspec.UnsetType | None = msgspec.UNSET


class ParkingPlace(msgspec.Struct):
    """A parking place an EVSE serves (OCPI 2.3.0 Parking), and where the EVSE stands beside it
    (``evse_position``: LEFT, RIGHT or CENTER). Units are in the names; None: not stated."""

    id: str
    physical_reference: str | None
    evse_position: str | None
    vehicle_types: list[str]
    max_vehicle_weight_kg: float | None
    max_vehicle_height_cm: float | None
    max_vehicle_length_cm: float | None
    max_vehicle_width_cm: float | None
    parking_space_length_cm: float | None
    parking_space_width_cm: float | None
    dangerous_goods_allowed: bool | None
    direction: str | None  # PARALLEL | PERPENDICULAR | ANGLE
    drive_through: bool | None
    restricted_to_type: bool | None  # only the vehicle_types may park here
    reservation_required: bool | None
    time_limit_min: float | None
    roofed: bool | None
    lighting: bool | None
    refrigeration_outlet: bool | None
    standards: list[str]
    apds_reference: str | None


class Evse(msgspec.Struct):
    uid: str
    evse_id: str | None
    status: str
    status_bucket: str
    status_updated_at: Timestamp
    status_age_s: int
    stale: bool
    capabilities: list[str]
    floor_level: str | None
    physical_reference: str | None
    parking_restrictions: list[str]
    coordinates: Coordinates | None
    connectors: list[Connector]
    parking: list[ParkingPlace] = msgspec.field(default_factory=list)  # OCPI 2.3.0
    accepted_service_providers: list[str] = msgspec.field(default_factory=list)  # OCPI 2.3.0


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
    start_date_time: Timestamp | None
    end_date_time: Timestamp | None
    active: bool
    last_updated: Timestamp
    # Whether the prices include taxes: YES, NO or N/A (no taxes apply), as OCPI 2.3.0 says;
    # NO for 2.1.1 and 2.2.x tariffs, whose prices are excl. VAT.
    tax_included: str | None = None
    # The summary with VAT added per component (2.2.1 ``vat``), or as published when the
    # prices include taxes or none apply; null when a rate is not known.
    summary_incl_vat: str | None = None
    basis: str = "tariff"  # tariff | registry_text | demo
    source_text: str | None = None  # registry_text: the register's own words
    unpriceable_reason: str | None = None  # why this tariff cannot price a session


class SourceInfo(msgspec.Struct):
    network: str
    ocpi_version: str | None
    last_contact_at: Timestamp | None
    silent_s: int | None
    live: bool
    last_updated: Timestamp
    received_at: Timestamp


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
    help_phone: str | None = None  # OCPI 2.3.0: the number drivers call for help
    evses: list[Evse] = msgspec.field(default_factory=list)
    tariffs: list[TariffInfo] = msgspec.field(default_factory=list)
    unknown_tariff_ids: list[str] = msgspec.field(default_factory=list)
    price_summary: str | None = None
    last_updated: Timestamp | None = None
    source: SourceInfo | None = None


# ---- The snapshot and the change feed (issue 14) -------------------------------------------
class EvseState(msgspec.Struct):
    uid: str
    status: str
    status_updated_at: Timestamp


class AvailabilityState(msgspec.Struct):
    """A location's EVSEs by availability as stored (staleness is the reader's: see
    ``source.last_contact_at`` of the location), and each visible EVSE's status."""

    counts: BucketCounts
    status_updated_at: Timestamp | None
    last_updated: Timestamp
    evses: list[EvseState]


class FeedTariff(TariffInfo, kw_only=True):
    country_code: str
    party_id: str


class Change(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One committed change. ``location``: the location as the snapshot has it (created,
    changed or shown again); ``removed``: it is gone from the public answers (hidden, merged
    into another record of its site, deleted): drop it; ``availability``: only EVSE statuses
    moved; ``tariff``: a tariff of ``tariff_key`` (``CC*PARTY*ID``) changed, or was deleted
    (``tariff`` null). What a change carries is read when the change is: a change followed by a
    removal reads as ``removed``."""

    cursor: str
    kind: Literal["location", "removed", "availability", "tariff"]
    location_id: str | None
    committed_at: Timestamp
    location: LocationDetail | None = None
    availability: AvailabilityState | None = None
    tariff_key: str | None = None
    tariff: FeedTariff | None = None


class Changes(msgspec.Struct):
    """``next_cursor``: where to ask from next (the last change's cursor, or the one given when
    there was none); ``more``: more changes are waiting (ask again at once)."""

    changes: list[Change]
    next_cursor: str
    more: bool
