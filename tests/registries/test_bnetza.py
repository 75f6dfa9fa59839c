"""The BNetzA Ladesäulenregister reader against the bundled files (national 2019 and the Berlin
extract). Expected counts are computed here with the csv module, independently of the reader."""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections import Counter, defaultdict
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.registries import Record, Rejected, bnetza

ROOT = Path(__file__).resolve().parents[2]
NATIONAL = ROOT / "fixtures" / "registries" / "Ladesaeulenregister_2019-07-19.csv"
BERLIN = ROOT / "fixtures" / "registries" / "berlin" / "netzagentur_final.csv"
NATIONAL_STAMP = "2019-07-19T00:00:00Z"
BERLIN_STAMP = "2018-08-10T00:00:00Z"  # the newest Inbetriebnahmedatum of the extract


# --- an independent reading of the files -------------------------------------------------


def _file_rows(path: Path) -> tuple[list[str], list[tuple[tuple[int, ...], dict[str, str]]]]:
    """(header, [(physical lines, {column: value})]) with csv's own line counting."""
    with path.open(encoding="utf-8", newline="") as handle:
        first = handle.readline()
        handle.seek(0)
        national = first.startswith("Ladesäulenregister")
        reader = csv.reader(handle, delimiter=";" if national else ",")
        for _ in range(5 if national else 1):
            header = next(reader)
        done = reader.line_num
        rows = []
        for fields in reader:
            rows.append(
                (
                    tuple(range(done + 1, reader.line_num + 1)),
                    dict(zip(header, fields, strict=False)),
                )
            )
            done = reader.line_num
    return header, rows


def _plugs_col(row: dict[str, str], n: int) -> str:
    return row.get(f"Steckertypen{n}", row.get(f"Steckertypen {n}", ""))


def _points(row: dict[str, str]) -> list[tuple[list[str], float | None]]:
    points = []
    for n in range(1, 5):
        names = [p.strip() for p in _plugs_col(row, n).split(",") if p.strip() not in ("", "0")]
        power = row.get(f"P{n} [kW]", "").replace(",", ".")
        points.append((names, float(power) if power else None))
    count = int(row["Anzahl Ladepunkte"])
    used = max([count] + [n + 1 for n, (names, _) in enumerate(points) if names])
    return points[:used]


def _in_germany(row: dict[str, str]) -> bool:
    lat = float(row["Breitengrad [DG]"].replace(",", "."))
    lon = float(row["Längengrad [DG]"].replace(",", "."))
    return 47.2 <= lat <= 55.1 and 5.8 <= lon <= 15.1


def _simple_address(text: str) -> str:
    text = text.lower().replace("ß", "ss")
    text = re.sub(r"str\.", "strasse ", text)
    text = re.sub(r"str(?=[\s\-,/]|$)", "strasse", text)
    return " ".join(text.split())


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _expected_sites(path: Path) -> list[list[tuple[int, ...]]]:
    """Per site, the line spans of its rows; sites in the order of their first row."""
    _, rows = _file_rows(path)
    by_place: dict[tuple[str, str, str], list[tuple[tuple[float, float], list[Any]]]] = defaultdict(
        list
    )
    sites: list[list[tuple[int, ...]]] = []
    for lines, row in rows:
        if not _in_germany(row):
            continue
        point = (
            float(row["Breitengrad [DG]"].replace(",", ".")),
            float(row["Längengrad [DG]"].replace(",", ".")),
        )
        place = (
            " ".join(row["Betreiber"].lower().split()),
            _simple_address(row["Adresse"]),
            row["Postleitzahl Ort"].split()[0],
        )
        for head, members in by_place[place]:
            if _metres(head, point) <= 50:
                members.append(lines)
                break
        else:
            members = [lines]
            by_place[place].append((point, members))
            sites.append(members)
    return sites


@cache
def _read(path: Path) -> tuple[list[Record], list[Rejected]]:
    out = list(bnetza.read([path]))
    records = [o for o in out if isinstance(o, Record)]
    rejected = [o for o in out if isinstance(o, Rejected)]
    assert len(records) + len(rejected) == len(out)
    return records, rejected


def _site(path: Path, line: int) -> Record:
    (record,) = [r for r in _read(path)[0] if line in r.lines]
    return record


