"""All 17 real OCPI dumps load through decode → normalise → apply (issue 3, "Done when").

Expected figures per file were checked by hand against the raw JSON; the ones that can be
computed independently of our code (object counts, (0, 0) placeholders, empty coordinates,
copied coordinates) are recomputed here from the files themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from app.domain.parties import Party
from app.store import Store
from ingest.loader import load_file
from tests.conftest import OCPI_FIXTURES

MANIFEST = {
    e["name"]: e for e in json.loads((OCPI_FIXTURES / "manifest.json").read_text())["networks"]
}

# name: (objects, accepted, visible locations, EVSEs, visible EVSEs, quarantined, {reason: n})
EXPECTED = {
    "fastned": (106, 106, 104, 273, 272, 0, {}),
    "ev24": (11, 11, 11, 13, 13, 0, {}),
    "ezvolt": (91, 91, 91, 222, 222, 0, {}),
    "greems": (80, 80, 75, 318, 318, 0, {}),
    "itcharge": (
        1180,
        1142,
        1107,
        1164,
        1128,
        38,
        {
            "location: coordinates (N, N) are a placeholder, not a site": 31,
            "location: coordinates (N, N) lie at sea": 7,
        },
    ),
    "punkt": (489, 487, 481, 1221, 1140, 2, {"location: coordinates (N, N) lie at sea": 2}),
    "sitronics": (65, 65, 59, 158, 152, 0, {"evse: EVSE without uid": 11}),
    "toger": (
        44,
        41,
        28,
        93,
        73,
        3,
        {
            "location: coordinates are not numbers: latitude=…, longitude=…": 3,
            "evse: EVSE without uid": 1,
        },
    ),
    "chargesini": (448, 448, 372, 1155, 1144, 0, {}),
    "electricera": (3, 3, 3, 8, 8, 0, {}),
    "evio": (21, 21, 21, 29, 29, 0, {}),
    "gaia": (4, 4, 3, 13, 10, 0, {}),
    "otopriz": (500, 500, 500, 500, 500, 0, {}),
    "zepto": (10, 10, 10, 10, 10, 0, {}),
    "powergo": (489, 489, 486, 1776, 1655, 0, {}),
    "ocpi3-example": (1, 1, 1, 2, 2, 0, {}),
    "voltrelli": (
        307,
        0,
        0,
        0,
        0,
        307,
        {
            "location: every location of this feed has latitude equal to longitude (N, N): "
            "coordinates copied, not measured": 307,
        },
    ),
}


def _objects(path: Path) -> list[dict]:  # type: ignore[type-arg]
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    return data["data"] if isinstance(data, dict) else data


def test_manifest_covers_every_bundled_dump() -> None:
    files = sorted(p.name for p in OCPI_FIXTURES.glob("*.json") if p.name != "manifest.json")
    assert sorted(e["file"] for e in MANIFEST.values()) == files
    assert len(files) == 17


@pytest.mark.parametrize("name", list(EXPECTED))
async def test_real_dump_loads_with_exact_outcome(
    name: str, conn: psycopg.AsyncConnection, store: Store
) -> None:
    entry = MANIFEST[name]
    path = OCPI_FIXTURES / entry["file"]
    party = Party.parse(entry["party"]) if entry.get("party") else None
    report = await load_file(store, path, party=party, network_name=name)

    objects, accepted, visible, evses, visible_evses, quarantined, reasons = EXPECTED[name]
    assert report.error is None
    assert report.objects == objects == len(_objects(path))
    assert (report.accepted, report.visible_locations, report.evses, report.visible_evses) == (
        accepted,
        visible,
        evses,
        visible_evses,
    )
    assert report.quarantined == quarantined
    assert report.accepted + report.quarantined == report.objects
    assert dict(report.reasons) == reasons

    # What the database holds agrees with the report, and every rejection is kept with its reason.
    cur = await conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE visible),"
        " coalesce(sum(evse_count) FILTER (WHERE visible), 0) FROM locations"
    )
    assert await cur.fetchone() == (accepted, visible, visible_evses)
    cur = await conn.execute(
        "SELECT count(*) FROM quarantine WHERE severity = 'rejected' AND object_kind = 'location'"
        " AND raw IS NOT NULL AND reason <> ''"
    )
    assert await cur.fetchone() == (quarantined,)


def test_independent_counts_of_broken_coordinates() -> None:
    """The rejections above, recomputed from the raw files without our code."""
    itcharge = _objects(OCPI_FIXTURES / MANIFEST["itcharge"]["file"])
    zero = [
        o
        for o in itcharge
        if float(o["coordinates"]["latitude"] or "nan") == 0
        and float(o["coordinates"]["longitude"] or "nan") == 0
    ]
    assert len(zero) == 31
    toger = _objects(OCPI_FIXTURES / MANIFEST["toger"]["file"])
    assert sum(1 for o in toger if o["coordinates"]["latitude"] == "") == 3
    voltrelli = _objects(OCPI_FIXTURES / MANIFEST["voltrelli"]["file"])
    assert all(o["coordinates"]["latitude"] == o["coordinates"]["longitude"] for o in voltrelli)
    punkt = _objects(OCPI_FIXTURES / MANIFEST["punkt"]["file"])
    ones = [
        o["id"]
        for o in punkt
        if o["coordinates"] == {"latitude": "1.0", "longitude": "1.0"}
        or (float(o["coordinates"]["latitude"]), float(o["coordinates"]["longitude"])) == (1, 1)
    ]
    assert len(ones) == 2


async def test_reloading_an_unchanged_dump_changes_nothing(
    conn: psycopg.AsyncConnection, store: Store
) -> None:
    path = OCPI_FIXTURES / MANIFEST["punkt"]["file"]
    first = await load_file(store, path, network_name="punkt")
    cur = await conn.execute("SELECT max(xmin::text::bigint) FROM locations")
    (xmin_before,) = await cur.fetchone()  # type: ignore[misc]
    again = await load_file(store, path, network_name="punkt")
    assert (first.accepted, again.accepted, again.unchanged, again.stale) == (487, 0, 487, 0)
    cur = await conn.execute("SELECT max(xmin::text::bigint) FROM locations")
    assert await cur.fetchone() == (xmin_before,)


async def test_dump_without_party_is_quarantined_with_the_fix_in_the_reason(
    conn: psycopg.AsyncConnection,
    store: Store,
) -> None:
    report = await load_file(store, OCPI_FIXTURES / MANIFEST["fastned"]["file"], network_name="f")
    assert (report.accepted, report.quarantined) == (0, 106)
    cur = await conn.execute("SELECT DISTINCT reason FROM quarantine WHERE severity = 'rejected'")
    assert await cur.fetchall() == [
        ("location without country_code and party_id (a 2.1.1 feed: load it with --party CC*PID)",)
    ]


async def test_a_file_that_is_not_json_is_reported_not_crashed(
    conn: psycopg.AsyncConnection, tmp_path: Path, store: Store
) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"data": [{"id": "1",')
    report = await load_file(store, bad)
    assert report.error is not None and report.error.startswith("not an OCPI locations document")
    cur = await conn.execute("SELECT object_kind, raw_text FROM quarantine")
    assert await cur.fetchall() == [("page", '{"data": [{"id": "1",')]


@pytest.mark.parametrize("name", ["punkt", "powergo"])
async def test_each_object_is_stored_once_without_its_children(
    name: str, conn: psycopg.AsyncConnection, store: Store
) -> None:
    """A location is stored without its EVSEs and an EVSE without its connectors (they have
    rows of their own): each as the feed sent it, every other member kept."""
    path = OCPI_FIXTURES / MANIFEST[name]["file"]
    await load_file(store, path, network_name=name)
    sent = {o["id"]: o for o in _objects(path)}
    cur = await conn.execute("SELECT ocpi_id_raw, raw FROM locations")
    locations = await cur.fetchall()
    assert len(locations) == EXPECTED[name][1]
    for ocpi_id, raw in locations:
        assert raw == {k: v for k, v in sent[ocpi_id].items() if k != "evses"}
    cur = await conn.execute(
        "SELECT l.ocpi_id_raw, e.uid_raw, e.raw FROM evses e"
        " JOIN locations l ON l.id = e.location_id"
    )
    evses = await cur.fetchall()
    assert len(evses) == EXPECTED[name][3]
    sent_evses = {(o["id"], e["uid"]): e for o in sent.values() for e in o.get("evses") or ()}
    for ocpi_id, uid, raw in evses:
        assert raw == {k: v for k, v in sent_evses[ocpi_id, uid].items() if k != "connectors"}
    cur = await conn.execute(
        "SELECT l.ocpi_id_raw, e.uid_raw, c.connector_id_raw, c.raw FROM connectors c"
        " JOIN evses e ON e.id = c.evse_pk JOIN locations l ON l.id = e.location_id"
    )
    connectors = await cur.fetchall()
    sent_connectors = {
        (ocpi_id, uid, c["id"]): c
        for (ocpi_id, uid), e in sent_evses.items()
        for c in e["connectors"]
    }
    # Every stored connector as sent (the few of the feed that are unusable are quarantined).
    assert len(sent_connectors) - 10 < len(connectors) <= len(sent_connectors)
    for ocpi_id, uid, connector_id, raw in connectors:
        assert raw == sent_connectors[ocpi_id, uid, connector_id]
