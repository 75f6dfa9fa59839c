"""``wattlas import``: registry files through normalise → quarantine → apply into the real
database, sites merged across sources, provenance in the answers (issue 12)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.sources import REGISTRIES
from app.store import Store
from ingest.ocpi.normalise import IngestContext, Normaliser
from ingest.registries import Record, Rejected
from ingest.registries.importer import ImportReport, import_files
from wattlas.cli import main

BERLIN = Path(__file__).resolve().parents[2] / "fixtures" / "registries" / "berlin"
Items = dict[str, list[Record | Rejected]]


def _normaliser_rejections(records: list[Record]) -> int:
    normaliser = Normaliser(IngestContext(network_id=1, source="file:test"))
    unique = {r.record_id: r for r in records}  # one per id, as the importer keeps
    _, problems = normaliser.locations([msgspec.json.encode(r.location) for r in unique.values()])
    return sum(1 for p in problems if p.severity == "rejected" and p.object_kind == "location")


def test_per_source_counts_match_the_files(
    registry_reports: tuple[str, dict[str, ImportReport]],
    registry_conn: psycopg.Connection,
    read_items: Items,
) -> None:
    _, reports = registry_reports
    for source, items in read_items.items():
        records = [i for i in items if isinstance(i, Record)]
        rejected_rows = [i for i in items if isinstance(i, Rejected)]
        refused = _normaliser_rejections(records)
        distinct = len({r.record_id for r in records})
        report = reports[source]
        assert (report.records, report.quarantined) == (
            len(records), len(rejected_rows) + refused
        ), source  # fmt: skip
        stored, merged, quarantined = registry_conn.execute(
            """
            SELECT (SELECT count(*) FROM locations l WHERE l.network_id = n.id),
                   (SELECT count(*) FROM locations l
                    WHERE l.network_id = n.id AND l.merged_into IS NOT NULL),
                   (SELECT count(*) FROM quarantine q WHERE q.network_id = n.id
                    AND q.severity = 'rejected' AND q.object_kind IN ('row', 'location'))
            FROM networks n WHERE n.name = %s AND n.kind = 'registry'
            """,
            (source,),
        ).fetchone()
        assert stored == distinct - refused, source
        assert quarantined == len(rejected_rows) + refused, source
        # Each reason the reader gave is kept, word for word.
        reasons = Counter(
            r
            for (r,) in registry_conn.execute(
                "SELECT q.reason FROM quarantine q JOIN networks n ON n.id = q.network_id "
                "WHERE n.name = %s AND q.object_kind = 'row'",
                (source,),
            ).fetchall()
        )
        assert sum(reasons.values()) == len(rejected_rows)
        for row in rejected_rows:
            assert any(row.reason in reason for reason in reasons), row.reason
        assert merged == (285 if source == "ocm" else 0), source  # into BNetzA sites


async def test_merged_sites_list_every_source_and_each_claim(
    registry_api: AsyncTestClient[Litestar], registry_conn: psycopg.Connection
) -> None:
    # A BNetzA record merged into another source's record: the head's answer lists both.
    rows = registry_conn.execute(
        """
        SELECT h.public_id, hn.name, h.ocpi_id_raw, h.address, m.ocpi_id_raw, mn.name, m.address,
               m.evse_count, h.evse_count
        FROM locations m JOIN locations h ON h.id = m.merged_into
        JOIN networks mn ON mn.id = m.network_id JOIN networks hn ON hn.id = h.network_id
        WHERE m.address IS DISTINCT FROM h.address
        ORDER BY h.public_id LIMIT 5
        """
    ).fetchall()
    assert rows, "no merged site whose sources disagree on the address"
    for (
        head_id,
        head_source,
        head_record,
        head_address,
        rec,
        rec_source,
        rec_address,
        m_evses,
        _,
    ) in rows:
        answer = await registry_api.get(f"/v1/locations/{head_id}")
        assert answer.status_code == 200
        detail = answer.json()
        first = detail["sources"][0]
        assert (first["source"], first["record_id"]) == (head_source, head_record)
        by_record = {(s["source"], s["record_id"]): s for s in detail["sources"]}
        own_name = by_record[(head_source, head_record)]["name"]
        if own_name is not None:
            assert detail["name"] == own_name and "name" not in detail["field_sources"]
        else:
            assert detail["field_sources"]["name"] in {s["source"] for s in detail["sources"]}
        claim = by_record[(rec_source, rec)]
        assert claim["address"] == rec_address  # each source's own claim
        assert claim["evse_count"] == m_evses  # OCM and BNetzA records know their points
        assert claim["licence"] == REGISTRIES[rec_source].licence
        assert detail["address"] == (head_address or claim["address"])
        # The merged record is not listed on its own.
        listed = await registry_api.get(
            "/v1/locations/nearby",
            params={
                "lat": detail["coordinates"]["lat"],
                "lon": detail["coordinates"]["lon"],
                "radius_m": 200,
                "limit": 100,
            },
        )
        ids = [
            (s["source"], s["record_id"]) for r in listed.json()["results"] for s in r["sources"]
        ]
        assert ids.count((rec_source, rec)) == 1  # once, inside its site


async def test_a_registry_owns_its_parties(store: Store, clean_db: str) -> None:
    """No OCPI network can claim a registry's party and write over its records."""
    from app.domain.parties import Party
    from app.store.networks import PartyOwned
    from ingest import credentials

    await import_files(store, "ocm", [BERLIN / "openchargemap_final.json"])
    with pytest.raises(PartyOwned):
        await credentials.add_static(store, "evil", "token-0123456789", [Party.parse("DE*OCM")])