def _sha_key(text: str) -> str:
    return "BNA-" + hashlib.sha1(text.encode()).hexdigest()[:16]


# --- the source --------------------------------------------------------------------------


def test_source() -> None:
    assert bnetza.SOURCE.name == "bnetza"
    assert bnetza.SOURCE.title == "Bundesnetzagentur Ladesäulenregister"
    assert (bnetza.SOURCE.country_code, bnetza.SOURCE.party_id) == ("DE", "BNA")
    assert bnetza.SOURCE.licence == "CC BY 4.0"
    assert bnetza.SOURCE.attribution == "Ladesäulenregister © Bundesnetzagentur (CC BY 4.0)"
    assert bnetza.SOURCE.url == "https://www.bundesnetzagentur.de/ladesaeulenregister"


def test_every_plug_value_of_the_files_is_mapped() -> None:
    census: dict[str, Counter[str]] = {}
    for path in (NATIONAL, BERLIN) if BERLIN.exists() else (NATIONAL,):
        counter: Counter[str] = Counter()
        for _, row in _file_rows(path)[1]:
            for n in range(1, 5):
                counter.update(p.strip() for p in _plugs_col(row, n).split(",") if p.strip())
        census[path.name] = counter
    assert census[NATIONAL.name] == {
        "AC Steckdose Typ 2": 16239,
        "AC Schuko": 3397,
        "DC Kupplung Combo": 1404,
        "AC Kupplung Typ 2": 1156,
        "DC CHAdeMO": 1043,
        "AC CEE 5 polig": 35,
        "AC CEE 3 polig": 12,
        "0": 2,
        "Steckdose Typ 1": 1,
    }
    if BERLIN.exists():
        assert census[BERLIN.name] == {
            "AC Steckdose Typ 2": 621,
            "DC Kupplung Combo": 8,
            "DC CHAdeMO": 6,
            "AC Kupplung Typ 2": 6,
            "AC Schuko": 1,
        }
    every = set().union(*census.values())
    assert every <= set(bnetza._PLUGS)
    assert bnetza._PLUGS["0"] is None  # a placeholder, not a plug


# --- counts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "rows", "rejected"),
    [
        (NATIONAL, 9690, 1),
        (BERLIN, 330, 0),
    ],
)
def test_counts(path: Path, rows: int, rejected: int) -> None:
    _, file_rows = _file_rows(path)
    assert len(file_rows) == rows
    outside = [(lines, row) for lines, row in file_rows if not _in_germany(row)]
    assert len(outside) == rejected
    expected = _expected_sites(path)
    records, rejects = _read(path)
    assert len(records) == len(expected)
    assert [r.lines for r in records] == [
        tuple(n for span in site for n in span) for site in expected
    ]
    assert [(r.lines, r.reason) for r in rejects] == [
        (
            lines,
            f"Längengrad [DG] {row['Längengrad [DG]']} is outside Germany's bounding box "
            "(5.8 to 15.1)",
        )
        for lines, row in outside
    ]
    # Every data line is in exactly one Record or Rejected.
    data_lines = [n for lines, _ in file_rows for n in lines]
    covered = [n for r in records for n in r.lines] + [n for r in rejects for n in r.lines]
    assert sorted(covered) == data_lines
    # One EVSE per charge point, one connector per plug ("0" is none).
    kept = [row for _, row in file_rows if _in_germany(row)]
    assert sum(len(r.location["evses"]) for r in records) == sum(len(_points(r)) for r in kept)
    assert sum(len(e["connectors"]) for r in records for e in r.location["evses"]) == sum(
        max(1, len(names)) for row in kept for names, _ in _points(row)
    )
    ids = [r.record_id for r in records]
    assert len(set(ids)) == len(ids)
    stamp = NATIONAL_STAMP if path == NATIONAL else BERLIN_STAMP
    for record in records:
        location = record.location
        assert location["id"] == record.record_id
        assert re.fullmatch(r"BNA-[0-9a-f]{16}", record.record_id)
        assert record.file == path.name
        assert location["last_updated"] == stamp
        for evse in location["evses"]:
            assert len(evse["uid"]) <= 36
            assert evse["uid"].startswith(record.record_id + "-")
            assert evse["status"] == "UNKNOWN"


