"""Decode and normalise OCPI Locations into one internal model (architecture.md, "OCPI rules").

Every version (2.1.1, 2.2, 2.2.1, 2.3.0 values) and every dialect real feeds send maps here:
trimmed, upper-cased enums; coordinates from strings or numbers; one lenient timestamp parser;
2.1.1 shapes (``type``, ``voltage``/``amperage``, ``tariff_id``) read as their 2.2 names.
What cannot be used becomes a ``Problem`` with a reason an operator understands; what was
repaired is kept and noted.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import h3.api.basic_int as h3
import msgspec

from app.domain.connectors import (
    normalise_format,
    normalise_power_type,
    normalise_standard,
    power_class,
)
from app.domain.parking import ParkingPlace, read_evse_parking, read_parking_places
from app.domain.status import (
    AVAILABLE,
    BUCKETS,
    HIDDEN,
    OCCUPIED,
    OUT_OF_SERVICE,
    PLANNED,
    UNKNOWN,
    normalise_status,
    status_bucket,
)
from app.domain.text import search_text
from app.domain.timestamps import parse_timestamp
from app.store.records import (
    ConnectorRecord,
    EvseRecord,
    LocationRecord,
    Problem,
    location_key,
)
from ingest.ocpi import storable, wire
from ingest.ocpi.geocheck import CountryShapes, country_alpha3, country_shapes
from ingest.ocpi.groups import EvseFacts, connector_groups, tariff_links
from ingest.ocpi.hours import normalise_opening_times, normalise_time_zone
from ingest.ocpi.power import connector_max_power_kw

# A network's clock may run ahead; more than this and we trust our own.
MAX_CLOCK_SKEW = timedelta(minutes=5)
REGION_RESOLUTION = 2
H3_RESOLUTIONS = tuple(range(3, 10))
_CAMEL_KEY = re.compile(rb'"[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*"\s*:')
_CAMEL_SPLIT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PARKING_TYPES = frozenset(
    {
        "ALONG_MOTORWAY",
        "PARKING_GARAGE",
        "PARKING_LOT",
        "ON_DRIVEWAY",
        "ON_STREET",
        "UNDERGROUND_GARAGE",
    }
)


@dataclass
class IngestContext:
    """Where a batch of objects comes from; what a bare 2.1.1 object cannot say itself."""

    network_id: int
    source: str  # push | pull | file:<name>
    ocpi_version: str | None = None
    country_code: str | None = None
    party_id: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # When the statuses in this batch were true (a dump's envelope timestamp); default: received.
    observed_at: datetime | None = None
    check_geography: bool = True


def content_hash(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


def _identity_digest(country_code: str, party_id: str, ocpi_id: str) -> bytes:
    return hashlib.sha256(location_key(country_code, party_id, ocpi_id).encode()).digest()


def sort_key(country_code: str, party_id: str, ocpi_id: str) -> int:
    return _sort_key(_identity_digest(country_code, party_id, ocpi_id))


def _sort_key(digest: bytes) -> int:
    return int.from_bytes(digest[10:18], "big") >> 1  # fits a signed bigint


def public_location_id(country_code: str, party_id: str, ocpi_id: str) -> str:
    """Stable across re-imports: derived from the OCPI identity only."""
    return _public_id(_identity_digest(country_code, party_id, ocpi_id))


def _public_id(digest: bytes) -> str:
    return base64.b32encode(digest[:10]).decode().lower()


def parse_coordinate(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        if isinstance(value, float):
            return round(value)
        if isinstance(value, str):
            return round(float(value.strip()))
    except (ValueError, OverflowError):  # not a number, or inf / nan
        return None
    return None


# Beyond any charger (MCS: 1,250 V, 3,000 A, 3.75 MW): a value above is a unit error or garbage,
# never stored as it is (the columns are 32-bit integers).
MAX_VOLTAGE = 2_000
MAX_AMPERAGE = 5_000
MAX_POWER_W = 10_000_000


def _plausible(
    value: object, field: str, unit: str, maximum: int, key: str, problems: list[Problem]
) -> int | None:
    """An integer field of a connector within 0..maximum; anything else is a note and None."""
    number = _int(value) if not isinstance(value, float) or math.isfinite(value) else None
    if number is None:
        if value is not None and not (isinstance(value, str) and not value.strip()):
            problems.append(
                Problem("connector", key, f"{field} {value!r} is not a number; ignored", "note")
            )
        return None
    if not 0 <= number <= maximum:
        problems.append(
            Problem(
                "connector",
                key,
                f"{field} {value!r} {unit} is not plausible (0 to {maximum:,} {unit}); ignored",
                "note",
            )
        )
        return None
    return number


def _as_text(raw: bytes) -> str:
    """Raw input for the quarantine's text column (which, like jsonb, holds no NUL byte)."""
    return raw.decode("utf-8", errors="replace").replace("\x00", "\\u0000")


