"""Registry pricing text → OCPI tariffs of the registry's party, linked from the site's
connectors (issue 13, "Real prices"; ingest/registries/importer.py). Every expected value is
read off the bundled fixture row named in the comment next to it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import psycopg
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.store import Store, source_imports
from app.store.source_imports import PricingFacts
from ingest.registries import Record, Rejected
from ingest.registries.importer import ImportReport, import_files
from wattlas.cli import main
from wattlas.sources_cli import BUNDLED, REGISTRY_FILES

Items = dict[str, list[Record | Rejected]]
Reports = tuple[str, dict[str, ImportReport]]
NY = "us_afdc_elec_NY_full75cols_2025_jingniz.csv"
WA = "us_afdc_elec_WA_full75cols_2025_andreagafer98.csv"
AFDC_MINIMAL = "us_afdc_stations_min_2022_ghhyc.csv"
UK = "national-charge-point-registry_stephenbrowett_2022.csv"
OCM = BUNDLED / "berlin" / "openchargemap_final.json"


def rt(currency: str, text: str) -> str:
    """The tariff id the issue asks for: "RT" + 16 hex digits of SHA-256(currency \\n text)."""
    return "RT" + hashlib.sha256(f"{currency}\n{text}".encode()).hexdigest()[:16].upper()


def c(kind: str, price: float, step: int = 1) -> dict[str, Any]:
    return {"type": kind, "price": price, "step_size": step}


FREE = [{"price_components": [c("FLAT", 0.0)]}]


def files_updated(source: str) -> str:
    """Every tariff's last_updated: the newest modification time of the import's files."""
    newest = max((BUNDLED / name).stat().st_mtime for name in REGISTRY_FILES[source])
    return datetime.fromtimestamp(int(newest), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one(conn: psycopg.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The single value of a query's single row."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


def tariff(conn: psycopg.Connection, cc: str, pid: str, tariff_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT raw, summary, currency, elements, alt_text, min_price FROM tariffs "
        "WHERE (country_code, party_id, tariff_id) = (%s, %s, %s) AND deleted_at IS NULL",
        (cc, pid, tariff_id),
    ).fetchone()
    assert row is not None, f"no tariff {cc}*{pid}*{tariff_id}"
    raw, summary, currency, elements, alt_text, min_price = row
    assert raw["elements"] == elements  # the stored OCPI object and its columns agree
    return {**raw, "_summary": summary, "_currency": currency, "_alt": alt_text, "_min": min_price}


def connector_tariffs(conn: psycopg.Connection, source: str, ocpi_id: str) -> list[list[str]]:
    """Every connector's tariff_ids, in EVSE and connector order."""
    rows = conn.execute(
        """
        SELECT c.tariff_ids FROM connectors c
        JOIN evses e ON e.id = c.evse_pk JOIN locations l ON l.id = e.location_id
        JOIN networks n ON n.id = l.network_id
        WHERE n.name = %s AND l.ocpi_id_raw = %s ORDER BY e.uid, c.connector_id
        """,
        (source, ocpi_id),
    ).fetchall()
    assert rows, f"no connectors of {source} {ocpi_id}"
    return [list(r[0]) for r in rows]


def file_pricing(conn: psycopg.Connection, source: str) -> dict[str, dict[str, Any]]:
    files = one(
        conn,
        "SELECT i.files FROM source_imports i JOIN networks n ON n.id = i.network_id "
        "WHERE n.name = %s ORDER BY i.started_at DESC LIMIT 1",
        (source,),
    )
    return {f["name"]: f["pricing"] for f in files}


def party_tariffs(conn: psycopg.Connection, cc: str, pid: str) -> int:
    sql = "SELECT count(*) FROM tariffs WHERE (country_code, party_id) = (%s, %s)"
    return int(one(conn, sql, (cc, pid)))


# ---- AFDC: EV Pricing (USD), party US*AFD ------------------------------------------------------


