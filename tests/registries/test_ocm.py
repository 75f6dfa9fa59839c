"""Open Charge Map POIs (ingest/registries/ocm.py) against the real Berlin file.

Counts are computed here from the file with the standard library's ``json``, independently of
the module; specific POIs are written out by hand from the file."""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.domain.connectors import resolve_connector_filter
from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.registries import RAW_TEXT_MAX, Record, Rejected, ocm

ROOT = Path(__file__).resolve().parent.parent.parent
FILE = ROOT / "fixtures" / "registries" / "berlin" / "openchargemap_final.json"


@pytest.fixture(scope="module")
def pois() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(FILE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def results() -> list[Record | Rejected]:
    return list(ocm.read([FILE]))


@pytest.fixture(scope="module")
def by_id(results: list[Record | Rejected]) -> dict[str, dict[str, Any]]:
    return {r.record_id: r.location for r in results if isinstance(r, Record)}


def _write(tmp_path: Path, items: list[Any], name: str = "pois.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def _strip_names(poi: dict[str, Any]) -> dict[str, Any]:
    """The compact OCM shape: ids only, no nested reference objects."""
    out = copy.deepcopy(poi)
    for key in ("DataProvider", "OperatorInfo", "UsageType", "StatusType", "SubmissionStatus"):
        out.pop(key)
    out["AddressInfo"].pop("Country")
    for conn in out["Connections"]:
        for key in ("ConnectionType", "StatusType", "Level", "CurrentType"):
            conn.pop(key)
    return out


_SEVERITY = ("UNKNOWN", "PLANNED", "REMOVED")


def _plug_status(*status_ids: int | None) -> str:
    ids = set(status_ids)
    return "REMOVED" if ids & {200, 210} else "PLANNED" if 150 in ids else "UNKNOWN"


def _layout(p: dict[str, Any]) -> list[tuple[str, str, list[int]]]:
    """The EVSEs of a POI by the rule, worked out here: (uid, status, Connection ID per connector).

    Plugs are the Connections' units; N = NumberOfPoints. Removed plugs at a site with plugs
    not removed stand apart; N < the others: N EVSEs, EVSE k takes every N-th plug from k."""
    poi_id, n_points = p["ID"], p["NumberOfPoints"]
    plugs = [
        (f"{poi_id}-{c['ID']}-{n}", _plug_status(p["StatusTypeID"], c["StatusTypeID"]), c["ID"])
        for c in p["Connections"]
        for n in range(1, (c["Quantity"] or 1) + 1)
    ]
    if not plugs:
        status = _plug_status(p["StatusTypeID"])
        return [(f"{poi_id}-{n}", status, []) for n in range(1, (n_points or 1) + 1)]
    gone = [plug for plug in plugs if plug[1] == "REMOVED"]
    live = [plug for plug in plugs if plug[1] != "REMOVED"]
    if not live:
        live, gone = gone, []
    if not n_points or n_points >= len(live):
        return [(uid, status, [conn]) for uid, status, conn in plugs]
    shared = []
    for k in range(n_points):
        mine = live[k::n_points]
        status = max((plug[1] for plug in mine), key=_SEVERITY.index)
        shared.append((f"{poi_id}-{k + 1}", status, [plug[2] for plug in mine]))
    return shared + [(uid, status, [conn]) for uid, status, conn in gone]


def test_source() -> None:
    assert ocm.SOURCE.name == "ocm"
    assert ocm.SOURCE.title == "Open Charge Map"
    assert ocm.SOURCE.country_code is None
    assert ocm.SOURCE.party_id == "OCM"
    assert ocm.SOURCE.licence == "CC BY-SA 4.0"
    assert ocm.SOURCE.attribution == "© Open Charge Map contributors (CC BY-SA 4.0)"
    assert ocm.SOURCE.url == "https://openchargemap.org/"


# ---- per-file counts ----------------------------------------------------------------------------


def test_every_poi_is_one_record(
    pois: list[dict[str, Any]], results: list[Record | Rejected]
) -> None:
    usable = [
        p
        for p in pois
        if isinstance(p.get("ID"), int)
        and isinstance(p["AddressInfo"].get("Latitude"), float)
        and isinstance(p["AddressInfo"].get("Longitude"), float)
        and (p["AddressInfo"]["Latitude"], p["AddressInfo"]["Longitude"]) != (0.0, 0.0)
    ]
    assert len(pois) == 486
    assert len(usable) == 486
    records = [r for r in results if isinstance(r, Record)]
    assert [r for r in results if isinstance(r, Rejected)] == []
    assert [r.record_id for r in records] == [f"OCM-{p['ID']}" for p in pois]
    assert [r.lines for r in records] == [(i,) for i in range(len(pois))]
    assert {r.file for r in records} == {"openchargemap_final.json"}
    assert all(r.location["id"] == r.record_id for r in records)


def test_connection_types_in_the_file_and_their_mapping(
    pois: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    counts = Counter(c["ConnectionTypeID"] for p in pois for c in p["Connections"])
    assert counts == {
        25: 544,  # Type 2 socket ("Mennekes (Type 2)" in this file)
        28: 44,  # CEE 7/4 - Schuko - Type F
        33: 39,  # CCS (Type 2)
        2: 37,  # CHAdeMO
        1036: 33,  # Type 2 tethered
        17: 16,  # CEE 5 Pin
        16: 12,  # CEE 3 Pin
        0: 8,  # Unknown
        27: 2,  # Tesla Supercharger
        8: 1,  # Tesla (Roadster)
        29: 1,  # Type I (AS 3112)
        1: 1,  # Type 1 (J1772)
    }
    seen: dict[int, set[tuple[str | None, str | None]]] = {}
    for p in pois:
        evses = by_id[f"OCM-{p['ID']}"]["evses"]
        type_of = {c["ID"]: c["ConnectionTypeID"] for c in p["Connections"]}
        for evse, (_, _, conns) in zip(evses, _layout(p), strict=True):
            for connector, conn in zip(evse["connectors"], conns, strict=bool(conns)):
                seen.setdefault(type_of[conn], set()).add(
                    (connector.get("standard"), connector.get("format"))
                )
    assert seen == {
        25: {("IEC_62196_T2", "SOCKET")},
        1036: {("IEC_62196_T2", "CABLE")},
        33: {("IEC_62196_T2_COMBO", "CABLE")},
        2: {("CHADEMO", "CABLE")},
        28: {("DOMESTIC_F", "SOCKET")},
        27: {("IEC_62196_T2", "CABLE")},  # a Supercharger in Germany: the Type 2-shaped DC plug
        8: {("TESLA_R", None)},
        29: {("DOMESTIC_I", "SOCKET")},
        1: {("IEC_62196_T1", None)},
        # IEC 60309 only where Amps names the rating (13 CEE connections have no Amps)
        17: {
            ("IEC_60309_2_three_16", "SOCKET"),
            ("IEC_60309_2_three_32", "SOCKET"),
            (None, "SOCKET"),
        },
        16: {("IEC_60309_2_single_16", "SOCKET"), (None, "SOCKET")},
        0: {(None, None)},
    }  # fmt: skip


def test_evse_counts_and_statuses(
    pois: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    plain = 0  # NumberOfPoints where it is below the plugs listed, else the plugs
    for p in pois:
        plugs = sum(c["Quantity"] or 1 for c in p["Connections"]) or p["NumberOfPoints"]
        plain += min(plugs, p["NumberOfPoints"])
    assert plain == 904
    expected = [e for p in pois for e in _layout(p)]
    got = [
        (e["uid"], e["status"], [c["id"] for c in e["connectors"]])
        for p in pois
        for e in by_id[f"OCM-{p['ID']}"]["evses"]
    ]
    # Connector ids "1", "2", … per EVSE; an EVSE without Connections has one, "1".
    ids = [[str(k) for k in range(1, len(conns) + 1)] or ["1"] for _, _, conns in expected]
    assert got == [(uid, status, i) for (uid, status, _), i in zip(expected, ids, strict=True)]
    # 904 + 5 removed plugs at live sites, kept apart (54254's CCS, 94081's 4 "Unknown")
    assert len(got) == 909
    assert Counter(status for _, status, _ in got) == {"UNKNOWN": 885, "REMOVED": 14, "PLANNED": 10}
    assert sum(p["NumberOfPoints"] for p in pois) == 920
    # No site shows more EVSEs than points where it lists more plugs than points.
    for p in pois:
        shown = [e for e in by_id[f"OCM-{p['ID']}"]["evses"] if e["status"] != "REMOVED"]
        if sum(c["Quantity"] or 1 for c in p["Connections"]) > p["NumberOfPoints"]:
            assert len(shown) <= p["NumberOfPoints"]


def test_connectors_come_from_their_connections(
    pois: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    def expected(c: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
        def positive(v: Any) -> int | None:
            return round(v) if v else None

        kw = c["PowerKW"]
        return (round(kw * 1000) if kw else None, positive(c["Voltage"]), positive(c["Amps"]))

    for p in pois:
        conns = {c["ID"]: c for c in p["Connections"]}
        for evse, (_, _, ids) in zip(by_id[f"OCM-{p['ID']}"]["evses"], _layout(p), strict=True):
            got = [
                (c.get("max_electric_power"), c.get("max_voltage"), c.get("max_amperage"))
                for c in evse["connectors"]
            ]
            assert got == ([expected(conns[i]) for i in ids] if ids else [(None, None, None)])


def test_operators_skip_ocm_placeholders(
    pois: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    placeholders = [p for p in pois if p["OperatorID"] in (1, 45)]
    assert len(placeholders) == 81  # 74 "(Business Owner at Location)", 7 "(Unknown Operator)"
    assert all("operator" not in by_id[f"OCM-{p['ID']}"] for p in placeholders)
    named = Counter(
        by_id[f"OCM-{p['ID']}"]["operator"]["name"] for p in pois if p["OperatorID"] not in (1, 45)
    )
    assert sum(named.values()) == 405
    assert named.most_common(2) == [("be emobil", 201), ("Innogy SE (RWE eMobility)", 114)]


# ---- specific POIs, by hand ---------------------------------------------------------------------

_CC_BY_SA = (
    "Licensed under Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0)"
)
_OCM_PROVIDER = {"id": 1, "name": "Open Charge Map Contributors", "licence": _CC_BY_SA}


def test_poi_65825_type2_sockets(by_id: dict[str, dict[str, Any]]) -> None:
    connector = {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 400,
        "max_amperage": 16,
        "max_electric_power": 11000,
        "last_updated": "2016-04-28T07:41:00Z",
    }
    assert by_id["OCM-65825"] == {
        "country_code": "DE",
        "party_id": "OCM",
        "id": "OCM-65825",
        "publish": True,
        "name": "Spandauer Straße",
        "address": "Spandauer Straße, Mitte",
        "city": "Berlin",
        "postal_code": "10178",
        "state": "Berlin",
        "country": "DEU",
        "coordinates": {"latitude": "52.5208456", "longitude": "13.4039382"},
        "operator": {"name": "be emobil"},
        "evses": [
            {
                "uid": f"65825-90969-{n}",
                "status": "UNKNOWN",
                "connectors": [connector],
                "last_updated": "2016-04-28T07:41:00Z",
            }
            for n in (1, 2)
        ],
        "last_updated": "2016-04-28T07:41:00Z",
        "data_provider": _OCM_PROVIDER,
    }


def test_poi_45144_cee_and_schuko(by_id: dict[str, dict[str, Any]]) -> None:
    at = "2015-04-25T13:46:00Z"

    def evse(uid: str, **connector: Any) -> dict[str, Any]:
        return {
            "uid": uid,
            "status": "UNKNOWN",
            "connectors": [{"id": "1", **connector, "last_updated": at}],
            "last_updated": at,
        }

    schuko = {
        "standard": "DOMESTIC_F", "format": "SOCKET", "power_type": "AC_1_PHASE",
        "max_voltage": 230, "max_amperage": 16, "max_electric_power": 3700,
    }  # fmt: skip
    assert by_id["OCM-45144"] == {
        "country_code": "DE",
        "party_id": "OCM",
        "id": "OCM-45144",
        "publish": True,
        "name": "Bundesverband Solare Mobilität e.V.",
        "address": "Wilhelmstraße 92",  # AddressLine2 null, StateOrProvince null: left out
        "city": "Berlin",
        "postal_code": "10117",
        "country": "DEU",
        "coordinates": {"latitude": "52.5124801", "longitude": "13.3824777"},
        "operator": {"name": "Park & Charge (D)"},
        "evses": [
            evse(
                "45144-55628-1", standard="IEC_60309_2_three_32", format="SOCKET",
                power_type="AC_3_PHASE", max_voltage=400, max_amperage=32,
                max_electric_power=22000,
            ),
            evse(
                "45144-55629-1", standard="IEC_60309_2_single_16", format="SOCKET",
                power_type="AC_1_PHASE", max_voltage=230, max_amperage=16,
                max_electric_power=3700,
            ),
            evse("45144-55630-1", **schuko),
            evse("45144-55630-2", **schuko),
        ],
        "last_updated": at,
        "data_provider": _OCM_PROVIDER,
    }  # fmt: skip


def test_poi_16428_without_connections(by_id: dict[str, dict[str, Any]]) -> None:
    at = "2014-08-17T13:01:00Z"
    assert by_id["OCM-16428"] == {
        "country_code": "DE",
        "party_id": "OCM",
        "id": "OCM-16428",
        "publish": True,
        "name": "Charging Station RWE",
        "address": "28 SellerstraÃŸe",  # double-encoded UTF-8 in the file, kept as it is
        "city": "Berlin",
        "postal_code": "13353",
        "country": "DEU",
        "coordinates": {"latitude": "52.5385280", "longitude": "13.3681390"},
        # OperatorID 1 "(Unknown Operator)": no operator
        "evses": [
            {
                "uid": "16428-1",
                "status": "UNKNOWN",
                "connectors": [{"id": "1", "last_updated": at}],
                "last_updated": at,
            }
        ],
        "last_updated": at,
        "data_provider": _OCM_PROVIDER,
    }


def test_poi_38368_chademo_at_ac_has_no_power_type(by_id: dict[str, dict[str, Any]]) -> None:
    # CHAdeMO with CurrentTypeID 10 (AC single phase) at 11 kW: one of the two is wrong.
    at = "2015-06-12T20:54:00Z"
    assert by_id["OCM-38368"] == {
        "country_code": "DE",
        "party_id": "OCM",
        "id": "OCM-38368",
        "publish": True,
        "name": "Holzmarktstraße 37",
        "address": "Holzmarktstraße 37",
        "city": "Berlin",
        "postal_code": "10243",
        "country": "DEU",
        "coordinates": {"latitude": "52.5110664", "longitude": "13.4292908"},
        "operator": {"name": "The New Motion (DE)"},
        "evses": [
            {
                "uid": "38368-41879-1",  # Quantity null: one
                "status": "UNKNOWN",  # StatusTypeID 0 (Unknown)
                "connectors": [
                    {
                        "id": "1",
                        "standard": "CHADEMO",
                        "format": "CABLE",
                        "max_electric_power": 11000,
                        "last_updated": at,
                    }
                ],
                "last_updated": at,
            }
        ],
        "last_updated": at,
        "data_provider": _OCM_PROVIDER,
    }


def test_poi_88971_planned_business_owner(by_id: dict[str, dict[str, Any]]) -> None:
    loc = by_id["OCM-88971"]
    assert loc["name"] == "IKEA"
    assert loc["address"] == "Sachsendamm 47"
    assert loc["state"] == "Berlin"
    assert "operator" not in loc  # "(Business Owner at Location)"
    # DateLastStatusUpdate wins over DateLastVerified "2018-08-07T17:10:49.097Z"
    at = "2018-08-07T17:11:00Z"
    assert loc["last_updated"] == at
    # NumberOfPoints 6, Type 2 cable × 3, CHAdeMO × 3, CCS × 3: 9 plugs dealt to 6 EVSEs in
    # turn (T2 T2 T2 CHAdeMO CHAdeMO CHAdeMO, then CCS CCS CCS to the first three).
    t2 = {
        "standard": "IEC_62196_T2", "format": "CABLE", "power_type": "AC_3_PHASE",
        "max_voltage": 400, "max_amperage": 32, "max_electric_power": 22000,
    }  # fmt: skip
    chademo = {"standard": "CHADEMO", "format": "CABLE", "power_type": "DC"}
    ccs = {"standard": "IEC_62196_T2_COMBO", "format": "CABLE", "power_type": "DC"}

    def evse(n: int, *connectors: dict[str, Any]) -> dict[str, Any]:
        return {
            "uid": f"88971-{n}",
            "status": "PLANNED",  # the POI is "Planned For Future Date"
            "connectors": [
                {"id": str(k), **c, "last_updated": at} for k, c in enumerate(connectors, 1)
            ],
            "last_updated": at,
        }

    dc = {"max_electric_power": 20000}
    assert loc["evses"] == [
        evse(1, t2, {**ccs, **dc}),
        evse(2, t2, {**ccs, **dc}),
        evse(3, t2, {**ccs, **dc}),
        evse(4, {**chademo, **dc}),
        evse(5, {**chademo, **dc}),
        evse(6, {**chademo, **dc}),
    ]


def test_poi_57529_type2_and_schuko_share_two_points(by_id: dict[str, dict[str, Any]]) -> None:
    # NumberOfPoints 2, "Type 2 × 2" and "Schuko × 2": two EVSEs with one of each, not four.
    at = "2015-12-02T07:55:00Z"
    t2 = {
        "id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
        "max_voltage": 400, "max_amperage": 16, "max_electric_power": 11000, "last_updated": at,
    }  # fmt: skip
    schuko = {
        "id": "2", "standard": "DOMESTIC_F", "format": "SOCKET", "power_type": "AC_1_PHASE",
        "max_voltage": 230, "max_amperage": 16, "max_electric_power": 3700, "last_updated": at,
    }  # fmt: skip
    assert by_id["OCM-57529"] == {
        "country_code": "DE",
        "party_id": "OCM",
        "id": "OCM-57529",
        "publish": True,
        "name": "Supermarkt Kaufland",
        "address": "Ollenhauerstraße 122, Reinickendorf",
        "city": "Berlin",
        "postal_code": "13403",
        "state": "Berlin",
        "country": "DEU",
        "coordinates": {"latitude": "52.5680700", "longitude": "13.3289200"},
        # OperatorID 45 "(Business Owner at Location)": no operator
        "evses": [
            {
                "uid": f"57529-{n}",
                "status": "UNKNOWN",
                "connectors": [t2, schuko],
                "last_updated": at,
            }
            for n in (1, 2)
        ],
        "last_updated": at,
        "data_provider": _OCM_PROVIDER,
    }


def test_poi_52201_three_plugs_at_one_point(by_id: dict[str, dict[str, Any]]) -> None:
    # NumberOfPoints 1 with Type 2, CHAdeMO and CCS: one EVSE of three connectors.
    at = "2016-06-09T07:42:00Z"
    loc = by_id["OCM-52201"]
    assert loc["name"] == "Total Tankstelle"
    assert loc["operator"] == {"name": "Vattenfall"}
    assert loc["coordinates"] == {"latitude": "52.4703547", "longitude": "13.3724067"}
    assert loc["evses"] == [
        {
            "uid": "52201-1",
            "status": "UNKNOWN",
            "connectors": [
                {
                    "id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                    "power_type": "AC_3_PHASE", "max_voltage": 400, "max_amperage": 32,
                    "max_electric_power": 22000, "last_updated": at,
                },
                {
                    "id": "2", "standard": "CHADEMO", "format": "CABLE", "power_type": "DC",
                    "max_electric_power": 20000, "last_updated": at,
                },
                {
                    "id": "3", "standard": "IEC_62196_T2_COMBO", "format": "CABLE",
                    "power_type": "DC", "max_electric_power": 20000, "last_updated": at,
                },
            ],
            "last_updated": at,
        }
    ]  # fmt: skip


def test_removed_site_and_removed_connection(by_id: dict[str, dict[str, Any]]) -> None:
    # 38401: the POI is "Removed (Decomissioned)", its 2 Connections "Unknown", 1 point.
    (evse,) = by_id["OCM-38401"]["evses"]
    assert (evse["uid"], evse["status"]) == ("38401-1", "REMOVED")
    assert [c["id"] for c in evse["connectors"]] == ["1", "2"]
    # 54254: the site is Operational, its CCS Connection removed: the CCS is not one of the 2
    # points (2 Type 2 plugs) and keeps an EVSE of its own.
    evses = by_id["OCM-54254"]["evses"]
    assert [(e["uid"], e["status"]) for e in evses] == [
        ("54254-68282-1", "UNKNOWN"),
        ("54254-68282-2", "UNKNOWN"),
        ("54254-68283-1", "REMOVED"),
    ]
    assert evses[2]["connectors"][0] == {
        "id": "1",
        "standard": "IEC_62196_T2_COMBO",
        "format": "CABLE",
        "power_type": "DC",
        "last_updated": "2017-08-31T12:20:00Z",
    }
    # 94081: 1 point, Type 2 × 2 and four removed "Unknown" Connections; "Not Operational" is
    # crowd-reported, not a status we claim.
    at = "2017-10-31T15:33:00Z"
    t2 = {
        "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
        "max_voltage": 400, "max_amperage": 16, "max_electric_power": 11000, "last_updated": at,
    }  # fmt: skip
    evses = by_id["OCM-94081"]["evses"]
    assert [(e["uid"], e["status"]) for e in evses] == [("94081-1", "UNKNOWN")] + [
        (f"94081-{c}-1", "REMOVED") for c in (134623, 134624, 134625, 134626)
    ]
    assert evses[0]["connectors"] == [{"id": "1", **t2}, {"id": "2", **t2}]
    assert evses[1]["connectors"] == [{"id": "1", "last_updated": at}]


def test_republished_data_keeps_its_provider(
    pois: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> None:
    oplaadpalen = [p["ID"] for p in pois if p["DataProviderID"] == 26]
    assert oplaadpalen == [38369, 64024, 38498, 38311]
    assert by_id["OCM-38369"]["data_provider"] == {
        "id": 26,
        "name": "Oplaadpalen.nl",
        "licence": "Licensed under Attribution-NonCommercial-ShareAlike 3.0 : "
        "http://creativecommons.org/licenses/by-nc-sa/3.0/",
    }
    assert by_id["OCM-38369"]["operator"] == {"name": "Vattenfall"}


def test_tesla_supercharger(by_id: dict[str, dict[str, Any]]) -> None:
    # In Germany: the Type 2-shaped DC plug, not NACS. 55015 says NumberOfPoints 2 and
    # "Tesla Supercharger × 6": 2 EVSEs of 3 connectors each.
    at = "2016-12-11T15:49:00Z"
    supercharger = {
        "standard": "IEC_62196_T2", "format": "CABLE", "power_type": "DC",
        "max_electric_power": 135000, "last_updated": at,
    }  # fmt: skip
    assert by_id["OCM-55015"]["operator"] == {"name": "Tesla Motors (Worldwide)"}
    assert by_id["OCM-55015"]["evses"] == [
        {
            "uid": f"55015-{n}",
            "status": "UNKNOWN",
            "connectors": [{"id": str(k), **supercharger} for k in (1, 2, 3)],
            "last_updated": at,
        }
        for n in (1, 2)
    ]
    # 75413: NumberOfPoints 2, "× 2": one EVSE each.
    evses = by_id["OCM-75413"]["evses"]
    assert [e["uid"] for e in evses] == ["75413-108718-1", "75413-108718-2"]
    assert evses[0]["connectors"] == [
        {
            "id": "1", "standard": "IEC_62196_T2", "format": "CABLE", "power_type": "DC",
            "max_electric_power": 120000, "last_updated": "2017-01-15T23:21:00Z",
        }
    ]  # fmt: skip
    assert "IEC_62196_T2" not in resolve_connector_filter(["nacs"])
    assert "IEC_62196_T2" in resolve_connector_filter(["type2"])


@pytest.mark.parametrize(
    ("iso", "standard"),
    [
        ("US", "SAE_J3400"),
        ("CA", "SAE_J3400"),
        ("MX", "SAE_J3400"),
        ("PR", "SAE_J3400"),
        ("us", "SAE_J3400"),
        ("GB", "IEC_62196_T2"),
        ("NO", "IEC_62196_T2"),
    ],
)
def test_tesla_supercharger_by_country(
    tmp_path: Path, pois: list[dict[str, Any]], iso: str, standard: str
) -> None:
    poi = copy.deepcopy(next(p for p in pois if p["ID"] == 55015))
    poi["AddressInfo"]["Country"]["ISOCode"] = iso
    (record,) = ocm.read([_write(tmp_path, [poi])])
    assert isinstance(record, Record)
    connectors = [c for e in record.location["evses"] for c in e["connectors"]]
    assert len(connectors) == 6
    assert {(c["standard"], c["format"], c["power_type"]) for c in connectors} == {
        (standard, "CABLE", "DC")
    }
    assert (standard in resolve_connector_filter(["nacs"])) == (standard == "SAE_J3400")


def test_tesla_supercharger_in_the_us_by_country_id(
    tmp_path: Path, pois: list[dict[str, Any]]
) -> None:
    compact = _strip_names(next(p for p in pois if p["ID"] == 55015))
    compact["AddressInfo"]["CountryID"] = 2  # United States in the reference data
    (record,) = ocm.read([_write(tmp_path, [compact])])
    assert isinstance(record, Record)
    assert record.location["country"] == "USA"
    assert record.location["evses"][0]["connectors"][0] == {
        "id": "1", "standard": "SAE_J3400", "format": "CABLE", "power_type": "DC",
        "max_electric_power": 135000, "last_updated": "2016-12-11T15:49:00Z",
    }  # fmt: skip


# ---- POIs that carry only ids -------------------------------------------------------------------


@pytest.mark.parametrize("poi_id", [65825, 45144, 88971, 38401, 54254, 16428, 57529, 94081, 55015])
def test_id_only_poi_reads_like_the_verbose_one(
    tmp_path: Path, pois: list[dict[str, Any]], by_id: dict[str, dict[str, Any]], poi_id: int
) -> None:
    poi = next(p for p in pois if p["ID"] == poi_id)
    compact = _strip_names(poi)
    assert "OperatorInfo" not in compact and "Country" not in compact["AddressInfo"]
    (record,) = ocm.read([_write(tmp_path, [compact])])
    assert isinstance(record, Record)
    assert record.location == by_id[f"OCM-{poi_id}"]


def test_id_only_operator_comes_from_the_reference(
    tmp_path: Path, pois: list[dict[str, Any]]
) -> None:
    # The reference data (2021) renamed operator 108 since the file (2018) was exported.
    poi = next(p for p in pois if p["ID"] == 38369)
    (record,) = ocm.read([_write(tmp_path, [_strip_names(poi)])])
    assert isinstance(record, Record)
    assert record.location["operator"] == {"name": "Vattenfall InCharge"}
    assert record.location["data_provider"]["name"] == "Oplaadpalen.nl"


# ---- through the normaliser ---------------------------------------------------------------------


def test_every_record_normalises(results: list[Record | Rejected]) -> None:
    records = [r for r in results if isinstance(r, Record)]
    normaliser = Normaliser(IngestContext(network_id=1, source="file:x", check_geography=True))
    accepted, problems = normaliser.locations([msgspec.json.encode(r.location) for r in records])
    assert len(accepted) == 486
    assert [p for p in problems if p.severity != "note"] == []
    # 221 connectors without CurrentTypeID (and no single-current plug, or contradicting it);
    # 22 without a standard: 8 "Unknown" type, 13 CEE without Amps, 1 POI without Connections;
    # 11 without a format: 8 "Unknown", Tesla Roadster, Type 1, the POI without Connections.
    assert Counter(p.reason for p in problems) == {
        "connector power_type missing; read as UNKNOWN": 221,
        "connector standard missing; read as UNKNOWN": 22,
        "connector format missing; read as UNKNOWN": 11,
    }
    assert sum(loc.evse_count for loc in accepted) == 909 - 14  # REMOVED EVSEs are hidden
    assert max(loc.max_power_kw or 0 for loc in accepted) == 400.0


def test_read_is_fast() -> None:
    ocm.reference()  # loaded once per process
    started = time.perf_counter()
    n = sum(1 for _ in ocm.read([FILE]))
    assert n == 486
    assert time.perf_counter() - started < 2.0


# ---- what cannot be used ------------------------------------------------------------------------


def _good(poi_id: int) -> dict[str, Any]:
    return {
        "ID": poi_id,
        "AddressInfo": {"Title": "x", "CountryID": 87, "Latitude": 52.5, "Longitude": 13.4},
        "NumberOfPoints": 1,
        "Connections": [],
        "DateCreated": "2020-01-02T03:04:05Z",
    }


def _bad(**changes: Any) -> dict[str, Any]:
    poi = _good(2)
    for key, value in changes.items():
        if key in ("Latitude", "Longitude", "CountryID"):
            poi["AddressInfo"][key] = value
        else:
            poi[key] = value
    return poi


@pytest.mark.parametrize(
    ("bad", "record_id", "reason"),
    [
        (_bad(Latitude=""), "OCM-2", "AddressInfo.Latitude '' is not a number"),
        (_bad(Latitude=None), "OCM-2", "AddressInfo.Latitude missing"),
        (_bad(Longitude=181.5), "OCM-2", "AddressInfo.Longitude 181.5 is out of range (-180..180)"),
        (
            _bad(Latitude=0, Longitude=0.0),
            "OCM-2",
            "AddressInfo.Latitude/Longitude (0, 0) is a placeholder, not a site",
        ),
        (_bad(AddressInfo=None), "OCM-2", "AddressInfo None is not an object"),
        (
            _bad(CountryID=9999),
            "OCM-2",
            "AddressInfo.CountryID 9999 names no country (no Country.ISOCode, not in the "
            "reference data)",
        ),
        (_bad(ID=None), None, "POI without ID"),
        (_bad(ID="abc"), None, "ID 'abc' is not a positive integer"),
        (_bad(Connections=[7]), "OCM-2", "Connections[0] 7 is not an object"),
        (_bad(Connections=[{"Quantity": 1}]), "OCM-2", "Connections[0].ID None is not an integer"),
        (
            _bad(Connections=[{"ID": 9, "Quantity": 100_000}]),
            "OCM-2",
            "Connections[0].Quantity 100000 is not plausible",
        ),
        (_bad(NumberOfPoints=5000), "OCM-2", "NumberOfPoints 5000 is not plausible"),
        ("a string", None, 'POI "a string" is not an object'),
    ],
)  # fmt: skip
def test_a_bad_poi_costs_only_itself(
    tmp_path: Path, bad: Any, record_id: str | None, reason: str
) -> None:
    path = _write(tmp_path, [_good(1), bad, _good(3)])
    out = list(ocm.read([path]))
    assert [type(r) for r in out] == [Record, Rejected, Record]
    assert [r.record_id for r in out] == ["OCM-1", record_id, "OCM-3"]
    rejected = out[1]
    assert isinstance(rejected, Rejected)
    assert rejected.reason == reason
    assert rejected.lines == (1,)
    assert rejected.file == "pois.json"
    assert json.loads(rejected.raw_text) == bad
    good = out[0]
    assert isinstance(good, Record)
    assert good.location["evses"] == [
        {
            "uid": "1-1",
            "status": "UNKNOWN",
            "connectors": [{"id": "1", "last_updated": "2020-01-02T03:04:05Z"}],
            "last_updated": "2020-01-02T03:04:05Z",
        }
    ]
    assert good.location["country"] == "DEU"  # CountryID 87 from the reference


def test_duplicate_ids_and_a_broken_file(tmp_path: Path) -> None:
    first = _write(tmp_path, [_good(1), _good(2)], "a.json")
    broken = tmp_path / "b.json"
    broken.write_text('[{"ID": 5, ', encoding="utf-8")
    second = _write(tmp_path, [_good(2), _good(4)], "c.json")
    out = list(ocm.read([first, broken, second]))
    assert [(type(r).__name__, r.file, r.lines, r.record_id) for r in out] == [
        ("Record", "a.json", (0,), "OCM-1"),
        ("Record", "a.json", (1,), "OCM-2"),
        ("Rejected", "b.json", (), None),
        ("Rejected", "c.json", (0,), "OCM-2"),
        ("Record", "c.json", (1,), "OCM-4"),
    ]
    assert isinstance(out[2], Rejected) and out[2].reason.startswith("not a JSON array of POIs: ")
    assert isinstance(out[3], Rejected)
    assert out[3].reason == "duplicate ID 2 (first at index 1 of a.json)"


def test_raw_text_is_bounded(tmp_path: Path) -> None:
    poi = _bad(Latitude="x")
    poi["GeneralComments"] = "y" * (2 * RAW_TEXT_MAX)
    (rejected,) = ocm.read([_write(tmp_path, [poi])])
    assert isinstance(rejected, Rejected)
    assert len(rejected.raw_text) == RAW_TEXT_MAX
