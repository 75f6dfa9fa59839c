"""Open Charge Map POIs (``wattlas import ocm FILE…``).

Format: a JSON array of OCM POIs as the OCM API returns them (``/v3/poi``), verbose (nested
``AddressInfo``, ``OperatorInfo``, ``StatusType``, ``Connections[].ConnectionType`` …) or compact
(ids only). Names an id-only POI cannot carry come from OCM's reference data
(``data/ocm_reference.json``, CC BY-SA 4.0): countries, operators, status types and data
providers. Connector standards and current types are mapped by id, so both shapes read alike.

One POI is one site: ``record_id`` = ``"OCM-" + ID``; ``country_code`` is the POI's ISO 3166
alpha-2 country, ``party_id`` ``OCM``; ``lines`` holds the POI's 0-based index in the array.

Mapping decisions:

- EVSEs: OCM counts the points that can charge a car at once (``NumberOfPoints`` = OCPI's
  EVSEs) and lists the plug types of the site (``Connections[].Quantity``), not the plugs of
  each point: a site of 2 points with a Type 2 socket and a Schuko socket each says Type 2 × 2
  and Schuko × 2. An EVSE per listed plug would invent charge points (4 here), so: let N =
  ``NumberOfPoints`` (when > 0) and Q = the plugs listed (``Quantity`` summed; missing or 0
  counts as 1: the Connection itself says that there is such a plug, not how many).

  - N not given or N ≥ Q: one EVSE per plug, of one connector (uid ``{ID}-{Connection.ID}-{n}``).
  - N < Q: N EVSEs (uid ``{ID}-{n}``); the plugs, in the order listed, are dealt to them in
    turn, so that each EVSE holds one plug of each type when the types share the points
    (Type 2 × 2 + Schuko × 2 at 2 points: two EVSEs of Type 2 + Schuko; CCS + CHAdeMO +
    Type 2 at 1 point: one EVSE of three connectors). Connector ids "1", "2", … per EVSE.
    An EVSE's status is the most severe of its plugs' (a planned plug makes it PLANNED).
  - A plug that is removed at a site that has others not removed is no longer at one of its
    points: it is not counted in Q and not dealt, but kept as one REMOVED EVSE of its own
    (uid ``{ID}-{Connection.ID}-{n}``, hidden by the normaliser), so that it neither hides
    the live plugs it would share an EVSE with nor shows as available.

  A POI without Connections becomes N EVSEs (uid ``{ID}-{n}``), and one without either
  becomes one EVSE: each with a single connector of unknown standard, format, power type and
  power ("details unknown").
- Standard and format from ``ConnectionTypeID`` (``_CONNECTION_TYPES``, one line per OCM id);
  IEC 60309 (CEE) plugs only when ``Amps`` names one of OCPI's ratings. The Tesla
  Supercharger plug (27) depends on the country: in North America (``_NORTH_AMERICA``) it is
  the Tesla plug standardised as NACS (SAE_J3400); elsewhere it is the Type 2-shaped DC plug of
  the Model S/X before CCS (IEC_62196_T2, DC, cable). Power type from
  ``CurrentTypeID``; where it is missing, from a plug that is built for one current only
  (CHAdeMO, CCS, Tesla Supercharger, GB/T DC: DC; Type 1, Schuko, single-phase CEE:
  AC_1_PHASE; 5-pin CEE: AC_3_PHASE). Where the two contradict (a CHAdeMO at "AC single
  phase"), the row is wrong in one of them and the power type is left out.
  ``PowerKW`` → ``max_electric_power`` (W), ``Voltage``/``Amps`` → ``max_voltage``/``max_amperage``,
  each only when > 0.
- Status: OCM's status is crowd-reported, never live: every EVSE is ``UNKNOWN`` unless the
  POI's or the Connection's status type is not operational and says removed/decommissioned
  (``REMOVED``) or planned (``PLANNED``); removed wins over planned.
- ``name`` = ``AddressInfo.Title``; ``address`` = ``AddressLine1``, ``AddressLine2`` (joined by
  ", "); ``city`` = ``Town``; ``state`` = ``StateOrProvince``; ``postal_code`` = ``Postcode``;
  ``country`` = alpha-3 of the ISO code (pycountry, via ``country_alpha3``); ``operator`` =
  ``OperatorInfo.Title``, except OCM's placeholders "(Unknown Operator)", "(Business Owner at
  Location)" and "(Private Residence/Individual)". No time zone (OCM has none). ``UsageType``
  has no OCPI field and is not mapped.
- ``last_updated`` = ``DateLastStatusUpdate``, else ``DateLastVerified``, else ``DateCreated``
  (UTC; left out when none is a timestamp: the normaliser then notes it).
- Pricing (issue 13): ``UsageCost`` ("0,47€/kWh", "1€/h", "Free") read by
  ``app.price.registry_text`` in the currency of the POI's country (``_CURRENCIES``) unless a
  symbol in the text names one; a country not in the table and a text without a symbol: kept
  unread, with that reason. Empty or missing: no pricing.
- Provenance: OCM re-publishes other providers' data (``DataProvider``, e.g. Oplaadpalen.nl,
  under that provider's licence). The location keeps it in an extra, non-OCPI field
  ``data_provider`` ``{id, name, licence}`` (the normaliser ignores it; it stays in the raw
  object).

Rejected: an element that is not an object; no or non-integer ``ID``; an ``ID`` seen before;
coordinates missing, not numbers, out of range or (0, 0); no country; a Connection that is not
an object or has no ``ID``; a ``Quantity`` or ``NumberOfPoints`` above ``MAX_POINTS``; a file
that is not a JSON array (one Rejected for the file).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from app.domain.connectors import UNKNOWN_STANDARD, normalise_standard
from app.domain.sources import REGISTRIES
from app.domain.timestamps import parse_timestamp
from app.price.registry_text import RegistryPricing, RegistryUnparsed, parse_ocm_usage_cost
from ingest.ocpi.geocheck import country_alpha3
from ingest.registries import RAW_TEXT_MAX, Record, Rejected

SOURCE: Final = REGISTRIES["ocm"]  # name, licence, attribution: app.domain.sources

REFERENCE: Final = Path(__file__).resolve().parent / "data" / "ocm_reference.json"

_IEC_60309_SINGLE: Final = "IEC 60309 single phase"  # standard chosen by Amps
_IEC_60309_THREE: Final = "IEC 60309 three phase"
_BY_AMPS: Final = {
    _IEC_60309_SINGLE: {16: "IEC_60309_2_single_16"},
    _IEC_60309_THREE: {
        16: "IEC_60309_2_three_16",
        32: "IEC_60309_2_three_32",
        63: "IEC_60309_2_three_64",  # the 63 A plug is OCPI's "64"
    },
}

# ConnectionTypeID → (OCPI standard, format, the only current the plug is built for); None: the
# type does not say. DC couplers and the CEE/IEC 60309 and domestic plugs are fixed by design;
# Type 2 and GB/T AC carry one or three phases.
_CONNECTION_TYPES: Final[dict[int, tuple[str | None, str | None, str | None]]] = {
    0: (None, None, None),  # Unknown
    1: ("IEC_62196_T1", None, "AC_1_PHASE"),  # Type 1 (J1772): single phase only
    2: ("CHADEMO", "CABLE", "DC"),  # CHAdeMO: a tethered DC coupler
    3: ("DOMESTIC_G", "SOCKET", "AC_1_PHASE"),  # BS1363 3 Pin 13 Amp
    4: (_IEC_60309_SINGLE, "SOCKET", "AC_1_PHASE"),  # Blue Commando (2P+E)
    5: (None, None, None),  # LP Inductive (paddle)
    6: (None, None, None),  # SP Inductive (paddle)
    7: (None, None, None),  # Avcon Connector
    8: ("TESLA_R", None, None),  # Tesla (Roadster)
    9: ("NEMA_5_20", "SOCKET", "AC_1_PHASE"),  # NEMA 5-20R
    10: ("NEMA_14_30", "SOCKET", None),  # NEMA 14-30
    11: ("NEMA_14_50", "SOCKET", None),  # NEMA 14-50
    13: ("DOMESTIC_C", "SOCKET", "AC_1_PHASE"),  # Europlug 2-Pin (CEE 7/16)
    14: (None, None, None),  # NEMA 6-20: no OCPI value
    15: (None, None, None),  # NEMA 6-15: no OCPI value
    16: (_IEC_60309_SINGLE, "SOCKET", "AC_1_PHASE"),  # CEE 3 Pin (2P+E)
    17: (_IEC_60309_THREE, "SOCKET", "AC_3_PHASE"),  # CEE 5 Pin (3P+N+E)
    18: (None, None, None),  # CEE+ 7 Pin: no OCPI value
    21: (None, None, None),  # XLR Plug (4 pin)
    22: ("DOMESTIC_B", "SOCKET", "AC_1_PHASE"),  # NEMA 5-15R (Type B)
    23: ("DOMESTIC_E", "SOCKET", "AC_1_PHASE"),  # CEE 7/5 (Type E)
    24: (None, None, None),  # Wireless Charging
    25: ("IEC_62196_T2", "SOCKET", None),  # Type 2 (Socket Only)
    26: ("IEC_62196_T3C", None, None),  # SCAME Type 3C (Schneider-Legrand)
    # Tesla Supercharger: tethered, DC; outside North America the Type 2-shaped DC plug
    # (Model S/X before CCS); in _NORTH_AMERICA the NACS plug (_NACS_SUPERCHARGER).
    27: ("IEC_62196_T2", "CABLE", "DC"),
    28: ("DOMESTIC_F", "SOCKET", "AC_1_PHASE"),  # CEE 7/4 - Schuko - Type F
    29: ("DOMESTIC_I", "SOCKET", "AC_1_PHASE"),  # Type I (AS 3112)
    30: ("TESLA_S", None, None),  # Tesla (Model S/X)
    31: (None, None, None),  # Tesla Battery Swap
    32: ("IEC_62196_T1_COMBO", "CABLE", "DC"),  # CCS (Type 1): a tethered DC coupler
    33: ("IEC_62196_T2_COMBO", "CABLE", "DC"),  # CCS (Type 2): a tethered DC coupler
    34: (_IEC_60309_SINGLE, "SOCKET", "AC_1_PHASE"),  # IEC 60309 3-pin
    35: (_IEC_60309_THREE, "SOCKET", "AC_3_PHASE"),  # IEC 60309 5-pin
    36: ("IEC_62196_T3A", None, None),  # SCAME Type 3A (Low Power)
    1036: ("IEC_62196_T2", "CABLE", None),  # Type 2 (Tethered Connector)
    1037: ("DOMESTIC_J", "SOCKET", "AC_1_PHASE"),  # T13 - SEC1011 (Swiss) - Type J
    1038: ("GBT_AC", "SOCKET", None),  # GB-T AC - GB/T 20234.2 (Socket)
    1039: ("GBT_AC", "CABLE", None),  # GB-T AC - GB/T 20234.2 (Tethered Cable)
    1040: ("GBT_DC", "CABLE", "DC"),  # GB-T DC - GB/T 20234.3
    1041: (None, None, None),  # Three Phase 5-Pin (AS/NZ 3123): no OCPI value
    1042: (None, None, None),  # NEMA TT-30R: no OCPI value
}

_TESLA_SUPERCHARGER: Final = 27
_NACS_SUPERCHARGER: Final = ("SAE_J3400", "CABLE", "DC")  # the API's ``nacs`` alias names it
# Countries whose Superchargers have the Tesla (NACS) plug: North America, with the US
# territories, which follow US standards.
_NORTH_AMERICA: Final = frozenset({"US", "CA", "MX", "PR", "VI", "GU", "AS", "MP", "UM"})

# More EVSEs than any real site has (the largest have a few hundred): a typo, not a site.
MAX_POINTS: Final = 1000

_CURRENT_TYPES: Final = {10: "AC_1_PHASE", 20: "AC_3_PHASE", 30: "DC"}

# OCM's stand-ins for "no operator named".
_PLACEHOLDER_OPERATORS: Final = frozenset({1, 44, 45})
_PLACEHOLDER_TITLES: Final = frozenset(
    {"(unknown operator)", "(business owner at location)", "(private residence/individual)"}
)

_RANK: Final = {"UNKNOWN": 0, "PLANNED": 1, "REMOVED": 2}

# ISO 3166 alpha-2 → the ISO 4217 currency prices there are in (UsageCost rarely names one).
_CURRENCIES: Final = {
    country: currency
    for currency, countries in (
        # The euro area (Bulgaria from 2026) and the places that use the euro.
        ("EUR", "AT BE BG CY DE EE ES FI FR GR HR IE IT LT LU LV MT NL PT SI SK"),
        ("EUR", "AD AX BL GF GP MC ME MF MQ PM RE SM TF VA XK YT"),
        ("USD", "US PR VI GU AS MP UM EC SV PA TL FM MH PW BQ TC VG IO"),
        ("GBP", "GB IM JE GG"),
        ("CHF", "CH LI"),
        ("NOK", "NO SJ BV"),
        ("SEK", "SE"),
        ("DKK", "DK FO GL"),
        ("ISK", "IS"),
        ("PLN", "PL"),
        ("CZK", "CZ"),
        ("HUF", "HU"),
        ("RON", "RO"),
        ("RSD", "RS"),
        ("MKD", "MK"),
        ("ALL", "AL"),
        ("BAM", "BA"),
        ("MDL", "MD"),
        ("UAH", "UA"),
        ("BYN", "BY"),
        ("RUB", "RU"),
        ("TRY", "TR"),
        ("GEL", "GE"),
        ("AMD", "AM"),
        ("AZN", "AZ"),
        ("KZT", "KZ"),
        ("UZS", "UZ"),
        ("CAD", "CA"),
        ("MXN", "MX"),
        ("BRL", "BR"),
        ("ARS", "AR"),
        ("CLP", "CL"),
        ("COP", "CO"),
        ("PEN", "PE"),
        ("UYU", "UY"),
        ("CRC", "CR"),
        ("GTQ", "GT"),
        ("DOP", "DO"),
        ("AUD", "AU CX CC NF KI NR TV"),
        ("NZD", "NZ CK NU PN TK"),
        ("JPY", "JP"),
        ("CNY", "CN"),
        ("HKD", "HK"),
        ("MOP", "MO"),
        ("TWD", "TW"),
        ("KRW", "KR"),
        ("SGD", "SG"),
        ("MYR", "MY"),
        ("THB", "TH"),
        ("IDR", "ID"),
        ("PHP", "PH"),
        ("VND", "VN"),
        ("INR", "IN"),
        ("PKR", "PK"),
        ("LKR", "LK"),
        ("BDT", "BD"),
        ("NPR", "NP"),
        ("AED", "AE"),
        ("SAR", "SA"),
        ("QAR", "QA"),
        ("KWD", "KW"),
        ("BHD", "BH"),
        ("OMR", "OM"),
        ("ILS", "IL PS"),
        ("JOD", "JO"),
        ("EGP", "EG"),
        ("MAD", "MA"),
        ("TND", "TN"),
        ("ZAR", "ZA"),
        ("KES", "KE"),
        ("NGN", "NG"),
    )
    for country in countries.split()
}
_NO_CURRENCY: Final = "XXX"  # ISO 4217: no currency (a country not in _CURRENCIES)

_array_decoder: Final = msgspec.json.Decoder(list[msgspec.Raw])
_any_decoder: Final = msgspec.json.Decoder()


@dataclass(frozen=True)
class _Reference:
    countries: dict[int, str]  # CountryID → ISO alpha-2
    operators: dict[int, str]
    statuses: dict[int, tuple[str, bool | None]]  # title, IsOperational
    connection_types: dict[int, str]
    providers: dict[int, tuple[str | None, str | None]]  # title, licence


@functools.cache
def reference() -> _Reference:
    data: dict[str, Any] = _any_decoder.decode(REFERENCE.read_bytes())

    def by_id(key: str, field: str) -> dict[int, Any]:
        return {int(x["ID"]): x.get(field) for x in data.get(key) or () if x.get(field)}

    return _Reference(
        countries=by_id("Countries", "ISOCode"),
        operators=by_id("Operators", "Title"),
        statuses={
            int(x["ID"]): (x["Title"], x.get("IsOperational"))
            for x in data.get("StatusTypes") or ()
        },
        connection_types=by_id("ConnectionTypes", "Title"),
        providers={
            int(x["ID"]): (x.get("Title"), x.get("License"))
            for x in data.get("DataProviders") or ()
        },
    )


class _Unusable(ValueError):
    """A POI that cannot be used; the message names the field and value."""


def _text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value > 0 else None


def _nested(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _title(obj: dict[str, Any], nested: str, id_key: str, names: dict[int, Any]) -> str | None:
    """The nested object's Title, else the reference's name of the id."""
    title = _text(_nested(obj, nested).get("Title"))
    if title is not None:
        return title
    ref_id = _int(obj.get(id_key))
    return _text(names.get(ref_id)) if ref_id is not None else None


def _status(obj: dict[str, Any]) -> str:
    """REMOVED / PLANNED when OCM's status type says so; UNKNOWN otherwise."""
    nested = _nested(obj, "StatusType")
    status_id = _int(obj.get("StatusTypeID"))
    known = reference().statuses.get(status_id) if status_id is not None else None
    title = _text(nested.get("Title")) or (known[0] if known else None)
    operational = nested.get("IsOperational") if nested else (known[1] if known else None)
    if title is None or operational is not False:
        return "UNKNOWN"
    lowered = title.lower()
    if "removed" in lowered or "decom" in lowered:  # OCM spells it "Decomissioned" too
        return "REMOVED"
    if "planned" in lowered:
        return "PLANNED"
    return "UNKNOWN"


