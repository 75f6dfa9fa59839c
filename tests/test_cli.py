"""The command-line contract operators and scripts rely on (issue 3), run in-process against
the test database (the URLs come from the environment, as for any user)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.settings import Settings
from tests.conftest import OCPI_FIXTURES
from wattlas.cli import main


@pytest.fixture
def cli(settings: Settings) -> CliRunner:
    return CliRunner(
        env={
            "WATTLAS_DATABASE_URL": settings.database_url or "",
            "WATTLAS_REDIS_URL": settings.redis_url or "",
            "WATTLAS_LOG_LEVEL": "WARNING",
            "WATTLAS_PORT": "8123",
        }
    )


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_invite_prints_versions_url_and_token_as_json(cli: CliRunner) -> None:
    out = json.loads(run(cli, "networks", "invite", "acme", "--json"))
    assert out["versions_url"] == "http://127.0.0.1:8123/ocpi/versions"
    assert len(out["token"]) >= 32
    listed = json.loads(run(cli, "networks", "list", "--json"))
    assert [(n["name"], n["status"], n["healthy"]) for n in listed] == [("acme", "INVITED", False)]


def test_subscribers_invite_list_and_revoke_apart_from_networks(cli: CliRunner) -> None:
    out = json.loads(run(cli, "subscribers", "invite", "fleetco", "--json"))
    assert out["versions_url"] == "http://127.0.0.1:8123/ocpi/versions"
    run(cli, "networks", "invite", "acme")
    listed = json.loads(run(cli, "subscribers", "list", "--json"))
    assert [(s["name"], s["status"], s["last_pull_at"]) for s in listed] == [
        ("fleetco", "INVITED", None)
    ]
    assert [n["name"] for n in json.loads(run(cli, "networks", "list", "--json"))] == ["acme"]
    refused = cli.invoke(main, ["subscribers", "revoke", "acme"])
    assert (refused.exit_code, refused.output.strip()) == (
        2,
        "wattlas: acme is a network, not a subscriber",
    )
    run(cli, "subscribers", "revoke", "fleetco")
    listed = json.loads(run(cli, "subscribers", "list", "--json"))
    assert [(s["name"], s["status"]) for s in listed] == [("fleetco", "REVOKED")]
    assert "fleetco" in run(cli, "subscribers", "list")


def test_add_token_list_and_revoke(cli: CliRunner) -> None:
    run(
        cli,
        "networks",
        "add-token",
        "static-cpo",
        "--token",
        "tok-0123456789abcdef",
        "--party",
        "NL*ABC",
        "--party",
        "BE*XYZ",
        "--version",
        "2.2",
    )
    listed = json.loads(run(cli, "networks", "list", "--json"))
    assert [(n["name"], n["status"], n["ocpi_version"], n["parties"]) for n in listed] == [
        ("static-cpo", "STATIC", "2.2", ["BE*XYZ", "NL*ABC"])
    ]
    run(cli, "networks", "revoke", "static-cpo")
    listed = json.loads(run(cli, "networks", "list", "--json"))
    assert (listed[0]["status"], listed[0]["health"]) == ("REVOKED", "revoked")


@pytest.mark.parametrize("party", ["NLABCD", "NLXYZ", "NL*", "N1*ABC", "NL*AB-C"])
def test_bad_party_is_a_clear_error(cli: CliRunner, party: str) -> None:
    # NLXYZ is not read as NL*XYZ: a typo must not register a party (issue 10).
    result = cli.invoke(main, ["networks", "add-token", "x", "--token", "t", "--party", party])
    assert result.exit_code == 2
    assert f"party must look like CC*PID (e.g. NL*FLA), got {party!r}" in result.output


def test_load_with_party_prints_a_summary_per_file(cli: CliRunner) -> None:
    out = run(
        cli,
        "load",
        str(OCPI_FIXTURES / "ocpi_2_1_1_locations-fastned.json"),
        "--party",
        "NL*FLA",
        "--json",
    )
    (report,) = json.loads(out)
    assert (report["objects"], report["accepted"], report["quarantined"]) == (106, 106, 0)
    text = run(cli, "load", str(OCPI_FIXTURES / "ocpi_2_2_1_locations-punkt.json"))
    assert "ocpi_2_2_1_locations-punkt.json" in text and "rejected     2 ×" in text
    summary = run(cli, "quarantine", "--summary")
    assert "location: coordinates (N, N) lie at sea" in summary


def test_commands_without_a_database_say_what_to_do(tmp_path: object) -> None:
    runner = CliRunner(
        env={
            "WATTLAS_STATE_DIR": str(tmp_path),
            "WATTLAS_DATABASE_URL": "",
            "WATTLAS_REDIS_URL": "",
        }
    )
    result = runner.invoke(main, ["migrate"])
    assert result.exit_code == 2
    assert "no database: set WATTLAS_DATABASE_URL" in result.output


def test_missing_country_shapes_are_a_one_line_error(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``wattlas load`` needs the country shapes shipped in ingest/ocpi/data; without them it
    says so in one line (it used to crash with a traceback unless npm had run)."""
    from ingest.ocpi import geocheck

    monkeypatch.setattr(geocheck, "WORLD_ATLAS", tmp_path / "countries-10m.json.gz")
    monkeypatch.setattr(geocheck, "CACHE_DIR", tmp_path / "cache")
    geocheck.country_shapes.cache_clear()
    try:
        result = cli.invoke(main, ["load", str(OCPI_FIXTURES / "ocpi_2_2_locations-zepto.json")])
    finally:
        geocheck.country_shapes.cache_clear()
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"wattlas: the country shapes {tmp_path / 'countries-10m.json.gz'} are missing from the"
        " installation (reinstall wattlas)"
    ]
