"""US DOE/NREL Alternative Fuels Data Center (AFDC) station exports.

Two formats, told apart by their header (any other header is a ``ValueError``: not an AFDC file):

- **Full exports** (75 columns, UTF-8 with a BOM; the bundled New York and Washington files). They
  list every alternative fuel: only ``Fuel Type Code`` ELEC rows are charging sites. Rows of other
  fuels (CNG, E85, LPG, ...) are neither a Record nor a Rejected, as they are not charging stations
  at all; they are counted in ``tally`` (``"fuel CNG, not electric"``).
- **The minimal national list** (2022: Station Name, ZIP, Latitude, Longitude, ID): a site the
  source lists without saying anything about its charge points.

Identity: ``record_id`` and the OCPI location id are the AFDC ``ID`` (a number). The same ID in
several of the given files is one station, yielded once: a full row wins over a minimal row (it
has the detail), and between two full rows the later ``Updated At`` wins (equal: the one read
first). The losers are counted in ``tally`` (``"superseded by FILE"``); the Record names the
winner's file and lines only. So all files are read before the first Record is yielded (Rejected
rows come as they are read). Every row is judged on its own: a broken row is a Rejected even when
another file has a usable row of its ID (the minimal file's ID 191112 has longitude 0; the New
York file has it right, and that is the Record).

Full rows, mapped:

- EVSEs: one per counted port: ``EV Level1 EVSE Num`` (uid ``{ID}-L1-{n}``), ``EV Level2 EVSE
  Num`` (``{ID}-L2-{n}``), ``EV DC Fast Count`` (``{ID}-DC-{n}``). Their connectors come from the
  space-separated ``EV Connector Types`` (table ``_PLUGS``): AFDC does not say which port has which
  plug, so each EVSE gets one connector per listed type that fits its level (J1772 and the NEMA
  outlets on level 1 and 2, CCS1 and CHAdeMO on DC fast, TESLA (NACS, SAE J3400, which carries AC
  and DC) on both: Tesla Destination sites list TESLA on level 2 ports only). A level whose
  ports fit none of the listed types gets one connector with no standard. Values outside the
  table are left out.
- Power: AFDC gives no kW, volts or amps per port, so they are left out. The power type follows
  from the level: levels 1 and 2 in the US are single-phase AC (AC_1_PHASE), DC fast is DC. The
  format follows from the standard: J1772, CCS1, CHAdeMO and NACS exist only as a plug on the
  station's cable; a NEMA type is a wall outlet (SOCKET).
- Status (``Status Code``): no live data, so E (available) and T (temporarily unavailable: true
  when exported, but a static file cannot say when it returns, so it is no live status) are
  UNKNOWN; P (planned) is PLANNED.
- ``Updated At`` ("2025-02-12 00:16:32 UTC") is ``last_updated``, also of every EVSE and connector.
- Pricing (issue 13): ``EV Pricing`` ("Free", "$0.40 per kWh", "$1.50 per session; $0.75 per
  kWh") read by ``app.price.registry_text`` in USD (a Canadian station's in CAD); an empty cell
  (or no such column) is no pricing. ``EV Pricing (French)`` says the same in French, unread.
- Address: Street Address, City, State, ZIP (Excel's ``_x000D_`` and line breaks inside a field are
  joined with ", "); ``EV Network`` is the operator (not "Non-Networked"); ``Access Days Time``
  exactly "24 hours daily" is ``opening_times`` twentyfourseven, any other text is left out.
- Country: ``Country`` US is USA (PR, VI, GU, AS, MP in ``State`` are their own ISO countries), CA
  is CAN; the bundled full files hold US rows only. The OCPI party stays US*AFD for every record:
  ``country_code`` names the publisher, ``country`` the site. ``time_zone`` is set for states that
  lie wholly in one IANA zone (``_TIME_ZONES``), otherwise left out.

Minimal rows, mapped: name, postal code, coordinates, and ONE EVSE (``{ID}-1``, UNKNOWN) with one
connector (id "1") without standard, power type, format or power. It stands for "at least one
charge point, details unknown": the source lists the site, not its points, but a location needs
an EVSE with a connector to be shown. There is no per-row date: ``last_updated`` is the
snapshot's year, 2022-01-01T00:00:00Z, so a 2025 full record is always newer. ZIP codes lost
their leading zeros (a spreadsheet read them as numbers: "2134", "987"): 3 and 4 digits are padded
to 5. A ZIP starting with a letter is Canadian (two rows, cut to 5 characters, so the postal code
is left out); the ZIP also gives the country: 006, 007, 009 Puerto Rico (PRI), 008 the US Virgin
Islands (VIR), other digits USA; no readable ZIP ("0"): no country.

Rejected (the row, with the reason): coordinates missing, not numbers, out of range, or 0 (no
AFDC site lies on the equator or the prime meridian: a 0 is a placeholder); an ID that is missing
or not a number; a port count that is not a count (or above ``_MAX_PORTS``); a line whose field
count differs from the header's; a quote that is never closed (then only that line is lost: a
quoted field may span at most ``_MAX_LINES_PER_ROW`` lines). Whether a point lies on land is the
normaliser's check, not this module's (two minimal rows, both ZIP 96740 on Hawai'i, lie at sea:
it rejects them).
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from app.domain.sources import REGISTRIES
from app.price.registry_text import RegistryPricing, parse_afdc_ev_pricing, parse_pricing_text
from ingest.registries import RAW_TEXT_MAX, Record, Rejected

SOURCE: Final = REGISTRIES["afdc"]  # name, licence, attribution: app.domain.sources

# AFDC EV Connector Types value: (OCPI standard, format, the levels whose EVSEs carry it).
_AC: Final = ("L1", "L2")
_PLUGS: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "J1772": ("IEC_62196_T1", "CABLE", _AC),
    "NEMA515": ("DOMESTIC_B", "SOCKET", _AC),  # OCPI: DOMESTIC_B is NEMA 5-15
    "NEMA520": ("NEMA_5_20", "SOCKET", _AC),  # OCPI 2.3.0 value
    "NEMA1450": ("NEMA_14_50", "SOCKET", _AC),  # OCPI 2.3.0 value
    "TESLA": ("SAE_J3400", "CABLE", (*_AC, "DC")),  # NACS
    "J1772COMBO": ("IEC_62196_T1_COMBO", "CABLE", ("DC",)),  # CCS1
    "CHADEMO": ("CHADEMO", "CABLE", ("DC",)),
}
_LEVELS: Final = (
    # (uid part, count column, power type: US level 1 and 2 are single-phase AC)
    ("L1", "EV Level1 EVSE Num", "AC_1_PHASE"),
    ("L2", "EV Level2 EVSE Num", "AC_1_PHASE"),
    ("DC", "EV DC Fast Count", "DC"),
)
_MAX_PORTS: Final = 1000  # per level and site; more is not a count of charge points
_STATUS: Final = {"E": "UNKNOWN", "P": "PLANNED", "T": "UNKNOWN"}
_COUNTRIES: Final = {"US": "USA", "CA": "CAN"}
_TERRITORIES: Final = {"PR": "PRI", "VI": "VIR", "GU": "GUM", "AS": "ASM", "MP": "MNP"}
_ZIP_TERRITORIES: Final = {"006": "PRI", "007": "PRI", "009": "PRI", "008": "VIR"}
# States (and territories) lying wholly in one IANA zone; the others are left without one.
_TIME_ZONES: Final = {
    state: zone
    for zone, states in (
        ("America/New_York", "CT DC DE GA MA MD ME NC NH NJ NY OH PA RI SC VA VT WV"),
        ("America/Chicago", "AR IA IL LA MN MO MS WI"),
        ("America/Denver", "CO MT NM UT WY"),
        ("America/Los_Angeles", "CA WA"),
        ("Pacific/Honolulu", "HI"),
        ("America/Puerto_Rico", "PR"),
    )
    for state in states.split()
}
_MINIMAL_UPDATED: Final = "2022-01-01T00:00:00Z"  # the minimal file's snapshot year
_UPDATED_AT: Final = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC")
_CANADIAN_POSTAL: Final = re.compile(r"[A-Z]\d[A-Z] ?\d[A-Z]\d")
_MAX_LINES_PER_ROW: Final = 10

_MINIMAL_COLUMNS: Final = ("Station Name", "ZIP", "Latitude", "Longitude", "ID")
_FULL_COLUMNS: Final = (
    *_MINIMAL_COLUMNS,
    *(column for _, column, _ in _LEVELS),
    "Fuel Type Code", "Street Address", "City", "State", "Country", "Status Code",
    "Access Days Time", "EV Network", "EV Connector Types", "Updated At",
)  # fmt: skip


@dataclass
class _Row:
    file: str
    lines: tuple[int, ...]
    text: str
    cells: dict[str, str]  # column -> stripped value


def read(
    paths: list[Path], *, tally: Counter[tuple[str, str]] | None = None
) -> Iterator[Record | Rejected]:
    """Rejected rows as they are read, then each station once (in order of first appearance).

    ``tally`` (when given) counts, per (file name, reason), the rows that are neither: other
    fuels and rows superseded by the same ID elsewhere.
    """
    counts = tally if tally is not None else Counter()
    # ID -> ((1 full / 0 minimal, Updated At), row): the higher rank wins. Rows are mapped only
    # once the winners are known, so that the losers are never built.
    winners: dict[str, tuple[tuple[int, str], _Row]] = {}
    losers: list[tuple[str, str]] = []  # (file, ID)
    for path in paths:
        for row in _rows(path):
            if isinstance(row, Rejected):
                yield row
                continue
            cell = row.cells
            full = "Fuel Type Code" in cell
            if full and (fuel := cell["Fuel Type Code"]) != "ELEC":
                counts[row.file, f"fuel {fuel or '(none)'}, not electric"] += 1
                continue
            if problem := _problem(cell, full):
                record_id = cell["ID"] or None
                yield Rejected(row.file, row.lines, record_id, problem, row.text[:RAW_TEXT_MAX])
                continue
            rank = (1, _updated(cell["Updated At"]) or "") if full else (0, "")
            held = winners.get(cell["ID"])
            if held is None or rank > held[0]:
                if held is not None:
                    losers.append((held[1].file, cell["ID"]))
                winners[cell["ID"]] = (rank, row)
            else:
                losers.append((row.file, cell["ID"]))
    for file, record_id in losers:
        counts[file, f"superseded by {winners[record_id][1].file}"] += 1
    for (full_rank, _), row in winners.values():
        if full_rank:
            pricing, currency = _pricing(row.cells)
            location = _full_location(row.cells)
        else:
            pricing, currency, location = None, None, _minimal_location(row.cells)
        yield Record(row.cells["ID"], location, row.file, row.lines, pricing, currency)


# ---- rows -----------------------------------------------------------------------------------


def _rows(path: Path) -> Iterator[_Row | Rejected]:
    """The file's data rows, by header name; a line that cannot be split is a Rejected."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    records = _records(text)
    first = next(records, None)
    header = [h.strip() for h in first[2] or ()] if first is not None else []
    if not set(_MINIMAL_COLUMNS) <= set(header):
        raise ValueError(f"{path.name}: not an AFDC export (no {', '.join(_MINIMAL_COLUMNS)})")
    if "Fuel Type Code" in header and not set(_FULL_COLUMNS) <= set(header):
        missing = ", ".join(c for c in _FULL_COLUMNS if c not in header)
        raise ValueError(f"{path.name}: an AFDC full export without {missing}")
    for lines, line, fields in records:
        if fields is None:
            reason = "a quoted field is never closed (a '\"' without its pair)"
        elif len(fields) != len(header):
            reason = f"the line has {len(fields)} fields; the header has {len(header)}"
        else:
            cells = {h: f.strip() for h, f in zip(header, fields, strict=True)}
            yield _Row(path.name, lines, line, cells)
            continue
        yield Rejected(path.name, lines, None, reason, line[:RAW_TEXT_MAX])


