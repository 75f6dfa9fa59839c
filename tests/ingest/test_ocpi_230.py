"""OCPI 2.3.0 beside 2.1.1, 2.2 and 2.2.1 (issue 10): versions and their negotiation, 2.3.0
credentials (``hub_party_id``, hubs listing every party they reach), and the receiver for 2.3.0
Locations (parking places) and Tariffs (``tax_included``, PriceLimit), on the spec's 2.3.0
examples, against the real service in-process, real PostGIS and real Redis."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from app.store.tariffs import fetch_tariff
from ingest import credentials
from ingest.credentials import HandshakeError, our_credentials, parse_credentials, pick_version
from ingest.ocpi import transport
from tests.conftest import make_app
from tests.ingest.helpers import b64, raw, spec
from tests.price.helpers import d, period, price_cdr, stored, totals

TOKEN = "spec230-token-0123456789"
BASE = "/ocpi/2.3.0/locations/BE/BEC/LOC1"
Client = AsyncTestClient[Litestar]


def spec230(name: str) -> Any:
    return copy.deepcopy(spec(f"2.3.0/{name}"))


@pytest.fixture
async def cpo(settings: Settings) -> AsyncIterator[Client]:
    """The service, with a static 2.3.0 token for the parties of the spec's 2.3.0 examples."""
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store,
            "spec230",
            TOKEN,
            [Party.parse(p) for p in ("BE*BEC", "SE*EVC", "DE*ALL", "CA*FLO")],
            version="2.3.0",
        )
    async with AsyncTestClient(app=make_app(settings)) as client:
        yield client


def data(response: Any) -> Any:
    answer = response.json()
    assert (response.status_code, answer["status_code"]) in ((200, 1000), (201, 1000)), answer
    return answer["data"]


# ---- versions ----------------------------------------------------------------------------------
async def test_versions_offer_2_3_0_first_and_its_details(cpo: Client) -> None:
    versions = data(await cpo.get("/ocpi/versions", headers=b64(TOKEN)))
    assert [(v["version"], v["url"].rsplit("/ocpi/", 1)[1]) for v in versions] == [
        ("2.3.0", "2.3.0"),
        ("2.2.1", "2.2.1"),
        ("2.2", "2.2"),
        ("2.1.1", "2.1.1"),
    ]
    for path in ("/ocpi/2.3.0", "/ocpi/2.3.0/"):
        details = data(await cpo.get(path, headers=b64(TOKEN)))
        assert details["version"] == "2.3.0"
        assert [
            (e["identifier"], e["role"], e["url"].rsplit("/ocpi/", 1)[1])
            for e in details["endpoints"]
        ][:3] == [
            ("credentials", "SENDER", "2.3.0/credentials"),
            ("locations", "RECEIVER", "2.3.0/locations"),
            ("tariffs", "RECEIVER", "2.3.0/tariffs"),
        ]
    # A version we do not speak is refused as OCPI says (3002).
    unknown = await cpo.get("/ocpi/2.4", headers=b64(TOKEN))
    assert (unknown.status_code, unknown.json()["status_code"]) == (404, 3002)


def test_the_highest_common_version_is_chosen() -> None:
    spec_versions = spec("versions_info_example.json")  # 2.1.1 and 2.2.1
    assert pick_version(spec_versions) == ("2.2.1", "https://www.server.com/ocpi/2.2.1")
    with_230 = [*spec_versions, {"version": "2.3.0", "url": "https://www.server.com/ocpi/2.3.0"}]
    assert pick_version(with_230) == ("2.3.0", "https://www.server.com/ocpi/2.3.0")
    # VersionNumber is an OpenEnum in 2.3.0: a version we do not know is passed over.
    later = [{"version": "2.4", "url": "https://x/2.4"}, *with_230]
    assert pick_version(later)[0] == "2.3.0"
    with pytest.raises(HandshakeError) as refused:
        pick_version([{"version": "3.0", "url": "https://x/3.0"}])
    assert refused.value.status_code == transport.UNSUPPORTED_VERSION
    assert str(refused.value) == (
        "no mutual OCPI version (they offer ['3.0'], we speak ['2.3.0', '2.2.1', '2.2', '2.1.1'])"
    )