def test_national_counts_in_numbers() -> None:
    records, rejects = _read(NATIONAL)
    assert len(records) == 8513
    assert sum(len(r.location["evses"]) for r in records) == 19027  # 19,029 points, 2 rejected
    assert [r.lines for r in rejects] == [(8731,)]
    # A row whose public keys hold line breaks spans seven lines.
    assert _site(NATIONAL, 873).lines == (873, 874, 875, 876, 877, 878, 879)


def test_berlin_counts_in_numbers() -> None:
    records, rejects = _read(BERLIN)
    assert (len(records), len(rejects)) == (323, 0)
    newest = max(
        date(2000 + int(y), int(m), int(d))
        for _, row in _file_rows(BERLIN)[1]
        for m, d, y in [row["Inbetriebnahmedatum"].split("/")]
    )
    assert f"{newest.isoformat()}T00:00:00Z" == BERLIN_STAMP


# --- the stable key ----------------------------------------------------------------------


def test_record_id_is_the_documented_hash() -> None:
    assert bnetza.record_id("MVV Energie AG", "Luisenring 49", "68159") == _sha_key(
        "mvv energie ag|luisenring 49|68159"
    )
    assert bnetza.record_id("  innogy  SE", "Boyenstr. 23", "10115") == bnetza.record_id(
        "innogy SE", "Boyenstraße  23", "10115"
    )
    assert bnetza.record_id("a", "Hauptstr.26", "1", 2) == _sha_key("a|hauptstrasse 26|1|2")
    assert bnetza.normalise_address("Ludwig-Erhard-Str. 9") == "ludwig-erhard-strasse 9"
    assert bnetza.normalise_address("Strausberger Platz 1") == "strausberger platz 1"


def test_a_second_site_at_the_same_address_gets_its_number() -> None:
    # IKEA Mannheim lists two devices at "Frankenthaler Str. 123" 13 km apart (one longitude
    # is wrong): two sites, the second keyed "…|2".
    first, second = _site(NATIONAL, 32), _site(NATIONAL, 35)
    assert first.record_id == _sha_key(
        "ikea deutschland gmbh & co. kg|frankenthaler strasse 123|68307"
    )
    assert second.record_id == _sha_key(
        "ikea deutschland gmbh & co. kg|frankenthaler strasse 123|68307|2"
    )


def test_a_berlin_row_and_the_national_rows_of_the_same_site_share_the_key() -> None:
    berlin, national = _site(BERLIN, 329), _site(NATIONAL, 3916)
    assert national.lines == (3916, 3917)  # the national file lists the device twice
    assert berlin.record_id == national.record_id
    key = berlin.record_id
    stamp = BERLIN_STAMP

    def point(n: int) -> dict[str, Any]:
        return {
            "uid": f"{key}-1-{n}",
            "status": "UNKNOWN",
            "connectors": [
                {
                    "id": "1",
                    "standard": "IEC_62196_T2",
                    "format": "SOCKET",
                    "power_type": "AC_3_PHASE",
                    "max_electric_power": 11000,
                    "last_updated": stamp,
                }
            ],
            "coordinates": {"latitude": "52.4776340", "longitude": "13.2823640"},
            "last_updated": stamp,
        }

    assert berlin.location == {
        "country_code": "DE",
        "party_id": "BNA",
        "id": key,
        "publish": True,
        "address": "Hohenzollerndamm 110A",
        "city": "Berlin",
        "postal_code": "14199",
        "country": "DEU",  # no Bundesland column in the extract: no state
        "coordinates": {"latitude": "52.4776340", "longitude": "13.2823640"},
        "operator": {"name": "Allego GmbH"},
        "time_zone": "Europe/Berlin",
        "evses": [point(1), point(2)],
        "last_updated": stamp,
    }
    assert len(national.location["evses"]) == 4
    shared = sum(r.record_id in {n.record_id for n in _read(NATIONAL)[0]} for r in _read(BERLIN)[0])
    assert shared == 229  # the other 94 are mostly "innogy SE", renamed in the 2019 file


# --- rows mapped field by field ----------------------------------------------------------


def _connector(n: int, stamp: str = NATIONAL_STAMP, **fields: Any) -> dict[str, Any]:
    return {"id": str(n), **fields, "last_updated": stamp}


