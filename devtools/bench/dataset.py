"""A deterministic benchmark dataset: OCPI 2.2.1 Locations at real station coordinates.

The budgets in architecture.md are measured on 300,000 locations / 1,000,000 EVSEs "generated from
real station coordinates". The points come from the registries and OCPI dumps in ``fixtures/``
(AFDC, BNetzA, UK NCR, the OCPI feeds). Each real point is used once as it is; then it is cloned,
150 m to 3 km away, until there are enough locations. The EVSE and connector structures are cloned
from real OCPI locations. The same arguments give byte-identical files. Pages are built and
written one at a time, so memory does not grow with the size of the dataset.

    generate(Path("/tmp/wattlas-bench-dataset"))  # page-00000.json ... + manifest.json
"""

from __future__ import annotations

import csv
import functools
import io
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pycountry

from app.domain.connectors import FORMATS, POWER_TYPES, UNKNOWN_STANDARD
from app.store.records import ConnectorRecord, LocationRecord, Problem
from ingest.ocpi import wire
from ingest.ocpi.geocheck import NEAR_KM, country_alpha3, country_shapes
from ingest.ocpi.normalise import IngestContext, Normaliser, split_page
from ingest.ocpi.power import connector_max_power_kw

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
REGISTRIES = FIXTURES / "registries"
OCPI_FEEDS = FIXTURES / "ocpi"

SOURCES = ("afdc", "bnetza", "uk", "ocpi")
# One synthetic party per registry; OCPI points keep their feed's party (OCPI_FALLBACK if none).
# Not the registries' own parties (US*AFD, DE*BNA, GB*NCR, owned by `wattlas import`): the
# benchmark imports the real registries into this dataset too.
REGISTRY_PARTIES = {"afdc": ("US", "AFX"), "bnetza": ("DE", "BNX"), "uk": ("GB", "NCX")}
OCPI_FALLBACK_PARTY = ("NL", "OCP")

# Fixed, so that the files never depend on the day they are generated.
BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)
_BASE_S = int(BASE_TIME.timestamp())
LOCATION_AGE_S = 60 * 86_400  # a location was last updated up to 60 days before BASE_TIME
EVSE_AGE_S = 7 * 86_400  # ... and each of its EVSEs up to a week before that

MIN_CLONE_OFFSET_M = 150.0
MAX_CLONE_OFFSET_M = 3_000.0
# The normaliser accepts points up to NEAR_KM outside their country's (Natural Earth 1:10m)
# polygons. A real point may lie at most that far minus a clone's offset (and a kilometre of
# slack for the flat-earth offset) outside it, so that its clones are accepted too.
MAX_OUTSIDE_BORDER_KM = NEAR_KM - MAX_CLONE_OFFSET_M / 1000 - 1.0

# ~60% AVAILABLE, 25% CHARGING, ... (never REMOVED: that is a deletion, not a state).
STATUSES = ("AVAILABLE", "CHARGING", "OUTOFORDER", "INOPERATIVE", "BLOCKED", "RESERVED", "UNKNOWN")
STATUS_WEIGHTS = (60, 25, 5, 4, 3, 1, 2)
PARKING_TYPES = (
    "PARKING_LOT",
    "ON_STREET",
    "PARKING_GARAGE",
    "UNDERGROUND_GARAGE",
    "ALONG_MOTORWAY",
    "ON_DRIVEWAY",
)
PARKING_WEIGHTS = (50, 25, 10, 6, 6, 3)
OPEN_24_7_SHARE = 0.8
# (weekdays, opens, closes): shops, offices, car parks, ... (OCPI weekday 1 = Monday).
OPENING_PATTERNS = (
    ((range(1, 7), "08:00", "20:00"),),
    ((range(1, 6), "07:00", "19:00"),),
    ((range(1, 8), "06:00", "22:00"),),
    ((range(1, 6), "06:00", "23:00"), (range(6, 8), "08:00", "20:00")),
    ((range(1, 6), "08:00", "18:00"), (range(6, 7), "09:00", "14:00")),
)

