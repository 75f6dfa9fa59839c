"""UK National Chargepoint Registry (NCR) export → OCPI 2.2.1 Locations (issue 12).

Format: one CSV line per charge device, comma-separated, one header line, UTF-8. The bundled
export (about 2017) has 158 columns: 70 device columns, then 8 connector blocks of 11 columns
(``connectorNID``, ``…Type``, ``…RatedOutputKW``, ``…OutputCurrent``, ``…RatedVoltage``,
``…ChargeMethod``, ``…ChargeMode``, ``…TetheredCable``, ``…Status``, ``…Description``,
``…Validated``). The header names the second block's last column ``connector3Validated``
(so that name appears twice); the module reads columns by their first header name and never
uses the ``Validated`` columns. The file is dirty: multi-line quoted fields end their lines
with ``\\r\\n`` while records end with ``\\n``, a few *unquoted* fields hold a bare ``\\r``, and
missing dates are ``0000-00-00 00:00:00`` (``dateDeleted`` is ``n/a``).

Mapping (one device = one site = one Record; ``record_id`` and OCPI ``id`` = ``chargeDeviceID``,
the NCR's own 32-hex-digit id):

* Each connector block with an ID or a Type becomes one OCPI EVSE holding one connector
  (``uid`` = the NCR's connector ID, connector ``id`` "1"). The NCR gives every connector its
  own id and status and never says which connectors share one outlet or can charge at the same
  time, so one EVSE per connector is what the data supports (a twin-socket post counts as two).
* ``connectorNType`` → OCPI standard by ``_STANDARDS`` (every value of the bundled file is there);
  another value is passed on only when ``normalise_standard`` knows it, else left out.
  "Type 2 Tesla (IEC62196) DC" is Tesla's DC use of the Type 2 plug: physically Type 2, so
  IEC_62196_T2 with power_type DC (TESLA_S is the North-American plug, which it is not).
  "Type 3 Scame (IEC62196)" is 3A or 3C; only a three-phase one is certainly 3C (3A is a
  single-phase 16 A plug), otherwise the standard is left out.
* ``TetheredCable`` 1 → CABLE, 0 → SOCKET (consistent with the plugs: every CHAdeMO and CCS
  connector of the file says 1); ``ChargeMethod`` → power_type (``_POWER_TYPES``);
  ``RatedOutputKW`` → ``max_electric_power`` in W; ``RatedVoltage``/``OutputCurrent`` →
  ``max_voltage``/``max_amperage`` when > 0, as the NCR states them (400 V for three-phase AC is
  line-to-line; ingest/ocpi/power.py reads it so). ``ChargeMode`` (IEC 61851 mode) has no OCPI
  field and is not kept.
* Status: the NCR has no live status, so an EVSE is UNKNOWN, except: ``dateDeleted`` a real
  date → REMOVED; device or connector status "Planned" → PLANNED; "Removed"/"Decommissioned"
  (not in the bundled file) → REMOVED. "Out of service" (155 devices, 317 connectors) stays
  UNKNOWN: it is a flag the controller set at some unknown time, not an observed availability,
  and OUTOFORDER would claim the latter.
* ``last_updated`` = ``dateUpdated``, else ``dateCreated`` (``0000-00-00 00:00:00`` is absent),
  read as Europe/London local time (the NCR publishes UK wall-clock times without an offset;
  an ambiguous hour at the October change is taken as the first, BST) and given in UTC. With
  neither, it is left out (the normaliser then notes it and uses the time of import).
* Address: ``subBuildingName``, ``buildingName``, "``buildingNumber`` ``thoroughfare``" (the
  number goes with ``street`` when there is no thoroughfare), ``street``, comma-joined, repeats
  dropped; city = ``town``, state = ``county``, postal_code = ``postcode``; country GBR (the NCR
  covers the UK only; every row says ``gb``); time zone Europe/London.
* Operator = ``deviceControllerName``: the network that runs the device (24 names: Charge Your
  Car, POD Point, Source London…), which is what OCPI means by operator; ``deviceOwnerName``
  (248 names, often a council or a car dealer who bought the device) becomes OCPI ``owner``.
  Without a controller the operator is left out rather than taken from the owner.
* Pricing (issue 13): ``paymentRequired``/``paymentRequiredDetails`` and
  ``parkingFeesFlag``/``parkingFeesDetails`` read by ``app.price.registry_text`` (GBP) into a
  tariff or the reason they cannot be ("payment required, but no price given"). No pricing: all
  four empty, or only ``parkingFeesFlag`` 0 (free parking says nothing of the charging price).
* Opening times: ``access24Hours`` 1 → ``{"twentyfourseven": true}``. The per-day from/to
  columns are used only when all seven days have both times, as HH:MM, and no day's times are
  equal (``00:00``–``00:00`` may mean closed or open all day); an end at or before its begin
  runs past midnight, as the store reads it. Weeks with empty days are left out: the file drops
  days at random (the Hamilton Duke Street car park's devices each miss a different weekday),
  so an empty day does not say "closed".

Rejected (with the line numbers and the row as in the file): a row with a column count other
than the header's; no or a malformed ``chargeDeviceID``; a ``chargeDeviceID`` already seen;
latitude/longitude missing or not a number, (0, 0), or outside the UK and Ireland box
(latitude 49 to 61.5, longitude -11 to 2.5); no connector at all ("no connector listed").
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from app.domain.connectors import UNKNOWN_STANDARD, normalise_standard
from app.domain.sources import REGISTRIES
from app.price.registry_text import RegistryPricing, parse_uk_ncr_payment
from ingest.registries import RAW_TEXT_MAX, Record, Rejected

SOURCE: Final = REGISTRIES["ukncr"]  # name, licence, attribution: app.domain.sources

# Every connectorNType of the bundled export, one line each.
_STANDARDS: Final[dict[str, str | None]] = {
    "Type 2 Mennekes (IEC62196)": "IEC_62196_T2",
    "3-pin Type G (BS1363)": "DOMESTIC_G",
    "JEVS G105 (CHAdeMO) DC": "CHADEMO",
    "Type 2 Combo (IEC62196) DC": "IEC_62196_T2_COMBO",
    "Type 2 Tesla (IEC62196) DC": "IEC_62196_T2",  # Tesla DC over a Type 2 plug (see above)
    "Type 1 SAEJ1772 (IEC 62196)": "IEC_62196_T1",
    "Type 3 Scame (IEC62196)": None,  # 3A or 3C: decided by _standard from the phases
}
_SCAME: Final = "Type 3 Scame (IEC62196)"
_POWER_TYPES: Final = {
    "DC": "DC",
    "Single Phase AC": "AC_1_PHASE",
    "Three Phase AC": "AC_3_PHASE",
}
_FORMATS: Final = {"1": "CABLE", "0": "SOCKET"}
# Device and connector status → OCPI EVSE status; any other value is UNKNOWN.
_STATUSES: Final = {
    "In service": "UNKNOWN",
    "Out of service": "UNKNOWN",  # a registry flag, not an observed availability
    "Planned": "PLANNED",
    "Removed": "REMOVED",
    "Decommissioned": "REMOVED",
}

CONNECTOR_SLOTS: Final = 8
_SLOT_FIELDS: Final = (
    "ID",
    "Type",
    "RatedOutputKW",
    "OutputCurrent",
    "RatedVoltage",
    "ChargeMethod",
    "TetheredCable",
    "Status",
)
# The column names of each connector block: {"ID": "connector1ID", ...}.
_SLOTS: Final = tuple(
    {name: f"connector{n}{name}" for name in _SLOT_FIELDS} for n in range(1, CONNECTOR_SLOTS + 1)
)
_REQUIRED: Final = ("chargeDeviceID", "latitude", "longitude")
_PRICING: Final = ("paymentRequired", "paymentRequiredDetails", "parkingFeesDetails")
_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,36}")
_HHMM: Final = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
# A bare CR: one not followed by LF.
_BARE_CR: Final = re.compile(r"\r(?!\n)")
Field = Callable[[str], str]  # a row's cleaned value by column name ("" when absent)
_LONDON: Final = ZoneInfo("Europe/London")
_LAT_BOX: Final = (49.0, 61.5)
_LON_BOX: Final = (-11.0, 2.5)


def read(paths: list[Path]) -> Iterator[Record | Rejected]:
    seen: dict[str, str] = {}  # chargeDeviceID → "file:line" of its first row
    for path in paths:
        yield from _read_file(path, seen)


def _read_file(path: Path, seen: dict[str, str]) -> Iterator[Record | Rejected]:
    # The file is read whole (3 MB) and every bare CR becomes a space before the csv module sees
    # it. Reason: with newline="" Python's line iteration still ends a line at a bare CR, and
    # the csv module ends an unquoted field's record there, so "…opening hours.\r ,…" would
    # split one device into two broken rows. CR LF pairs (line ends inside quoted fields) are
    # kept; line numbers count LF-terminated lines, which the replacement does not change.
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        text = _BARE_CR.sub(" ", handle.read())
    lines: list[str] = []  # the physical lines of the row being read

    def feed() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            lines.append(line)
            yield line

    reader = csv.reader(feed())
    header = next(reader, None)
    if header is None:
        return
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        columns.setdefault(name.strip(), index)
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        yield Rejected(path.name, (1,), None, f"header lacks {', '.join(missing)}", _raw(lines))
        return
    lines.clear()
    first = reader.line_num + 1
    for values in reader:
        numbers = tuple(range(first, reader.line_num + 1))
        raw = _raw(lines)
        lines.clear()
        first = reader.line_num + 1
        if not any(v.strip() for v in values):
            continue  # a blank line is no device
        yield _device(path.name, numbers, raw, values, header, columns, seen)


def _raw(lines: list[str]) -> str:
    return "".join(lines).rstrip("\r\n")[:RAW_TEXT_MAX]


def _device(
    file: str,
    numbers: tuple[int, ...],
    raw: str,
    values: list[str],
    header: list[str],
    columns: dict[str, int],
    seen: dict[str, str],
) -> Record | Rejected:
    def field(name: str) -> str:
        index = columns.get(name)
        return _clean(values[index]) if index is not None and index < len(values) else ""

    device_id = field("chargeDeviceID")

    def reject(reason: str) -> Rejected:
        return Rejected(file, numbers, device_id or None, reason, raw)

    if len(values) != len(header):
        return reject(f"row has {len(values)} columns, the header has {len(header)}")
    if not device_id:
        return reject("chargeDeviceID is empty")
    if not _ID.fullmatch(device_id):
        return reject(f"chargeDeviceID {device_id!r} is not an OCPI id (1-36 of A-Z a-z 0-9 . _ -)")
    if device_id in seen:
        return reject(f"chargeDeviceID {device_id!r} already read at {seen[device_id]}")
    coordinates = _coordinates(field("latitude"), field("longitude"))
    if isinstance(coordinates, str):
        return reject(coordinates)
    updated = _local_time(field("dateUpdated")) or _local_time(field("dateCreated"))
    status = _device_status(field("dateDeleted"), field("chargeDeviceStatus"))
    evses = []
    for slot in range(1, CONNECTOR_SLOTS + 1):
        evse = _evse(slot, field, status, updated)
        if evse is not None:
            evses.append(evse)
    if not evses:
        return reject("no connector listed")
    seen[device_id] = f"{file}:{numbers[0]}"
    location: dict[str, Any] = {
        "country_code": SOURCE.country_code,
        "party_id": SOURCE.party_id,
        "id": device_id,
        "publish": True,
        "name": field("name") or None,
        "address": _address(field),
        "city": field("town") or None,
        "postal_code": field("postcode") or None,
        "state": field("county") or None,
        "country": "GBR",
        "coordinates": coordinates,
        "operator": _business(field("deviceControllerName")),
        "owner": _business(field("deviceOwnerName")),
        "time_zone": "Europe/London",
        "opening_times": _opening_times(field),
        "evses": evses,
        "last_updated": updated,
    }
    pricing = _pricing(field)
    currency = "GBP" if pricing is not None else None
    return Record(device_id, _drop_none(location), file, numbers, pricing, currency)


def _pricing(field: Field) -> RegistryPricing | None:
    row = {name: field(name) for name in (*_PRICING, "parkingFeesFlag")}
    if not any(row[name] for name in _PRICING) and row["parkingFeesFlag"] != "1":
        return None
    return parse_uk_ncr_payment(row)


def _evse(
    slot: int, field: Field, device_status: str | None, updated: str | None
) -> dict[str, Any] | None:
    names = _SLOTS[slot - 1]
    connector_id = field(names["ID"])
    kind = field(names["Type"])
    if not connector_id and not kind:
        return None
    power_type = _POWER_TYPES.get(field(names["ChargeMethod"]))
    kw = _positive(field(names["RatedOutputKW"]))
    voltage = _positive(field(names["RatedVoltage"]))
    amperage = _positive(field(names["OutputCurrent"]))
    connector = {
        "id": "1",
        "standard": _standard(kind, power_type),
        "format": _FORMATS.get(field(names["TetheredCable"])),
        "power_type": power_type,
        "max_voltage": round(voltage) if voltage is not None else None,
        "max_amperage": round(amperage) if amperage is not None else None,
        "max_electric_power": round(kw * 1000) if kw is not None else None,
        "last_updated": updated,
    }
    status = device_status or _STATUSES.get(field(names["Status"]), "UNKNOWN")
    return _drop_none(
        {
            # A connector with a Type but no ID (none in the bundled file) is named by its slot.
            "uid": connector_id or f"slot{slot}",
            "status": status,
            "connectors": [_drop_none(connector)],
            "last_updated": updated,
        }
    )


def _device_status(deleted: str, status: str) -> str | None:
    """The status every EVSE of the device takes, or None: each connector's own decides."""
    if _local_time(deleted) is not None:
        return "REMOVED"
    mapped = _STATUSES.get(status)
    return mapped if mapped in ("PLANNED", "REMOVED") else None