def _coordinate(address: dict[str, Any], field: str, limit: float) -> float:
    value = address.get(field)
    if value is None:
        raise _Unusable(f"AddressInfo.{field} missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unusable(f"AddressInfo.{field} {value!r} is not a number")
    if not -limit <= value <= limit:
        raise _Unusable(f"AddressInfo.{field} {value!r} is out of range (-{limit:g}..{limit:g})")
    return float(value)


def _timestamp(poi: dict[str, Any]) -> str | None:
    for field in ("DateLastStatusUpdate", "DateLastVerified", "DateCreated"):
        parsed = parse_timestamp(poi.get(field))
        if parsed is not None:
            return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _connector(conn: dict[str, Any], country: str, updated: str | None) -> dict[str, Any]:
    """The OCPI connector of one OCM Connection (id "1"; renumbered where EVSEs share plugs)."""
    connector: dict[str, Any] = {"id": "1"}
    type_id = _int(conn.get("ConnectionTypeID"))
    amps = _positive(conn.get("Amps"))
    standard: str | None = None
    fmt = implied = None
    if type_id is not None and type_id in _CONNECTION_TYPES:
        standard, fmt, implied = _CONNECTION_TYPES[type_id]
        if type_id == _TESLA_SUPERCHARGER and country in _NORTH_AMERICA:
            standard, fmt, implied = _NACS_SUPERCHARGER
        if standard in _BY_AMPS:
            standard = _BY_AMPS[standard].get(round(amps)) if amps is not None else None
    elif type_id is not None:
        # An id newer than this table: its title, if the normaliser knows the spelling.
        title = _title(conn, "ConnectionType", "ConnectionTypeID", reference().connection_types)
        if title is not None and normalise_standard(title)[0] != UNKNOWN_STANDARD:
            standard = title
    if standard is not None:
        connector["standard"] = standard
    if fmt is not None:
        connector["format"] = fmt
    current_id = _int(conn.get("CurrentTypeID"))
    current = _CURRENT_TYPES.get(current_id) if current_id is not None else None
    if current is None:
        current = implied
    elif implied is not None and implied != current:
        current = None  # contradicts the plug: one of the two is wrong, we cannot tell which
    if current is not None:
        connector["power_type"] = current
    if (volts := _positive(conn.get("Voltage"))) is not None:
        connector["max_voltage"] = round(volts)
    if amps is not None:
        connector["max_amperage"] = round(amps)
    if (kw := _positive(conn.get("PowerKW"))) is not None:
        connector["max_electric_power"] = round(kw * 1000)
    if updated is not None:
        connector["last_updated"] = updated
    return connector


def _evse(
    uid: str, status: str, connectors: list[dict[str, Any]], updated: str | None
) -> dict[str, Any]:
    evse: dict[str, Any] = {"uid": uid, "status": status, "connectors": connectors}
    if updated is not None:
        evse["last_updated"] = updated
    return evse


def _worst(*statuses: str) -> str:
    return max(statuses, key=_RANK.__getitem__)


def _evses(
    poi: dict[str, Any], poi_id: int, country: str, updated: str | None
) -> list[dict[str, Any]]:
    site_status = _status(poi)
    points = _int(poi.get("NumberOfPoints"))
    if points is not None and points > MAX_POINTS:
        raise _Unusable(f"NumberOfPoints {points} is not plausible")
    connections = poi.get("Connections")
    if connections is not None and not isinstance(connections, list):
        raise _Unusable(f"Connections {connections!r} is not a list")
    plugs: list[tuple[str, str, dict[str, Any]]] = []  # (own uid, status, connector) per plug
    for index, conn in enumerate(connections or ()):
        if not isinstance(conn, dict):
            raise _Unusable(f"Connections[{index}] {conn!r} is not an object")
        conn_id = _int(conn.get("ID"))
        if conn_id is None:
            raise _Unusable(f"Connections[{index}].ID {conn.get('ID')!r} is not an integer")
        quantity = _int(conn.get("Quantity"))
        if quantity is not None and quantity > MAX_POINTS:
            raise _Unusable(f"Connections[{index}].Quantity {quantity} is not plausible")
        status = _worst(site_status, _status(conn))
        connector = _connector(conn, country, updated)
        for n in range(1, max(quantity or 1, 1) + 1):
            plugs.append((f"{poi_id}-{conn_id}-{n}", status, connector))
    if not plugs:  # no Connections: NumberOfPoints EVSEs of unknown kind, at least one
        unknown: dict[str, Any] = {"id": "1"}
        if updated is not None:
            unknown["last_updated"] = updated
        return [
            _evse(f"{poi_id}-{n}", site_status, [dict(unknown)], updated)
            for n in range(1, max(points or 1, 1) + 1)
        ]
    live = [plug for plug in plugs if plug[1] != "REMOVED"]
    removed = [plug for plug in plugs if plug[1] == "REMOVED"]
    if not live:  # a removed site (or every plug removed): its points are dealt as they were
        live, removed = removed, []
    if points is None or points <= 0 or points >= len(live):
        return [_evse(uid, status, [dict(c)], updated) for uid, status, c in plugs]
    shared: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in range(points)]
    for i, (_, status, connector) in enumerate(live):
        shared[i % points].append((status, connector))
    evses = [
        _evse(
            f"{poi_id}-{n}",
            _worst(*(status for status, _ in group)),
            [{**c, "id": str(k)} for k, (_, c) in enumerate(group, 1)],
            updated,
        )
        for n, group in enumerate(shared, 1)
    ]
    # Removed plugs at a live site: one (hidden) EVSE each.
    return evses + [_evse(uid, status, [dict(c)], updated) for uid, status, c in removed]


