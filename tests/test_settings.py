from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import ENV_VARIABLES, SettingsError, load_settings


def test_defaults_without_environment() -> None:
    s = load_settings({})
    assert (s.host, s.port, s.workers, s.state_dir) == ("127.0.0.1", 8000, 1, Path(".wattlas"))
    assert s.database_url is None and s.redis_url is None and not s.external_services
    assert s.base_url == "http://127.0.0.1:8000"
    assert (s.ocpi_country_code, s.ocpi_party_id) == ("NL", "WTL")


def test_environment_is_read_into_typed_fields() -> None:
    s = load_settings(
        {
            "WATTLAS_DATABASE_URL": "postgresql://u@db:5432/w",
            "WATTLAS_REDIS_URL": "redis://r:6379/0",
            "WATTLAS_PORT": "9001",
            "WATTLAS_HOST": "0.0.0.0",
            "WATTLAS_STATE_DIR": "/var/lib/wattlas",
            "WATTLAS_PUBLIC_URL": "https://wattlas.example/",
        }
    )
    assert s.port == 9001 and s.external_services
    assert s.state_dir == Path("/var/lib/wattlas")
    assert s.base_url == "https://wattlas.example"


def test_bind_all_addresses_still_gives_a_reachable_base_url() -> None:
    assert load_settings({"WATTLAS_HOST": "0.0.0.0", "WATTLAS_PORT": "8100"}).base_url == (
        "http://127.0.0.1:8100"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WATTLAS_PORT": "eighty"}, "WATTLAS_PORT: Expected `int`"),
        ({"WATTLAS_OCPI_PARTY": "NLWTL"}, "WATTLAS_OCPI_PARTY must look like CC*PID"),
        ({"WATTLAS_LOG_LEVEL": "LOUD"}, "WATTLAS_LOG_LEVEL must be"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("*", r"\*")):
        load_settings(env)


def test_every_variable_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [v for v in ENV_VARIABLES if v not in readme]
    assert missing == []


def test_the_compose_topology_uses_the_services_own_settings() -> None:
    """docker-compose.yml (primary, replica, Redis, two API nodes, a worker) names only
    variables the service reads, and gives the API nodes the replica (issue 15)."""
    import re

    import yaml

    path = Path(__file__).resolve().parent.parent / "docker-compose.yml"
    named = set(re.findall(r"\b(WATTLAS_[A-Z0-9_]+)\b", path.read_text()))
    assert named and named <= set(ENV_VARIABLES), named - set(ENV_VARIABLES)
    services = yaml.safe_load(path.read_text())["services"]
    assert {"primary", "replica", "redis", "api-a", "api-b", "worker"} <= set(services)
    for node in ("api-a", "api-b"):
        env = services[node]["environment"]
        assert env["WATTLAS_DATABASE_REPLICA_URLS"].endswith("@replica:5432/wattlas")
        assert env["WATTLAS_RUN_SCHEDULER"] == "false"
    assert services["worker"]["environment"]["WATTLAS_RUN_SCHEDULER"] == "true"


def test_replica_urls_are_a_list() -> None:
    settings = load_settings(
        {"WATTLAS_DATABASE_REPLICA_URLS": "postgresql://a/x, postgresql://b/x"}
    )
    assert settings.replica_urls == ("postgresql://a/x", "postgresql://b/x")
    assert load_settings({}).replica_urls == ()
    with pytest.raises(SettingsError, match="WATTLAS_REPLICA_MAX_LAG_S"):
        load_settings({"WATTLAS_REPLICA_MAX_LAG_S": "soon"})