def _bool(value: object, default: bool | None) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    return default


def _enum_list(values: list[Any] | None) -> list[str]:
    if not values:
        return []
    out = []
    for value in values:
        if isinstance(value, str) and value.strip():
            out.append(value.strip().upper())
    return list(dict.fromkeys(out))


def _snake_case(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {_CAMEL_SPLIT.sub("_", k).lower(): _snake_case(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_snake_case(v) for v in obj]
    return obj


def undo_camel_case(raw: bytes) -> tuple[bytes, bool]:
    """Some feeds send ``lastUpdated``, ``postalCode``, ``timeZone``: read them as OCPI names."""
    if _CAMEL_KEY.search(raw) is None:
        return raw, False
    try:
        return wire.encoder.encode(_snake_case(wire.any_decoder.decode(raw))), True
    except msgspec.DecodeError:
        return raw, False


def h3_cells(lat: float, lon: float) -> tuple[int, tuple[int, ...]]:
    finest = h3.latlng_to_cell(lat, lon, H3_RESOLUTIONS[-1])
    cells = (*(h3.cell_to_parent(finest, res) for res in H3_RESOLUTIONS[:-1]), finest)
    return h3.cell_to_parent(finest, REGION_RESOLUTION), cells


def without_member(raw: bytes, name: str) -> bytes | None:
    """The JSON object without one member, the others byte for byte; None when it has no such
    member. Children (EVSEs, connectors) are stored in their own rows: sending them again
    inside their parent cost PostgreSQL a parse of the whole tree per level."""
    members = wire.top_level_decoder.decode(raw)
    if members.pop(name, None) is None:
        return None
    return wire.encoder.encode(members)


def _has_value(raw: msgspec.Raw) -> bool:
    return bool(raw) and bytes(raw).strip() != b"null"


def _error_text(exc: Exception) -> str:
    text = str(exc)
    return text.replace("`", "")


class Normaliser:
    """Turns raw OCPI objects of one batch into internal objects and problems."""

    def __init__(self, ctx: IngestContext, shapes: CountryShapes | None = None) -> None:
        self.ctx = ctx
        self._shapes = shapes if shapes is not None or not ctx.check_geography else country_shapes()
        self._latest_allowed = ctx.received_at + MAX_CLOCK_SKEW

    # ---- timestamps -----------------------------------------------------------------------------
    def _last_updated(
        self, value: object, kind: str, key: str, problems: list[Problem], fallback: datetime | None
    ) -> datetime:
        parsed = parse_timestamp(value)
        if parsed is None:
            default = fallback or self.ctx.received_at
            what = "missing" if value in (None, "") else f"{value!r} is not a DateTime"
            problems.append(
                Problem(kind, key, f"last_updated {what}; used {default.isoformat()}", "note")
            )
            return default
        if parsed > self._latest_allowed:
            problems.append(
                Problem(
                    kind,
                    key,
                    f"last_updated {value!r} is in the future; used the time of receipt",
                    "note",
                )
            )
            return self.ctx.received_at
        return parsed

    # ---- bounded values -------------------------------------------------------------------------
    @staticmethod
    def _free_text(
        value: object, field: str, kind: str, key: str, problems: list[Problem]
    ) -> str | None:
        """Free text (a name, an address), cut at ``storable.MAX_TEXT_CHARS`` with a note."""
        text = _text(value)
        if text is None or len(text) <= storable.MAX_TEXT_CHARS:
            return text
        problems.append(
            Problem(
                kind,
                key,
                f"{field} is {len(text):,} characters long; cut to {storable.MAX_TEXT_CHARS:,}",
                "note",
            )
        )
        return text[: storable.MAX_TEXT_CHARS]

    @staticmethod
    def _evse_id(value: object, key: str, problems: list[Problem]) -> str | None:
        text = _text(value)
        if text is None:
            return None
        if (bad := storable.id_problem("evse_id", text)) is not None:
            problems.append(Problem("evse", key, f"{bad}; ignored", "note"))
            return None
        return text

    # ---- connector ------------------------------------------------------------------------------
    def connector(
        self, raw: bytes, evse_key: str, problems: list[Problem], parent_updated: datetime
    ) -> ConnectorRecord | None:
        try:
            obj = wire.connector_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            problems.append(
                Problem(
                    "connector", f"{evse_key}/?", f"connector unusable: {_error_text(exc)}", raw=raw
                )
            )
            return None
        connector_id_raw = _text(obj.id)
        if connector_id_raw is None:
            problems.append(Problem("connector", f"{evse_key}/?", "connector without id", raw=raw))
            return None
        if (bad := storable.id_problem("connector id", connector_id_raw)) is not None:
            problems.append(Problem("connector", f"{evse_key}/?", bad, raw_text=_as_text(raw)))
            return None
        key = f"{evse_key}/{connector_id_raw.upper()}"
        standard, note = normalise_standard(obj.standard)
        if note:
            problems.append(Problem("connector", key, note, "note"))
        power_type, note = normalise_power_type(obj.power_type)
        if note:
            problems.append(Problem("connector", key, note, "note"))
        fmt, note = normalise_format(obj.format)
        if note:
            problems.append(Problem("connector", key, note, "note"))
        if not isinstance(obj.capabilities, list | None):  # 2.3.0, kept in the raw object
            problems.append(
                Problem("connector", key, "capabilities is not a list; ignored", "note")
            )
        voltage = _plausible(
            obj.max_voltage if obj.max_voltage is not None else obj.voltage,
            "max_voltage", "V", MAX_VOLTAGE, key, problems,
        )  # fmt: skip
        amperage = _plausible(
            obj.max_amperage if obj.max_amperage is not None else obj.amperage,
            "max_amperage", "A", MAX_AMPERAGE, key, problems,
        )  # fmt: skip
        declared_w = _plausible(
            obj.max_electric_power, "max_electric_power", "W", MAX_POWER_W, key, problems
        )
        max_kw, note = connector_max_power_kw(power_type, standard, voltage, amperage, declared_w)
        if note:
            problems.append(Problem("connector", key, note, "note"))
        tariff_ids: list[str] = []
        if isinstance(obj.tariff_ids, list):
            tariff_ids = [t for t in (_text(x) for x in obj.tariff_ids) if t]
        elif obj.tariff_ids is not None:
            single = _text(obj.tariff_ids)
            tariff_ids = [single] if single else []
        if not tariff_ids and obj.tariff_id is not None:
            single = _text(obj.tariff_id)
            tariff_ids = [single] if single else []
        return ConnectorRecord(
            connector_id=connector_id_raw.upper(),
            connector_id_raw=connector_id_raw,
            standard=standard,
            standard_raw=obj.standard,
            format=fmt,
            power_type=power_type,
            max_voltage=voltage,
            max_amperage=amperage,
            max_electric_power_w=declared_w,
            max_power_kw=max_kw,
            tariff_ids=[t.upper() for t in tariff_ids],
            terms_and_conditions=obj.terms_and_conditions,
            last_updated=self._last_updated(
                obj.last_updated, "connector", key, problems, parent_updated
            )
            if obj.last_updated is not None
            else parent_updated,
            content_hash=content_hash(raw),
            raw=raw,
        )

    # ---- EVSE -----------------------------------------------------------------------------------
    def evse(
        self,
        raw: bytes,
        location_key_: str,
        problems: list[Problem],
        parent_updated: datetime,
        parking_places: dict[str, ParkingPlace] | None = None,
    ) -> EvseRecord | None:
        try:
            obj = wire.evse_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            problems.append(
                Problem("evse", f"{location_key_}/?", f"EVSE unusable: {_error_text(exc)}", raw=raw)
            )
            return None
        uid_raw = _text(obj.uid)
        if uid_raw is None:
            problems.append(Problem("evse", f"{location_key_}/?", "EVSE without uid", raw=raw))
            return None
        if (bad := storable.id_problem("uid", uid_raw)) is not None:
            problems.append(Problem("evse", f"{location_key_}/?", bad, raw_text=_as_text(raw)))
            return None
        key = f"{location_key_}/{uid_raw.upper()}"
        last_updated = (
            self._last_updated(obj.last_updated, "evse", key, problems, parent_updated)
            if obj.last_updated is not None
            else parent_updated
        )
        status, note = normalise_status(obj.status)
        if note:
            problems.append(Problem("evse", key, note, "note"))
        # 2.3.0 fields are kept in the raw object and read from it for the detail: here they
        # are only checked, so that what cannot be read is said (ocpi.md §3.13).
        _, notes = read_evse_parking(obj.parking, parking_places or {})
        problems.extend(Problem("evse", key, n, "note") for n in notes)
        if not isinstance(obj.accepted_service_providers, list | None):
            problems.append(
                Problem("evse", key, "accepted_service_providers is not a list; ignored", "note")
            )
        connectors: list[ConnectorRecord] = []
        seen: set[str] = set()
        for connector_raw in obj.connectors or ():
            connector = self.connector(bytes(connector_raw), key, problems, last_updated)
            if connector is None:
                continue
            if connector.connector_id in seen:
                problems.append(
                    Problem(
                        "connector",
                        f"{key}/{connector.connector_id}",
                        "duplicate connector id in EVSE; first kept",
                        raw=connector.raw,
                    )
                )
                continue
            seen.add(connector.connector_id)
            connectors.append(connector)
        bucket = status_bucket(status)
        visible = bucket != HIDDEN
        hidden_reason = "status REMOVED" if not visible else None
        if visible and not connectors:
            visible = False
            hidden_reason = "no usable connector"
            problems.append(
                Problem(
                    "evse", key, "EVSE has no usable connector (OCPI requires one); hidden", "note"
                )
            )
        lat = lon = None
        if obj.coordinates is not None:
            lat = parse_coordinate(obj.coordinates.latitude)
            lon = parse_coordinate(obj.coordinates.longitude)
            if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
                lat = lon = None
        powers = [c.max_power_kw for c in connectors if c.max_power_kw is not None]
        return EvseRecord(
            uid=uid_raw.upper(),
            uid_raw=uid_raw,
            evse_id=self._evse_id(obj.evse_id, key, problems),
            status=status,
            status_raw=obj.status,
            status_bucket=bucket,
            capabilities=_enum_list(obj.capabilities),
            parking_restrictions=_enum_list(obj.parking_restrictions),
            floor_level=self._free_text(obj.floor_level, "floor_level", "evse", key, problems),
            physical_reference=self._free_text(
                obj.physical_reference, "physical_reference", "evse", key, problems
            ),
            lat=lat,
            lon=lon,
            connectors=connectors,
            max_power_kw=max(powers) if powers else None,
            connector_standards=sorted({c.standard for c in connectors}),
            power_types=sorted({power_class(c.power_type) for c in connectors}),
            visible=visible,
            hidden_reason=hidden_reason,
            last_updated=last_updated,
            content_hash=content_hash(raw),
            raw=raw,
            stored_raw=without_member(raw, "connectors") if obj.connectors else None,
        )

    # ---- location -------------------------------------------------------------------------------
    def location(self, raw: bytes, problems: list[Problem]) -> LocationRecord | None:
        """Normalise one raw Location; problems (rejections and notes) are appended."""
        raw, camel = undo_camel_case(raw)
        try:
            obj = wire.location_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            problems.append(
                Problem("location", None, f"location unusable: {_error_text(exc)}", raw=raw)
            )
            return None
        ocpi_id_raw = _text(obj.id)
        cc = (_text(obj.country_code) or self.ctx.country_code or "").upper()
        pid = (_text(obj.party_id) or self.ctx.party_id or "").upper()
        provisional_key = f"{cc or '?'}*{pid or '?'}*{(ocpi_id_raw or '?').upper()}"
        if (nul := storable.nul_in_json(raw)) is not None:
            # Nothing of it can be stored (text and jsonb hold no U+0000): the raw object goes to
            # the quarantine as text, with the field named.
            key_text = provisional_key.replace("\x00", "\\u0000")[: storable.MAX_ID_CHARS]
            problems.append(
                Problem("location", key_text, f"location unusable: {nul}", raw_text=_as_text(raw))
            )
            return None
        if ocpi_id_raw is None:
            problems.append(Problem("location", provisional_key, "location without id", raw=raw))
            return None
        for field_name, value in (("id", ocpi_id_raw), ("country_code", cc), ("party_id", pid)):
            if value and (bad := storable.id_problem(field_name, value)) is not None:
                problems.append(
                    Problem(
                        "location",
                        provisional_key[: storable.MAX_ID_CHARS],
                        f"location unusable: {bad}",
                        raw_text=_as_text(raw),
                    )
                )
                return None
        if not cc or not pid:
            missing = " and ".join(n for n, v in (("country_code", cc), ("party_id", pid)) if not v)
            problems.append(
                Problem(
                    "location",
                    provisional_key,
                    f"location without {missing} (a 2.1.1 feed: load it with --party CC*PID)",
                    raw=raw,
                )
            )
            return None
        key = location_key(cc, pid, ocpi_id_raw.upper())
        if camel:
            problems.append(
                Problem("location", key, "camelCase field names read as OCPI snake_case", "note")
            )
        if obj.coordinates is None:
            problems.append(Problem("location", key, "location without coordinates", raw=raw))
            return None
        lat = parse_coordinate(obj.coordinates.latitude)
        lon = parse_coordinate(obj.coordinates.longitude)
        if lat is None or lon is None:
            problems.append(
                Problem(
                    "location",
                    key,
                    f"coordinates are not numbers: latitude={obj.coordinates.latitude!r}, "
                    f"longitude={obj.coordinates.longitude!r}",
                    raw=raw,
                )
            )
            return None
        if not -90 <= lat <= 90 or not -180 <= lon <= 180:
            problems.append(
                Problem(
                    "location",
                    key,
                    f"coordinates out of range: latitude {lat} (−90..90), "
                    f"longitude {lon} (−180..180)",
                    raw=raw,
                )
            )
            return None
        if lat == 0 and lon == 0:
            problems.append(
                Problem(
                    "location", key, "coordinates (0, 0) are a placeholder, not a site", raw=raw
                )
            )
            return None
        country_raw = _text(obj.country)
        country = country_alpha3(country_raw) if country_raw else None
        if country_raw and country is None:
            problems.append(
                Problem("location", key, f"country {country_raw!r} is not an ISO 3166 code", "note")
            )
        elif country_raw and country != country_raw.upper():
            problems.append(
                Problem(
                    "location",
                    key,
                    f"country {country_raw!r} is not alpha-3; read as {country}",
                    "note",
                )
            )
        last_updated = self._last_updated(obj.last_updated, "location", key, problems, None)
        parking_places, notes = read_parking_places(obj.parking_places)
        problems.extend(Problem("location", key, n, "note") for n in notes)
        evses: list[EvseRecord] = []
        seen: set[str] = set()
        for evse_raw in obj.evses or ():
            evse = self.evse(bytes(evse_raw), key, problems, last_updated, parking_places)
            if evse is None:
                continue
            if evse.uid in seen:
                problems.append(
                    Problem(
                        "evse",
                        f"{key}/{evse.uid}",
                        "duplicate EVSE uid in location; first kept",
                        raw=evse.raw,
                    )
                )
                continue
            seen.add(evse.uid)
            evses.append(evse)
        parking_raw = obj.parking_type if obj.parking_type is not None else obj.type
        parking_type = parking_raw.strip().upper() if parking_raw else None
        if parking_type is not None and parking_type not in _PARKING_TYPES:
            if parking_type not in ("OTHER", "UNKNOWN"):
                problems.append(
                    Problem(
                        "location",
                        key,
                        f"parking type {parking_raw!r} is not an OCPI ParkingType; ignored",
                        "note",
                    )
                )
            parking_type = None
        hours: dict[str, Any] | None = None
        open_24_7: bool | None = None
        if _has_value(obj.opening_times):
            try:
                raw_hours = wire.any_decoder.decode(obj.opening_times)
            except msgspec.DecodeError:
                raw_hours = None
            hours, open_24_7, hour_notes = normalise_opening_times(raw_hours)
            problems.extend(Problem("location", key, n, "note") for n in hour_notes)
        time_zone, tz_note = normalise_time_zone(_text(obj.time_zone))
        if tz_note:
            problems.append(Problem("location", key, tz_note, "note"))
        region_key, cells = h3_cells(lat, lon)
        counts = dict.fromkeys(BUCKETS, 0)
        visible_evses = [e for e in evses if e.visible]
        for e in visible_evses:
            counts[e.status_bucket] += 1
        powers = [e.max_power_kw for e in visible_evses if e.max_power_kw is not None]
        name = self._free_text(obj.name, "name", "location", key, problems)
        address = self._free_text(obj.address, "address", "location", key, problems)
        city = self._free_text(obj.city, "city", "location", key, problems)
        postal_code = self._free_text(obj.postal_code, "postal_code", "location", key, problems)
        operator_name = (
            self._free_text(obj.operator.name, "operator.name", "location", key, problems)
            if obj.operator
            else None
        )
        identity = _identity_digest(cc, pid, ocpi_id_raw.upper())  # one hash for both keys
        return LocationRecord(
            country_code=cc,
            party_id=pid,
            ocpi_id=ocpi_id_raw.upper(),
            ocpi_id_raw=ocpi_id_raw,
            public_id=_public_id(identity),
            publish=bool(_bool(obj.publish, True)),
            name=name,
            address=address,
            city=city,
            postal_code=postal_code,
            state=self._free_text(obj.state, "state", "location", key, problems),
            country=country,
            lat=lat,
            lon=lon,
            region_key=region_key,
            h3_cells=cells,
            parking_type=parking_type,
            facilities=_enum_list(obj.facilities),
            operator_name=operator_name,
            suboperator_name=(
                self._free_text(obj.suboperator.name, "suboperator.name", "location", key, problems)
                if obj.suboperator
                else None
            ),
            owner_name=(
                self._free_text(obj.owner.name, "owner.name", "location", key, problems)
                if obj.owner
                else None
            ),
            time_zone=time_zone,
            opening_times=wire.encoder.encode(hours) if hours is not None else None,
            open_24_7=open_24_7,
            charging_when_closed=_bool(obj.charging_when_closed, None),
            search_text=search_text(name, address, postal_code, city, operator_name),
            evses=evses,
            evse_count=len(visible_evses),
            available_count=counts[AVAILABLE],
            occupied_count=counts[OCCUPIED],
            out_of_service_count=counts[OUT_OF_SERVICE],
            unknown_count=counts[UNKNOWN],
            planned_count=counts[PLANNED],
            max_power_kw=max(powers) if powers else None,
            connector_standards=sorted({s for e in visible_evses for s in e.connector_standards}),
            power_types=sorted({p for e in visible_evses for p in e.power_types}),
            connector_groups=wire.encoder.encode(
                connector_groups(
                    EvseFacts(
                        e.status_bucket,
                        tuple((c.standard, c.power_type, c.max_power_kw) for c in e.connectors),
                    )
                    for e in visible_evses
                )
            ),
            tariff_links=wire.encoder.encode(
                tariff_links(
                    (c.standard, c.power_type, c.max_power_kw, tuple(c.tariff_ids))
                    for e in visible_evses
                    for c in e.connectors
                )
            ),
            sort_key=_sort_key(identity),
            status_updated_at=max((e.last_updated for e in visible_evses), default=None),
            last_updated=last_updated,
            content_hash=content_hash(raw),
            raw=raw,
            stored_raw=without_member(raw, "evses") if obj.evses else None,
        )

    # ---- a batch --------------------------------------------------------------------------------
    def locations(self, raws: list[bytes]) -> tuple[list[LocationRecord], list[Problem]]:
        """Normalise a page; geography is checked for the page as a whole."""
        problems: list[Problem] = []
        accepted: list[LocationRecord] = []
        for raw in raws:
            location = self.location(raw, problems)
            if location is not None:
                accepted.append(location)
        if self._shapes is not None and accepted:
            accepted = self._check_geography(accepted, problems)
        return accepted, problems

    def _check_geography(
        self, batch: list[LocationRecord], problems: list[Problem]
    ) -> list[LocationRecord]:
        assert self._shapes is not None
        if len(batch) >= 2 and all(loc.lat == loc.lon for loc in batch):
            for loc in batch:
                problems.append(
                    Problem(
                        "location",
                        loc.key,
                        f"every location of this feed has latitude equal to longitude "
                        f"({loc.lat}, {loc.lon}): coordinates copied, not measured",
                        raw=loc.raw,
                    )
                )
            return []
        verdicts = self._shapes.check_many(
            [loc.lat for loc in batch], [loc.lon for loc in batch], [loc.country for loc in batch]
        )
        kept = []
        for loc, verdict in zip(batch, verdicts, strict=True):
            if not verdict.ok:
                problems.append(
                    Problem("location", loc.key, verdict.reason or "implausible", raw=loc.raw)
                )
                continue
            if verdict.reason:
                problems.append(Problem("location", loc.key, verdict.reason, "note"))
            kept.append(loc)
        return kept


def split_page(payload: bytes) -> list[bytes]:
    """The objects of an OCPI page or dump: full envelope, ``{"data": ...}`` or a bare array."""
    body = payload.lstrip()
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:].lstrip()
    if body[:1] == b"[":
        return [bytes(r) for r in wire.raw_list_decoder.decode(body)]
    top = wire.top_level_decoder.decode(body)
    data = top.get("data")
    if data is None:
        if "id" in top:  # a single bare object
            return [body]
        raise ValueError("no 'data' in the document and it is not an array")
    data_bytes = bytes(data)
    if data_bytes.lstrip()[:1] == b"{":
        return [data_bytes]
    return [bytes(r) for r in wire.raw_list_decoder.decode(data_bytes)]