# OCPI 2.2.1 §8.3.1 string lengths.
NAME_MAX, ADDRESS_MAX, CITY_MAX, POSTAL_CODE_MAX, STATE_MAX, OPERATOR_MAX = 255, 45, 45, 10, 20, 100
# OCPI 2.2.1 Capability (§8.4.3): template capabilities outside it are dropped.
CAPABILITIES = frozenset(
    {
        "CHARGING_PROFILE_CAPABLE",
        "CHARGING_PREFERENCES_CAPABLE",
        "CHIP_CARD_SUPPORT",
        "CONTACTLESS_CARD_SUPPORT",
        "CREDIT_CARD_PAYABLE",
        "DEBIT_CARD_PAYABLE",
        "PED_TERMINAL",
        "REMOTE_START_STOP_CAPABLE",
        "RESERVABLE",
        "RFID_READER",
        "START_SESSION_CONNECTOR_REQUIRED",
        "TOKEN_GROUP_CAPABLE",
        "UNLOCK_CAPABLE",
    }
)
DC_ONLY_STANDARDS = frozenset(
    {"IEC_62196_T1_COMBO", "IEC_62196_T2_COMBO", "CHADEMO", "GBT_DC", "CHAOJI", "MCS"}
)
AC_ONLY_STANDARDS = frozenset(
    {"IEC_62196_T1", "IEC_62196_T2", "IEC_62196_T3A", "IEC_62196_T3C", "GBT_AC"}
)
AC_ONLY_PREFIXES = ("DOMESTIC_", "IEC_60309_", "NEMA_")
# Europe keeps Type 2 and CCS2; US points get these templates remapped to Type 1 and CCS1.
EUROPE_STANDARDS = frozenset({"IEC_62196_T2", "IEC_62196_T2_COMBO", "CHADEMO"})
US_REMAPPABLE = EUROPE_STANDARDS | {"IEC_62196_T1", "IEC_62196_T1_COMBO"}
NORTH_AMERICA = frozenset({"USA", "CAN", "PRI", "VIR", "GUM", "ASM", "MNP"})
US_STATE_ZONES = {
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
}
US_AC_VOLTAGE = 240
US_AC_MAX_AMPERAGE = 80  # 240 V x 80 A = 19.2 kW, the Type 1 plug's limit
# The OCPI dumps are read as of a fixed, far-away day: "last_updated in the future" must not
# decide (depending on the day we run) whether a real location is usable as a template.
_READ_FEEDS_AT = datetime(2200, 1, 1, tzinfo=UTC)

# First three ZIP digits → state (USPS prefixes). The 2022 AFDC extract has ZIP and name but no
# city or state; the state is what we can say for certain.
_ZIP3_STATES = """
005 NY 006-007 PR 008 VI 009 PR 010-027 MA 028-029 RI 030-038 NH 039-049 ME 050-054 VT 055 MA
056-059 VT 060-069 CT 070-089 NJ 100-149 NY 150-196 PA 197-199 DE 200 DC 201 VA 202-205 DC
206-219 MD 220-246 VA 247-268 WV 270-289 NC 290-299 SC 300-319 GA 320-339 FL 341-349 FL
350-369 AL 370-385 TN 386-397 MS 398-399 GA 400-427 KY 430-459 OH 460-479 IN 480-499 MI
500-528 IA 530-549 WI 550-567 MN 569 DC 570-577 SD 580-588 ND 590-599 MT 600-629 IL 630-658 MO
660-679 KS 680-693 NE 700-714 LA 716-729 AR 730-732 OK 733 TX 734-749 OK 750-799 TX 800-816 CO
820-831 WY 832-838 ID 840-847 UT 850-865 AZ 870-884 NM 885 TX 889-898 NV 900-961 CA 967-968 HI
969 GU 970-979 OR 980-994 WA 995-999 AK
"""


# ---- the public surface ------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetInfo:
    """What ``generate`` wrote; ``manifest.json`` holds the same fields."""

    locations: int
    evses: int
    connectors: int
    pages: int
    page_size: int
    seed: int
    parties: dict[str, int]  # "US*AFX" → locations of that party
    source_points: dict[str, int]  # real points used, per source
    source_locations: dict[str, int]  # locations placed at (or cloned from) those points
    available_points: dict[str, int]  # usable real points in the fixtures, per source
    base_time: str = BASE_TIME.isoformat().replace("+00:00", "Z")
    format: str = "OCPI 2.2.1 Location objects; page-NNNNN.json files, each a JSON array"


def read_manifest(out_dir: Path) -> DatasetInfo:
    return msgspec.json.decode((out_dir / "manifest.json").read_bytes(), type=DatasetInfo)


def page_path(out_dir: Path, page: int) -> Path:
    return out_dir / f"page-{page:05d}.json"


