"""OCPI wire types, decoded leniently (ocpi.md §6 P15-P21).

One set of Structs covers 2.1.1, 2.2, 2.2.1 and 2.3.0 Locations: every field any of them defines
is optional here, scalars accept the types real feeds send (numbers for coordinates and ids,
strings for numbers), enums are plain strings, and unknown fields are ignored. Children are kept
as ``msgspec.Raw`` so that each EVSE and each connector is decoded on its own: a broken EVSE costs
that EVSE, not its location, and a broken location never costs its page.

What a value *means* is decided in ``ingest.ocpi.normalise``, not here.
"""

from __future__ import annotations

from typing import Any

import msgspec

Scalar = str | int | float | None
Number = int | float | str | None


class GeoLocation(msgspec.Struct):
    latitude: Scalar = None
    longitude: Scalar = None


class BusinessDetails(msgspec.Struct):
    name: Scalar = None
    website: str | None = None


class Connector(msgspec.Struct, kw_only=True):
    id: Scalar = None
    standard: str | None = None
    format: str | None = None
    power_type: str | None = None
    max_voltage: Number = None
    max_amperage: Number = None
    max_electric_power: Number = None
    voltage: Number = None  # 2.1.1
    amperage: Number = None  # 2.1.1
    tariff_ids: list[Scalar] | Scalar = None
    tariff_id: Scalar = None  # 2.1.1
    terms_and_conditions: str | None = None
    capabilities: Any = None  # 2.3.0 ConnectorCapability (OpenEnum) list
    last_updated: str | None = None


class Evse(msgspec.Struct, kw_only=True):
    uid: Scalar = None
    evse_id: Scalar = None
    status: str | None = None
    capabilities: list[Any] | None = None
    connectors: list[msgspec.Raw] | None = None
    floor_level: Scalar = None
    coordinates: GeoLocation | None = None
    physical_reference: Scalar = None
    parking_restrictions: list[Any] | None = None
    # 2.3.0: the parking places it serves (EVSEParking) and the eMSPs whose contracts it
    # accepts; read in ``normalise`` (a bad value costs a note, not the EVSE).
    parking: Any = None
    accepted_service_providers: Any = None
    last_updated: str | None = None


class Location(msgspec.Struct, kw_only=True):
    country_code: Scalar = None
    party_id: Scalar = None
    id: Scalar = None
    publish: bool | str | None = None
    name: Scalar = None
    address: Scalar = None
    city: Scalar = None
    postal_code: Scalar = None
    state: Scalar = None
    country: Scalar = None
    coordinates: GeoLocation | None = None
    parking_type: str | None = None
    type: str | None = None  # 2.1.1 LocationType
    evses: list[msgspec.Raw] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Any] | None = None
    time_zone: str | None = None
    opening_times: msgspec.Raw = msgspec.Raw()
    charging_when_closed: bool | str | None = None
    parking_places: Any = None  # 2.3.0 Parking objects, read in ``normalise``
    help_phone: Scalar = None  # 2.3.0
    last_updated: str | None = None


class PriceComponent(msgspec.Struct, kw_only=True):
    type: str | None = None
    price: Number = None
    vat: Number = None
    step_size: Number = None


class TariffElement(msgspec.Struct, kw_only=True):
    price_components: list[PriceComponent] | None = None
    restrictions: dict[str, Any] | None = None


class Tariff(msgspec.Struct, kw_only=True):
    country_code: Scalar = None
    party_id: Scalar = None
    id: Scalar = None
    currency: str | None = None
    type: str | None = None
    tariff_alt_text: msgspec.Raw = msgspec.Raw()
    tariff_alt_url: str | None = None
    min_price: msgspec.Raw = msgspec.Raw()
    max_price: msgspec.Raw = msgspec.Raw()
    elements: list[TariffElement] | None = None
    start_date_time: str | None = None
    end_date_time: str | None = None
    tax_included: str | None = None  # 2.3.0
    last_updated: str | None = None


# Decoders are built once and reused (style.md, msgspec anchor).
location_decoder = msgspec.json.Decoder(Location)
evse_decoder = msgspec.json.Decoder(Evse)
connector_decoder = msgspec.json.Decoder(Connector)
tariff_decoder = msgspec.json.Decoder(Tariff)
top_level_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
any_decoder = msgspec.json.Decoder()
encoder = msgspec.json.Encoder()