def test_two_devices_at_one_address_are_one_site() -> None:
    record = _site(NATIONAL, 6)
    key = _sha_key("mvv energie ag|luisenring 49|68159")
    t2 = {"standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE"}
    first = {"latitude": "49.4944090", "longitude": "8.4680980"}
    second = {"latitude": "49.4946140", "longitude": "8.4683240"}

    def evse(uid: str, where: dict[str, str], connector: dict[str, Any]) -> dict[str, Any]:
        return {
            "uid": f"{key}-{uid}",
            "status": "UNKNOWN",
            "connectors": [connector],
            "coordinates": where,
            "last_updated": NATIONAL_STAMP,
        }

    assert record.record_id == key
    assert record.lines == (6, 7)
    assert record.file == NATIONAL.name
    assert record.location == {
        "country_code": "DE",
        "party_id": "BNA",
        "id": key,
        "publish": True,
        "address": "Luisenring 49",
        "city": "Mannheim",
        "postal_code": "68159",
        "state": "Baden-Württemberg",
        "country": "DEU",
        "coordinates": first,
        "operator": {"name": "MVV Energie AG"},
        "time_zone": "Europe/Berlin",
        "evses": [
            evse("1-1", first, _connector(1, **t2, max_electric_power=22000)),
            # Schuko: one phase by construction.
            evse(
                "1-2",
                first,
                _connector(
                    1,
                    standard="DOMESTIC_F",
                    format="SOCKET",
                    power_type="AC_1_PHASE",
                    max_electric_power=2000,
                ),
            ),
            evse("2-1", second, _connector(1, **t2, max_electric_power=22000)),
            evse("2-2", second, _connector(1, **t2, max_electric_power=22000)),
        ],
        "last_updated": NATIONAL_STAMP,
    }


def test_a_triple_charger_point_gives_the_dc_couplers_its_power() -> None:
    # ALDI Schwetzingen: one point "AC Steckdose Typ 2, DC Kupplung Combo, DC CHAdeMO" at 50 kW.
    record = _site(NATIONAL, 48)
    assert record.lines == (48,)
    (evse,) = record.location["evses"]
    assert evse["coordinates"] == {"latitude": "49.3898499", "longitude": "8.5783696"}
    assert record.location["operator"] == {"name": "ALDI GmbH & Co. KG Ketsch"}
    assert evse["connectors"] == [
        # the 50 kW are the DC couplers': the Type 2's power and phases are not known
        _connector(1, standard="IEC_62196_T2", format="SOCKET"),
        _connector(
            2,
            standard="IEC_62196_T2_COMBO",
            format="CABLE",
            power_type="DC",
            max_electric_power=50000,
        ),
        _connector(
            3, standard="CHADEMO", format="CABLE", power_type="DC", max_electric_power=50000
        ),
    ]


def test_type_1_schuko_and_a_cee_plug_of_unknown_rating() -> None:
    # Stadtwerke Rüsselsheim: Steckdose Typ 1 (11 kW), Schuko, Schuko, AC CEE 3 polig (11 kW).
    record = _site(NATIONAL, 5268)
    location = record.location
    assert (location["address"], location["postal_code"], location["city"]) == (
        "Darmstädter Str. 65",
        "65428",
        "Rüsselsheim am Main",
    )
    assert location["state"] == "Hessen"
    assert [e["connectors"] for e in location["evses"]] == [
        [
            _connector(
                1,
                standard="IEC_62196_T1",
                format="SOCKET",
                power_type="AC_1_PHASE",
                max_electric_power=11000,
            )
        ],
        [
            _connector(
                1,
                standard="DOMESTIC_F",
                format="SOCKET",
                power_type="AC_1_PHASE",
                max_electric_power=3700,
            )
        ],
        [
            _connector(
                1,
                standard="DOMESTIC_F",
                format="SOCKET",
                power_type="AC_1_PHASE",
                max_electric_power=3700,
            )
        ],
        # 11 kW is beyond a single-phase 16 A CEE, OCPI's only single-phase IEC 60309 value
        [_connector(1, format="SOCKET", power_type="AC_1_PHASE", max_electric_power=11000)],
    ]