def test_afdc_ev_pricing_becomes_tariffs_linked_from_every_connector(
    registry_conn: psycopg.Connection,
) -> None:
    # NY line 4203, ID 356941 "Enterprise 61 - Garage": EV Pricing "$1.50 per session; $0.75
    # per kWh", EV Level2 EVSE Num 4, EV Connector Types J1772 (one connector per EVSE).
    text = "$1.50 per session; $0.75 per kWh"
    got = tariff(registry_conn, "US", "AFD", rt("USD", text))
    assert got["elements"] == [{"price_components": [c("FLAT", 1.5), c("ENERGY", 0.75)]}]
    assert (got["id"], got["country_code"], got["party_id"], got["currency"]) == (
        rt("USD", text), "US", "AFD", "USD"
    )  # fmt: skip
    assert (got["basis"], got["source_text"], got["_currency"]) == ("registry_text", text, "USD")
    assert got["last_updated"] == files_updated("afdc")
    assert "notes" not in got and "unparsed_reason" not in got
    # The summary is app.domain.tariffs' wording (its tax note is its own business).
    assert got["_summary"] == "0.75 USD/kWh + 1.50 USD start fee (as published)"
    assert connector_tariffs(registry_conn, "afdc", "356941") == [[rt("USD", text)]] * 4
    # NY line 4243, ID 356996 "The Crescent - Underground Parking": the same text, 8 level 2
    # ports: the same tariff (one row).
    assert connector_tariffs(registry_conn, "afdc", "356996") == [[rt("USD", text)]] * 8
    sql = "SELECT count(*) FROM tariffs WHERE tariff_id = %s"
    assert one(registry_conn, sql, (rt("USD", text),)) == 1


def test_afdc_idle_fees_notes_and_free(registry_conn: psycopg.Connection) -> None:
    # NY line 4158, ID 356883 "101 Legend Drive - Building 1": "$0.30 per kWh; $2 per hour idle
    # fee", 20 level 2 ports: the idle fee bills only the time after charging.
    idle = "$0.30 per kWh; $2 per hour idle fee"
    got = tariff(registry_conn, "US", "AFD", rt("USD", idle))
    assert got["elements"] == [{"price_components": [c("ENERGY", 0.3), c("PARKING_TIME", 2.0)]}]
    assert connector_tariffs(registry_conn, "afdc", "356883") == [[rt("USD", idle)]] * 20
    # NY line 893, ID 153284 "Town of Keene - Town Hall": "Free; donations encouraged".
    keene = tariff(registry_conn, "US", "AFD", rt("USD", "Free; donations encouraged"))
    assert (keene["elements"], keene["notes"]) == (FREE, ["donations asked for"])
    # NY line 46, ID 44174 "Thruway Nissan": "Free"; NY line 771, ID 148042 "EP Building":
    # "FREE". Two texts, two tariffs (identical texts share one), both the spec's Free tariff.
    free, shouted = rt("USD", "Free"), rt("USD", "FREE")
    assert free != shouted
    assert tariff(registry_conn, "US", "AFD", free)["elements"] == FREE
    assert tariff(registry_conn, "US", "AFD", shouted)["_summary"] == "Free"
    assert connector_tariffs(registry_conn, "afdc", "44174") == [[free]]
    assert connector_tariffs(registry_conn, "afdc", "148042") == [[shouted]] * 5


def test_afdc_text_that_cannot_be_read_is_kept_with_its_reason(
    registry_conn: psycopg.Connection,
) -> None:
    # WA line 433, ID 147715 "Discovery West Apartments": "$0.00-$5.00/Hr Variable Parking Fee"
    # (3 level 2 ports); WA line 438, ID 147737 "Troy Block": the same text (9 ports).
    text = "$0.00-$5.00/Hr Variable Parking Fee"
    got = tariff(registry_conn, "US", "AFD", rt("USD", text))
    assert (got["elements"], got["basis"], got["source_text"]) == ([], "registry_text", text)
    assert got["unparsed_reason"] == "a price range, not one price"
    assert got["tariff_alt_text"] == [{"language": "en", "text": text}] == got["_alt"]
    assert (got["currency"], got["_summary"]) == ("USD", text)
    assert connector_tariffs(registry_conn, "afdc", "147715") == [[rt("USD", text)]] * 3
    assert connector_tariffs(registry_conn, "afdc", "147737") == [[rt("USD", text)]] * 9


def test_afdc_counts(registry_reports: Reports, registry_conn: psycopg.Connection) -> None:
    # Non-empty EV Pricing of ELEC rows: NY 983 (979 read), WA 501 (457 read), as
    # tests/price/test_registry_text.py counts them; the minimal file has no such column.
    report = registry_reports[1]["afdc"]
    assert (report.pricing.sites_with_text, report.pricing.parsed, report.pricing.unparsed) == (
        983 + 501, 979 + 457, 4 + 44
    )  # fmt: skip
    assert report.pricing.top_reasons(1) == [("a price range, not one price", 41)]
    by_file = file_pricing(registry_conn, "afdc")
    assert [(f, by_file[f]["sites_with_text"], by_file[f]["parsed"], by_file[f]["unparsed"])
            for f in (NY, WA, AFDC_MINIMAL)] == [
        (NY, 983, 979, 4), (WA, 501, 457, 44), (AFDC_MINIMAL, 0, 0, 0)
    ]  # fmt: skip
    # One tariff per distinct text, all of them written.
    assert report.tariffs == report.tariffs_written == party_tariffs(registry_conn, "US", "AFD")
    assert report.tariffs == 154


