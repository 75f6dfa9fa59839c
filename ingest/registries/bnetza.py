"""Bundesnetzagentur Ladesäulenregister (``wattlas import bnetza FILE…``).

Formats (told apart by the first line):

- the national register (snapshot 2019-07-19): ``;``-separated, UTF-8 (cp1252 accepted), five
  header lines: a title, ``""``, ``Stand: 19.07.2019``, a group line ("1. Ladepunkt" …) and the
  column line; dates are Excel serial numbers, decimals use a point; the ``Public Key`` columns
  hold quoted keys with line breaks inside (one row then spans several lines);
- the Berlin extract of it (``berlin/netzagentur_final.csv``, 2018): comma-separated, one header
  line, no ``Bundesland`` and no ``Public Key`` columns, US dates (``7/14/09``), decimal commas
  in quotes.

Columns are found by their header names (spaces ignored: ``Steckertypen1`` = ``Steckertypen 1``).

One row is one charging device (Ladeeinrichtung). The register has no id and lists devices, not
sites, so rows are grouped: rows of the same operator (``Betreiber``) at the same normalised
address (``Adresse`` and the postcode of ``Postleitzahl Ort``; casefolded, whitespace collapsed,
"str." and a word-final "str" read as "straße") whose coordinates lie within 50 m of the first
row of the group make one site, one ``Record``. The city is not compared: the same postcode and
street is one place however the town is written ("Berlin-Köpenick", "Berlin").

Stable key (the register has none): ``record_id`` = ``"BNA-"`` + the first 16 hex digits of the
SHA-1 of ``"operator|address|postcode"`` (each normalised as above); when a second distinct site
(more than 50 m from the first) has the same three, it hashes ``"…|2"``, a third ``"…|3"``, in
file order. Both files give the same key for the same site, so a Berlin row and the same device
in the national file meet under one ``record_id`` (unless the operator was renamed between the
snapshots, e.g. "innogy SE" → "innogy eMobility Solutions GmbH"). ``lines`` lists every
physical line (1-based, header lines counted) of the site's rows.

Mapping decisions:

- Each charge point (``Anzahl Ladepunkte`` of them; more when plug columns beyond that count are
  filled) is one EVSE, uid ``{record_id}-{device}-{point}`` (device: its 1-based place among the
  site's rows), status ``UNKNOWN`` (the register has no live status and no planned/removed
  state), coordinates those of its own device. Power columns of points beyond the count with no
  plug (``P3 [kW]`` = "0", "22") are ignored: they describe no point.
- Each plug named in the point's ``Steckertypen N`` (comma-separated) is one connector
  (``_PLUGS``, one line per register value). ``"0"`` is a placeholder, not a plug. An unknown
  name is passed as ``standard`` only if ``normalise_standard`` reads it; a point without plugs
  gets one connector of unknown standard.
- ``max_electric_power`` = ``PN [kW]`` × 1000 (the point's power) for each plug of the point,
  except the AC plugs of a point that also has DC plugs: there the point's power is the DC
  coupler's (a 50 kW triple charger's Type 2 is not 50 kW) and the AC share is not known.
- ``power_type``: DC couplers ``DC``. Plugs built for one phase only (Schuko, Type 1, 3-pin
  CEE) ``AC_1_PHASE``, the 5-pin CEE ``AC_3_PHASE``. Type 2 carries one or three phases: it is
  ``AC_3_PHASE`` only when the point (with no DC plug) has more than 7.4 kW, which one phase
  cannot deliver (230 V × 32 A); otherwise left out (single or three phase is not known).
- CEE (IEC 60309) plugs: OCPI's value names the current, which the register does not give. It is
  read from the point's power only when the CEE plug is the point's only plug (the smallest
  rating that carries it: ≤ 3.7 kW → ``IEC_60309_2_single_16``; ≤ 11.1 / 22.2 / 44.4 kW →
  ``IEC_60309_2_three_16`` / ``_32`` / ``_64``); otherwise the standard is left out.
- ``Art der Ladeeinrichtung`` (Normal-/Schnellladeeinrichtung), ``Anschlussleistung`` and the
  commissioning date (``Inbetriebnahmedatum``) have no OCPI field and are not mapped. The
  register names no station: ``name`` is left out.
- ``address`` = ``Adresse``; ``postal_code`` (five digits only: "4474", "970080" are left out)
  and ``city`` from ``Postleitzahl Ort``; ``state`` = ``Bundesland`` (national file only);
  ``country`` ``DEU``; ``time_zone`` ``Europe/Berlin``; ``operator.name`` = ``Betreiber``. The
  site's address and coordinates are those of its first row.
- ``last_updated`` (location, EVSEs, connectors) = the snapshot date of the file: the ``Stand``
  line (``Stand: 19.07.2019`` → ``2019-07-19T00:00:00Z``); a file without one (the Berlin
  extract) uses its newest ``Inbetriebnahmedatum`` (Excel serial, ``dd.mm.yyyy`` or US
  ``m/d/yy``), the latest day the file is known to describe.

Rejected (one row each, the rows around it unharmed): a row with more or fewer fields than the
header (a quote left open counts within its own line, so the rows after it survive);
``Längengrad``/``Breitengrad`` missing or not a number, or outside Germany's bounding box (lat
47.2–55.1, lon 5.8–15.1); ``Anzahl Ladepunkte`` missing, not a number or 0 with no plug named.
A file whose header cannot be found, or lacks a needed column, is one Rejected. A point inside
the box but at sea (two rows of the 2019 file) is left to the normaliser's geography check.

Files are read one after the other; each file's Rejected come as met, its Records after the
whole file is read (grouping needs every row). Sites are grouped within a file: a site listed in
two files gives two Records with the same ``record_id``, each with its file's ``last_updated``.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

from app.domain.connectors import UNKNOWN_STANDARD, normalise_standard
from app.domain.sources import REGISTRIES
from ingest.registries import RAW_TEXT_MAX, Record, Rejected

SOURCE: Final = REGISTRIES["bnetza"]  # name, licence, attribution: app.domain.sources

SITE_RADIUS_M: Final = 50.0
LAT_RANGE: Final = (47.2, 55.1)  # Germany's bounding box
LON_RANGE: Final = (5.8, 15.1)
SINGLE_PHASE_MAX_KW: Final = 7.4  # 230 V × 32 A: more proves three phases on a Type 2
_MAX_ROW_LINES: Final = 10  # a quoted field spanning more lines is an unclosed quote
_HEADER_SEARCH_LINES: Final = 10


@dataclass(frozen=True)
class _Plug:
    standard: str | None
    format: str | None
    current: str  # DC | AC_1_PHASE | AC_3_PHASE | AC (one or three phases)
    ratings: tuple[tuple[float, str], ...] = ()  # CEE: (max kW, standard), smallest first


_CEE_3_PIN: Final = ((3.7, "IEC_60309_2_single_16"),)
_CEE_5_PIN: Final = (
    (11.1, "IEC_60309_2_three_16"),
    (22.2, "IEC_60309_2_three_32"),
    (44.4, "IEC_60309_2_three_64"),  # the 63 A plug is OCPI's "64"
)

# Every value of ``Steckertypen N`` in the bundled files; None: not a plug.
_PLUGS: Final[dict[str, _Plug | None]] = {
    "AC Steckdose Typ 2": _Plug("IEC_62196_T2", "SOCKET", "AC"),
    "AC Kupplung Typ 2": _Plug("IEC_62196_T2", "CABLE", "AC"),  # Kupplung: a tethered coupler
    "DC Kupplung Combo": _Plug("IEC_62196_T2_COMBO", "CABLE", "DC"),
    "DC CHAdeMO": _Plug("CHADEMO", "CABLE", "DC"),  # CHAdeMO is always tethered
    "AC Schuko": _Plug("DOMESTIC_F", "SOCKET", "AC_1_PHASE"),  # a household socket: one phase
    "AC CEE 3 polig": _Plug(None, "SOCKET", "AC_1_PHASE", _CEE_3_PIN),  # 2P+E: one phase
    "AC CEE 5 polig": _Plug(None, "SOCKET", "AC_3_PHASE", _CEE_5_PIN),  # 3P+N+E: three phases
    "Steckdose Typ 1": _Plug("IEC_62196_T1", "SOCKET", "AC_1_PHASE"),  # Type 1: one phase only
    "0": None,  # a placeholder in two rows ("DC Kupplung Combo, 0")
}

_STAND = re.compile(r"Stand:\s*(\d{1,2})\.(\d{1,2})\.(\d{4})")
_STR_DOT = re.compile(r"str\.")
_STR_END = re.compile(r"str\b")
_EXCEL_EPOCH: Final = date(1899, 12, 30)

# Header names without spaces, casefolded → our field.
_COLUMNS: Final = {
    "betreiber": "operator",
    "adresse": "address",
    "postleitzahlort": "postcode_city",
    "bundesland": "state",
    "längengrad[dg]": "lon",
    "breitengrad[dg]": "lat",
    "inbetriebnahmedatum": "commissioned",
    "anzahlladepunkte": "points",
}
_REQUIRED: Final = ("operator", "address", "postcode_city", "lon", "lat", "points")
_PLUG_COLUMN = re.compile(r"steckertypen(\d+)")
_POWER_COLUMN = re.compile(r"p(\d+)\[kw\]")


class _Unusable(ValueError):
    """A row that cannot be used; the message names the field and value."""


@dataclass
class _Layout:
    delimiter: str
    header_line: int  # 1-based
    header: list[str]
    columns: dict[str, int]
    plug_columns: list[tuple[int, int | None]]  # per point: Steckertypen, P [kW]
    stand: date | None


@dataclass
class _Device:
    lines: tuple[int, ...]
    lat: float
    lon: float
    points: list[tuple[list[str], float | None]]  # per point: plug names, kW


@dataclass
class _Site:
    base: str  # "operator|address|postcode", normalised
    number: int  # n-th site of that base, 1-based
    first: list[str]  # the first row
    devices: list[_Device] = field(default_factory=list)


def _canon(header: str) -> str:
    return "".join(header.split()).casefold()


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def normalise_address(text: str) -> str:
    """Casefolded ("ß" → "ss"), whitespace collapsed, "str." and word-final "str" as "straße"."""
    folded = _STR_DOT.sub("strasse ", text.casefold())
    return " ".join(_STR_END.sub("strasse", folded).split())


def _base(operator: str, address: str, postcode: str) -> str:
    return f"{_norm(operator)}|{normalise_address(address)}|{_norm(postcode)}"


def record_id(operator: str, address: str, postcode: str, number: int = 1) -> str:
    """The documented stable key of the ``number``-th site of an operator at an address."""
    return _key(_base(operator, address, postcode), number)


def _key(base: str, number: int) -> str:
    text = base if number == 1 else f"{base}|{number}"
    return "BNA-" + hashlib.sha1(text.encode()).hexdigest()[:16]  # noqa: S324 (a key, not security)


def _split_postcode(value: str) -> tuple[str, str | None, str | None]:
    """``(key part, postal_code, city)`` of "Postleitzahl Ort"."""
    parts = value.split(maxsplit=1)
    if not parts or not parts[0].isdigit():
        return "", None, " ".join(value.split()) or None
    city = " ".join(parts[1].split()) if len(parts) > 1 else None
    return parts[0], parts[0] if len(parts[0]) == 5 else None, city or None


def _number(value: str) -> float | None:
    text = value.strip().replace(",", ".")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _coordinate(value: str, name: str, bounds: tuple[float, float]) -> float:
    number = _number(value)
    if number is None:
        raise _Unusable(f"{name} {value.strip()!r} is not a number")
    if not bounds[0] <= number <= bounds[1]:
        raise _Unusable(
            f"{name} {value.strip()} is outside Germany's bounding box ({bounds[0]} to {bounds[1]})"
        )
    return number


def _date(value: str) -> date | None:
    """A commissioning date: Excel serial, ``dd.mm.yyyy`` or US ``m/d/yy``; None if neither."""
    text = value.strip()
    try:
        if "/" in text:
            month, day, year = (int(p) for p in text.split("/"))
            return date(year + 2000 if year < 100 else year, month, day)
        if "." in text and text.count(".") == 2:
            day, month, year = (int(p) for p in text.split("."))
            return date(year, month, day)
        serial = float(text)
        if 1 <= serial < 2_958_466:
            return _EXCEL_EPOCH + timedelta(days=int(serial))
    except (ValueError, OverflowError):
        return None
    return None


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000 * math.hypot(x, y)


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _physical_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _layout(lines: list[str]) -> _Layout | str:
    """Where the header is and what it holds; a reason when it cannot be found."""
    stand: date | None = None
    for index, line in enumerate(lines[:_HEADER_SEARCH_LINES]):
        if (match := _STAND.search(line)) is not None:
            try:
                stand = date(int(match[3]), int(match[2]), int(match[1]))
            except ValueError:
                stand = None
        if not line.lstrip("\ufeff").startswith("Betreiber"):
            continue
        delimiter = ";" if line.count(";") > line.count(",") else ","
        header = next(csv.reader([line], delimiter=delimiter))
        columns: dict[str, int] = {}
        plugs: dict[int, int] = {}
        powers: dict[int, int] = {}
        for position, name in enumerate(header):
            canon = _canon(name)
            if canon in _COLUMNS:
                columns.setdefault(_COLUMNS[canon], position)
            elif match := _PLUG_COLUMN.fullmatch(canon):
                plugs.setdefault(int(match[1]), position)
            elif match := _POWER_COLUMN.fullmatch(canon):
                powers.setdefault(int(match[1]), position)
        missing = [header_name for header_name in _REQUIRED if header_name not in columns]
        if missing:
            return f"header line {index + 1} lacks the column(s) {', '.join(missing)}"
        plug_columns = [(plugs[n], powers.get(n)) for n in sorted(plugs)]
        return _Layout(delimiter, index + 1, header, columns, plug_columns, stand)
    return f"no header line starting with 'Betreiber' in the first {_HEADER_SEARCH_LINES} lines"


def _parse(text: str, delimiter: str) -> list[str] | None:
    try:
        return next(csv.reader([text], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None


def _rows(
    lines: list[str], start: int, delimiter: str, width: int
) -> Iterator[tuple[tuple[int, ...], str, list[str] | None]]:
    """``(line numbers, text, fields)`` per CSV row from 0-based line ``start`` on.

    A quoted field may span lines (the public keys do). When the lines a quote joined do not
    make a row of the header's width, the quote was a stray one: the first line alone is the
    row (and is rejected for its width), so the rows after it survive.
    """
    index = start
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        end = index
        text = lines[index]
        while text.count('"') % 2 and end + 1 < len(lines) and end - index < _MAX_ROW_LINES:
            end += 1
            text += "\n" + lines[end]
        fields = _parse(text, delimiter)
        if end > index and (fields is None or len(fields) != width or text.count('"') % 2):
            end, text = index, lines[index]
            fields = _parse(text, delimiter)
        yield tuple(range(index + 1, end + 2)), text, fields
        index = end + 1


def _device(row: list[str], layout: _Layout, lines: tuple[int, ...]) -> _Device:
    if len(row) != len(layout.header):
        raise _Unusable(f"row has {len(row)} fields; the header has {len(layout.header)}")
    columns, header = layout.columns, layout.header
    lon = _coordinate(row[columns["lon"]], header[columns["lon"]], LON_RANGE)
    lat = _coordinate(row[columns["lat"]], header[columns["lat"]], LAT_RANGE)
    named: list[tuple[list[str], float | None]] = []
    for plug_at, power_at in layout.plug_columns:
        plugs = [p.strip() for p in row[plug_at].split(",")]
        plugs = [p for p in plugs if p and (p not in _PLUGS or _PLUGS[p] is not None)]
        named.append((plugs, _number(row[power_at]) if power_at is not None else None))
    last_named = max((n + 1 for n, (plugs, _) in enumerate(named) if plugs), default=0)
    count_text = row[columns["points"]].strip()
    count = _number(count_text)
    if count is None or count <= 0 or count != int(count):
        if not last_named:
            raise _Unusable(
                f"{header[columns['points']]} {count_text!r} and no Steckertypen: no charge point"
            )
        count = 0
    points = named[: max(int(count), last_named)]
    points += [([], None)] * (max(int(count), last_named) - len(points))
    return _Device(lines=lines, lat=lat, lon=lon, points=points)


def _connectors(plugs: list[str], kw: float | None, stamp: str | None) -> list[dict[str, Any]]:
    known = [_PLUGS.get(name) for name in plugs]
    has_dc = any(p is not None and p.current == "DC" for p in known)
    watts = round(kw * 1000) if kw is not None and kw > 0 else None
    out: list[dict[str, Any]] = []
    for number, (name, plug) in enumerate(zip(plugs, known, strict=True), start=1):
        connector: dict[str, Any] = {"id": str(number)}
        is_dc = plug is not None and plug.current == "DC"
        if plug is None:
            # Not in the table: passed on only if the normaliser can read it.
            if normalise_standard(name)[0] != UNKNOWN_STANDARD:
                connector["standard"] = name
        else:
            standard = plug.standard
            if plug.ratings and len(plugs) == 1 and kw is not None and kw > 0:
                standard = next((s for limit, s in plug.ratings if kw <= limit), None)
            if standard is not None:
                connector["standard"] = standard
            if plug.format is not None:
                connector["format"] = plug.format
            if plug.current != "AC":
                connector["power_type"] = plug.current
            elif not has_dc and kw is not None and kw > SINGLE_PHASE_MAX_KW:
                connector["power_type"] = "AC_3_PHASE"
        if watts is not None and (is_dc or not has_dc):
            connector["max_electric_power"] = watts
        if stamp is not None:
            connector["last_updated"] = stamp
        out.append(connector)
    if not out:  # a point the count says exists, its plug unnamed
        unnamed: dict[str, Any] = {"id": "1"}
        if watts is not None:
            unnamed["max_electric_power"] = watts
        if stamp is not None:
            unnamed["last_updated"] = stamp
        out.append(unnamed)
    return out


def _coordinates(lat: float, lon: float) -> dict[str, str]:
    return {"latitude": f"{lat:.7f}", "longitude": f"{lon:.7f}"}


def _location(site: _Site, layout: _Layout, stamp: str | None) -> dict[str, Any]:
    row, columns = site.first, layout.columns
    rid = _key(site.base, site.number)
    _, postal_code, city = _split_postcode(row[columns["postcode_city"]])
    first = site.devices[0]
    location: dict[str, Any] = {
        "country_code": SOURCE.country_code,
        "party_id": SOURCE.party_id,
        "id": rid,
        "publish": True,
    }
    if address := " ".join(row[columns["address"]].split()):
        location["address"] = address
    if city:
        location["city"] = city
    if postal_code:
        location["postal_code"] = postal_code
    if "state" in columns and (state := " ".join(row[columns["state"]].split())):
        location["state"] = state
    location["country"] = "DEU"
    location["coordinates"] = _coordinates(first.lat, first.lon)
    if operator := " ".join(row[columns["operator"]].split()):
        location["operator"] = {"name": operator}
    location["time_zone"] = "Europe/Berlin"
    evses: list[dict[str, Any]] = []
    for device_no, device in enumerate(site.devices, start=1):
        for point_no, (plugs, kw) in enumerate(device.points, start=1):
            evse: dict[str, Any] = {
                "uid": f"{rid}-{device_no}-{point_no}",
                "status": "UNKNOWN",
                "connectors": _connectors(plugs, kw, stamp),
                "coordinates": _coordinates(device.lat, device.lon),
            }
            if stamp is not None:
                evse["last_updated"] = stamp
            evses.append(evse)
    location["evses"] = evses
    if stamp is not None:
        location["last_updated"] = stamp
    return location


def _read_file(path: Path) -> Iterator[Record | Rejected]:
    name = path.name
    lines = _physical_lines(_decode(path))
    layout = _layout(lines)
    if isinstance(layout, str):
        yield Rejected(name, (1,), None, layout, "\n".join(lines[:5])[:RAW_TEXT_MAX])
        return
    columns = layout.columns
    sites: dict[str, list[_Site]] = {}
    order: list[_Site] = []
    newest: date | None = None
    width = len(layout.header)
    for numbers, text, fields in _rows(lines, layout.header_line, layout.delimiter, width):
        try:
            if fields is None:
                raise _Unusable("the row is not valid CSV")
            row = fields
            device = _device(row, layout, numbers)
        except _Unusable as exc:
            quote = " (a quote on this line is not closed)" if text.count('"') % 2 else ""
            yield Rejected(name, numbers, None, f"{exc}{quote}", text[:RAW_TEXT_MAX])
            continue
        if "commissioned" in columns and (day := _date(row[columns["commissioned"]])):
            newest = day if newest is None or day > newest else newest
        postcode, _, _ = _split_postcode(row[columns["postcode_city"]])
        base = _base(row[columns["operator"]], row[columns["address"]], postcode)
        candidates = sites.setdefault(base, [])
        for site in candidates:
            head = site.devices[0]
            if _distance_m(head.lat, head.lon, device.lat, device.lon) <= SITE_RADIUS_M:
                site.devices.append(device)
                break
        else:
            site = _Site(base=base, number=len(candidates) + 1, first=row, devices=[device])
            candidates.append(site)
            order.append(site)
    snapshot = layout.stand or newest
    stamp = f"{snapshot.isoformat()}T00:00:00Z" if snapshot is not None else None
    for site in order:
        location = _location(site, layout, stamp)
        site_lines = tuple(sorted(n for d in site.devices for n in d.lines))
        yield Record(location["id"], location, name, site_lines)


def read(paths: list[Path]) -> Iterator[Record | Rejected]:
    """Sites (``Record``) and unusable rows (``Rejected``) of each file, file by file."""
    for path in paths:
        yield from _read_file(path)