def test_cee_plugs_alone_on_their_point_get_a_rating() -> None:
    (single,) = _site(NATIONAL, 4677).location["evses"]
    assert single["connectors"] == [
        _connector(
            1,
            standard="IEC_60309_2_single_16",
            format="SOCKET",
            power_type="AC_1_PHASE",
            max_electric_power=3700,
        )
    ]
    three = _site(NATIONAL, 5721).location["evses"][1]
    assert three["connectors"] == [
        _connector(
            1,
            standard="IEC_60309_2_three_16",
            format="SOCKET",
            power_type="AC_3_PHASE",
            max_electric_power=11000,
        )
    ]
    # Shared with a Type 2 and a Schuko on one 22 kW point: the CEE's current is not known.
    (shared,) = _site(NATIONAL, 1226).location["evses"]
    assert shared["connectors"] == [
        _connector(
            1,
            standard="IEC_62196_T2",
            format="SOCKET",
            power_type="AC_3_PHASE",
            max_electric_power=22000,
        ),
        _connector(
            2,
            standard="DOMESTIC_F",
            format="SOCKET",
            power_type="AC_1_PHASE",
            max_electric_power=22000,
        ),
        _connector(3, format="SOCKET", power_type="AC_3_PHASE", max_electric_power=22000),
    ]


def test_four_points_a_placeholder_plug_and_separate_ac_and_dc_points() -> None:
    # e-con AG, Memmingerberg: two devices of four points at one spot; the last point of the
    # second lists "DC Kupplung Combo, DC CHAdeMO, 0".
    record = _site(NATIONAL, 2260)
    assert record.lines == (2260, 2261)
    evses = record.location["evses"]
    assert [e["uid"].split("-", 2)[2] for e in evses] == [
        f"{d}-{p}" for d in (1, 2) for p in (1, 2, 3, 4)
    ]
    t2 = {"standard": "IEC_62196_T2", "power_type": "AC_3_PHASE"}
    ccs = {"standard": "IEC_62196_T2_COMBO", "format": "CABLE", "power_type": "DC"}
    assert [e["connectors"] for e in evses[4:]] == [
        [_connector(1, **t2, format="SOCKET", max_electric_power=22000)],
        [_connector(1, **t2, format="CABLE", max_electric_power=43000)],
        [_connector(1, **ccs, max_electric_power=120000)],
        [
            _connector(1, **ccs, max_electric_power=30000),
            _connector(
                2, standard="CHADEMO", format="CABLE", power_type="DC", max_electric_power=30000
            ),
        ],
    ]
    assert evses[2]["connectors"] == [_connector(1, **ccs, max_electric_power=112500)]


def test_points_beyond_the_count_without_a_plug_are_ignored() -> None:
    # Anzahl Ladepunkte 1, P2 [kW] 22 with no plug: one EVSE.
    assert len(_site(NATIONAL, 2583).location["evses"]) == 1
    # An invalid postcode ("4474 Vilshofen …") is left out; the city is kept.
    vilshofen = _site(NATIONAL, 1464).location
    assert "postal_code" not in vilshofen
    assert vilshofen["city"] == "Vilshofen an der Donau"


# --- the normaliser ----------------------------------------------------------------------


@cache
def _normalised(path: Path) -> tuple[int, list[Any]]:
    records, _ = _read(path)
    normaliser = Normaliser(IngestContext(network_id=1, source="file:x", check_geography=True))
    accepted, problems = normaliser.locations([msgspec.json.encode(r.location) for r in records])
    return len(accepted), problems


def _kinds(problems: list[Any]) -> Counter[tuple[str, str]]:
    return Counter((p.severity, re.sub(r"\d[\d.,]*", "N", p.reason)) for p in problems)


