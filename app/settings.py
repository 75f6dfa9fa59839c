"""Settings, read from the environment once, into one typed object that is passed around.

Nothing else in the project reads ``os.environ`` (style.md, habit 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

DEFAULT_STALE_AFTER_S = 1800


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of the service. See the README's table for the variables."""

    database_url: str | None = None
    # Streaming replicas for drivers' questions (issue 15): comma-separated URLs, and the replay
    # lag beyond which a replica is left out until it catches up.
    database_replica_urls: str | None = None
    replica_max_lag_s: float = 2.0
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    state_dir: Path = Path(".wattlas")
    log_level: str = "INFO"
    log_format: str = "json"
    public_url: str | None = None
    ocpi_party: str = "NL*WTL"
    ocpi_business_name: str = "Wattlas"
    basemap_style: str | None = None
    pg_port: int | None = None
    redis_port: int | None = None
    db_pool_size: int = 8
    query_timeout_s: float = 5.0
    body_timeout_s: float = 15.0
    stale_after_s: int = DEFAULT_STALE_AFTER_S
    run_scheduler: bool = True
    sandbox_port: int = 8001
    sandbox_push_rate: float = 2.0
    sandbox_page_size: int = 100
    sandbox_networks: str | None = None
    sandbox_dataset: Path | None = None
    sandbox_demo_tariffs: bool = False  # the spec's example tariffs on some locations (demo)
    cluster_refresh_s: float = 15.0
    nearby_cache: bool = True  # the nearby index (app.live.nearby_index)
    # The public API (issue 11): keyless calls refused (401) when true; the origins browsers
    # may call the discovery endpoints from.
    api_keys_required: bool = False
    cors_origins: str = "*"
    # The change feed (issue 14): how long changes are kept (a cursor older answers 410).
    changes_retention_s: int = 7 * 86_400

    @property
    def sandbox_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.sandbox_port}"

    @property
    def base_url(self) -> str:
        """The URL peers use to reach this service (OCPI versions URL is under it)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def ocpi_country_code(self) -> str:
        return self.ocpi_party.split("*", 1)[0].upper()

    @property
    def ocpi_party_id(self) -> str:
        return self.ocpi_party.split("*", 1)[1].upper()

    @property
    def replica_urls(self) -> tuple[str, ...]:
        """The URLs of ``WATTLAS_DATABASE_REPLICA_URLS`` (comma- or space-separated)."""
        text = (self.database_replica_urls or "").replace(",", " ")
        return tuple(url for url in text.split() if url)

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """The origins of ``WATTLAS_CORS_ORIGINS`` (``*``: any; ``none``: no CORS at all)."""
        if self.cors_origins.strip().lower() == "none":
            return ()
        return tuple(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    @property
    def external_services(self) -> bool:
        """True when a database and Redis are configured, so nothing local is started."""
        return self.database_url is not None and self.redis_url is not None


_ENV = {
    "database_url": "WATTLAS_DATABASE_URL",
    "database_replica_urls": "WATTLAS_DATABASE_REPLICA_URLS",
    "replica_max_lag_s": "WATTLAS_REPLICA_MAX_LAG_S",
    "redis_url": "WATTLAS_REDIS_URL",
    "host": "WATTLAS_HOST",
    "port": "WATTLAS_PORT",
    "workers": "WATTLAS_WORKERS",
    "state_dir": "WATTLAS_STATE_DIR",
    "log_level": "WATTLAS_LOG_LEVEL",
    "log_format": "WATTLAS_LOG_FORMAT",
    "public_url": "WATTLAS_PUBLIC_URL",
    "ocpi_party": "WATTLAS_OCPI_PARTY",
    "ocpi_business_name": "WATTLAS_OCPI_BUSINESS_NAME",
    "basemap_style": "WATTLAS_BASEMAP_STYLE",
    "pg_port": "WATTLAS_PG_PORT",
    "redis_port": "WATTLAS_REDIS_PORT",
    "db_pool_size": "WATTLAS_DB_POOL_SIZE",
    "query_timeout_s": "WATTLAS_QUERY_TIMEOUT_S",
    "body_timeout_s": "WATTLAS_BODY_TIMEOUT_S",
    "stale_after_s": "WATTLAS_STALE_AFTER_S",
    "run_scheduler": "WATTLAS_RUN_SCHEDULER",
    "sandbox_port": "WATTLAS_SANDBOX_PORT",
    "sandbox_push_rate": "WATTLAS_SANDBOX_PUSH_RATE",
    "sandbox_page_size": "WATTLAS_SANDBOX_PAGE_SIZE",
    "sandbox_networks": "WATTLAS_SANDBOX_NETWORKS",
    "sandbox_dataset": "WATTLAS_SANDBOX_DATASET",
    "sandbox_demo_tariffs": "WATTLAS_SANDBOX_DEMO_TARIFFS",
    "cluster_refresh_s": "WATTLAS_CLUSTER_REFRESH_S",
    "nearby_cache": "WATTLAS_NEARBY_CACHE",
    "api_keys_required": "WATTLAS_API_KEYS_REQUIRED",
    "cors_origins": "WATTLAS_CORS_ORIGINS",
    "changes_retention_s": "WATTLAS_CHANGES_RETENTION_S",
}

ENV_VARIABLES = tuple(_ENV.values())


def _decode_path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from the environment (``os.environ`` by default) plus explicit overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for field, var in _ENV.items():
        value = env.get(var)
        if value is not None and value != "":
            raw[field] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = msgspec.convert(raw, Settings, strict=False, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        field = str(exc).rsplit("$.", 1)[-1].rstrip("`")
        var = _ENV.get(field, field)
        raise SettingsError(f"{var}: {exc}") from exc
    if "*" not in settings.ocpi_party or len(settings.ocpi_party.split("*")[0]) != 2:
        raise SettingsError(
            f"WATTLAS_OCPI_PARTY must look like CC*PID, got {settings.ocpi_party!r}"
        )
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(
            f"WATTLAS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}"
        )
    return settings