async def test_sources_endpoint_names_every_source_with_its_licence(
    registry_api: AsyncTestClient[Litestar], registry_conn: psycopg.Connection
) -> None:
    answer = await registry_api.get("/v1/sources")
    assert answer.status_code == 200
    by_source = {s["source"]: s for s in answer.json()}
    assert set(by_source) == set(REGISTRIES)
    for name, meta in REGISTRIES.items():
        s = by_source[name]
        counted = registry_conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE l.visible), "
            "count(*) FILTER (WHERE l.merged_into IS NOT NULL) "
            "FROM locations l JOIN networks n ON n.id = l.network_id WHERE n.name = %s",
            (name,),
        ).fetchone()
        assert (s["records"], s["shown"], s["merged"]) == counted
        assert (s["licence"], s["attribution"]) == (meta.licence, meta.attribution)
        assert s["last_import_status"] == "complete"


async def test_reimporting_an_unchanged_file_changes_nothing(store: Store, clean_db: str) -> None:
    files = [BERLIN / "netzagentur_final.csv"]
    first = await import_files(store, "bnetza", files)
    again = await import_files(store, "bnetza", files)
    assert again.unchanged_files and again.records == 0
    forced = await import_files(store, "bnetza", files, force=True)
    assert (forced.accepted, forced.unchanged) == (0, first.accepted)
    assert forced.merge is not None and forced.merge.changed == 0


def test_the_import_command_prints_what_it_did(settings: Any, clean_db: str) -> None:
    from tests.conftest import settings_env

    runner = CliRunner()
    result = runner.invoke(
        main,
        ["import", "ocm", str(BERLIN / "openchargemap_final.json")],
        env=settings_env(settings),
    )
    assert result.exit_code == 0, result.output
    assert "ocm: 486 rows → 486 records: 486 written" in result.output
    result = runner.invoke(
        main,
        ["import", "ocm", str(BERLIN / "openchargemap_final.json")],
        env=settings_env(settings),
    )
    assert "unchanged since the last import" in result.output
    result = runner.invoke(main, ["sources", "list"], env=settings_env(settings))
    assert "ocm" in result.output and "CC BY-SA 4.0" in result.output


def test_a_merge_is_explained(registry_db: str, registry_conn: psycopg.Connection) -> None:
    member, head = registry_conn.execute(
        "SELECT m.public_id, h.public_id FROM locations m JOIN locations h ON h.id = m.merged_into "
        "ORDER BY m.public_id LIMIT 1"
    ).fetchone()
    env = {
        "WATTLAS_DATABASE_URL": registry_db,
        "WATTLAS_REDIS_URL": "",
        "WATTLAS_LOG_LEVEL": "ERROR",
    }
    result = CliRunner().invoke(main, ["sources", "explain", member], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == f"  merged into {head}"
    verdict = next(line for line in lines if line.startswith(f"  {head} "))
    assert ": same site" in verdict
    assert any(line.strip().startswith("distance") for line in lines)


async def test_the_map_names_every_registry_as_its_licence_asks(
    registry_api: AsyncTestClient[Litestar],
) -> None:
    config = (await registry_api.get("/v1/map-config")).json()
    for meta in REGISTRIES.values():
        assert meta.attribution in config["attribution"]


async def test_a_merged_records_id_answers_as_its_site(
    registry_api: AsyncTestClient[Litestar], registry_conn: psycopg.Connection
) -> None:
    member, head = registry_conn.execute(
        "SELECT m.public_id, h.public_id FROM locations m JOIN locations h ON h.id = m.merged_into "
        "ORDER BY m.public_id DESC LIMIT 1"
    ).fetchone()
    answer = await registry_api.get(f"/v1/locations/{member}")
    assert answer.status_code == 200
    detail = answer.json()
    assert detail["id"] == head
    assert member in {s.get("location_id") for s in detail["sources"]}