def generate(
    out_dir: Path,
    *,
    locations: int = 300_000,
    evses: int = 1_000_000,
    seed: int = 42,
    page_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    points: Sequence[SourcePoint] | None = None,
) -> DatasetInfo:
    """Write ``locations`` OCPI 2.2.1 Locations with exactly ``evses`` EVSEs into ``out_dir``.

    ``progress(done, total)`` is called after every page. ``points``: the real points to use
    (default: all of ``source_points()``); a few of them make the cloning show in a small run.
    """
    if locations < 1 or page_size < 1:
        raise ValueError("locations and page_size must be at least 1")
    if evses < locations:
        raise ValueError(f"{evses} EVSEs cannot cover {locations} locations (one each at least)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("page-*.json"):  # a smaller run must not leave pages behind
        old.unlink()
    rng = random.Random(seed)
    real_points = source_points() if points is None else points
    if not real_points:
        raise ValueError("no real points to place locations at")
    builder = _Builder(rng, real_points, template_pools(), locations, evses)
    encoder = msgspec.json.Encoder()
    pages = 0
    for start in range(0, locations, page_size):
        end = min(start + page_size, locations)
        page_path(out_dir, pages).write_bytes(
            encoder.encode([builder.location(i) for i in range(start, end)])
        )
        pages += 1
        if progress is not None:
            progress(end, locations)
    info = builder.info(pages=pages, page_size=page_size, seed=seed)
    (out_dir / "manifest.json").write_bytes(msgspec.json.format(encoder.encode(info), indent=2))
    return info


# ---- OCPI 2.2.1 wire types of the output -------------------------------------------------------
class OcpiConnector(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    standard: str
    format: str
    power_type: str
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    last_updated: str


class OcpiEvse(msgspec.Struct, kw_only=True, omit_defaults=True):
    uid: str
    evse_id: str
    status: str
    capabilities: list[str] = []
    connectors: list[OcpiConnector]
    last_updated: str


class GeoLocation(msgspec.Struct):
    latitude: str
    longitude: str


class BusinessDetails(msgspec.Struct):
    name: str


class RegularHours(msgspec.Struct):
    weekday: int
    period_begin: str
    period_end: str


class Hours(msgspec.Struct, omit_defaults=True):
    twentyfourseven: bool
    regular_hours: list[RegularHours] = []


class OcpiLocation(msgspec.Struct, kw_only=True, omit_defaults=True):
    country_code: str
    party_id: str
    id: str
    publish: bool  # required in 2.2.1: no default, so that it is never omitted
    name: str
    address: str
    city: str
    postal_code: str | None = None
    state: str | None = None
    country: str
    coordinates: GeoLocation
    parking_type: str
    evses: list[OcpiEvse]
    operator: BusinessDetails | None = None
    time_zone: str
    opening_times: Hours
    last_updated: str


# ---- real points -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SourcePoint:
    source: str  # one of SOURCES
    lat: float
    lon: float
    country: str  # ISO alpha-3
    country_code: str
    party_id: str
    name: str
    address: str
    city: str
    postal_code: str | None = None
    state: str | None = None
    operator: str | None = None
    time_zone: str | None = None  # set for every point that source_points() returns
    parking_type: str | None = None
    tesla: bool = False  # a Tesla site: its connectors become TESLA_S

    @property
    def party(self) -> str:
        return f"{self.country_code}*{self.party_id}"


@functools.lru_cache(maxsize=1)
def source_points() -> tuple[SourcePoint, ...]:
    """Every usable real point, de-duplicated on coordinates, on land, with a time zone."""
    unique: dict[tuple[str, str], SourcePoint] = {}
    for point in _all_points():
        unique.setdefault((f"{point.lat:.6f}", f"{point.lon:.6f}"), point)
    return _with_ocpi_time_zones(_on_land(list(unique.values())))


def _all_points() -> Iterator[SourcePoint]:
    # The richer AFDC exports first: they win the de-duplication over the 2022 extract.
    yield from _afdc_points()
    yield from _bnetza_points(REGISTRIES / "Ladesaeulenregister_2019-07-19.csv")
    yield from _uk_points(REGISTRIES / "national-charge-point-registry_stephenbrowett_2022.csv")
    yield from _ocpi_points()


def _coordinates(lat_text: str | None, lon_text: str | None) -> tuple[float, float] | None:
    """Usable (lat, lon) or None: empty, non-numeric, out of range and (0, 0) are not."""
    try:
        lat = float((lat_text or "").strip().replace(",", "."))
        lon = float((lon_text or "").strip().replace(",", "."))
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lat, lon


def _clean(value: object, limit: int | None = None) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())  # also folds the NBSPs and stray \r of the registries
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip()
    return text or None


def _read_text(path: Path) -> str:
    """Registry exports come in UTF-8 (with or without BOM) or Windows-1252."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


# ---- AFDC (US DOE/NREL) ------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _zip3_states() -> dict[str, str]:
    states: dict[str, str] = {}
    tokens = _ZIP3_STATES.split()
    for span, state in zip(tokens[::2], tokens[1::2], strict=True):
        first, _, last = span.partition("-")
        for prefix in range(int(first), int(last or first) + 1):
            states[f"{prefix:03d}"] = state
    return states


def _us_zip(value: str | None) -> str | None:
    """Five digits; the 2022 extract lost leading zeros (Excel) and has NBSPs and a ``0``."""
    digits = "".join(c for c in (value or "") if c.isdigit())
    if not 3 <= len(digits) <= 5:
        return None
    return digits.zfill(5)


@functools.lru_cache(maxsize=128)
def _us_state_name(state: str) -> str:
    subdivisions: Any = pycountry.subdivisions  # untyped in pycountry
    subdivision = subdivisions.get(code=f"US-{state}")
    return subdivision.name if subdivision is not None else state


AFDC_PARTY = REGISTRY_PARTIES["afdc"]


def _afdc_points() -> Iterator[SourcePoint]:
    full_ids: set[str] = set()
    zip_cities: dict[str, str] = {}
    for name in (
        "us_afdc_elec_NY_full75cols_2025_jingniz.csv",
        "us_afdc_elec_WA_full75cols_2025_andreagafer98.csv",
    ):
        for station_id, point in _afdc_full_points(REGISTRIES / name):
            full_ids.add(station_id)
            if point.postal_code:
                zip_cities.setdefault(point.postal_code, point.city)
            yield point
    yield from _afdc_min_points(
        REGISTRIES / "us_afdc_stations_min_2022_ghhyc.csv", full_ids, zip_cities
    )


def _afdc_full_points(path: Path) -> Iterator[tuple[str, SourcePoint]]:
    for row in csv.DictReader(io.StringIO(_read_text(path), newline="")):
        if row.get("Fuel Type Code") != "ELEC":  # the "elec" exports also list CNG, LPG, E85...
            continue
        coords = _coordinates(row.get("Latitude"), row.get("Longitude"))
        name = _clean(row.get("Station Name"), NAME_MAX)
        state = _clean(row.get("State"), STATE_MAX)
        if coords is None or name is None or state is None:
            continue
        network = _clean(row.get("EV Network"), OPERATOR_MAX)
        yield (
            row.get("ID") or "",
            SourcePoint(
                source="afdc",
                lat=coords[0],
                lon=coords[1],
                country="USA",
                country_code=AFDC_PARTY[0],
                party_id=AFDC_PARTY[1],
                name=name,
                address=_clean(row.get("Street Address"), ADDRESS_MAX) or name[:ADDRESS_MAX],
                city=_clean(row.get("City"), CITY_MAX) or _us_state_name(state),
                postal_code=_us_zip(row.get("ZIP")),
                state=state,
                operator=None if network in (None, "Non-Networked") else network,
                time_zone=_us_time_zone(state, coords[1]),
                tesla="tesla" in f"{network} {name}".lower(),
            ),
        )


def _afdc_min_points(
    path: Path, skip_ids: set[str], zip_cities: dict[str, str]
) -> Iterator[SourcePoint]:
    """ID, name, ZIP and coordinates only: the address is the station's name, the city comes
    from the same ZIP in the full exports or else is the state's name."""
    for row in csv.DictReader(io.StringIO(_read_text(path), newline="")):
        if row.get("ID") in skip_ids:
            continue
        coords = _coordinates(row.get("Latitude"), row.get("Longitude"))
        name = _clean(row.get("Station Name"), NAME_MAX)
        postal_code = _us_zip(row.get("ZIP"))
        state = _zip3_states().get(postal_code[:3]) if postal_code else None
        if coords is None or name is None or postal_code is None or state is None:
            continue
        yield SourcePoint(
            source="afdc",
            lat=coords[0],
            lon=coords[1],
            country="USA",
            country_code=AFDC_PARTY[0],
            party_id=AFDC_PARTY[1],
            name=name,
            address=name[:ADDRESS_MAX].rstrip(),
            city=zip_cities.get(postal_code) or _us_state_name(state)[:CITY_MAX],
            postal_code=postal_code,
            state=state,
            time_zone=_us_time_zone(state, coords[1]),
            tesla="tesla" in name.lower(),
        )


# ---- BNetzA (German Ladesäulenregister) --------------------------------------------------------
def _bnetza_points(path: Path) -> Iterator[SourcePoint]:
    rows = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter=";")
    header: list[str] | None = None
    for row in rows:  # a title block precedes the header (5 lines in the 2019 snapshot)
        if row and row[0].strip() == "Betreiber":
            header = [h.strip() for h in row]
            break
    if header is None:
        raise ValueError(f"{path.name}: no 'Betreiber;Adresse;...' header line")
    column = {name: i for i, name in enumerate(header)}
    cc, pid = REGISTRY_PARTIES["bnetza"]
    for row in rows:
        if len(row) < len(header):
            continue
        coords = _coordinates(row[column["Breitengrad [DG]"]], row[column["Längengrad [DG]"]])
        operator = _clean(row[column["Betreiber"]], OPERATOR_MAX)
        address = _clean(row[column["Adresse"]], ADDRESS_MAX)
        postal_code, city = _split_postal_city(row[column["Postleitzahl Ort"]])
        if coords is None or address is None or city is None:
            continue
        yield SourcePoint(
            source="bnetza",
            lat=coords[0],
            lon=coords[1],
            country="DEU",
            country_code=cc,
            party_id=pid,
            name=f"{operator}, {address}" if operator else address,
            address=address,
            city=city,
            postal_code=postal_code,
            operator=operator,
            time_zone="Europe/Berlin",
        )


