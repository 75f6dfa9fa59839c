"""The schema as SQLAlchemy metadata. Alembic revisions in ``migrations/`` are its only author;
``tests/test_schema.py`` checks that the two agree.

Conventions (architecture.md, "Storage"):
- OCPI identities are stored upper-cased (CiString) beside the original spelling (``*_raw``).
- Each level (location, EVSE, connector, tariff) keeps the last accepted raw OCPI object as JSONB,
  the location without its ``evses`` and the EVSE without its ``connectors``.
- Nothing is deleted: rows are hidden (``visible = false``) with a reason.
- Every table that grows with the world carries ``region_key``, the H3 resolution-2 cell of its
  location, so a later move to Citus can distribute on it without a rewrite.
"""

from __future__ import annotations

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)
NOW = text("now()")
EMPTY_TEXT_ARRAY = text("'{}'::text[]")

networks = Table(
    "networks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    # ocpi: a peer we talk OCPI with; file: a source of dumps loaded with `wattlas load`;
    # registry: an open register imported with `wattlas import` (migration 0007);
    # subscriber: a downstream platform that pulls from us, read only (migration 0010).
    Column("kind", Text, nullable=False, server_default="ocpi"),
    # INVITED (token A issued) | PENDING (our POST in flight) | REGISTERED | STATIC | REVOKED | FILE
    Column("status", Text, nullable=False),
    Column("ocpi_version", Text),
    Column("versions_url", Text),
    Column("endpoints", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # The token we present to the peer. It must be usable, so it is kept as is.
    Column("outbound_token", Text),
    Column("outbound_auth", Text, nullable=False, server_default="base64"),
    Column("business_details", JSONB),
    Column("pull_interval_s", Integer),
    Column("full_pull_interval_s", Integer),
    Column("stale_after_s", Integer),
    Column("last_contact_at", TS),
    Column("last_push_at", TS),
    # Pulls are recorded per module in sync_runs (migration 0006). The last credentials
    # handshake attempt, either direction: when, who started it ('us' | 'peer'), why it failed.
    Column("last_registration_at", TS),
    Column("last_registration_initiator", Text),
    Column("last_registration_error", Text),
    Column("created_at", TS, nullable=False, server_default=NOW),
    Column("revoked_at", TS),
    CheckConstraint("kind IN ('ocpi', 'file', 'registry', 'subscriber')", name="kind"),
    CheckConstraint(
        "status IN ('INVITED', 'PENDING', 'REGISTERED', 'STATIC', 'REVOKED', 'FILE')", name="status"
    ),
    CheckConstraint("outbound_auth IN ('base64', 'raw')", name="outbound_auth"),
)

network_tokens = Table(
    "network_tokens",
    metadata,
    # Tokens peers present to us are only ever verified, so only their SHA-256 is stored.
    Column("token_sha256", LargeBinary, primary_key=True),
    Column("network_id", Integer, ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=NOW),
    Column("used_at", TS),
    Column("revoked_at", TS),
    CheckConstraint("kind IN ('A', 'B', 'C', 'STATIC')", name="kind"),
    Index(None, "network_id"),
)

network_parties = Table(
    "network_parties",
    metadata,
    Column("network_id", Integer, ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("country_code", Text, nullable=False),
    Column("party_id", Text, nullable=False),
    Column("role", Text, nullable=False, server_default="CPO"),
    Column("name", Text),
    # The one network that owns the party (architecture.md, "one owner per party"); false for a
    # party known without owning it (a file dump, a party a hub routes for).
    Column("owner", Boolean, nullable=False, server_default=text("true")),
    # How it became known: credentials | hubclientinfo | served (in what the network serves) |
    # operator (`networks parties add`) | file.
    Column("source", Text, nullable=False, server_default="credentials"),
    # A party a hub routes: its HubClientInfo ConnectionStatus (NULL for every other party).
    Column("client_status", Text),
    Column("client_status_at", TS),
    CheckConstraint(
        "source IN ('credentials', 'hubclientinfo', 'served', 'operator', 'file')", name="source"
    ),
    CheckConstraint(
        "client_status IN ('CONNECTED', 'OFFLINE', 'PLANNED', 'SUSPENDED')", name="client_status"
    ),
    PrimaryKeyConstraint("network_id", "country_code", "party_id"),
    Index(None, "country_code", "party_id"),
    Index(
        "uq_network_parties_owner",
        "country_code",
        "party_id",
        unique=True,
        postgresql_where=text("owner"),
    ),
)

locations = Table(
    "locations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # Stable public id: derived from the OCPI identity, so it survives re-imports.
    Column("public_id", Text, nullable=False, unique=True),
    Column("network_id", Integer, ForeignKey("networks.id"), nullable=False),
    Column("country_code", Text, nullable=False),
    Column("party_id", Text, nullable=False),
    Column("ocpi_id", Text, nullable=False),
    Column("ocpi_id_raw", Text, nullable=False),
    Column("ocpi_version", Text),
    Column("publish", Boolean, nullable=False, server_default=text("true")),
    Column("name", Text),
    Column("address", Text),
    Column("city", Text),
    Column("postal_code", Text),
    Column("state", Text),
    Column("country", Text),
    Column("geog", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
    # The same point as lon/lat geometry: map viewports and clusters are lon/lat rectangles.
    Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    Column("lat", Double, nullable=False),
    Column("lon", Double, nullable=False),
    Column("region_key", BigInteger, nullable=False),
    *(Column(f"h3_r{res}", BigInteger, nullable=False) for res in range(3, 10)),
    Column("parking_type", Text),
    Column("facilities", ARRAY(Text), nullable=False, server_default=EMPTY_TEXT_ARRAY),
    Column("operator_name", Text),
    Column("suboperator_name", Text),
    Column("owner_name", Text),
    Column("time_zone", Text),
    Column("opening_times", JSONB),
    Column("open_24_7", Boolean),
    Column("charging_when_closed", Boolean),
    # Search projection, maintained on every write (architecture.md, "Storage").
    Column("evse_count", Integer, nullable=False, server_default="0"),
    Column("available_count", Integer, nullable=False, server_default="0"),
    Column("occupied_count", Integer, nullable=False, server_default="0"),
    Column("out_of_service_count", Integer, nullable=False, server_default="0"),
    Column("unknown_count", Integer, nullable=False, server_default="0"),
    Column("planned_count", Integer, nullable=False, server_default="0"),
    Column("max_power_kw", Double),
    Column("connector_standards", ARRAY(Text), nullable=False, server_default=EMPTY_TEXT_ARRAY),
    Column("power_types", ARRAY(Text), nullable=False, server_default=EMPTY_TEXT_ARRAY),
    Column("connector_groups", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # Per kind of connector, the tariffs it lists (migration 0008).
    Column("tariff_links", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("status_updated_at", TS),
    Column("search_text", Text, nullable=False, server_default=""),
    # Whole words of search_text (exact matches); the trigram index on search_text finds typos.
    Column(
        "search_words",
        TSVECTOR,
        Computed("to_tsvector('simple'::regconfig, search_text)", persisted=True),
    ),
    # A stable pseudo-random order: a truncated viewport page is an even sample of the area.
    Column("sort_key", BigInteger, nullable=False),
    Column("visible", Boolean, nullable=False, server_default=text("false")),
    Column("hidden_reason", Text),
    Column("absent_since", TS),
    Column("seen_sync_id", BigInteger),
    # Bumped by every change of the location, its EVSEs or connectors (OCPI §3.3).
    Column("last_updated", TS, nullable=False),
    # The last_updated of the last applied version of the location's own fields (migration 0004).
    Column("own_updated_at", TS, nullable=False),
    Column("received_at", TS, nullable=False, server_default=NOW),
    # BLAKE2b of the raw object as received: an unchanged re-pull is skipped (ocpi.md P10).
    Column("content_hash", LargeBinary, nullable=False),
    Column("raw", JSONB, nullable=False),
    # One station once (issue 12, migration 0007): a record of another source describing the
    # same site points at the site's head and is hidden; the head lists what each merged record
    # says in merged_sources.
    Column("merged_into", BigInteger, ForeignKey("locations.id", ondelete="SET NULL")),
    Column("merge_score", Double),
    Column("merged_sources", JSONB),
    UniqueConstraint("country_code", "party_id", "ocpi_id"),
    Index(
        "ix_locations_merged_into",
        "merged_into",
        postgresql_where=text("merged_into IS NOT NULL"),
    ),
    Index(
        "ix_locations_geog_visible",
        "geog",
        postgresql_using="gist",
        postgresql_where=text("visible"),
    ),
    Index(
        "ix_locations_geom_visible",
        "geom",
        postgresql_using="gist",
        postgresql_where=text("visible"),
    ),
    Index(None, "network_id"),
    Index(
        "ix_locations_search_words",
        "search_words",
        postgresql_using="gin",
        postgresql_where=text("visible"),
    ),
    Index(
        "ix_locations_search_trgm",
        "search_text",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_where=text("visible"),
    ),
    # Room on each page for status pushes to rewrite a row in place (HOT): no index is touched,
    # because no indexed column changes with a status.
    postgresql_with={"fillfactor": 70},
)

evses = Table(
    "evses",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "location_id", BigInteger, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False
    ),
    Column("region_key", BigInteger, nullable=False),
    Column("uid", Text, nullable=False),
    Column("uid_raw", Text, nullable=False),
    Column("evse_id", Text),
    Column("status", Text, nullable=False),
    Column("status_raw", Text),
    # available | occupied | out_of_service | planned | unknown | hidden (REMOVED)
    Column("status_bucket", Text, nullable=False),
    # When the network says the status was set, and when we received it.
    Column("status_updated_at", TS, nullable=False),
    Column("status_received_at", TS, nullable=False, server_default=NOW),
    Column("capabilities", ARRAY(Text), nullable=False, server_default=EMPTY_TEXT_ARRAY),
    Column("parking_restrictions", ARRAY(Text), nullable=False, server_default=EMPTY_TEXT_ARRAY),
    Column("floor_level", Text),
    Column("physical_reference", Text),
    Column("lat", Double),
    Column("lon", Double),
    Column("max_power_kw", Double),
    Column("connector_standards", ARRAY(Text), nullable=False, server_default=EMPTY_TEXT_ARRAY),
    Column("power_types", ARRAY(Text), nullable=False, server_default=EMPTY_TEXT_ARRAY),
    Column("visible", Boolean, nullable=False),
    Column("hidden_reason", Text),
    Column("last_updated", TS, nullable=False),
    Column("content_hash", LargeBinary, nullable=False),
    Column("raw", JSONB, nullable=False),
    UniqueConstraint("location_id", "uid"),
    # EVSE ids without separators, upper-cased (migration 0005): text search finds an EVSE by
    # its evse_id or uid however it is written; prefixes too (text_pattern_ops).
    Index(
        "ix_evses_evse_id_key",
        func.wattlas_id_key(text("evse_id")),
        postgresql_ops={"wattlas_id_key_1": "text_pattern_ops"},
    ),
    Index(
        "ix_evses_uid_key",
        func.wattlas_id_key(text("uid")),
        postgresql_ops={"wattlas_id_key_1": "text_pattern_ops"},
    ),
    CheckConstraint(
        "status_bucket IN ('available', 'occupied', 'out_of_service', 'planned', 'unknown',"
        " 'hidden')",
        name="status_bucket",
    ),
    postgresql_with={"fillfactor": 80},
)

connectors = Table(
    "connectors",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("evse_pk", BigInteger, ForeignKey("evses.id", ondelete="CASCADE"), nullable=False),
    Column("region_key", BigInteger, nullable=False),
    Column("connector_id", Text, nullable=False),
    Column("connector_id_raw", Text, nullable=False),
    Column("standard", Text, nullable=False),
    Column("standard_raw", Text),
    Column("format", Text, nullable=False),
    Column("power_type", Text, nullable=False),
    Column("max_voltage", Integer),
    Column("max_amperage", Integer),
    Column("max_electric_power_w", Integer),
    Column("max_power_kw", Double),
    Column("tariff_ids", ARRAY(Text), nullable=False, server_default=EMPTY_TEXT_ARRAY),
    Column("terms_and_conditions", Text),
    Column("visible", Boolean, nullable=False, server_default=text("true")),
    Column("last_updated", TS, nullable=False),
    Column("content_hash", LargeBinary, nullable=False),
    Column("raw", JSONB, nullable=False),
    UniqueConstraint("evse_pk", "connector_id"),
)

tariffs = Table(
    "tariffs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("network_id", Integer, ForeignKey("networks.id"), nullable=False),
    Column("country_code", Text, nullable=False),
    Column("party_id", Text, nullable=False),
    Column("tariff_id", Text, nullable=False),
    Column("tariff_id_raw", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("type", Text),
    Column("elements", JSONB, nullable=False),
    Column("alt_text", JSONB),
    Column("alt_url", Text),
    Column("min_price", JSONB),
    Column("max_price", JSONB),
    Column("start_date_time", TS),
    Column("end_date_time", TS),
    Column("summary", Text),
    Column("last_updated", TS, nullable=False),
    Column("received_at", TS, nullable=False, server_default=NOW),
    # DELETE from the network, or absent from a complete pull: hidden, never deleted.
    Column("deleted_at", TS),
    Column("seen_sync_id", BigInteger),
    Column("raw", JSONB, nullable=False),
    UniqueConstraint("country_code", "party_id", "tariff_id"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("network_id", Integer, ForeignKey("networks.id", ondelete="SET NULL")),
    # push | pull | file:<name>
    Column("source", Text, nullable=False),
    # location | evse | connector | tariff | page
    Column("object_kind", Text, nullable=False),
    Column("object_key", Text),
    # rejected: not stored; note: stored after a repair the operator should know about
    Column("severity", Text, nullable=False, server_default="rejected"),
    Column("reason", Text, nullable=False),
    Column("raw", JSONB),
    Column("raw_text", Text),
    Column("received_at", TS, nullable=False, server_default=NOW),
    CheckConstraint("severity IN ('rejected', 'note')", name="severity"),
    Index(None, "network_id", "received_at"),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("network_id", Integer, ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("module", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="running"),
    Column("started_at", TS, nullable=False, server_default=NOW),
    Column("finished_at", TS),
    Column("date_from", TS),
    Column("next_url", Text),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("objects", Integer, nullable=False, server_default="0"),
    Column("accepted", Integer, nullable=False, server_default="0"),
    Column("quarantined", Integer, nullable=False, server_default="0"),
    Column("evses", Integer, nullable=False, server_default="0"),
    Column("hidden_absent", Integer, nullable=False, server_default="0"),
    # accepted + unchanged + skipped_older + quarantined = objects (issue 10)
    Column("unchanged", Integer, nullable=False, server_default="0"),
    Column("skipped_older", Integer, nullable=False, server_default="0"),
    Column("notes", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("error", Text),
    CheckConstraint("module IN ('locations', 'tariffs', 'hubclientinfo')", name="module"),
    CheckConstraint("kind IN ('full', 'incremental')", name="kind"),
    CheckConstraint("status IN ('running', 'complete', 'failed')", name="status"),
    Index(None, "network_id", "module", "started_at"),
)

# One row per `wattlas import` run of a registry (issue 12, migration 0007).
source_imports = Table(
    "source_imports",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("network_id", Integer, ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("files", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("status", Text, nullable=False, server_default="running"),
    Column("started_at", TS, nullable=False, server_default=NOW),
    Column("finished_at", TS),
    Column("rows", Integer, nullable=False, server_default="0"),
    Column("records", Integer, nullable=False, server_default="0"),
    Column("accepted", Integer, nullable=False, server_default="0"),
    Column("unchanged", Integer, nullable=False, server_default="0"),
    Column("skipped_older", Integer, nullable=False, server_default="0"),
    Column("quarantined", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    CheckConstraint("status IN ('running', 'complete', 'failed')", name="status"),
    Index(None, "network_id", "started_at"),
)

# Keys of the public API (issue 11, migration 0005). Only the SHA-256 of a key is stored; the
# prefix is what listings show. Counters (rate, daily quota, usage) live in Redis.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("key_sha256", LargeBinary, nullable=False, unique=True),
    Column("key_prefix", Text, nullable=False),
    Column("rate_per_min", Integer, nullable=False),
    Column("daily_quota", Integer, nullable=False),
    Column("created_at", TS, nullable=False, server_default=NOW),
    Column("rotated_at", TS),
    Column("revoked_at", TS),
    CheckConstraint("rate_per_min > 0", name="rate_per_min"),
    CheckConstraint("daily_quota > 0", name="daily_quota"),
)

# Per H3 cell (coarse resolutions) and network: what the map's clusters show for an unfiltered
# view, refreshed every few seconds by app/db/clusters.py (a continent at low zoom would
# otherwise aggregate a hundred thousand locations per request).
cluster_cells = Table(
    "cluster_cells",
    metadata,
    Column("resolution", Integer, nullable=False),
    Column("cell", BigInteger, nullable=False),
    Column("network_id", Integer, nullable=False),
    Column("locations", Integer, nullable=False),
    Column("locations_available", Integer, nullable=False),
    Column("evses", Integer, nullable=False),
    Column("available", Integer, nullable=False),
    Column("occupied", Integer, nullable=False),
    Column("out_of_service", Integer, nullable=False),
    Column("lat_sum", Double, nullable=False),
    Column("lon_sum", Double, nullable=False),
    Column("refreshed_at", TS, nullable=False, server_default=NOW),
    PrimaryKeyConstraint("resolution", "cell", "network_id"),
)

# The change feed (issue 14, migrations 0009, 0011): one row per location or tariff a committed
# transaction changed, numbered by ``wattlas_sequence_changes``.
changes = Table(
    "changes",
    metadata,
    Column("seq", BigInteger, nullable=False),
    # location | removed | availability | tariff
    Column("kind", Text, nullable=False),
    Column("location_pk", BigInteger),
    # The location's public id (a tariff's CC*PARTY*ID) when written: a tombstone outlives its row.
    Column("public_id", Text),
    Column("tariff_pk", BigInteger),
    Column("committed_at", TS, nullable=False, server_default=text("clock_timestamp()")),
    CheckConstraint("kind IN ('location', 'removed', 'availability', 'tariff')", name="kind"),
    CheckConstraint(
        "(kind = 'tariff') = (tariff_pk IS NOT NULL AND location_pk IS NULL)", name="subject"
    ),
    PrimaryKeyConstraint("seq"),
    Index(None, "committed_at"),
)

# What writing transactions changed, committed and not yet numbered (migration 0011):
# ``wattlas_sequence_changes()`` moves it into ``changes``.
change_queue = Table(
    "change_queue",
    metadata,
    Column("id", BigInteger, Identity(), nullable=False),
    Column("kind", Text, nullable=False),
    Column("location_pk", BigInteger),
    Column("public_id", Text),
    Column("tariff_pk", BigInteger),
    Column("committed_at", TS, nullable=False, server_default=text("clock_timestamp()")),
    PrimaryKeyConstraint("id"),
)

# The highest change number pruned after the retention (one row).
changes_horizon = Table(
    "changes_horizon",
    metadata,
    Column("id", Boolean, nullable=False, server_default=text("true")),
    Column("pruned_through", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("id", name="one_row"),
    PrimaryKeyConstraint("id"),
)
