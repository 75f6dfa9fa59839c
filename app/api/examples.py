"""Examples for the OpenAPI document, built from the wire types themselves: an example that no
longer fits its type fails here, at import, not in a reader's client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from app.api.live import Cluster, Clusters
from app.api.networks import NetworkInfo
from app.api.schemas import (
    Availability,
    AvailabilityState,
    Change,
    Changes,
    Connector,
    ConnectorGroup,
    Coordinates,
    EncodedPolyline,
    ErrorBody,
    ErrorDetail,
    Evse,
    EvseState,
    Feature,
    FeatureCollection,
    LineString,
    LocationDetail,
    LocationSummary,
    NetworkRef,
    PriceQuote,
    Results,
    SourceInfo,
)
from app.domain.status import BucketCounts
from app.price import decode_price_request, price

AT = datetime(2026, 11, 22, 6, 31, 12, tzinfo=UTC)
CCS_150 = ConnectorGroup("IEC_62196_T2_COMBO", "DC", 150.0, 4, 3, 1, 0, 0, 0, 0)
# With energy_kwh=30: 30 × 0.59 EUR/kWh = 17.70 excl. VAT, × 1.21 = 21.42 incl.
FAST_30_KWH = PriceQuote("EUR", 21.42, 17.7, "FAST", "tariff", "0.59 EUR/kWh (excl. VAT)")
TYPE2_22 = ConnectorGroup("IEC_62196_T2", "AC_3_PHASE", 22.0, 2, 1, 0, 0, 1, 0, 0)

SUMMARY = LocationSummary(
    id="rblxmnjftadjxce3",
    name="Fastned HQ",
    address="James Wattstraat 77-79",
    city="Amsterdam",
    postal_code="1097 DL",
    country="NLD",
    coordinates=Coordinates(52.349291, 4.92143),
    network=NetworkRef("NL", "FLA", "fastned"),
    ocpi_id="31000",
    operator="Fastned",
    max_power_kw=150.0,
    open_now=True,
    connector_groups=[CCS_150, TYPE2_22],
    availability=Availability(
        total=6,
        available=4,
        occupied=1,
        out_of_service=0,
        unknown=1,
        planned=0,
        stale=0,
        updated_at=AT,
    ),
)


def results(**extra: Any) -> Results:
    return Results([msgspec.structs.replace(SUMMARY, **extra)], 1, AT)


NEARBY = results(distance_m=3145.6)
NEARBY_PRICED = Results(
    [
        msgspec.structs.replace(
            SUMMARY,
            distance_m=3145.6,
            connector_groups=[
                msgspec.structs.replace(CCS_150, price=FAST_30_KWH),
                msgspec.structs.replace(TYPE2_22, price=None),
            ],
            price=FAST_30_KWH,
        )
    ],
    1,
    AT,
)
VIEWPORT = Results([SUMMARY], 1, AT, next_cursor="eyJwIjpbMTIzLDQ1Nl0sInEiOiJhYmMifQ")
ALONG_ROUTE = results(route_offset_m=863.4, distance_from_route_m=1009.9)
SEARCH = results(score=0.75, distance_m=3145.6)

DETAIL = LocationDetail(
    **{f: getattr(SUMMARY, f) for f in LocationSummary.__struct_fields__},
    time_zone="Europe/Amsterdam",
    parking_type="PARKING_LOT",
    facilities=["CAFE"],
    opening_times={"twentyfourseven": True},
    evses=[
        Evse(
            uid="3100201",
            evse_id="NL*FLA*E3100201",
            status="AVAILABLE",
            status_bucket="available",
            status_updated_at=AT,
            status_age_s=42,
            stale=False,
            capabilities=["CREDIT_CARD_PAYABLE", "RFID_READER"],
            floor_level=None,
            physical_reference="1",
            parking_restrictions=[],
            coordinates=None,
            connectors=[
                Connector(
                    id="1",
                    standard="IEC_62196_T2_COMBO",
                    standard_raw="IEC_62196_T2_COMBO",
                    format="CABLE",
                    power_type="DC",
                    max_power_kw=150.0,
                    max_voltage=500,
                    max_amperage=300,
                    tariff_ids=["FAST"],
                )
            ],
        )
    ],
    price_summary="0.59 EUR/kWh (incl. VAT)",
    last_updated=AT,
    source=SourceInfo(
        network="fastned",
        ocpi_version="2.2.1",
        last_contact_at=AT,
        silent_s=12,
        live=True,
        last_updated=AT,
        received_at=AT,
    ),
)

CLUSTERS = Clusters(
    zoom=4.0,
    resolution=3,
    cells=[Cluster("831969fffffffff", 52.3512, 4.9177, 41, 29, 118, 62, 31, 4, 0)],
    locations=41,
    generated_at=AT,
)
NETWORKS = [NetworkInfo("NL*FLA", "NL", "FLA", "Fastned", "fastned", 106, 273, True, AT)]

ERROR = ErrorBody(
    ErrorDetail("latitude 95.0 is out of range (−90 to 90)", "invalid_parameter", "lat")
)

# One line, Amsterdam (east) to Utrecht, in each shape; on the bundled data (``make run``) it
# finds six stations, four of them with CCS of 50 kW or more (tests/api/test_contract.py pastes
# these bodies).
_LINE = LineString([[4.93, 52.36], [5.12, 52.09]])
ROUTE_BODIES = {
    "LineString": {"route": _LINE, "corridor_m": 5000},
    "Feature": {"route": Feature(_LINE, {"name": "Amsterdam to Utrecht"}), "corridor_m": 5000},
    "FeatureCollection": {"route": FeatureCollection([Feature(_LINE)]), "corridor_m": 5000},
    "EncodedPolyline": {
        "route": EncodedPolyline("_qq~Ho{a]nvs@obd@", precision=5),  # the same two points
        "corridor_m": 5000,
        "filters": {"connector": "ccs", "min_power_kw": 50},
    },
}

# POST /v1/price: 30 kWh at 50 kW (36 min) on 0.25 EUR/kWh + 0.50 EUR start fee, 10 % VAT on
# energy and 20 % on the fee: 7.50 + 0.50 = 8.00 excl. VAT, 8.25 + 0.60 = 8.85 incl.
PRICE_TARIFF = {
    "country_code": "DE",
    "party_id": "ALL",
    "id": "17",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.25, "vat": 10.0, "step_size": 1}]},
        {"price_components": [{"type": "FLAT", "price": 0.50, "vat": 20.0, "step_size": 1}]},
    ],
    "last_updated": "2026-11-01T00:00:00Z",
}
PRICE_BODIES = {
    "a driver's plan": {
        "tariffs": [PRICE_TARIFF],
        "session": {"energy_kwh": 30, "max_power_kw": 50, "start_at": "2026-12-02T18:00:00+01:00"},
        "time_zone": "Europe/Berlin",
    },
    "a CDR's charging periods": {
        "tariffs": [PRICE_TARIFF],
        "session": {
            "start_date_time": "2026-12-02T17:00:00Z",
            "end_date_time": "2026-12-02T17:36:00Z",
            "charging_periods": [
                {
                    "start_date_time": "2026-12-02T17:00:00Z",
                    "dimensions": [
                        {"type": "ENERGY", "volume": 30},
                        {"type": "TIME", "volume": 0.6},
                    ],
                }
            ],
        },
        "time_zone": "Europe/Berlin",
    },
}


def _price_example() -> Any:
    plan = PRICE_BODIES["a CDR's charging periods"]
    request = msgspec.json.encode({"ocpi_version": "2.2.1", **plan})
    return price(decode_price_request(request))


PRICE = _price_example()

STREAM = (
    "event: hello\nid: 1732257072000-0\nretry: 2000\n"
    'data: {"stream_id":"1732257072000-0"}\n\n'
    "event: availability\nid: 1732257073114-0\n"
    'data: {"type":"availability","location_id":"rblxmnjftadjxce3","lat":52.349291,'
    '"lon":4.92143,"h3_r5":"851969a3fffffff","visible":true,"availability":{"total":6,'
    '"available":3,"occupied":2,"out_of_service":0,"unknown":1,"planned":0},'
    '"evses":[{"uid":"3100201","status":"CHARGING"}],"at":"2026-11-22T06:31:13Z",'
    '"kind":"status"}\n\n'
)


def builtins(value: Any) -> Any:
    # Decimals as JSON numbers, as POST /v1/price sends them.
    return msgspec.json.decode(_encoder.encode(value))


_encoder = msgspec.json.Encoder(decimal_format="number")


# The change feed and the snapshot (issue 14).
CHANGES = Changes(
    changes=[
        Change(
            cursor="1042",
            kind="availability",
            location_id=SUMMARY.id,
            committed_at=AT,
            availability=AvailabilityState(
                counts=BucketCounts(6, 3, 2, 0, 1, 0),
                status_updated_at=AT,
                last_updated=AT,
                evses=[EvseState("NL*FLA*E1", "CHARGING", AT)],
            ),
        ),
        Change(cursor="1043", kind="removed", location_id="3bq5ztkqqbfzydsk", committed_at=AT),
    ],
    next_cursor="1043",
    more=False,
)
EXPORT = (
    msgspec.json.encode(DETAIL).decode() + "\n" + msgspec.json.encode({"cursor": "1043"}).decode()
)