def _split_postal_city(value: str) -> tuple[str | None, str | None]:
    """``"68159 Mannheim"`` → ("68159", "Mannheim"). Some codes lost their leading digit."""
    text = _clean(value) or ""
    code, _, rest = text.partition(" ")
    if code.isdigit():
        return code[:POSTAL_CODE_MAX], _clean(rest, CITY_MAX)
    return None, _clean(text, CITY_MAX)


# ---- UK National Chargepoint Registry ----------------------------------------------------------
def _uk_points(path: Path) -> Iterator[SourcePoint]:
    # Bare \r inside unquoted fields would split a record in two: read them as spaces.
    text = re.sub(r"\r(?!\n)", " ", _read_text(path))
    cc, pid = REGISTRY_PARTIES["uk"]
    for row in csv.DictReader(io.StringIO(text, newline="")):
        coords = _coordinates(row.get("latitude"), row.get("longitude"))
        name = _clean(row.get("name"), NAME_MAX)
        street = _clean(row.get("thoroughfare")) or _clean(row.get("street"))
        number = _clean(row.get("buildingNumber"))
        address = _clean(f"{number or ''} {street}" if street else row.get("buildingName"))
        city = next(
            (c for k in ("town", "dependantLocality", "county") if (c := _clean(row.get(k)))),
            None,
        )
        if coords is None or name is None or city is None:
            continue
        yield SourcePoint(
            source="uk",
            lat=coords[0],
            lon=coords[1],
            country="GBR",
            country_code=cc,
            party_id=pid,
            name=name,
            address=(address or name)[:ADDRESS_MAX].rstrip(),
            city=city[:CITY_MAX],
            postal_code=_clean(row.get("postcode"), POSTAL_CODE_MAX),
            operator=_clean(row.get("deviceOwnerName"), OPERATOR_MAX)
            or _clean(row.get("deviceControllerName"), OPERATOR_MAX),
            time_zone="Europe/London",
        )