def test_a_site_without_pricing_text_links_no_tariff(registry_conn: psycopg.Connection) -> None:
    # The minimal list has no EV Pricing: its line 2, ID 1517 "LADWP - Truesdale Center" (in
    # no full file), one EVSE of one connector, links none.
    assert connector_tariffs(registry_conn, "afdc", "1517") == [[]]
    # BNetzA has no pricing column at all.
    assert party_tariffs(registry_conn, "DE", "BNA") == 0
    linked = one(
        registry_conn,
        "SELECT count(*) FROM connectors c JOIN evses e ON e.id = c.evse_pk "
        "JOIN locations l ON l.id = e.location_id JOIN networks n ON n.id = l.network_id "
        "WHERE n.name = 'bnetza' AND c.tariff_ids <> '{}'",
    )
    assert linked == 0


def test_readers_carry_pricing_only_where_the_row_has_text(read_items: Items) -> None:
    records = {s: [i for i in items if isinstance(i, Record)] for s, items in read_items.items()}
    assert all(r.pricing is None for r in records["bnetza"])
    assert {r.currency for r in records["afdc"] if r.pricing is not None} == {"USD"}
    assert all(r.pricing is None for r in records["afdc"] if r.file == AFDC_MINIMAL)
    assert {r.currency for r in records["ukncr"] if r.pricing is not None} == {"GBP"}
    assert {r.currency for r in records["ocm"] if r.pricing is not None} == {"EUR"}  # Berlin


# ---- UK NCR: payment and parking-fee columns (GBP), party GB*NCR ------------------------------


def test_uk_payment_details_become_tariffs(registry_conn: psycopg.Connection) -> None:
    # Line 3399, 5455c812b87ec2f9386e86edb8e2608c "WB Cardiff Gate": paymentRequired 1,
    # paymentRequiredDetails "£6 for 30 minutes", parkingFeesFlag 0; connectors 117081, 126502.
    # Line 3400, 861d1372eadbe8dfab4c812c388ad07d "WB Abington": the same three values.
    cardiff = "paymentRequired=1; paymentRequiredDetails=£6 for 30 minutes; parkingFeesFlag=0"
    got = tariff(registry_conn, "GB", "NCR", rt("GBP", cardiff))
    assert got["elements"] == [
        {"price_components": [c("TIME", 12.0, 1800), c("PARKING_TIME", 12.0, 1800)]}
    ]
    assert (got["currency"], got["source_text"]) == ("GBP", cardiff)
    for device in ("5455c812b87ec2f9386e86edb8e2608c", "861d1372eadbe8dfab4c812c388ad07d"):
        assert connector_tariffs(registry_conn, "ukncr", device) == [[rt("GBP", cardiff)]] * 2
    # Lines 2273-2276, af65037895abdcc6042b4bf0b9f786f6 "Ilkeston Hospital": paymentRequired 1,
    # "20p/Kwh, 50p minimum charge", parkingFeesFlag 0.
    ilkeston = "paymentRequired=1; paymentRequiredDetails=20p/Kwh, 50p minimum charge; " + (
        "parkingFeesFlag=0"
    )
    got = tariff(registry_conn, "GB", "NCR", rt("GBP", ilkeston))
    assert got["elements"] == [{"price_components": [c("ENERGY", 0.2)]}]
    assert got["min_price"] == got["_min"] == {"excl_vat": 0.5}
    # Line 4128, fa3a8ef04b63ad301adcb6107be2d750 "Station Road (Kingfisher)": "30p per Kwh and
    # £1 connection fee", parkingFeesFlag 1, parkingFeesDetails "Free for 2 hours".
    kingfisher = (
        "paymentRequired=1; paymentRequiredDetails=30p per Kwh and £1 connection fee; "
        "parkingFeesFlag=1; parkingFeesDetails=Free for 2 hours"
    )
    got = tariff(registry_conn, "GB", "NCR", rt("GBP", kingfisher))
    assert got["elements"] == [{"price_components": [c("FLAT", 1.0), c("ENERGY", 0.3)]}]
    assert got["notes"] == ["parking: Free for 2 hours"]