def _data_provider(poi: dict[str, Any]) -> dict[str, Any] | None:
    nested = _nested(poi, "DataProvider")
    provider_id = _int(poi.get("DataProviderID"))
    if provider_id is None:
        provider_id = _int(nested.get("ID"))
    known = reference().providers.get(provider_id) if provider_id is not None else None
    name = _text(nested.get("Title")) or (known[0] if known else None)
    licence = _text(nested.get("License")) or (known[1] if known else None)
    out: dict[str, Any] = {}
    for key, value in (("id", provider_id), ("name", name), ("licence", licence)):
        if value is not None:
            out[key] = value
    return out or None


def location(poi: dict[str, Any], poi_id: int) -> dict[str, Any]:
    """The OCPI Location of one POI; raises ``_Unusable`` naming what is wrong."""
    ref = reference()
    address = _nested(poi, "AddressInfo")
    if not address:
        raise _Unusable(f"AddressInfo {poi.get('AddressInfo')!r} is not an object")
    lat = _coordinate(address, "Latitude", 90)
    lon = _coordinate(address, "Longitude", 180)
    if lat == 0 and lon == 0:
        raise _Unusable("AddressInfo.Latitude/Longitude (0, 0) is a placeholder, not a site")
    iso2 = _text(_nested(address, "Country").get("ISOCode"))
    if iso2 is None:
        country_id = _int(address.get("CountryID"))
        iso2 = ref.countries.get(country_id) if country_id is not None else None
        if iso2 is None:
            raise _Unusable(
                f"AddressInfo.CountryID {address.get('CountryID')!r} names no country "
                "(no Country.ISOCode, not in the reference data)"
            )
    if len(iso2) != 2 or not iso2.isalpha():
        raise _Unusable(f"AddressInfo.Country.ISOCode {iso2!r} is not an ISO 3166 alpha-2 code")
    updated = _timestamp(poi)
    loc: dict[str, Any] = {
        "country_code": iso2.upper(),
        "party_id": SOURCE.party_id,
        "id": f"OCM-{poi_id}",
        "publish": True,
    }
    lines = [t for t in (_text(address.get(k)) for k in ("AddressLine1", "AddressLine2")) if t]
    for key, value in (
        ("name", _text(address.get("Title"))),
        ("address", ", ".join(lines) or None),
        ("city", _text(address.get("Town"))),
        ("postal_code", _text(address.get("Postcode"))),
        ("state", _text(address.get("StateOrProvince"))),
        ("country", country_alpha3(iso2)),
    ):
        if value is not None:
            loc[key] = value
    loc["coordinates"] = {"latitude": f"{lat:.7f}", "longitude": f"{lon:.7f}"}
    operator = _title(poi, "OperatorInfo", "OperatorID", ref.operators)
    if (
        operator is not None
        and _int(poi.get("OperatorID")) not in _PLACEHOLDER_OPERATORS
        and operator.lower() not in _PLACEHOLDER_TITLES
    ):
        loc["operator"] = {"name": operator}
    loc["evses"] = _evses(poi, poi_id, loc["country_code"], updated)
    if updated is not None:
        loc["last_updated"] = updated
    if (provider := _data_provider(poi)) is not None:
        loc["data_provider"] = provider  # not OCPI: provenance of re-published data
    return loc