# ---- credentials -------------------------------------------------------------------------------
def test_2_3_0_hub_credentials_name_the_hub_and_every_party_it_reaches() -> None:
    # credentials_example4 (a platform with three CPOs), as a 2.3.0 hub sends it: hub_party_id
    # names the hub, roles list every party reachable through it.
    body = {**spec230("credentials_example4.json"), "hub_party_id": "nlhub"}
    peer = parse_credentials(body)
    cpos = [
        Party("NL", "EXO", "CPO", "Excellent Operator"),
        Party("NL", "PFC", "CPO", "Plug Flex Charging"),
        Party("NL", "CGP", "CPO", "Charging Green Power"),
    ]
    assert peer.hub_party == Party("NL", "HUB", "HUB")
    assert peer.parties == cpos
    # The hub owns itself; the parties it routes are written through it only while no other
    # network owns them (architecture.md, one owner per party).
    assert peer.owned == [Party("NL", "HUB", "HUB")]
    assert peer.routed == cpos
    # Without hub_party_id: a platform that owns what it lists (white-label CPOs).
    platform = parse_credentials(spec230("credentials_example4.json"))
    assert (platform.hub_party, platform.owned, platform.routed) == (None, cpos, [])
    # The hub listing itself among its roles is still one party.
    listed = {**body, "roles": [*body["roles"], {**body["roles"][0], "party_id": "HUB"}]}
    assert parse_credentials(listed).owned == [Party("NL", "HUB", "HUB", "Excellent Operator")]
    for bad in ("NLHUBX", "N1HUB", 12345):
        with pytest.raises(ValueError, match=r"^hub_party_id .* is not a country code"):
            parse_credentials({**body, "hub_party_id": bad})
    assert parse_credentials({**body, "hub_party_id": None}).hub_party is None


def test_our_2_3_0_credentials_follow_the_2_3_0_schema(settings: Settings) -> None:
    ours = our_credentials(settings, "token-c", "2.3.0")
    # Credentials 2.3.0: token string(64), url, roles (+) of CredentialsRole; hub_party_id only
    # for a hub, which we are not.
    assert set(ours) == {"token", "url", "roles"}
    assert ours["token"] == "token-c"
    assert ours["url"].endswith("/ocpi/versions")
    assert ours["roles"] == [
        {
            "role": "NSP",
            "business_details": {"name": settings.ocpi_business_name},
            "party_id": settings.ocpi_party_id,
            "country_code": settings.ocpi_country_code,
        }
    ]
    assert len(settings.ocpi_party_id) == 3 and len(settings.ocpi_country_code) == 2


async def test_get_credentials_in_2_3_0_echoes_the_token(cpo: Client, settings: Settings) -> None:
    for headers in (b64(TOKEN), raw(TOKEN)):  # Base64 as 2.2+ asks, raw as many peers send
        got = data(await cpo.get("/ocpi/2.3.0/credentials", headers=headers))
        assert got == our_credentials(settings, TOKEN, "2.3.0")
    assert transport.default_auth_encoding("2.3.0") == "base64"


# ---- locations ---------------------------------------------------------------------------------
async def test_put_2_3_0_location_keeps_parking_places_and_evse_parking(
    cpo: Client, sync_conn: psycopg.Connection
) -> None:
    example = spec230("location_example.json")
    put = await cpo.put(BASE, json=example, headers=b64(TOKEN))
    assert (put.status_code, put.json()["status_code"]) == (201, 1000)
    row = sync_conn.execute(
        "SELECT ocpi_version, parking_type, evse_count, available_count, occupied_count,"
        " raw->'parking_places', raw ? 'evses' FROM locations"
    ).fetchone()
    assert row == ("2.3.0", "PARKING_GARAGE", 2, 1, 1, example["parking_places"], False)
    assert sync_conn.execute(
        "SELECT uid, status, raw->'parking' FROM evses ORDER BY uid"
    ).fetchall() == [(e["uid"], e["status"], e["parking"]) for e in example["evses"]]
    # Nothing to say about it: the example is valid 2.3.0.
    assert sync_conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
    # The receiver's GET gives back what was sent, the 2.3.0 fields included.
    got = data(await cpo.get(BASE, headers=b64(TOKEN)))
    assert got["parking_places"] == example["parking_places"]
    assert [e["parking"] for e in got["evses"]] == [e["parking"] for e in example["evses"]]