# ---- the OCPI dumps (read through the project's own normaliser) --------------------------------
@dataclass(frozen=True, slots=True)
class _FeedLocation:
    location: LocationRecord
    problems: tuple[Problem, ...]
    party: tuple[str, str] | None  # (country_code, party_id) as the feed sent them


@functools.lru_cache(maxsize=1)
def _ocpi_feed_locations() -> tuple[_FeedLocation, ...]:
    out: list[_FeedLocation] = []
    for path in sorted(OCPI_FEEDS.glob("*.json")):
        if path.name == "manifest.json":
            continue
        cc, pid = OCPI_FALLBACK_PARTY
        normaliser = Normaliser(
            IngestContext(
                network_id=0,
                source=f"file:{path.name}",
                country_code=cc,
                party_id=pid,
                received_at=_READ_FEEDS_AT,
                check_geography=False,  # done below, with the stricter clone margin
            )
        )
        for raw in split_page(path.read_bytes()):
            problems: list[Problem] = []
            location = normaliser.location(raw, problems)
            if location is not None:
                out.append(_FeedLocation(location, tuple(problems), _feed_party(location.raw)))
    return tuple(out)


def _feed_party(raw: bytes) -> tuple[str, str] | None:
    obj = wire.location_decoder.decode(raw)
    cc, pid = _clean(obj.country_code), _clean(obj.party_id)
    return (cc.upper(), pid.upper()) if cc and pid else None


def _ocpi_points() -> Iterator[SourcePoint]:
    for feed in _ocpi_feed_locations():
        loc = feed.location
        country = loc.country or country_alpha3(loc.country_code)
        name = _clean(loc.name, NAME_MAX) or _clean(loc.address, NAME_MAX)
        address = _clean(loc.address, ADDRESS_MAX) or _clean(loc.name, ADDRESS_MAX)
        city = _clean(loc.city, CITY_MAX)
        if country is None or name is None or address is None or city is None:
            continue
        cc, pid = feed.party or OCPI_FALLBACK_PARTY
        yield SourcePoint(
            source="ocpi",
            lat=loc.lat,
            lon=loc.lon,
            country=country,
            country_code=cc,
            party_id=pid,
            name=name,
            address=address,
            city=city,
            postal_code=_clean(loc.postal_code, POSTAL_CODE_MAX),
            state=_clean(loc.state, STATE_MAX),
            operator=_clean(loc.operator_name, OPERATOR_MAX),
            time_zone=loc.time_zone,  # a valid IANA name or None (the normaliser checked)
            parking_type=loc.parking_type,
        )


