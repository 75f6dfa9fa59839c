"""UK National Chargepoint Registry reader (ingest/registries/ukncr.py) on the bundled export.

The expectations are computed here from the raw bytes with methods other than the module's
(records split at an LF that is not part of CR LF; columns found by regular expression or by
substring counts), or were looked up in the file by hand (the line numbers are `grep -n`'s).
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.registries import Record, Rejected, ukncr

FILE = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "registries"
    / "national-charge-point-registry_stephenbrowett_2022.csv"
)
DEVICE_START = re.compile(r"[0-9a-f]{32},")
# chargeDeviceID, reference, name, latitude, longitude: a CSV field is quoted or comma-free.
_FIELD = r'(?:"(?:[^"]|"")*"|[^,"]*)'
HEAD = re.compile(rf"([0-9a-f]{{32}}),{_FIELD},{_FIELD},([^,]*),([^,]*),")

# Every distinct connectorNType value of the file, with the number of connectors carrying it.
TYPES = {
    "Type 2 Mennekes (IEC62196)": 5283,
    "3-pin Type G (BS1363)": 1037,
    "JEVS G105 (CHAdeMO) DC": 767,
    "Type 2 Combo (IEC62196) DC": 587,
    "Type 2 Tesla (IEC62196) DC": 20,
    "Type 1 SAEJ1772 (IEC 62196)": 6,
    "Type 3 Scame (IEC62196)": 1,
}


def raw_devices() -> tuple[str, list[str]]:
    """The header and the device records, split where a record ends in this file: at an LF
    not preceded by CR (line breaks inside fields are CR LF or a bare CR)."""
    text = FILE.read_bytes().decode("utf-8")
    header, *rest = re.split(r"(?<!\r)\n", text)
    return header, [chunk for chunk in rest if chunk]


@pytest.fixture(scope="module")
def results() -> list[Record | Rejected]:
    return list(ukncr.read([FILE]))


def records(results: list[Record | Rejected]) -> dict[str, Record]:
    return {r.record_id: r for r in results if isinstance(r, Record)}


def rejected(results: list[Record | Rejected]) -> list[Rejected]:
    return [r for r in results if isinstance(r, Rejected)]


def test_every_device_is_one_record_or_one_rejected(results: list[Record | Rejected]) -> None:
    header, chunks = raw_devices()
    assert len(header.split(",")) == 158  # 70 device columns + 8 connector blocks of 11
    starts = [c for c in chunks if DEVICE_START.match(c)]
    assert len(starts) == len(chunks) == 3966
    # The same count another way: the lines (LF-separated) that begin with a device id.
    lines = FILE.read_bytes().decode("utf-8").split("\n")
    assert sum(1 for line in lines if DEVICE_START.match(line)) == 3966
    ids = {c[:32] for c in chunks}
    assert len(ids) == 3966
    assert len(results) == 3966
    assert {r.record_id for r in results} == ids


def test_rejected_are_the_devices_outside_the_box(results: list[Record | Rejected]) -> None:
    _, chunks = raw_devices()
    outside = {}
    for chunk in chunks:
        match = HEAD.match(chunk)
        assert match is not None, chunk[:80]
        lat, lon = float(match[2]), float(match[3])
        if not (49 <= lat <= 61.5 and -11 <= lon <= 2.5):
            outside[match[1]] = (lat, lon)
    assert outside == {
        "d14136bfef12dc8b55cacb005f38637b": (40.416288, -3.703373),  # Madrid
        "6dada9cba3b4705f0c88c59d2dcc98d3": (-25.363882, 131.044922),  # central Australia
    }
    assert [(r.record_id, r.lines, r.reason) for r in rejected(results)] == [
        (
            "d14136bfef12dc8b55cacb005f38637b",
            (3986,),
            "latitude 40.416288 is outside 49 to 61.5: not in the UK and Ireland",
        ),
        (
            "6dada9cba3b4705f0c88c59d2dcc98d3",
            (4124,),
            "latitude -25.363882 is outside 49 to 61.5 and longitude 131.044922 is outside "
            "-11 to 2.5: not in the UK and Ireland",
        ),
    ]
    for r in rejected(results):
        assert r.file == FILE.name
        assert r.raw_text.startswith(r.record_id + ",")
        assert len(r.raw_text.split(",")) >= 158
    assert len(records(results)) == 3966 - 2


def test_connector_types_in_the_file(results: list[Record | Rejected]) -> None:
    header, chunks = raw_devices()
    names = header.split(",")
    type_columns = [names.index(f"connector{n}Type") for n in range(1, 9)]
    seen: Counter[str] = Counter()
    for chunk in chunks:
        (row,) = csv.reader([chunk.replace("\r", " ")])
        seen.update(row[i] for i in type_columns if row[i])
    assert seen == TYPES
    text = FILE.read_text(encoding="utf-8")
    for value, count in TYPES.items():
        assert text.count(f",{value},") == count  # a third way: the value between commas
    # What the module made of them, over the records (the two rejected devices had one
    # "Type 2 Tesla" and two "Type 2 Mennekes" three-phase connectors).
    made = Counter(
        (c.get("standard"), c["power_type"], c["format"])
        for r in records(results).values()
        for e in r.location["evses"]
        for c in e["connectors"]
    )
    assert made == {
        ("IEC_62196_T2", "AC_1_PHASE", "SOCKET"): 3689,
        ("IEC_62196_T2", "AC_3_PHASE", "SOCKET"): 983,
        ("IEC_62196_T2", "AC_3_PHASE", "CABLE"): 609,
        ("IEC_62196_T2", "DC", "CABLE"): 19,  # Type 2 Tesla
        ("DOMESTIC_G", "AC_1_PHASE", "SOCKET"): 1037,
        ("CHADEMO", "DC", "CABLE"): 767,
        ("IEC_62196_T2_COMBO", "DC", "CABLE"): 587,
        ("IEC_62196_T1", "AC_1_PHASE", "CABLE"): 6,
        ("IEC_62196_T3C", "AC_3_PHASE", "SOCKET"): 1,  # three-phase Scame
    }
    assert sum(made.values()) == sum(TYPES.values()) - 3
    statuses = Counter(e["status"] for r in records(results).values() for e in r.location["evses"])
    assert statuses == {"UNKNOWN": 7687, "PLANNED": 11}
    assert text.count(",Planned,") == 4 + 11  # 4 devices, 11 connectors


def test_every_record_normalises(results: list[Record | Rejected]) -> None:
    recs = list(records(results).values())
    normaliser = Normaliser(IngestContext(network_id=1, source="file:x", check_geography=True))
    accepted, problems = normaliser.locations([msgspec.json.encode(r.location) for r in recs])
    assert [p for p in problems if p.severity != "note"] == []
    assert len(accepted) == len(recs)
    # BS 1363 plugs the NCR rates at 16 A / 3.7 kW: the normaliser caps them at 3.1 kW.
    assert Counter(p.reason for p in problems) == {
        "DOMESTIC_G at 3.7 kW exceeds the plug's 3.1 kW limit; clamped": 511
    }
    assert FILE.read_text(encoding="utf-8").count(",3-pin Type G (BS1363),3.7,") == 511
    assert Counter(loc.open_24_7 for loc in accepted) == {None: 2346, True: 1488, False: 130}


def _connector(standard: str | None, fmt: str, power: str, v: int, a: int, w: int, at: str) -> Any:
    out = {
        "id": "1",
        "standard": standard,
        "format": fmt,
        "power_type": power,
        "max_voltage": v,
        "max_amperage": a,
        "max_electric_power": w,
        "last_updated": at,
    }
    return {k: x for k, x in out.items() if x is not None}


def _evse(uid: str, status: str, connector: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": uid,
        "status": status,
        "connectors": [connector],
        "last_updated": connector["last_updated"],
    }


def _location(device_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "country_code": "GB",
        "party_id": "NCR",
        "id": device_id,
        "publish": True,
        **fields,
    }


def _week(*days: tuple[str, str]) -> dict[str, Any]:
    return {
        "twentyfourseven": False,
        "regular_hours": [
            {"weekday": n, "period_begin": b, "period_end": e}
            for n, (b, e) in enumerate(days, start=1)
        ],
    }


def test_planned_rapid_device_with_a_line_break_in_a_quoted_field(
    results: list[Record | Rejected],
) -> None:
    # Line 905-906: deviceDescription "Free to use\r\nCan only be used by BMW Chargenow…";
    # chargeDeviceStatus and every connector Planned; dateUpdated 2016-01-11 11:45:40 (GMT).
    record = records(results)["8a51c79fd40b6fc9be68e7aa3601e602"]
    at = "2016-01-11T11:45:40Z"
    assert record.lines == (905, 906)
    assert record.file == FILE.name
    assert record.location == _location(
        "8a51c79fd40b6fc9be68e7aa3601e602",
        name="Post Office Lane",
        address="Post Office Lane",
        city="Corsham",
        postal_code="SN13 0HH",
        state="Wiltshire",
        country="GBR",
        coordinates={"latitude": "51.4326000", "longitude": "-2.1866900"},
        operator={"name": "Chargemaster (POLAR)"},
        owner={"name": "Chargemaster (POLAR)"},
        time_zone="Europe/London",
        evses=[
            _evse("123256", "PLANNED", _connector("CHADEMO", "CABLE", "DC", 400, 125, 50000, at)),
            _evse(
                "123257",
                "PLANNED",
                _connector("IEC_62196_T2_COMBO", "CABLE", "DC", 400, 125, 50000, at),
            ),
            _evse(
                "123258",
                "PLANNED",
                _connector("IEC_62196_T2", "CABLE", "AC_3_PHASE", 400, 63, 43000, at),
            ),
        ],
        last_updated=at,
    )


def test_type_1_dealer_with_a_full_week_of_hours(results: list[Record | Rejected]) -> None:
    # Line 799: access24Hours empty, seven days of from/to times; thoroughfare and street.
    record = records(results)["323c18a51a900dcdcd37c0cb3207cf61"]
    at = "2016-03-15T11:09:18Z"
    assert record.lines == (799,)
    assert record.location == _location(
        "323c18a51a900dcdcd37c0cb3207cf61",
        name="Drive Vauxhall Leicester 1",
        address="Aylestone Road, Freemans Common Road",
        city="Leicester",
        postal_code="LE2 7SL",
        state="City of Leicester",
        country="GBR",
        coordinates={"latitude": "52.6193210", "longitude": "-1.1356210"},
        operator={"name": "Chargemaster (POLAR)"},
        owner={"name": "Drive Leicester"},
        time_zone="Europe/London",
        opening_times=_week(*[("08:30", "19:00")] * 5, ("08:30", "18:00"), ("10:00", "16:00")),
        evses=[
            _evse(
                "44300",
                "UNKNOWN",
                _connector("IEC_62196_T1", "CABLE", "AC_1_PHASE", 230, 16, 3700, at),
            )
        ],
        last_updated=at,
    )


def test_date_created_in_summer_time_when_never_updated(results: list[Record | Rejected]) -> None:
    # Line 1136: dateCreated 2013-07-19 07:26:25 (BST, UTC+1), dateUpdated 0000-00-00 00:00:00;
    # no hours at all; name with a trailing space; buildingName and street.
    record = records(results)["cea7785b31f6a028bfa54af07d6f79ce"]
    at = "2013-07-19T06:26:25Z"
    t2 = _connector("IEC_62196_T2", "SOCKET", "AC_1_PHASE", 230, 32, 7000, at)
    assert record.lines == (1136,)
    assert record.location == _location(
        "cea7785b31f6a028bfa54af07d6f79ce",
        name="Church Street - NCP Car Park",
        address="NCP Church Street, Church Street",
        city="Manchester",
        postal_code="M4 1LQ",
        state="Greater Manchester",
        country="GBR",
        coordinates={"latitude": "53.4833990", "longitude": "-2.2358250"},
        operator={"name": "Charge Your Car"},
        owner={"name": "GMEV"},
        time_zone="Europe/London",
        evses=[_evse("40829", "UNKNOWN", t2), _evse("40830", "UNKNOWN", t2)],
        last_updated=at,
    )


def test_tesla_and_scame_connectors(results: list[Record | Rejected]) -> None:
    tesla = records(results)["ec4d3bc6a57395f37fd8e5e16f82f20a"]  # line 3979, BST
    at = "2017-05-30T14:19:29Z"
    assert tesla.lines == (3979,)
    assert tesla.location == _location(
        "ec4d3bc6a57395f37fd8e5e16f82f20a",
        name="Merrion Centre 14 Tesla",
        address="CitiPark, Merrion Centre, CitiPark, Merrion Way",
        city="Leeds",
        postal_code="LS28BT",
        state="West Yorkshire",
        country="GBR",
        coordinates={"latitude": "53.8023580", "longitude": "-1.5436410"},
        operator={"name": "CitiPark"},
        owner={"name": "CitiPark"},
        time_zone="Europe/London",
        opening_times={"twentyfourseven": True},
        evses=[
            _evse(
                "129150",
                "UNKNOWN",
                _connector("IEC_62196_T2", "CABLE", "DC", 400, 300, 120000, at),
            )
        ],
        last_updated=at,
    )
    scame = records(results)["5381db162abba1860f5c18369d8b1549"]  # line 2348, GMT
    at = "2016-03-23T11:58:09Z"
    assert scame.lines == (2348,)
    assert scame.location["opening_times"] == {"twentyfourseven": True}
    assert scame.location["address"] == "Whitton Bank Road"
    assert scame.location["operator"] == {"name": "Charge Your Car"}
    assert scame.location["owner"] == {"name": "Northumberland County Council"}
    assert scame.location["evses"] == [
        _evse(
            "128861",
            "UNKNOWN",
            _connector("IEC_62196_T3C", "SOCKET", "AC_3_PHASE", 400, 32, 22000, at),
        ),
        _evse(
            "128862",
            "UNKNOWN",
            _connector("IEC_62196_T2", "SOCKET", "AC_3_PHASE", 400, 32, 22000, at),
        ),
    ]


def test_hours_past_midnight_and_weeks_with_gaps(results: list[Record | Rejected]) -> None:
    malvern = records(results)["623040922099375a93bfbd8b3234d997"]  # line 706: 05:00-04:00
    assert malvern.location["opening_times"] == _week(*[("05:00", "04:00")] * 7)
    assert malvern.location["last_updated"] == "2016-03-15T11:09:18Z"  # dateCreated is 0000
    # Line 995: Mon, Wed, Fri, Sun 07:00-20:00 and nothing on the other days (a gap the file
    # has at random), and a bare CR inside the unquoted accessRestrictionDetails.
    peters = records(results)["efe8c47a4688ef6f1f411321caecdf43"]
    assert peters.lines == (995,)
    assert "opening_times" not in peters.location
    assert peters.location["name"] == "Peters Finger Road"
    assert [e["uid"] for e in peters.location["evses"]] == ["125691", "125692"]


def test_out_of_service_device_is_unknown(results: list[Record | Rejected]) -> None:
    # Line 128-129: chargeDeviceStatus and connector1Status "Out of service"; a quoted
    # locationLongDescription that is only "\r\n"; buildingNumber 143.
    record = records(results)["322cd5382c6c967c00ddcb78643884b3"]
    assert record.lines == (128, 129)
    assert record.location["address"] == "143 Haverstock Hill"
    assert "opening_times" not in record.location  # access24Hours 0 and no times
    (evse,) = record.location["evses"]
    assert evse["uid"] == "119047"
    assert evse["status"] == "UNKNOWN"
    assert evse["connectors"][0]["standard"] == "DOMESTIC_G"


def test_read_time() -> None:
    started = time.process_time()
    assert sum(1 for _ in ukncr.read([FILE])) == 3966
    assert time.process_time() - started < 2.0


# ---- small files ------------------------------------------------------------------------------


def _row(device_id: str, **values: str) -> list[str]:
    """A row of the real header's shape: a Type 2 post at Leicester unless told otherwise."""
    header = raw_devices()[0].split(",")
    row = dict.fromkeys(header, "")
    row.update(
        chargeDeviceID=device_id,
        name=f"Site {device_id[:4]}",
        latitude="52.619321",
        longitude="-1.135621",
        dateCreated="2016-01-02 03:04:05",
        dateUpdated="0000-00-00 00:00:00",
        dateDeleted="n/a",
        chargeDeviceStatus="In service",
        connector1ID="1001",
        connector1Type="Type 2 Mennekes (IEC62196)",
        connector1Status="In service",
    )
    row.update(values)
    return [row[name] for name in header]


