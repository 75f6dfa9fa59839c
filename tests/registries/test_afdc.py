"""AFDC reader (issue 12) against the bundled files: counts computed here with ``csv.DictReader``
(the module splits lines itself), real rows mapped field by field, one station per AFDC ID, and
every record through the OCPI normaliser. No database."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.registries import Record, Rejected, afdc

REGISTRIES = Path(__file__).resolve().parents[2] / "fixtures" / "registries"
NY = REGISTRIES / "us_afdc_elec_NY_full75cols_2025_jingniz.csv"
WA = REGISTRIES / "us_afdc_elec_WA_full75cols_2025_andreagafer98.csv"
MINIMAL = REGISTRIES / "us_afdc_stations_min_2022_ghhyc.csv"
ALL = [NY, WA, MINIMAL]
LEVELS = ("EV Level1 EVSE Num", "EV Level2 EVSE Num", "EV DC Fast Count")

# Rows of other fuels in the full exports: not charging stations, neither Record nor Rejected.
OTHER_FUELS = {
    NY: {"E85": 74, "CNG": 23, "LPG": 19, "BD": 4, "RD": 1},  # 121 rows
    WA: {"LPG": 51, "RD": 20, "E85": 6, "CNG": 4, "BD": 3, "LNG": 1},  # 85 rows
}


def dict_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def usable(row: dict[str, str]) -> bool:
    """The test's own reading of the coordinate rules: numbers, in range, neither of them 0."""
    try:
        lat, lon = float(row["Latitude"]), float(row["Longitude"])
    except ValueError:
        return False
    return -90 <= lat <= 90 and -180 <= lon <= 180 and lat != 0 and lon != 0


def split(items: list[Record | Rejected]) -> tuple[list[Record], list[Rejected]]:
    return (
        [i for i in items if isinstance(i, Record)],
        [i for i in items if isinstance(i, Rejected)],
    )


def elec_ids(path: Path) -> list[str]:
    return [r["ID"] for r in dict_rows(path) if r["Fuel Type Code"] == "ELEC"]


@pytest.fixture(scope="module")
def combined() -> tuple[list[Record], list[Rejected], Counter[tuple[str, str]]]:
    tally: Counter[tuple[str, str]] = Counter()
    records, rejected = split(list(afdc.read(ALL, tally=tally)))
    return records, rejected, tally


@pytest.fixture(scope="module")
def by_id(
    combined: tuple[list[Record], list[Rejected], Counter[tuple[str, str]]],
) -> dict[str, Record]:
    return {r.record_id: r for r in combined[0]}


# ---- counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [NY, WA], ids=["NY", "WA"])
def test_full_file_counts(path: Path) -> None:
    rows = dict_rows(path)
    elec = [r for r in rows if r["Fuel Type Code"] == "ELEC"]
    other = Counter(r["Fuel Type Code"] for r in rows if r["Fuel Type Code"] != "ELEC")
    assert other == OTHER_FUELS[path]
    assert len(elec) + sum(other.values()) == len(rows) == {NY: 4857, WA: 2558}[path]
    assert all(usable(r) for r in elec)

    tally: Counter[tuple[str, str]] = Counter()
    records, rejected = split(list(afdc.read([path], tally=tally)))

    assert rejected == []
    assert [r.record_id for r in records] == [r["ID"] for r in elec]
    assert {r.file for r in records} == {path.name}
    # Other fuels are counted, not yielded.
    assert tally == {(path.name, f"fuel {fuel}, not electric"): n for fuel, n in other.items()}
    # One EVSE per counted port.
    ports = sum(int(r[c] or 0) for r in elec for c in LEVELS)
    assert sum(len(r.location["evses"]) for r in records) == ports


def test_minimal_file_counts() -> None:
    rows = dict_rows(MINIMAL)
    assert len(rows) == 50_270
    bad = [r for r in rows if not usable(r)]
    assert [r["ID"] for r in bad] == ["191112"]

    records, rejected = split(list(afdc.read([MINIMAL])))

    assert len(records) == len(rows) - len(bad) == 50_269
    assert rejected == [
        Rejected(
            file=MINIMAL.name,
            lines=(42_740,),
            record_id="191112",
            reason="Longitude '0': 0 is a placeholder, not a place",
            raw_text="Rosegate Apartments,12065,42.868419,0,191112",
        )
    ]
    assert [r.record_id for r in records] == [r["ID"] for r in rows if usable(r)]