def pricing(poi: dict[str, Any], country: str) -> tuple[RegistryPricing | None, str | None]:
    """``UsageCost`` read in the currency of ``country`` (alpha-2), and that currency."""
    text = _text(poi.get("UsageCost"))
    if text is None:
        return None, None
    currency = _CURRENCIES.get(country, _NO_CURRENCY)
    parsed = parse_ocm_usage_cost(text, currency=currency)
    if isinstance(parsed, RegistryUnparsed) or parsed.tariff["currency"] != _NO_CURRENCY:
        return parsed, currency
    return RegistryUnparsed(text, f"no currency known for {country}, and the text names none"), (
        currency
    )


def _raw_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:RAW_TEXT_MAX]


def read(paths: list[Path]) -> Iterator[Record | Rejected]:
    seen: dict[int, tuple[str, int]] = {}  # ID → (file, index) of its first POI
    for path in paths:
        body = path.read_bytes()
        try:
            raws = _array_decoder.decode(body)
        except msgspec.DecodeError as exc:
            yield Rejected(path.name, (), None, f"not a JSON array of POIs: {exc}", _raw_text(body))
            continue
        for index, raw_item in enumerate(raws):
            raw = bytes(raw_item)
            poi = _any_decoder.decode(raw)
            if not isinstance(poi, dict):
                reason = f"POI {_raw_text(raw)[:40]} is not an object"
                yield Rejected(path.name, (index,), None, reason, _raw_text(raw))
                continue
            poi_id = _int(poi.get("ID"))
            if poi_id is None or poi_id <= 0:
                reason = (
                    "POI without ID"
                    if poi.get("ID") is None
                    else f"ID {poi.get('ID')!r} is not a positive integer"
                )
                yield Rejected(path.name, (index,), None, reason, _raw_text(raw))
                continue
            record_id = f"OCM-{poi_id}"
            if poi_id in seen:
                first_file, first_index = seen[poi_id]
                reason = f"duplicate ID {poi_id} (first at index {first_index} of {first_file})"
                yield Rejected(path.name, (index,), record_id, reason, _raw_text(raw))
                continue
            seen[poi_id] = (path.name, index)
            try:
                loc = location(poi, poi_id)
            except _Unusable as exc:
                yield Rejected(path.name, (index,), record_id, str(exc), _raw_text(raw))
                continue
            cost, currency = pricing(poi, loc["country_code"])
            yield Record(record_id, loc, path.name, (index,), cost, currency)