async def test_2_3_0_connector_types_fields_and_open_enums(
    cpo: Client, sync_conn: psycopg.Connection
) -> None:
    example = spec230("location_example_parking_garage_opening_hours.json")  # SE*EVC, CENTER
    evse = example["evses"][0]
    evse["accepted_service_providers"] = ["Shell Recharge", "Elli"]
    evse["parking_restrictions"] = ["EMPLOYEES", "taxis", "TENANTS", "CARGO_BIKES"]
    evse["capabilities"] = ["RFID_READER", "PAY_BY_APP"]  # an implementer's own Capability
    evse["connectors"] = [
        {**evse["connectors"][0], "standard": "SAE_J3400", "power_type": "DC", "max_voltage": 1000,
         "max_amperage": 500, "max_electric_power": 350000,
         "capabilities": ["ISO_15118_20_PLUG_AND_CHARGE"]},
        {**evse["connectors"][0], "id": "2", "standard": "MCS", "power_type": "DC",
         "max_voltage": 1250, "max_amperage": 3000, "capabilities": ["FUTURE_CAPABILITY"]},
    ]  # fmt: skip
    example["help_phone"] = "+46 40 123 45 67"
    example["facilities"] = ["PARKING_LOT", "TRUCK_WASH"]
    url = f"/ocpi/2.3.0/locations/SE/EVC/{example['id']}"
    put = await cpo.put(url, json=example, headers=b64(TOKEN))
    assert (put.status_code, put.json()["status_code"]) == (201, 1000)
    # ConnectorType MCS and SAE_J3400 are types of their own; OpenEnum values we do not know
    # are kept (ocpi.md §1.11), upper-cased.
    assert sync_conn.execute(
        "SELECT connector_id, standard, max_power_kw, raw->'capabilities' FROM connectors"
        " ORDER BY connector_id"
    ).fetchall() == [
        ("1", "SAE_J3400", 350.0, ["ISO_15118_20_PLUG_AND_CHARGE"]),
        ("2", "MCS", 3750.0, ["FUTURE_CAPABILITY"]),
    ]
    assert sync_conn.execute(
        "SELECT e.connector_standards, e.parking_restrictions, e.capabilities,"
        " e.raw->'accepted_service_providers', l.connector_standards, l.facilities,"
        " l.raw->>'help_phone'"
        " FROM evses e JOIN locations l ON l.id = e.location_id"
    ).fetchone() == (
        ["MCS", "SAE_J3400"],
        ["EMPLOYEES", "TAXIS", "TENANTS", "CARGO_BIKES"],
        ["RFID_READER", "PAY_BY_APP"],
        ["Shell Recharge", "Elli"],
        ["MCS", "SAE_J3400"],
        ["PARKING_LOT", "TRUCK_WASH"],
        "+46 40 123 45 67",
    )
    assert sync_conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