def _write(tmp_path: Path, rows: list[list[str] | str]) -> Path:
    path = tmp_path / "ncr.csv"
    lines = [raw_devices()[0]]
    for row in rows:
        lines.append(row if isinstance(row, str) else ",".join(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


def test_a_broken_row_costs_only_itself(tmp_path: Path) -> None:
    good_a = _row("a" * 32)
    good_b = _row("b" * 32)
    path = _write(tmp_path, [good_a, "c" * 32 + ",REF,Half a row,52.1,-1.1,,,,,", good_b])
    out = list(ukncr.read([path]))
    assert [type(o).__name__ for o in out] == ["Record", "Rejected", "Record"]
    bad = out[1]
    assert isinstance(bad, Rejected)
    assert bad.reason == "row has 10 columns, the header has 158"
    assert (bad.file, bad.lines, bad.record_id) == ("ncr.csv", (3,), "c" * 32)
    assert bad.raw_text == "c" * 32 + ",REF,Half a row,52.1,-1.1,,,,,"
    assert [o.record_id for o in out if isinstance(o, Record)] == ["a" * 32, "b" * 32]
    assert [o.lines for o in out] == [(2,), (3,), (4,)]
    # First after the header, and spread over two lines by a quoted line break.
    broken_first = "c" * 32 + ',REF,"Half\r\na row",52.1,-1.1'
    out = list(ukncr.read([_write(tmp_path, [broken_first, good_a])]))
    assert isinstance(out[0], Rejected)
    assert (out[0].lines, out[0].raw_text) == ((2, 3), broken_first)
    assert out[0].reason == "row has 5 columns, the header has 158"
    assert isinstance(out[1], Record)
    assert out[1].lines == (4,)


def test_reasons(tmp_path: Path) -> None:
    cases = {
        "0" * 32: (_row("0" * 32, latitude=""), "latitude '' is not a number"),
        "1" * 32: (
            _row("1" * 32, latitude="abc", longitude="x"),
            "latitude 'abc' is not a number; longitude 'x' is not a number",
        ),
        "2" * 32: (
            _row("2" * 32, latitude="0.000000", longitude="0.000000"),
            "coordinates (0, 0) are a placeholder, not a site",
        ),
        "3" * 32: (
            _row("3" * 32, longitude="3.100000"),
            "longitude 3.100000 is outside -11 to 2.5: not in the UK and Ireland",
        ),
        "4" * 32: (
            _row("4" * 32, connector1ID="", connector1Type="", connector1Status=""),
            "no connector listed",
        ),
        "5" * 32: (_row("a" * 32), "chargeDeviceID '" + "a" * 32 + "' already read at ncr.csv:2"),
        "6" * 32: (
            _row("bad id!"),
            "chargeDeviceID 'bad id!' is not an OCPI id (1-36 of A-Z a-z 0-9 . _ -)",
        ),
        "7" * 32: (_row(""), "chargeDeviceID is empty"),
    }
    path = _write(tmp_path, [_row("a" * 32)] + [row for row, _ in cases.values()])
    out = list(ukncr.read([path]))
    assert isinstance(out[0], Record)
    assert [o.reason for o in out[1:] if isinstance(o, Rejected)] == [
        reason for _, reason in cases.values()
    ]
    assert [o.lines for o in out] == [(n,) for n in range(2, 2 + len(out))]


def test_removed_planned_and_a_bare_cr(tmp_path: Path) -> None:
    deleted = _row("d" * 32, dateDeleted="2017-01-05 10:00:00")
    removed = _row(
        "e" * 32,
        connector2ID="1002",
        connector2Type="Type 3A",
        connector2Status="Removed",
        connector1ChargeMethod="Mystery",
        connector1TetheredCable="",
    )
    planned = _row("f" * 32, chargeDeviceStatus="Planned", connector1Status="In service")
    bare_cr = _row("9" * 32, accessRestrictionDetails="closed at night\r.", access24Hours="1")
    path = _write(tmp_path, [deleted, removed, planned, bare_cr])
    out = {o.record_id: o for o in ukncr.read([path])}
    assert all(isinstance(o, Record) for o in out.values()), out
    locations = {k: o.location for k, o in out.items() if isinstance(o, Record)}
    assert [e["status"] for e in locations["d" * 32]["evses"]] == ["REMOVED"]
    assert [e["status"] for e in locations["e" * 32]["evses"]] == ["UNKNOWN", "REMOVED"]
    # Unknown type, method and cable: left out, never guessed.
    assert locations["e" * 32]["evses"][1]["connectors"] == [
        {"id": "1", "last_updated": "2016-01-02T03:04:05Z"}
    ]
    assert locations["e" * 32]["evses"][0]["connectors"] == [
        {"id": "1", "standard": "IEC_62196_T2", "last_updated": "2016-01-02T03:04:05Z"}
    ]
    assert [e["status"] for e in locations["f" * 32]["evses"]] == ["PLANNED"]
    assert locations["9" * 32]["opening_times"] == {"twentyfourseven": True}
    assert out["9" * 32].lines == (5,)