def test_the_normaliser_takes_the_national_sites() -> None:
    records, _ = _read(NATIONAL)
    accepted, problems = _normalised(NATIONAL)
    rejected = [p for p in problems if p.severity != "note"]
    # Two rows inside the bounding box lie in the North Sea (Timmendorfer Strand at 8.13° E,
    # Büdelsdorf at 6.92° E): the geography check quarantines them, as for any feed.
    at_sea = {_site(NATIONAL, 9084).record_id, _site(NATIONAL, 9244).record_id}
    assert {p.object_key.rsplit("*", 1)[1] for p in rejected} == {k.upper() for k in at_sea}
    assert all("lie at sea" in p.reason for p in rejected)
    assert accepted == len(records) - 2

    file_rows = [row for _, row in _file_rows(NATIONAL)[1] if _in_germany(row)]
    schuko_clamped = t2_clamped = phases_unknown = cee_unrated = 0
    for row in file_rows:
        for names, kw in _points(row):
            dc = any(n.startswith("DC") for n in names)
            for name in names:
                if name == "AC Schuko" and not dc and kw and kw > 3.7:
                    schuko_clamped += 1
                if "Typ 2" in name and not dc and kw and kw > 43.5:
                    t2_clamped += 1
                if "Typ 2" in name and (dc or not kw or kw <= 7.4):
                    phases_unknown += 1
                rated = len(names) == 1 and kw and kw <= (3.7 if "3 polig" in name else 44.4)
                if "CEE" in name and not rated:
                    cee_unrated += 1
    assert _kinds([p for p in problems if p.severity == "note"]) == {
        ("note", "DOMESTIC_F at N kW exceeds the plug's N kW limit; clamped"): schuko_clamped,
        ("note", "IEC_N_TN at N kW exceeds the plug's N kW limit; clamped"): t2_clamped,
        ("note", "connector power_type missing; read as UNKNOWN"): phases_unknown,
        ("note", "connector standard missing; read as UNKNOWN"): cee_unrated,
        # wrong coordinates of three sites near a border, kept with a note
        ("note", "coordinates lie in AUT, N km from DEU, the location's country"): 1,
        ("note", "coordinates lie in CHE, N km from DEU, the location's country"): 1,
        ("note", "coordinates lie in FRA, N km from DEU, the location's country"): 1,
    }
    assert (schuko_clamped, t2_clamped, phases_unknown, cee_unrated) == (2926, 24, 258, 42)


def test_the_normaliser_takes_every_berlin_site() -> None:
    accepted, problems = _normalised(BERLIN)
    assert accepted == len(_read(BERLIN)[0])
    assert _kinds(problems) == {
        ("note", "connector power_type missing; read as UNKNOWN"): 5,  # 3.7 kW Type 2 sockets
        ("note", "DOMESTIC_F at N kW exceeds the plug's N kW limit; clamped"): 1,
    }


# --- broken rows -------------------------------------------------------------------------

_NATIONAL_HEAD = NATIONAL.read_text(encoding="utf-8").splitlines()[:5]
_GOOD_A = (
    "Stadtwerke A;Hauptstr. 1;12345 Aort;Hessen;8.5;50.1;43000;22;Normalladeeinrichtung;1;"
    "AC Steckdose Typ 2;22;;;;;;;;;;"
)
_GOOD_B = (
    "Stadtwerke B;Bahnhofstraße 2;54321 Bort;Hessen;8.6;50.2;43000;50;Schnellladeeinrichtung;1;"
    "DC Kupplung Combo;50;;;;;;;;;;"
)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            "Stadtwerke C;Weg 3;11111 Cort;Hessen;8.7;;43000;22;Normalladeeinrichtung;1;"
            "AC Steckdose Typ 2;22;;;;;;;;;;",
            "Breitengrad [DG] '' is not a number",
        ),
        (
            "Stadtwerke C;Weg 3;11111 Cort;Hessen;acht;50.1;43000;22;Normalladeeinrichtung;1;"
            "AC Steckdose Typ 2;22;;;;;;;;;;",
            "Längengrad [DG] 'acht' is not a number",
        ),
        (
            "Stadtwerke C;Weg 3;11111 Cort;Hessen;8.7;56.2;43000;22;Normalladeeinrichtung;1;"
            "AC Steckdose Typ 2;22;;;;;;;;;;",
            "Breitengrad [DG] 56.2 is outside Germany's bounding box (47.2 to 55.1)",
        ),
        (
            "Stadtwerke C;Weg 3;11111 Cort;Hessen;0;0;43000;22;Normalladeeinrichtung;1;"
            "AC Steckdose Typ 2;22;;;;;;;;;;",
            "Längengrad [DG] 0 is outside Germany's bounding box (5.8 to 15.1)",
        ),
        (
            "Stadtwerke C;Weg 3;11111 Cort;Hessen;8.7;50.3;43000;22;Normalladeeinrichtung;0;"
            ";;;;;;;;;;;",
            "Anzahl Ladepunkte '0' and no Steckertypen: no charge point",
        ),
        (
            "Stadtwerke C;Weg 3;11111 Cort;Hessen;8.7;50.3;43000;22",
            "row has 8 fields; the header has 22",
        ),
        (
            'Stadtwerke C;"Weg 3;11111 Cort;Hessen;8.7;50.3;43000;22;Normalladeeinrichtung;1;'
            "AC Steckdose Typ 2;22;;;;;;;;;;",
            "row has 2 fields; the header has 22 (a quote on this line is not closed)",
        ),
    ],
)
def test_a_broken_row_costs_only_itself(tmp_path: Path, bad: str, reason: str) -> None:
    path = tmp_path / "register.csv"
    path.write_text("\r\n".join([*_NATIONAL_HEAD, _GOOD_A, bad, _GOOD_B, ""]), encoding="utf-8")
    out = list(bnetza.read([path]))
    rejected = [o for o in out if isinstance(o, Rejected)]
    records = [o for o in out if isinstance(o, Record)]
    assert [(r.file, r.lines, r.reason, r.raw_text) for r in rejected] == [
        ("register.csv", (7,), reason, bad)
    ]
    assert [(r.lines, r.location["address"]) for r in records] == [
        ((6,), "Hauptstr. 1"),
        ((8,), "Bahnhofstraße 2"),
    ]
    assert records[1].location["evses"][0]["connectors"] == [
        _connector(
            1,
            "2019-07-19T00:00:00Z",
            standard="IEC_62196_T2_COMBO",
            format="CABLE",
            power_type="DC",
            max_electric_power=50000,
        )
    ]