def _records(text: str) -> Iterator[tuple[tuple[int, ...], str, list[str] | None]]:
    """CSV records with their 1-based line numbers and fields. A record ending inside a quoted
    field goes on with the next line (at most ``_MAX_LINES_PER_ROW`` lines); a quote still open
    then costs only its own line (fields None)."""
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    i = 0
    while i < len(physical):
        end = i
        line = physical[i].removesuffix("\r")
        fields = _split(line)
        while fields is None and end + 1 < len(physical) and end - i < _MAX_LINES_PER_ROW:
            end += 1
            line += "\n" + physical[end].removesuffix("\r")
            fields = _split(line)
        if fields is None:
            end = i
            line = physical[i].removesuffix("\r")
        if line.strip():  # a blank line is no row
            yield tuple(range(i + 1, end + 2)), line, fields
        i = end + 1


def _split(line: str) -> list[str] | None:
    """The fields of one CSV record; None when it ends inside a quoted field."""
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader((line,), strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return None
        return next(csv.reader((line,)))  # a stray quote inside a field: read as text


# ---- mapping --------------------------------------------------------------------------------


def _problem(cell: dict[str, str], full: bool) -> str | None:
    """Why the row cannot be used, or None."""
    problem = _id_problem(cell["ID"]) or _coordinates_problem(cell["Latitude"], cell["Longitude"])
    for _, column, _ in _LEVELS if full else ():
        problem = problem or _count_problem(column, cell[column])
    return problem


def _minimal_location(cell: dict[str, str]) -> dict[str, Any]:
    record_id = cell["ID"]
    evse = {
        "uid": f"{record_id}-1",
        "status": "UNKNOWN",
        # At least one charge point, details unknown: no standard, power type, format, power.
        "connectors": [{"id": "1", "last_updated": _MINIMAL_UPDATED}],
        "last_updated": _MINIMAL_UPDATED,
    }
    coordinates = cell["Latitude"], cell["Longitude"]
    location = _location(record_id, cell["Station Name"], coordinates, [evse], _MINIMAL_UPDATED)
    postal_code, country = _zip(cell["ZIP"])
    return _put(location, postal_code=postal_code, country=country)


def _full_location(cell: dict[str, str]) -> dict[str, Any]:
    record_id = cell["ID"]
    updated = _updated(cell["Updated At"])  # None: the normaliser notes it
    status = _STATUS.get(cell["Status Code"].upper(), "UNKNOWN")
    types = list(dict.fromkeys(cell["EV Connector Types"].upper().split()))
    evses: list[dict[str, Any]] = []
    for level, column, power_type in _LEVELS:
        plugs = [(p[0], p[1]) for t in types if (p := _PLUGS.get(t)) and level in p[2]]
        for n in range(1, int(cell[column] or 0) + 1):
            evse: dict[str, Any] = {
                "uid": f"{record_id}-{level}-{n}",
                "status": status,
                "connectors": _connectors(plugs, power_type, updated),
            }
            evses.append(_put(evse, last_updated=updated))
    if not evses:  # no port counted: the site is listed, its points are not
        connector = _put({"id": "1"}, last_updated=updated)
        evse = {"uid": f"{record_id}-1", "status": status, "connectors": [connector]}
        evses.append(_put(evse, last_updated=updated))
    coordinates = cell["Latitude"], cell["Longitude"]
    location = _location(record_id, cell["Station Name"], coordinates, evses, updated)
    state = cell["State"].upper()
    country = _TERRITORIES.get(state) or _COUNTRIES.get(cell["Country"].upper())
    network = cell["EV Network"]
    postal_code, _ = _zip(cell["ZIP"])
    _put(
        location,
        address=_clean(cell["Street Address"]),
        city=_clean(cell["City"]),
        postal_code=postal_code,
        state=state or None,
        country=country,
        operator={"name": network} if network and network != "Non-Networked" else None,
        time_zone=_TIME_ZONES.get(state) if country in ("USA", "PRI") else None,
    )
    if cell["Access Days Time"].rstrip(".").lower() == "24 hours daily":
        location["opening_times"] = {"twentyfourseven": True}
    return location


def _pricing(cell: dict[str, str]) -> tuple[RegistryPricing | None, str | None]:
    """``EV Pricing`` read into a tariff (or the reason it cannot be), and its currency."""
    text = cell.get("EV Pricing", "")
    if not text:
        return None, None
    if cell["Country"].upper() == "CA":
        return parse_pricing_text(text, currency="CAD"), "CAD"
    return parse_afdc_ev_pricing(text), "USD"


def _location(
    record_id: str,
    name: str,
    coordinates: tuple[str, str],
    evses: list[dict[str, Any]],
    updated: str | None,
) -> dict[str, Any]:
    location: dict[str, Any] = {
        "country_code": SOURCE.country_code,
        "party_id": SOURCE.party_id,
        "id": record_id,
        "publish": True,
        "coordinates": {"latitude": coordinates[0], "longitude": coordinates[1]},
        "evses": evses,
    }
    return _put(location, name=_clean(name), last_updated=updated)


def _connectors(
    plugs: list[tuple[str, str]], power_type: str, updated: str | None
) -> list[dict[str, Any]]:
    """One connector per plug type; none fits the level: one without a standard."""
    connectors: list[dict[str, Any]] = []
    for i, (standard, fmt) in enumerate(plugs or [(None, None)], start=1):
        connector = {"id": str(i), "power_type": power_type}
        connectors.append(_put(connector, standard=standard, format=fmt, last_updated=updated))
    return connectors


def _put(target: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Sets the values that are known (not None, not empty): the others stay out."""
    for key, value in values.items():
        if value is not None and value != "":
            target[key] = value
    return target


def _id_problem(record_id: str) -> str | None:
    if not record_id:
        return "ID is missing"
    if not (record_id.isascii() and record_id.isdigit()):
        return f"ID {record_id!r} is not an AFDC station id (a number)"
    return None


def _coordinates_problem(latitude: str, longitude: str) -> str | None:
    zero = []
    for name, text, limit in (("Latitude", latitude, 90), ("Longitude", longitude, 180)):
        try:
            value = float(text)
        except ValueError:
            return f"{name} {text!r} is not a number"
        if not math.isfinite(value):
            return f"{name} {text!r} is not a number"
        if not -limit <= value <= limit:
            return f"{name} {text!r} is out of range (-{limit} to {limit})"
        if value == 0:
            zero.append(f"{name} {text!r}")
    if zero:  # no AFDC site lies on the equator or the prime meridian
        return f"{' and '.join(zero)}: 0 is a placeholder, not a place"
    return None


def _count_problem(column: str, text: str) -> str | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        return f"{column} {text!r} is not a count"
    if int(text) > _MAX_PORTS:
        return f"{column} {text!r} is not plausible (at most {_MAX_PORTS:,} ports)"
    return None


def _updated(text: str) -> str | None:
    """``Updated At`` ("2025-02-12 00:16:32 UTC") as RFC 3339."""
    matched = _UPDATED_AT.fullmatch(text)
    return f"{matched[1]}T{matched[2]}Z" if matched else None


def _zip(text: str) -> tuple[str | None, str | None]:
    """(postal code, country) as far as the ZIP tells them."""
    if text.isascii() and text.isdigit():
        if not 3 <= len(text) <= 5:
            return None, None
        padded = text.zfill(5)  # leading zeros lost in a spreadsheet
        return padded, _ZIP_TERRITORIES.get(padded[:3], "USA")
    if text[:1].isalpha():  # Canadian; the minimal file cuts it to 5 characters
        code = text.upper()
        return (code if _CANADIAN_POSTAL.fullmatch(code) else None), "CAN"
    return None, None


def _clean(text: str) -> str:
    """Excel's escaped carriage return and line breaks inside a field, joined with ", "."""
    if "\n" not in text and "_x000D_" not in text:
        return text
    parts = (part.strip() for part in text.replace("_x000D_", "\n").split("\n"))
    return ", ".join(part for part in parts if part)