# ---- geography and time zones ------------------------------------------------------------------
def _on_land(points: list[SourcePoint]) -> list[SourcePoint]:
    """Points the normaliser's border check accepts without a note, with room for clones.

    A point inside its country's land polygons, or close enough outside it (coasts, piers).
    Dropped: Uluru and Madrid in the UK registry, (1, 1) placeholders, copied lat = lon.
    """
    shapes = country_shapes()
    inside = shapes.inside_many(
        [p.lat for p in points], [p.lon for p in points], [p.country for p in points]
    )
    return [
        point
        for point, ok in zip(points, inside, strict=True)
        if shapes.knows(point.country)
        and (ok or shapes.distance_km(point.lat, point.lon, point.country) <= MAX_OUTSIDE_BORDER_KM)
    ]


def _us_time_zone(state: str, lon: float) -> str:
    """By state where one zone fits, else by longitude band (good enough for a benchmark)."""
    if state in US_STATE_ZONES:
        return US_STATE_ZONES[state]
    if lon >= -87.5:
        return "America/New_York"
    if lon >= -101.5:
        return "America/Chicago"
    if lon >= -115.0:
        return "America/Denver"
    return "America/Los_Angeles"


def _with_ocpi_time_zones(points: list[SourcePoint]) -> tuple[SourcePoint, ...]:
    """An OCPI location without a (valid) time zone takes the nearest one of its country."""
    zoned = [p for p in points if p.time_zone is not None]
    out: list[SourcePoint] = []
    for point in points:
        if point.time_zone is None:
            near = [p for p in zoned if p.source == "ocpi" and p.country == point.country]
            if not near:
                continue
            nearest = min(near, key=lambda p: (p.lat - point.lat) ** 2 + (p.lon - point.lon) ** 2)
            point = replace(point, time_zone=nearest.time_zone)
        out.append(point)
    return tuple(out)


# ---- EVSE / connector templates ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConnectorTemplate:
    standard: str
    format: str
    power_type: str
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None


@dataclass(frozen=True, slots=True)
class EvseTemplate:
    capabilities: tuple[str, ...]
    connectors: tuple[ConnectorTemplate, ...]


LocationTemplate = tuple[EvseTemplate, ...]  # the EVSEs of one real location


@dataclass(frozen=True)
class TemplatePool:
    templates: tuple[LocationTemplate, ...]
    mean_evses: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.templates:
            raise ValueError("empty template pool")
        mean = sum(len(t) for t in self.templates) / len(self.templates)
        object.__setattr__(self, "mean_evses", mean)

    def draw(self, rng: random.Random) -> LocationTemplate:
        return self.templates[rng.randrange(len(self.templates))]


@dataclass(frozen=True)
class TemplatePools:
    us: TemplatePool  # remapped to Type 1 / CCS1 / CHAdeMO
    us_tesla: TemplatePool  # one TESLA_S connector per EVSE
    europe: TemplatePool  # Type 2 / CCS2 / CHAdeMO
    by_country: dict[str, TemplatePool]  # as the feeds of that country send them

    def for_point(self, point: SourcePoint) -> TemplatePool:
        if point.country in NORTH_AMERICA:
            return self.us_tesla if point.tesla else self.us
        if point.source == "ocpi" and point.country in self.by_country:
            return self.by_country[point.country]
        return self.europe


@functools.lru_cache(maxsize=1)
def template_pools() -> TemplatePools:
    templates: list[tuple[str, LocationTemplate]] = []
    for feed in _ocpi_feed_locations():
        template = _template(feed.location, feed.problems)
        if template is not None:
            country = feed.location.country or country_alpha3(feed.location.country_code) or ""
            templates.append((country, template))
    by_country: dict[str, list[LocationTemplate]] = {}
    for country, template in templates:
        by_country.setdefault(country, []).append(template)
    us = [_to_us(t) for _, t in templates if _standards(t) <= US_REMAPPABLE]
    return TemplatePools(
        us=TemplatePool(tuple(us)),
        us_tesla=TemplatePool(tuple(_to_tesla(t) for t in us)),
        europe=TemplatePool(tuple(t for _, t in templates if _standards(t) <= EUROPE_STANDARDS)),
        by_country={c: TemplatePool(tuple(ts)) for c, ts in sorted(by_country.items()) if c},
    )


def _template(location: LocationRecord, problems: Sequence[Problem]) -> LocationTemplate | None:
    """The EVSEs of a real location, if every one of them is clean; None if any is garbage."""
    prefix = f"{location.key}/"
    if not location.evses or any(
        p.object_kind in ("evse", "connector") and (p.object_key or "").startswith(prefix)
        for p in problems
    ):
        return None
    evses: list[EvseTemplate] = []
    for evse in location.evses:
        connectors = [_connector_template(c) for c in evse.connectors]
        if not evse.visible or not connectors or None in connectors:
            return None
        evses.append(
            EvseTemplate(
                capabilities=tuple(c for c in evse.capabilities if c in CAPABILITIES),
                connectors=tuple(c for c in connectors if c is not None),
            )
        )
    return tuple(evses)