def test_an_id_in_a_full_file_and_the_minimal_file_is_one_station_the_full_one(
    combined: tuple[list[Record], list[Rejected], Counter[tuple[str, str]]],
) -> None:
    records, rejected, tally = combined
    ny, wa = set(elec_ids(NY)), set(elec_ids(WA))
    minimal_rows = dict_rows(MINIMAL)
    minimal_ids = {r["ID"] for r in minimal_rows}
    usable_minimal = {r["ID"] for r in minimal_rows if usable(r)}
    assert not ny & wa
    assert (len(ny & minimal_ids), len(wa & minimal_ids)) == (1_971, 1_057)

    ids = [r.record_id for r in records]
    assert len(ids) == len(set(ids))  # each ID once
    assert len(records) == len(ny) + len(wa) + len(usable_minimal - ny - wa) == 54_451
    by_file = {r.record_id: r.file for r in records}
    assert all(by_file[i] == NY.name for i in ny)
    assert all(by_file[i] == WA.name for i in wa)
    # The minimal rows of those IDs are superseded (191112 is broken there: rejected instead).
    assert tally[MINIMAL.name, f"superseded by {NY.name}"] == len(ny & usable_minimal) == 1_970
    assert tally[MINIMAL.name, f"superseded by {WA.name}"] == len(wa & usable_minimal) == 1_057
    assert [(r.file, r.record_id) for r in rejected] == [(MINIMAL.name, "191112")]
    assert by_file["191112"] == NY.name
    # Every row is accounted for: record, rejected, other fuel or superseded.
    rows = sum(len(dict_rows(p)) for p in ALL)
    assert len(records) + len(rejected) + sum(tally.values()) == rows