async def test_broken_2_3_0_parking_costs_a_note_not_the_location(
    cpo: Client, sync_conn: psycopg.Connection
) -> None:
    example = spec230("location_example.json")
    example["parking_places"][2]["max_vehicle_height"] = "tall"
    example["parking_places"].append({"physical_reference": "B4", "vehicle_types": ["VAN"]})
    example["evses"][1]["parking"].append({"parking_id": "7", "evse_position": "RIGHT"})
    example["evses"][0]["parking"] = ["1"]  # the v2.3.0 tag's (wrong) bare ids
    put = await cpo.put(BASE, json=example, headers=b64(TOKEN))
    assert (put.status_code, put.json()["status_code"]) == (201, 1000)
    assert sync_conn.execute(
        "SELECT object_kind, object_key, severity, reason FROM quarantine ORDER BY id"
    ).fetchall() == [
        ("location", "BE*BEC*LOC1", "note",
         "parking place 3: max_vehicle_height 'tall' is not a number; ignored"),
        ("location", "BE*BEC*LOC1", "note", "parking_places[3] has no id; ignored"),
        ("evse", "BE*BEC*LOC1/3257", "note",
         "parking[2]: parking_id 7 is not among the location's parking_places; ignored"),
    ]  # fmt: skip
    assert sync_conn.execute("SELECT count(*) FROM evses WHERE visible").fetchone() == (2,)


async def test_evse_put_and_status_patch_in_2_3_0(
    cpo: Client, sync_conn: psycopg.Connection
) -> None:
    assert (await cpo.put(BASE, json=spec230("location_example.json"), headers=b64(TOKEN))).json()[
        "status_code"
    ] == 1000
    evse = spec230("location_example.json")["evses"][0]
    evse.update(uid="3258", evse_id="BE*BEC*E041503003", last_updated="2019-06-24T12:39:09Z")
    evse["parking"] = [{"parking_id": "3", "evse_position": "LEFT"}]
    put = await cpo.put(f"{BASE}/3258", json=evse, headers=b64(TOKEN))
    assert (put.status_code, put.json()["status_code"]) == (201, 1000)
    patch = await cpo.patch(
        f"{BASE}/3256", json=spec230("location_patch_example_status.json"), headers=b64(TOKEN)
    )
    assert patch.json()["status_code"] == 1000
    assert sync_conn.execute(
        "SELECT uid, status, raw->'parking' FROM evses ORDER BY uid"
    ).fetchall() == [
        ("3256", "CHARGING", [{"parking_id": "1", "evse_position": "LEFT"},
                              {"parking_id": "2", "evse_position": "RIGHT"}]),
        ("3257", "RESERVED", [{"parking_id": "2", "evse_position": "LEFT"},
                              {"parking_id": "3", "evse_position": "RIGHT"}]),
        ("3258", "AVAILABLE", [{"parking_id": "3", "evse_position": "LEFT"}]),
    ]  # fmt: skip
    assert sync_conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


# ---- tariffs -----------------------------------------------------------------------------------
async def put_tariff(client: Client, tariff: dict[str, Any], version: str = "2.3.0") -> Any:
    url = f"/ocpi/{version}/tariffs/{tariff['country_code']}/{tariff['party_id']}/{tariff['id']}"
    return await client.put(url, json=tariff, headers=b64(TOKEN))