def _connector_template(c: ConnectorRecord) -> ConnectorTemplate | None:
    if c.standard == UNKNOWN_STANDARD or c.format not in FORMATS:
        return None
    if c.power_type not in POWER_TYPES or c.max_voltage is None or c.max_amperage is None:
        return None
    declared = c.max_electric_power_w
    template = ConnectorTemplate(
        standard=c.standard,
        format=c.format,
        power_type=c.power_type,
        max_voltage=c.max_voltage,
        max_amperage=c.max_amperage,
        max_electric_power=declared if declared is not None and declared > 0 else None,
    )
    return template if _plausible(template) else None


def _plausible(c: ConnectorTemplate) -> bool:
    """What the normaliser lets through with a note, or not at all, makes a bad template."""
    dc = c.power_type == "DC"
    ac_only = c.standard in AC_ONLY_STANDARDS or c.standard.startswith(AC_ONLY_PREFIXES)
    if dc and (c.format != "CABLE" or ac_only):
        return False  # a DC plug always comes on a cable, and never as Type 2 / Schuko
    if not dc and c.standard in DC_ONLY_STANDARDS:
        return False
    volts_ok = 200 <= c.max_voltage <= 1500 if dc else 100 <= c.max_voltage <= 480
    amps_ok = 6 <= c.max_amperage <= (1000 if dc else 125)
    if not (volts_ok and amps_ok):
        return False
    _, note = connector_max_power_kw(
        c.power_type, c.standard, c.max_voltage, c.max_amperage, c.max_electric_power
    )
    return note is None


def _standards(template: LocationTemplate) -> set[str]:
    return {c.standard for evse in template for c in evse.connectors}


def _to_us(template: LocationTemplate) -> LocationTemplate:
    """North-American plugs: Type 2 → Type 1 (single phase, 240 V), CCS2 → CCS1."""
    return tuple(
        replace(evse, connectors=tuple(_us_connector(c) for c in evse.connectors))
        for evse in template
    )


def _us_connector(c: ConnectorTemplate) -> ConnectorTemplate:
    if c.power_type == "DC":
        standard = "CHADEMO" if c.standard == "CHADEMO" else "IEC_62196_T1_COMBO"
        return replace(c, standard=standard, format="CABLE")
    amperage = min(c.max_amperage, US_AC_MAX_AMPERAGE)
    return ConnectorTemplate(
        standard="IEC_62196_T1",
        format="CABLE",  # J1772 is always tethered
        power_type="AC_1_PHASE",
        max_voltage=US_AC_VOLTAGE,
        max_amperage=amperage,
        max_electric_power=US_AC_VOLTAGE * amperage,
    )


def _to_tesla(template: LocationTemplate) -> LocationTemplate:
    """A Tesla post has one cable: the EVSE's first connector, as TESLA_S (NACS in 2.2.1)."""
    return tuple(
        replace(evse, connectors=(replace(evse.connectors[0], standard="TESLA_S"),))
        for evse in template
    )


# ---- building the locations --------------------------------------------------------------------
def _evse_count(
    rng: random.Random, natural: int, pool_mean: float, remaining_evses: int, remaining_locs: int
) -> int:
    """EVSEs for the next location: its template's size scaled to the mean still needed.

    Re-aiming at every location keeps the total exactly on target; the last takes the rest.
    """
    if remaining_locs == 1:
        return remaining_evses
    wanted = natural * (remaining_evses / remaining_locs) / pool_mean
    count = int(wanted) + (rng.random() < wanted - int(wanted))
    return max(1, min(count, remaining_evses - (remaining_locs - 1)))


def _jitter(rng: random.Random, lat: float, lon: float) -> tuple[float, float]:
    """A point MIN..MAX_CLONE_OFFSET_M away in a random direction (WGS84 degree lengths)."""
    distance_m = rng.uniform(MIN_CLONE_OFFSET_M, MAX_CLONE_OFFSET_M)
    bearing = rng.uniform(0.0, 2 * math.pi)
    phi = math.radians(lat)
    m_per_deg_lat = 111_132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    m_per_deg_lon = max(111_412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi), 1.0)
    new_lat = lat + distance_m * math.cos(bearing) / m_per_deg_lat
    new_lon = lon + distance_m * math.sin(bearing) / m_per_deg_lon
    return max(-90.0, min(90.0, new_lat)), (new_lon + 180.0) % 360.0 - 180.0