def write_full(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_between_two_full_files_the_later_updated_at_wins(tmp_path: Path) -> None:
    row = next(r for r in dict_rows(NY) if r["ID"] == "88498")
    older = write_full(tmp_path / "older.csv", [row])
    newer = write_full(
        tmp_path / "newer.csv",
        [row | {"Station Name": "Renamed", "Updated At": "2025-03-01 10:00:00 UTC"}],
    )
    same = write_full(tmp_path / "same.csv", [row | {"Station Name": "Same time"}])
    minimal = tmp_path / "minimal.csv"
    minimal.write_text("Station Name,ZIP,Latitude,Longitude,ID\nOld,12853,43.69,-73.98,88498\n")

    for paths in ([older, newer], [newer, older], [minimal, older, newer]):
        tally: Counter[tuple[str, str]] = Counter()
        (record,) = afdc.read(paths, tally=tally)
        assert isinstance(record, Record)
        assert (record.file, record.location["name"]) == ("newer.csv", "Renamed")
        assert record.location["last_updated"] == "2025-03-01T10:00:00Z"
        assert sum(tally.values()) == len(paths) - 1
        assert tally["older.csv", "superseded by newer.csv"] == 1
    # Equal Updated At: the file read first is kept. A full row beats a minimal one in any order.
    for paths, kept in (([older, same], "older.csv"), ([same, older], "same.csv")):
        (record,) = afdc.read(paths)
        assert isinstance(record, Record) and record.file == kept
    (record,) = afdc.read([older, minimal])
    assert isinstance(record, Record) and record.file == "older.csv"


# ---- rows mapped field by field -------------------------------------------------------------


def connector(cid: str, standard: str, fmt: str, power_type: str, updated: str) -> dict[str, Any]:
    return {
        "id": cid,
        "standard": standard,
        "format": fmt,
        "power_type": power_type,
        "last_updated": updated,
    }


def test_ny_level_1_and_2_with_a_nema_outlet(by_id: dict[str, Record]) -> None:
    # NY line 176: L1 1, L2 1, "J1772 NEMA520", Non-Networked, "10am-10pm daily; ...".
    record = by_id["88498"]
    assert (record.file, record.lines) == (NY.name, (176,))
    t = "2025-02-12T00:16:32Z"
    ac = [
        connector("1", "IEC_62196_T1", "CABLE", "AC_1_PHASE", t),
        connector("2", "NEMA_5_20", "SOCKET", "AC_1_PHASE", t),
    ]
    assert record.location == {
        "country_code": "US",
        "party_id": "AFD",
        "id": "88498",
        "publish": True,
        "name": "North Creek Heads in Beds",
        "address": "191 Main St",
        "city": "North Creek",
        "postal_code": "12853",
        "state": "NY",
        "country": "USA",
        "time_zone": "America/New_York",
        "coordinates": {"latitude": "43.69475", "longitude": "-73.985344"},
        "evses": [
            {"uid": "88498-L1-1", "status": "UNKNOWN", "connectors": ac, "last_updated": t},
            {"uid": "88498-L2-1", "status": "UNKNOWN", "connectors": ac, "last_updated": t},
        ],
        "last_updated": t,
    }


def test_wa_dc_fast_and_level_2(by_id: dict[str, Record]) -> None:
    # WA line 101: L2 1, DC 2, "CHADEMO J1772 J1772COMBO", EVCS, no hours given.
    record = by_id["65859"]
    assert (record.file, record.lines) == (WA.name, (101,))
    t = "2025-02-09T04:11:13Z"
    dc = [
        connector("1", "CHADEMO", "CABLE", "DC", t),  # in the order the row lists them
        connector("2", "IEC_62196_T1_COMBO", "CABLE", "DC", t),
    ]
    assert record.location == {
        "country_code": "US",
        "party_id": "AFD",
        "id": "65859",
        "publish": True,
        "name": "WCEH Wenatchee",
        "address": "200 N Columbia St",
        "city": "Wenatchee",
        "postal_code": "98801",
        "state": "WA",
        "country": "USA",
        "operator": {"name": "EVCS"},
        "time_zone": "America/Los_Angeles",
        "coordinates": {"latitude": "47.427713", "longitude": "-120.312139"},
        "evses": [
            {
                "uid": "65859-L2-1",
                "status": "UNKNOWN",
                "connectors": [connector("1", "IEC_62196_T1", "CABLE", "AC_1_PHASE", t)],
                "last_updated": t,
            },
            {"uid": "65859-DC-1", "status": "UNKNOWN", "connectors": dc, "last_updated": t},
            {"uid": "65859-DC-2", "status": "UNKNOWN", "connectors": dc, "last_updated": t},
        ],
        "last_updated": t,
    }


def test_wa_tesla_destination_is_nacs_on_level_2(by_id: dict[str, Record]) -> None:
    # WA line 269: L2 2, "TESLA" only: NACS carries AC, so the level 2 ports get it.
    record = by_id["116074"]
    t = "2025-01-09T17:57:07Z"
    nacs = [connector("1", "SAE_J3400", "CABLE", "AC_1_PHASE", t)]
    assert record.lines == (269,)
    assert record.location["name"] == "Alexander's Lodge & Restaurant - Tesla Destination"
    assert record.location["operator"] == {"name": "Tesla Destination"}
    assert record.location["evses"] == [
        {"uid": "116074-L2-1", "status": "UNKNOWN", "connectors": nacs, "last_updated": t},
        {"uid": "116074-L2-2", "status": "UNKNOWN", "connectors": nacs, "last_updated": t},
    ]


def test_ny_address_with_an_excel_line_break(by_id: dict[str, Record]) -> None:
    # NY lines 3422-3423: "Six Flags Darien Lake_x000D_\n9993 Alleghany R", 11 level 2 ports.
    record = by_id["322998"]
    assert record.lines == (3422, 3423)
    location = record.location
    assert location["address"] == "Six Flags Darien Lake, 9993 Alleghany R"
    assert location["operator"] == {"name": "SHELL_RECHARGE"}
    assert "opening_times" not in location  # "Mon 6:00am - 11:59pm; ..." is not read
    t = "2025-04-21T02:54:28Z"
    assert location["evses"] == [
        {
            "uid": f"322998-L2-{n}",
            "status": "UNKNOWN",
            "connectors": [connector("1", "IEC_62196_T1", "CABLE", "AC_1_PHASE", t)],
            "last_updated": t,
        }
        for n in range(1, 12)
    ]


def test_ny_full_row_of_an_id_broken_in_the_minimal_file(by_id: dict[str, Record]) -> None:
    # NY line 1832 ("24 hours daily"); its minimal row (longitude 0) is rejected.
    location = by_id["191112"].location
    assert location["coordinates"] == {"latitude": "42.86842", "longitude": "-73.78282"}
    assert location["opening_times"] == {"twentyfourseven": True}
    assert location["operator"] == {"name": "VIALYNK"}
    assert len(location["evses"]) == 4


def minimal_location(record_id: str, name: str, lat: str, lon: str, **extra: str) -> dict[str, Any]:
    t = "2022-01-01T00:00:00Z"
    return {
        "country_code": "US",
        "party_id": "AFD",
        "id": record_id,
        "publish": True,
        "name": name,
        "coordinates": {"latitude": lat, "longitude": lon},
        "evses": [
            {
                "uid": f"{record_id}-1",
                "status": "UNKNOWN",
                "connectors": [{"id": "1", "last_updated": t}],
                "last_updated": t,
            }
        ],
        "last_updated": t,
        **extra,
    }


@pytest.mark.parametrize(
    ("record_id", "line", "expected"),
    [
        # "LADWP - Truesdale Center,91352,34.24831915,-118.3879714,1517"
        (
            "1517",
            2,
            minimal_location(
                "1517", "LADWP - Truesdale Center", "34.24831915", "-118.3879714",
                postal_code="91352", country="USA",
            ),
        ),
        # "Burlington International Airport,5403,44.469281,-73.154972,27036": leading zero lost
        (
            "27036",
            94,
            minimal_location(
                "27036", "Burlington International Airport", "44.469281", "-73.154972",
                postal_code="05403", country="USA",
            ),
        ),
        # "Glenn International,987,18.375312,-65.973635,165407": Puerto Rico, ZIP 00987
        (
            "165407",
            24_832,
            minimal_location(
                "165407", "Glenn International", "18.375312", "-65.973635",
                postal_code="00987", country="PRI",
            ),
        ),
        # "Comfort Hotel-DCFC,L2G3X,43.09247,-79.08459,194331": Canadian, postal code cut short
        (
            "194331",
            44_504,
            minimal_location(
                "194331", "Comfort Hotel-DCFC", "43.09247", "-79.08459", country="CAN"
            ),
        ),
        # "LAS VEGAS TEST UNITS,0,36.132854,-115.153631,200443": no ZIP, so no country
        (
            "200443",
            None,
            minimal_location("200443", "LAS VEGAS TEST UNITS", "36.132854", "-115.153631"),
        ),
    ],
)  # fmt: skip
def test_minimal_rows(
    by_id: dict[str, Record], record_id: str, line: int | None, expected: dict[str, Any]
) -> None:
    record = by_id[record_id]
    assert record.file == MINIMAL.name
    if line is not None:
        assert record.lines == (line,)
    assert record.location == expected


# ---- the normaliser -------------------------------------------------------------------------


def test_every_record_goes_through_the_normaliser(
    combined: tuple[list[Record], list[Rejected], Counter[tuple[str, str]]],
) -> None:
    records = combined[0]
    normaliser = Normaliser(IngestContext(network_id=1, source="file:x", check_geography=True))
    raws = [msgspec.json.encode(r.location) for r in records]
    accepted, problems = [], []
    for start in range(0, len(raws), 1000):
        page_accepted, page_problems = normaliser.locations(raws[start : start + 1000])
        accepted += page_accepted
        problems += page_problems

    rejected = {p.object_key: p.reason for p in problems if p.severity != "note"}
    # The only rejections: two minimal rows (ZIP 96740, Kailua-Kona) whose points lie at sea.
    assert rejected == {
        "US*AFD*45964": "coordinates (21.863217, -159.788556) lie at sea, 13 km from land "
        "(outside USA, the location's country)",
        "US*AFD*186657": "coordinates (24.782658, -152.546919) lie at sea, 567 km from land "
        "(outside USA, the location's country)",
    }
    assert len(accepted) == len(records) - 2
    # Notes: only the minimal file's unknown connector, once per field it cannot say.
    minimal = sum(1 for r in records if r.file == MINIMAL.name)
    notes = Counter((p.object_kind, p.reason) for p in problems if p.severity == "note")
    assert notes == {
        ("connector", "connector standard missing; read as UNKNOWN"): minimal,
        ("connector", "connector power_type missing; read as UNKNOWN"): minimal,
        ("connector", "connector format missing; read as UNKNOWN"): minimal,
    }
    assert minimal == 50_269 - 3_027  # less the superseded (the two at sea are counted too)
    # Every accepted location shows its EVSEs (each has a connector).
    assert all(e.visible for loc in accepted for e in loc.evses)


# ---- broken input ---------------------------------------------------------------------------


def test_a_broken_minimal_row_costs_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "min.csv"
    path.write_text(
        "Station Name,ZIP,Latitude,Longitude,ID\n"
        "Good one,91352,34.24831915,-118.3879714,1517\n"
        "Broken,91352,,-118.3879714,1518\n"
        '"Good, two",12065,42.868419,-73.78282,1519\n'
    )
    records, rejected = split(list(afdc.read([path])))
    assert [(r.record_id, r.lines, r.location["name"]) for r in records] == [
        ("1517", (2,), "Good one"),
        ("1519", (4,), "Good, two"),
    ]
    assert rejected == [
        Rejected(
            "min.csv", (3,), "1518", "Latitude '' is not a number",
            "Broken,91352,,-118.3879714,1518",
        )
    ]  # fmt: skip


def test_broken_full_rows_cost_only_themselves(tmp_path: Path) -> None:
    rows = dict_rows(NY)
    good = [r for r in rows if r["ID"] in ("88498", "191112")]
    path = write_full(tmp_path / "full.csv", good)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    fields = lines[1].split(",")
    broken = [
        ",".join(fields[:-1]),  # a field short
        '"' + lines[1],  # a quote never closed
        lines[1].replace(",E,", ",E,bad-count-here,", 1),  # a field too many
        lines[1].replace(",88498,", ",,", 1),  # no ID
        lines[1].replace("43.69475", "95.5", 1),  # latitude out of range
        lines[1].replace(",1,1,", ",1,two,", 1),  # a port count that is not a count
    ]
    path.write_text("\n".join([lines[0], lines[1], *broken, lines[2]]) + "\n", encoding="utf-8")

    records, rejected = split(list(afdc.read([path])))

    assert [(r.record_id, r.lines) for r in records] == [("88498", (2,)), ("191112", (9,))]
    assert [(r.lines, r.record_id, r.reason) for r in rejected] == [
        ((3,), None, "the line has 74 fields; the header has 75"),
        ((4,), None, "a quoted field is never closed (a '\"' without its pair)"),
        ((5,), None, "the line has 76 fields; the header has 75"),
        ((6,), None, "ID is missing"),
        ((7,), "88498", "Latitude '95.5' is out of range (-90 to 90)"),
        ((8,), "88498", "EV Level2 EVSE Num 'two' is not a count"),
    ]
    assert rejected[1].raw_text == broken[1]


def test_status_codes(tmp_path: Path) -> None:
    row = next(r for r in dict_rows(NY) if r["ID"] == "88498")
    rows = [
        row | {"ID": "1", "Status Code": "E"},
        row | {"ID": "2", "Status Code": "P"},
        row | {"ID": "3", "Status Code": "T"},
    ]
    records, _ = split(list(afdc.read([write_full(tmp_path / "s.csv", rows)])))
    statuses = {r.record_id: {e["status"] for e in r.location["evses"]} for r in records}
    assert statuses == {"1": {"UNKNOWN"}, "2": {"PLANNED"}, "3": {"UNKNOWN"}}


def test_a_file_that_is_not_an_afdc_export(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("name,lat,lon\nx,1,2\n")
    with pytest.raises(ValueError, match=r"other\.csv: not an AFDC export"):
        list(afdc.read([path]))


def test_ports_without_a_fitting_plug_and_sites_without_ports(tmp_path: Path) -> None:
    row = next(r for r in dict_rows(NY) if r["ID"] == "88498")
    no_counts = {"EV Level1 EVSE Num": "", "EV Level2 EVSE Num": "", "EV DC Fast Count": ""}
    rows = [
        # A DC port, but only J1772 listed: the port is there, its plug unknown.
        row | no_counts | {"ID": "1", "EV DC Fast Count": "1", "EV Connector Types": "J1772"},
        # No port counted: one EVSE standing for the site's points, details unknown.
        row | no_counts | {"ID": "2"},
        # A Canadian row: country CAN, no time zone, the postal code as written.
        row | {"ID": "3", "Country": "CA", "State": "ON", "ZIP": "L2G 3X9"},
    ]
    records, _ = split(list(afdc.read([write_full(tmp_path / "p.csv", rows)])))
    t = "2025-02-12T00:16:32Z"
    one, two, three = (r.location for r in records)
    assert one["evses"] == [
        {
            "uid": "1-DC-1",
            "status": "UNKNOWN",
            "connectors": [{"id": "1", "power_type": "DC", "last_updated": t}],
            "last_updated": t,
        }
    ]
    assert two["evses"] == [
        {
            "uid": "2-1",
            "status": "UNKNOWN",
            "connectors": [{"id": "1", "last_updated": t}],
            "last_updated": t,
        }
    ]
    assert (three["country"], three["state"], three["postal_code"]) == ("CAN", "ON", "L2G 3X9")
    assert "time_zone" not in three