def test_a_broken_row_in_the_berlin_format(tmp_path: Path) -> None:
    header = BERLIN_HEADER
    good = (
        'innogy SE,Boyenstr. 23,10115 Berlin,"13,368842","52,535955",7/14/09,44,N,1,'
        "AC Steckdose Typ 2,22,,,,,,,"
    )
    bad = (
        'innogy SE,Torstraße 1,10115 Berlin,"13,3","52,5,3/1/12,44,N,1,AC Steckdose Typ 2,22,,,,,,,'
    )
    later = (
        'Allego GmbH,Hohenzollerndamm 110A,14199 Berlin,"13,282364","52,477634",7/5/17,22,N,1,'
        'AC Schuko,"3,7",,,,,,,'
    )
    path = tmp_path / "berlin.csv"
    path.write_text("\n".join([header, good, bad, later]) + "\n", encoding="utf-8")
    out = list(bnetza.read([path]))
    rejected = [o for o in out if isinstance(o, Rejected)]
    records = [o for o in out if isinstance(o, Record)]
    assert [(r.lines, r.reason) for r in rejected] == [
        ((3,), "row has 5 fields; the header has 18 (a quote on this line is not closed)")
    ]
    assert [r.lines for r in records] == [(2,), (4,)]
    assert records[0].record_id == bnetza.record_id("innogy SE", "Boyenstraße 23", "10115")
    # No Stand line: the newest commissioning date is the snapshot.
    assert records[0].location["last_updated"] == "2017-07-05T00:00:00Z"
    assert records[1].location["evses"][0]["connectors"] == [
        _connector(
            1,
            "2017-07-05T00:00:00Z",
            standard="DOMESTIC_F",
            format="SOCKET",
            power_type="AC_1_PHASE",
            max_electric_power=3700,
        )
    ]


BERLIN_HEADER = (
    "Betreiber,Adresse,Postleitzahl Ort,Längengrad [DG],Breitengrad [DG],Inbetriebnahmedatum,"
    "Anschlussleistung [kW],Art der Ladeeinrichtung,Anzahl Ladepunkte,Steckertypen 1,P1 [kW],"
    "Steckertypen 2,P2 [kW],Steckertypen 3,P3 [kW],Steckertypen 4,P4 [kW],"
)


def test_a_file_without_a_header_is_one_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a;b;c\n1;2;3\n", encoding="utf-8")
    (only,) = list(bnetza.read([path]))
    assert isinstance(only, Rejected)
    assert only.reason == "no header line starting with 'Betreiber' in the first 10 lines"


def test_a_cp1252_file_reads_alike(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_bytes("\r\n".join([*_NATIONAL_HEAD, _GOOD_B, ""]).encode("cp1252"))
    (record,) = list(bnetza.read([path]))
    assert isinstance(record, Record)
    assert record.location["address"] == "Bahnhofstraße 2"