async def test_2_3_0_tariffs_state_their_tax_treatment_and_price_as_stored(
    cpo: Client, sync_conn: psycopg.Connection, store: Store
) -> None:
    exclusive = spec230("tariff_19_simple_north_american_exclusive.json")  # CA*FLO 12, NO
    assert (await put_tariff(cpo, exclusive)).status_code == 201
    assert sync_conn.execute("SELECT currency, summary, raw FROM tariffs").fetchone() == (
        "CAD",
        "2.00 CAD/h (excl. taxes)",
        exclusive,
    )
    # Stored, it reaches the price engine as a 2.3.0 tariff: 1.5 h × 2.00 before taxes; the
    # tax rate is not in the tariff, so the total after taxes is unknown.
    session = (
        "2024-12-05T18:00:00Z",
        "2024-12-05T19:30:00Z",
        period("2024-12-05T18:00:00Z", TIME="1.5"),
    )
    kept = await fetch_tariff(store, "CA", "FLO", "12")
    assert kept is not None
    result = price_cdr([stored(kept)], *session, time_zone="America/Toronto")
    assert (result.currency, totals(result)) == ("CAD", (d("3.00"), None))

    inclusive = spec230("tariff_20_simple_north_american_inclusive.json")  # same id, YES
    assert (await put_tariff(cpo, inclusive)).status_code == 200
    assert sync_conn.execute("SELECT summary FROM tariffs").fetchone() == (
        "2.10 CAD/h (incl. taxes)",
    )
    kept = await fetch_tariff(store, "CA", "FLO", "12")
    assert kept is not None
    result = price_cdr([stored(kept)], *session, time_zone="America/Toronto")
    assert totals(result) == (None, d("3.15"))

    # PriceLimit {before_taxes, after_taxes}: kept as sent, stated on the prices' basis.
    minimum = spec230("tariff_12_025kwh_min_price.json")  # DE*ALL 20
    assert (await put_tariff(cpo, minimum)).status_code == 201
    assert sync_conn.execute(
        "SELECT min_price, max_price, summary FROM tariffs WHERE tariff_id = '20'"
    ).fetchone() == (
        {"before_taxes": 0.5, "after_taxes": 0.55},
        None,
        "0.25 EUR/kWh; min 0.50 EUR (excl. taxes)",
    )
    no_taxes = {**minimum, "id": "21", "tax_included": "N/A"}
    assert (await put_tariff(cpo, no_taxes)).status_code == 201
    assert sync_conn.execute("SELECT summary FROM tariffs WHERE tariff_id = '21'").fetchone() == (
        "0.25 EUR/kWh; min 0.50 EUR (no taxes)",
    )
    assert sync_conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


async def test_a_2_3_0_tariff_without_tax_treatment_is_refused(
    cpo: Client, sync_conn: psycopg.Connection
) -> None:
    tariff = spec230("tariff_19_simple_north_american_exclusive.json")
    for value in (None, "MAYBE"):
        body = {k: v for k, v in tariff.items() if k != "tax_included"}
        if value is not None:
            body["tax_included"] = value
        refused = await put_tariff(cpo, body)
        # Its prices could be incl. or excl. taxes: storing it would show a wrong price.
        assert (refused.status_code, refused.json()["status_code"]) == (200, 2001)
        what = "missing" if value is None else f"{value!r} is not YES, NO or N/A"
        assert refused.json()["status_message"] == (
            f"tariff rejected: tax_included {what} (required in OCPI 2.3.0: without it the "
            "prices could be incl. or excl. taxes)"
        )
    assert sync_conn.execute("SELECT count(*) FROM tariffs").fetchone() == (0,)
    rejected = sync_conn.execute("SELECT source, object_kind, object_key, severity FROM quarantine")
    assert rejected.fetchall() == [("push", "tariff", "CA*FLO*12", "rejected")] * 2
    # Lenient on spelling: "yes", " n/a" read as YES, N/A.
    lower = {**tariff, "tax_included": "yes"}
    assert (await put_tariff(cpo, lower)).status_code == 201
    # The same body without tax_included is a valid 2.2.1 tariff (prices excl. VAT).
    old = {k: v for k, v in tariff.items() if k != "tax_included"}
    old["id"] = "13"
    assert (await put_tariff(cpo, old, "2.2.1")).status_code == 201
    assert sync_conn.execute("SELECT tariff_id, summary FROM tariffs ORDER BY 1").fetchall() == [
        ("12", "2.00 CAD/h (incl. taxes)"),
        ("13", "2.00 CAD/h (excl. VAT)"),
    ]


async def test_2_3_0_tariffs_cannot_be_patched(cpo: Client) -> None:
    tariff = spec230("tariff_1_simple_2hour.json")  # DE*ALL 12
    assert (await put_tariff(cpo, tariff)).status_code == 201
    patched = await cpo.patch(
        "/ocpi/2.3.0/tariffs/DE/ALL/12", json={"currency": "USD"}, headers=b64(TOKEN)
    )
    assert (patched.status_code, patched.json()["status_code"]) == (405, 2000)