def _timestamp(epoch_s: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def _zone(point: SourcePoint) -> str:
    assert point.time_zone is not None, "source_points() gives every point a time zone"
    return point.time_zone


def _opening_times(rng: random.Random) -> Hours:
    if rng.random() < OPEN_24_7_SHARE:
        return Hours(twentyfourseven=True)
    pattern = OPENING_PATTERNS[rng.randrange(len(OPENING_PATTERNS))]
    return Hours(
        twentyfourseven=False,
        regular_hours=[
            RegularHours(weekday=day, period_begin=begin, period_end=end)
            for days, begin, end in pattern
            for day in days
        ],
    )


class _Builder:
    """Draws the locations in order, from one seeded random stream; counts what it drew."""

    def __init__(
        self,
        rng: random.Random,
        points: Sequence[SourcePoint],
        pools: TemplatePools,
        locations: int,
        evses: int,
    ) -> None:
        self.rng = rng
        self.points = points
        self.pools = pools
        self.order = list(range(len(points)))
        rng.shuffle(self.order)  # a small dataset still samples every source
        self.locations_total = locations
        self.evses_total = evses
        self.id_width = max(7, len(str(locations - 1)))
        self.serial_width = max(7, len(str(evses - 1)))
        self.evses_done = 0
        self.connectors_done = 0
        self.parties: Counter[str] = Counter()
        self.source_points: Counter[str] = Counter()
        self.source_locations: Counter[str] = Counter()

    def location(self, index: int) -> OcpiLocation:
        rng = self.rng
        point = self.points[self.order[index % len(self.points)]]
        clone = index // len(self.points)  # 0: the real point itself
        lat, lon = (point.lat, point.lon) if clone == 0 else _jitter(rng, point.lat, point.lon)
        name = point.name
        if clone:
            suffix = f" #{clone + 1}"
            name = name[: NAME_MAX - len(suffix)] + suffix
        updated_s = _BASE_S - rng.randrange(LOCATION_AGE_S)
        evses = self._evses(point, index, updated_s)
        self.parties[point.party] += 1
        self.source_locations[point.source] += 1
        self.source_points[point.source] += clone == 0
        return OcpiLocation(
            country_code=point.country_code,
            party_id=point.party_id,
            id=f"B{index:0{self.id_width}d}",
            publish=True,
            name=name,
            address=point.address,
            city=point.city,
            postal_code=point.postal_code,
            state=point.state,
            country=point.country,
            coordinates=GeoLocation(f"{lat:.6f}", f"{lon:.6f}"),
            parking_type=point.parking_type
            or rng.choices(PARKING_TYPES, weights=PARKING_WEIGHTS)[0],
            evses=evses,
            operator=BusinessDetails(point.operator) if point.operator else None,
            time_zone=_zone(point),
            opening_times=_opening_times(rng),
            last_updated=_timestamp(updated_s),
        )

    def _evses(self, point: SourcePoint, index: int, updated_s: int) -> list[OcpiEvse]:
        rng = self.rng
        pool = self.pools.for_point(point)
        template = pool.draw(rng)
        count = _evse_count(
            rng,
            len(template),
            pool.mean_evses,
            self.evses_total - self.evses_done,
            self.locations_total - index,
        )
        evses: list[OcpiEvse] = []
        for k in range(count):
            # Fewer than the template: its first EVSEs; more: its EVSEs again, in turn.
            evse = template[k % len(template)]
            serial = self.evses_done + k
            evse_updated = _timestamp(updated_s - rng.randrange(EVSE_AGE_S))
            evses.append(
                OcpiEvse(
                    uid=f"U{serial:0{self.serial_width}d}",
                    evse_id=f"{point.country_code}*{point.party_id}*E{serial:0{self.serial_width}d}",
                    status=rng.choices(STATUSES, weights=STATUS_WEIGHTS)[0],
                    capabilities=list(evse.capabilities),
                    connectors=[
                        OcpiConnector(
                            id=str(n),
                            standard=c.standard,
                            format=c.format,
                            power_type=c.power_type,
                            max_voltage=c.max_voltage,
                            max_amperage=c.max_amperage,
                            max_electric_power=c.max_electric_power,
                            last_updated=evse_updated,
                        )
                        for n, c in enumerate(evse.connectors, start=1)
                    ],
                    last_updated=evse_updated,
                )
            )
            self.connectors_done += len(evse.connectors)
        self.evses_done += count
        return evses

    def info(self, *, pages: int, page_size: int, seed: int) -> DatasetInfo:
        available = Counter(p.source for p in self.points)
        return DatasetInfo(
            locations=self.locations_total,
            evses=self.evses_done,
            connectors=self.connectors_done,
            pages=pages,
            page_size=page_size,
            seed=seed,
            parties=dict(sorted(self.parties.items())),
            source_points={s: self.source_points[s] for s in SOURCES},
            source_locations={s: self.source_locations[s] for s in SOURCES},
            available_points={s: available[s] for s in SOURCES},
        )