def test_uk_payment_without_a_price_is_kept_and_no_text_links_nothing(
    registry_conn: psycopg.Connection,
) -> None:
    # Lines 887-889, 32df267df52b7749c84e7e6321c1378b "Coleshill Parkway Station":
    # paymentRequired 1, no details, parkingFeesFlag 0 (connectors 102264, 102265).
    coleshill = "paymentRequired=1; parkingFeesFlag=0"
    got = tariff(registry_conn, "GB", "NCR", rt("GBP", coleshill))
    assert (got["elements"], got["_summary"]) == ([], coleshill)
    assert got["unparsed_reason"] == "payment required, but no price given"
    assert connector_tariffs(registry_conn, "ukncr", "32df267df52b7749c84e7e6321c1378b") == (
        [[rt("GBP", coleshill)]] * 2
    )
    # Line 169, 755e7babe12f5f5b55756943fab23a2c "Leinster Gardens": paymentRequired empty,
    # parkingFeesFlag 0 and nothing else: no pricing, no tariff.
    assert connector_tariffs(registry_conn, "ukncr", "755e7babe12f5f5b55756943fab23a2c") == (
        [[], []]
    )


def test_uk_counts(registry_reports: Reports, registry_conn: psycopg.Connection) -> None:
    # 3964 devices read; 189 say nothing but parkingFeesFlag 0 (no pricing); of the 3775 with
    # text, 1249 cannot be read: 1132 "payment required, but no price given" (paymentRequired
    # 1 and nothing else), 106 only pointing elsewhere ("See www.CPSGenie.com for details").
    report = registry_reports[1]["ukncr"]
    assert (report.pricing.sites_with_text, report.pricing.parsed, report.pricing.unparsed) == (
        3775, 2526, 1249
    )  # fmt: skip
    assert report.pricing.top_reasons(2) == [
        ("payment required, but no price given", 1132),
        ("no price given (…)", 106),
    ]
    assert file_pricing(registry_conn, "ukncr")[UK]["sites_with_text"] == 3775
    assert report.tariffs == report.tariffs_written == party_tariffs(registry_conn, "GB", "NCR")
    assert report.tariffs == 82


# ---- Open Charge Map: UsageCost (the POI's country's currency), party DE*OCM ----------------


def test_ocm_usage_cost_becomes_tariffs(registry_conn: psycopg.Connection) -> None:
    # Index 9, ID 47291: UsageCost "0,47€/kWh", 8 Connections of one plug each (8 EVSEs).
    got = tariff(registry_conn, "DE", "OCM", rt("EUR", "0,47€/kWh"))
    assert (got["elements"], got["currency"]) == ([{"price_components": [c("ENERGY", 0.47)]}],
                                                  "EUR")  # fmt: skip
    assert connector_tariffs(registry_conn, "ocm", "OCM-47291") == [[rt("EUR", "0,47€/kWh")]] * 8
    # Index 10, ID 75430 and index 30, ID 78716: both UsageCost "Free": one tariff.
    for poi in ("OCM-75430", "OCM-78716"):
        assert connector_tariffs(registry_conn, "ocm", poi) == [[rt("EUR", "Free")]]
    assert tariff(registry_conn, "DE", "OCM", rt("EUR", "Free"))["elements"] == FREE
    # Index 29, ID 38369: UsageCost "0.00 afhankelijk van pas" (Dutch: depends on the card).
    text = "0.00 afhankelijk van pas"
    got = tariff(registry_conn, "DE", "OCM", rt("EUR", text))
    assert (got["elements"], got["unparsed_reason"]) == ([], f"not understood: {text!r}")
    assert connector_tariffs(registry_conn, "ocm", "OCM-38369") == [[rt("EUR", text)]]


def test_ocm_counts(registry_reports: Reports) -> None:
    # 486 POIs, 44 with a UsageCost (419 null, 23 ""); 13 unread: 7 × "0.00 afhankelijk van
    # pas", "0.00 jaarabonnement", "14,50€ Parken+Laden pro Tag", "0..7€+15€ Parkgebühr",
    # "Plugsurfing 0,06 EUR per minute, …", "€0.34/min >=60kW; …; Andere Tarife für ältere
    # Autos", "Spende ~0.30€/kWh"; 19 distinct texts.
    report = registry_reports[1]["ocm"]
    assert report.pricing == PricingFacts(
        44,
        31,
        13,
        {
            "not understood: …": 9,
            "not understood: … in …": 1,
            "no unit for the amount in …": 1,
            "a price range, not one price": 1,
            "an approximate or variable price": 1,
        },
    )
    assert report.tariffs == report.tariffs_written == 19