def _standard(kind: str, power_type: str | None) -> str | None:
    if kind == _SCAME:
        return "IEC_62196_T3C" if power_type == "AC_3_PHASE" else None
    if kind in _STANDARDS:
        return _STANDARDS[kind]
    standard, _ = normalise_standard(kind) if kind else (UNKNOWN_STANDARD, None)
    return None if standard == UNKNOWN_STANDARD else standard


def _coordinates(lat_text: str, lon_text: str) -> dict[str, str] | str:
    """OCPI coordinates, or the reason they cannot be used."""
    lat, lon = _number(lat_text), _number(lon_text)
    bad = [
        f"{name} {text!r} is not a number"
        for name, text, value in (("latitude", lat_text, lat), ("longitude", lon_text, lon))
        if value is None
    ]
    if bad:
        return "; ".join(bad)
    assert lat is not None and lon is not None
    if lat == 0 and lon == 0:
        return "coordinates (0, 0) are a placeholder, not a site"
    outside = [
        f"{name} {text} is outside {low:g} to {high:g}"
        for name, text, value, (low, high) in (
            ("latitude", lat_text, lat, _LAT_BOX),
            ("longitude", lon_text, lon, _LON_BOX),
        )
        if not low <= value <= high
    ]
    if outside:
        return f"{' and '.join(outside)}: not in the UK and Ireland"
    return {"latitude": f"{lat:.7f}", "longitude": f"{lon:.7f}"}


