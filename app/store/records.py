"""What the store writes: normalised OCPI objects (built by ``ingest``'s normaliser from any
version and dialect) and the problems found on the way (the quarantine). Plain msgspec Structs,
so a worker process can build them (ingest/sync.py sends them back as MessagePack).

They are trees that never refer back to themselves, so they are left out of Python's cycle
collector (``gc=False``): a pulled page is some 50,000 of them, and collecting passes over
them were three fifths of the time it took to decode one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


def location_key(country_code: str, party_id: str, ocpi_id: str) -> str:
    return f"{country_code}*{party_id}*{ocpi_id}"


class Problem(msgspec.Struct, frozen=True, gc=False):
    """A rejected object, or a note on an accepted one, for the quarantine table."""

    object_kind: str  # location | evse | connector | tariff | page
    object_key: str | None
    reason: str
    severity: str = "rejected"  # rejected | note
    raw: bytes | None = None
    raw_text: str | None = None


class ConnectorRecord(msgspec.Struct, kw_only=True, gc=False):
    """A normalised OCPI Connector as the store keeps it."""

    connector_id: str
    connector_id_raw: str
    standard: str
    standard_raw: str | None
    format: str
    power_type: str
    max_voltage: int | None
    max_amperage: int | None
    max_electric_power_w: int | None
    max_power_kw: float | None
    tariff_ids: list[str]
    terms_and_conditions: str | None
    last_updated: datetime
    content_hash: bytes
    raw: bytes


class EvseRecord(msgspec.Struct, kw_only=True, gc=False):
    """A normalised OCPI EVSE with its connectors."""

    uid: str
    uid_raw: str
    evse_id: str | None
    status: str
    status_raw: str | None
    status_bucket: str
    capabilities: list[str]
    parking_restrictions: list[str]
    floor_level: str | None
    physical_reference: str | None
    lat: float | None
    lon: float | None
    connectors: list[ConnectorRecord]
    max_power_kw: float | None
    connector_standards: list[str]
    power_types: list[str]
    visible: bool
    hidden_reason: str | None
    last_updated: datetime
    content_hash: bytes
    raw: bytes
    # The object as stored: without its connectors, which are stored in their own rows (None:
    # ``raw``). PostgreSQL then parses each byte of a feed once, not once per level.
    stored_raw: bytes | None = None


class LocationRecord(msgspec.Struct, kw_only=True, gc=False):
    """A normalised OCPI Location with its EVSEs and its search projection."""

    country_code: str
    party_id: str
    ocpi_id: str
    ocpi_id_raw: str
    public_id: str
    publish: bool
    name: str | None
    address: str | None
    city: str | None
    postal_code: str | None
    state: str | None
    country: str | None
    lat: float
    lon: float
    region_key: int
    h3_cells: tuple[int, ...]  # resolutions 3..9
    parking_type: str | None
    facilities: list[str]
    operator_name: str | None
    suboperator_name: str | None
    owner_name: str | None
    time_zone: str | None
    opening_times: bytes | None
    open_24_7: bool | None
    charging_when_closed: bool | None
    search_text: str
    evses: list[EvseRecord]
    # The search projection, computed from the EVSEs above (a PUT replaces them all).
    evse_count: int
    available_count: int
    occupied_count: int
    out_of_service_count: int
    unknown_count: int
    planned_count: int
    max_power_kw: float | None
    connector_standards: list[str]
    power_types: list[str]
    connector_groups: bytes  # JSON
    tariff_links: bytes  # JSON (ingest.ocpi.groups.tariff_links)
    sort_key: int
    status_updated_at: datetime | None
    last_updated: datetime
    content_hash: bytes
    raw: bytes
    stored_raw: bytes | None = None  # without its EVSEs (as EvseRecord.stored_raw)
    # The version of the location's own fields (its name, place, hours…): last_updated, except
    # for a write that changed only an EVSE or connector (which leaves them as they were).
    own_updated_at: datetime | None = None

    @property
    def key(self) -> str:
        return location_key(self.country_code, self.party_id, self.ocpi_id)


class TariffRecord(msgspec.Struct, kw_only=True):
    """A normalised OCPI Tariff (elements kept as received, for display and pricing)."""

    country_code: str
    party_id: str
    tariff_id: str
    tariff_id_raw: str
    currency: str
    type: str | None
    elements: list[Any]
    alt_text: Any
    alt_url: str | None
    min_price: Any
    max_price: Any
    start_date_time: datetime | None
    end_date_time: datetime | None
    summary: str
    last_updated: datetime
    raw: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.country_code}*{self.party_id}*{self.tariff_id}"