async def test_tariffs_in_the_location_detail(
    registry_api: AsyncTestClient[Litestar], registry_conn: psycopg.Connection
) -> None:
    async def detail(ocpi_id: str) -> dict[str, Any]:
        public_id = one(
            registry_conn,
            "SELECT l.public_id FROM locations l JOIN networks n ON n.id = l.network_id "
            "WHERE n.name = 'afdc' AND l.ocpi_id_raw = %s",
            (ocpi_id,),
        )
        answer = await registry_api.get(f"/v1/locations/{public_id}")
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    # NY line 4203, ID 356941: "$1.50 per session; $0.75 per kWh".
    (shown,) = (await detail("356941"))["tariffs"]
    assert (shown["id"], shown["basis"], shown["source_text"], shown["unpriceable_reason"]) == (
        rt("USD", "$1.50 per session; $0.75 per kWh"),
        "registry_text",
        "$1.50 per session; $0.75 per kWh",
        None,
    )
    # WA line 433, ID 147715: a price range, shown with no price and the reason.
    (unread,) = (await detail("147715"))["tariffs"]
    assert (unread["elements"], unread["summary"], unread["unpriceable_reason"]) == (
        [],
        "$0.00-$5.00/Hr Variable Parking Fee",
        "a price range, not one price",
    )


# ---- re-import, and what the commands print -------------------------------------------------


async def test_reimporting_leaves_the_tariffs_unchanged(store: Store, clean_db: str) -> None:
    ocm, uk = [OCM], [BUNDLED / UK]
    first = (await import_files(store, "ocm", ocm), await import_files(store, "ukncr", uk))
    assert [(r.tariffs, r.tariffs_written) for r in first] == [(19, 19), (82, 82)]
    with psycopg.connect(clean_db) as conn:
        before = conn.execute(
            "SELECT tariff_id, raw, received_at FROM tariffs ORDER BY tariff_id"
        ).fetchall()
    again = (
        await import_files(store, "ocm", ocm, force=True),
        await import_files(store, "ukncr", uk, force=True),
    )
    assert [(r.tariffs, r.tariffs_written, r.tariffs_unchanged) for r in again] == [
        (19, 0, 19),
        (82, 0, 82),
    ]
    assert [r.pricing for r in again] == [r.pricing for r in first]
    with psycopg.connect(clean_db) as conn:
        after = conn.execute(
            "SELECT tariff_id, raw, received_at FROM tariffs ORDER BY tariff_id"
        ).fetchall()
    assert after == before and len(after) == 19 + 82


def test_the_commands_print_the_pricing_counts(settings: Any, clean_db: str) -> None:
    from tests.conftest import settings_env

    runner = CliRunner()
    result = runner.invoke(main, ["import", "ocm", str(OCM)], env=settings_env(settings))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "    pricing: 44 sites with pricing text: 31 read into tariffs, 13 kept unparsed" in lines
    )
    assert (
        "    tariffs: 19 (identical texts share one): 19 written, 0 unchanged, 0 older than stored"
    ) in lines
    assert "    unparsed      9 × not understood: …" in lines
    result = runner.invoke(main, ["sources", "list"], env=settings_env(settings))
    assert result.exit_code == 0, result.output
    ocm_line = result.output.splitlines().index(
        next(line for line in result.output.splitlines() if line.startswith("ocm "))
    )
    assert result.output.splitlines()[ocm_line + 1].strip() == (
        "44 sites with pricing text: 31 read into tariffs, 13 kept unparsed "
        "(9 × not understood: …; 1 × a price range, not one price; "
        "1 × an approximate or variable price)"
    )


def test_the_tariff_ids_fit_ocpi(registry_conn: psycopg.Connection) -> None:
    ids = [
        r[0]
        for r in registry_conn.execute(
            "SELECT tariff_id_raw FROM tariffs WHERE raw->>'basis' = 'registry_text'"
        ).fetchall()
    ]
    assert len(ids) == 154 + 82 + 19
    assert all(len(i) == 18 and i.startswith("RT") for i in ids)  # CiString(36)


async def test_removing_a_registry_removes_its_tariffs(store: Store, clean_db: str) -> None:
    await import_files(store, "ocm", [OCM], merge=False)
    async with store.transaction() as tx:
        assert await source_imports.remove_registry(tx, "ocm") == 486
    with psycopg.connect(clean_db) as conn:
        assert one(conn, "SELECT count(*) FROM tariffs") == 0