def _address(field: Field) -> str | None:
    number, thoroughfare, street = (
        field("buildingNumber"),
        field("thoroughfare"),
        field("street"),
    )
    if thoroughfare:
        thoroughfare = f"{number} {thoroughfare}".strip()
    elif street:
        street = f"{number} {street}".strip()
    else:
        thoroughfare = number
    parts: list[str] = []
    for part in (field("subBuildingName"), field("buildingName"), thoroughfare, street):
        if part and part.casefold() not in (p.casefold() for p in parts):
            parts.append(part)
    return ", ".join(parts) or None


def _opening_times(field: Field) -> dict[str, Any] | None:
    if field("access24Hours") == "1":
        return {"twentyfourseven": True}
    regular = []
    for weekday, day in enumerate(_DAYS, start=1):
        begin, end = field(f"access{day}From"), field(f"access{day}To")
        if not (_HHMM.fullmatch(begin) and _HHMM.fullmatch(end)) or begin == end:
            return None  # a week with a gap or an unclear day says nothing certain
        regular.append({"weekday": weekday, "period_begin": begin, "period_end": end})
    return {"twentyfourseven": False, "regular_hours": regular}


@lru_cache(maxsize=8192)  # the file repeats its dates (batch uploads)
def _local_time(text: str) -> str | None:
    """An NCR ``YYYY-MM-DD HH:MM:SS`` (UK local time) as RFC 3339 UTC; None when absent."""
    if not text or text.startswith("0000-00-00"):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None  # "n/a", or anything else that is not a date
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_LONDON)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _positive(text: str) -> float | None:
    value = _number(text)
    return value if value is not None and value > 0 else None


def _clean(value: str) -> str:
    """Trimmed, with runs of white space (line breaks inside fields included) as one space."""
    return " ".join(value.split())


def _business(name: str) -> dict[str, str] | None:
    return {"name": name} if name else None


def _drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}
