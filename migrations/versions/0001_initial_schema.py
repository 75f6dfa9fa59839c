"""initial schema

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "cluster_cells",
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("locations", sa.Integer(), nullable=False),
        sa.Column("locations_available", sa.Integer(), nullable=False),
        sa.Column("evses", sa.Integer(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("occupied", sa.Integer(), nullable=False),
        sa.Column("out_of_service", sa.Integer(), nullable=False),
        sa.Column("lat_sum", sa.Double(), nullable=False),
        sa.Column("lon_sum", sa.Double(), nullable=False),
        sa.Column(
            "refreshed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("resolution", "cell", "network_id", name=op.f("pk_cluster_cells")),
    )
    op.create_table(
        "networks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), server_default="ocpi", nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("ocpi_version", sa.Text(), nullable=True),
        sa.Column("versions_url", sa.Text(), nullable=True),
        sa.Column(
            "endpoints",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("outbound_token", sa.Text(), nullable=True),
        sa.Column("outbound_auth", sa.Text(), server_default="base64", nullable=False),
        sa.Column("business_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("pull_interval_s", sa.Integer(), nullable=True),
        sa.Column("full_pull_interval_s", sa.Integer(), nullable=True),
        sa.Column("stale_after_s", sa.Integer(), nullable=True),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_push_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pull_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_pull_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pull_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pull_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('ocpi', 'file')", name=op.f("ck_networks_kind")),
        sa.CheckConstraint(
            "outbound_auth IN ('base64', 'raw')", name=op.f("ck_networks_outbound_auth")
        ),
        sa.CheckConstraint(
            "status IN ('INVITED', 'PENDING', 'REGISTERED', 'STATIC', 'REVOKED', 'FILE')",
            name=op.f("ck_networks_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_networks")),
        sa.UniqueConstraint("name", name=op.f("uq_networks_name")),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.Text(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("country_code", sa.Text(), nullable=False),
        sa.Column("party_id", sa.Text(), nullable=False),
        sa.Column("ocpi_id", sa.Text(), nullable=False),
        sa.Column("ocpi_id_raw", sa.Text(), nullable=False),
        sa.Column("ocpi_version", sa.Text(), nullable=True),
        sa.Column("publish", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("postal_code", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column(
            "geog",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("region_key", sa.BigInteger(), nullable=False),
        sa.Column("h3_r3", sa.BigInteger(), nullable=False),
        sa.Column("h3_r4", sa.BigInteger(), nullable=False),
        sa.Column("h3_r5", sa.BigInteger(), nullable=False),
        sa.Column("h3_r6", sa.BigInteger(), nullable=False),
        sa.Column("h3_r7", sa.BigInteger(), nullable=False),
        sa.Column("h3_r8", sa.BigInteger(), nullable=False),
        sa.Column("h3_r9", sa.BigInteger(), nullable=False),
        sa.Column("parking_type", sa.Text(), nullable=True),
        sa.Column(
            "facilities",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("operator_name", sa.Text(), nullable=True),
        sa.Column("suboperator_name", sa.Text(), nullable=True),
        sa.Column("owner_name", sa.Text(), nullable=True),
        sa.Column("time_zone", sa.Text(), nullable=True),
        sa.Column("opening_times", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("open_24_7", sa.Boolean(), nullable=True),
        sa.Column("charging_when_closed", sa.Boolean(), nullable=True),
        sa.Column("evse_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("available_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("occupied_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("out_of_service_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unknown_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("planned_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_power_kw", sa.Double(), nullable=True),
        sa.Column(
            "connector_standards",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "power_types",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "connector_groups",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("status_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("search_text", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "search_words",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple'::regconfig, search_text)", persisted=True),
            nullable=True,
        ),
        sa.Column("sort_key", sa.BigInteger(), nullable=False),
        sa.Column("visible", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("absent_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_sync_id", sa.BigInteger(), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.LargeBinary(), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_locations_network_id_networks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint(
            "country_code",
            "party_id",
            "ocpi_id",
            name=op.f("uq_locations_country_code_party_id_ocpi_id"),
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_locations_public_id")),
    )
    op.create_index(
        "ix_locations_geog_visible",
        "locations",
        ["geog"],
        unique=False,
        postgresql_using="gist",
        postgresql_where=sa.text("visible"),
    )
    op.create_index(
        "ix_locations_geom_visible",
        "locations",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_where=sa.text("visible"),
    )
    op.create_index(op.f("ix_locations_network_id"), "locations", ["network_id"], unique=False)
    op.create_index(
        "ix_locations_search_trgm",
        "locations",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_where=sa.text("visible"),
    )
    op.create_index(
        "ix_locations_search_words",
        "locations",
        ["search_words"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("visible"),
    )
    op.create_table(
        "network_parties",
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("country_code", sa.Text(), nullable=False),
        sa.Column("party_id", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), server_default="CPO", nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name=op.f("fk_network_parties_network_id_networks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "network_id", "country_code", "party_id", name=op.f("pk_network_parties")
        ),
    )
    op.create_index(
        op.f("ix_network_parties_country_code_party_id"),
        "network_parties",
        ["country_code", "party_id"],
        unique=False,
    )
    op.create_table(
        "network_tokens",
        sa.Column("token_sha256", sa.LargeBinary(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('A', 'B', 'C', 'STATIC')", name=op.f("ck_network_tokens_kind")
        ),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name=op.f("fk_network_tokens_network_id_networks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_network_tokens")),
    )
    op.create_index(
        op.f("ix_network_tokens_network_id"), "network_tokens", ["network_id"], unique=False
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("object_kind", sa.Text(), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), server_default="rejected", nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("raw_text", sa.Text(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("severity IN ('rejected', 'note')", name=op.f("ck_quarantine_severity")),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name=op.f("fk_quarantine_network_id_networks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_index(
        op.f("ix_quarantine_network_id_received_at"),
        "quarantine",
        ["network_id", "received_at"],
        unique=False,
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("module", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("date_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_url", sa.Text(), nullable=True),
        sa.Column("pages", sa.Integer(), server_default="0", nullable=False),
        sa.Column("objects", sa.Integer(), server_default="0", nullable=False),
        sa.Column("accepted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("quarantined", sa.Integer(), server_default="0", nullable=False),
        sa.Column("evses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hidden_absent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('full', 'incremental')", name=op.f("ck_sync_runs_kind")),
        sa.CheckConstraint("module IN ('locations', 'tariffs')", name=op.f("ck_sync_runs_module")),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'failed')", name=op.f("ck_sync_runs_status")
        ),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name=op.f("fk_sync_runs_network_id_networks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index(
        op.f("ix_sync_runs_network_id_module_started_at"),
        "sync_runs",
        ["network_id", "module", "started_at"],
        unique=False,
    )
    op.create_table(
        "tariffs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("country_code", sa.Text(), nullable=False),
        sa.Column("party_id", sa.Text(), nullable=False),
        sa.Column("tariff_id", sa.Text(), nullable=False),
        sa.Column("tariff_id_raw", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=True),
        sa.Column("elements", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("alt_text", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("alt_url", sa.Text(), nullable=True),
        sa.Column("min_price", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("max_price", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("start_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_sync_id", sa.BigInteger(), nullable=True),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_tariffs_network_id_networks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariffs")),
        sa.UniqueConstraint(
            "country_code",
            "party_id",
            "tariff_id",
            name=op.f("uq_tariffs_country_code_party_id_tariff_id"),
        ),
    )
    op.create_table(
        "evses",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("location_id", sa.BigInteger(), nullable=False),
        sa.Column("region_key", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("uid_raw", sa.Text(), nullable=False),
        sa.Column("evse_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("status_raw", sa.Text(), nullable=True),
        sa.Column("status_bucket", sa.Text(), nullable=False),
        sa.Column("status_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status_received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "capabilities",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "parking_restrictions",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("floor_level", sa.Text(), nullable=True),
        sa.Column("physical_reference", sa.Text(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("max_power_kw", sa.Double(), nullable=True),
        sa.Column(
            "connector_standards",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "power_types",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.LargeBinary(), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "status_bucket IN ('available', 'occupied', 'out_of_service', 'planned', 'unknown', 'hidden')",
            name=op.f("ck_evses_status_bucket"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_evses_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evses")),
        sa.UniqueConstraint("location_id", "uid", name=op.f("uq_evses_location_id_uid")),
    )
    op.create_table(
        "connectors",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("evse_pk", sa.BigInteger(), nullable=False),
        sa.Column("region_key", sa.BigInteger(), nullable=False),
        sa.Column("connector_id", sa.Text(), nullable=False),
        sa.Column("connector_id_raw", sa.Text(), nullable=False),
        sa.Column("standard", sa.Text(), nullable=False),
        sa.Column("standard_raw", sa.Text(), nullable=True),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("power_type", sa.Text(), nullable=False),
        sa.Column("max_voltage", sa.Integer(), nullable=True),
        sa.Column("max_amperage", sa.Integer(), nullable=True),
        sa.Column("max_electric_power_w", sa.Integer(), nullable=True),
        sa.Column("max_power_kw", sa.Double(), nullable=True),
        sa.Column(
            "tariff_ids",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("terms_and_conditions", sa.Text(), nullable=True),
        sa.Column("visible", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.LargeBinary(), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["evse_pk"], ["evses.id"], name=op.f("fk_connectors_evse_pk_evses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint(
            "evse_pk", "connector_id", name=op.f("uq_connectors_evse_pk_connector_id")
        ),
    )
    op.execute(OPEN_NOW)


OPEN_NOW = """
CREATE FUNCTION wattlas_open_now(hours jsonb, tz text, at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $fn$
-- Is a location open at `at`? `hours` is the clean shape of app/domain/hours.py: regular hours
-- local to `tz`, exceptional periods in UTC (OCPI 2.2.1 Hours; ocpi.md P14). NULL: unknown.
DECLARE
    period jsonb;
    local_time timestamp;
    today int;
    yesterday int;
    now_hm text;
    begin_hm text;
    end_hm text;
BEGIN
    IF hours IS NULL THEN
        RETURN NULL;
    END IF;
    FOR period IN SELECT * FROM jsonb_array_elements(hours->'exceptional_closings') LOOP
        IF at >= (period->>'period_begin')::timestamptz
           AND at < (period->>'period_end')::timestamptz THEN
            RETURN false;
        END IF;
    END LOOP;
    FOR period IN SELECT * FROM jsonb_array_elements(hours->'exceptional_openings') LOOP
        IF at >= (period->>'period_begin')::timestamptz
           AND at < (period->>'period_end')::timestamptz THEN
            RETURN true;
        END IF;
    END LOOP;
    IF (hours->>'twentyfourseven')::boolean THEN
        RETURN true;
    END IF;
    IF tz IS NULL THEN
        RETURN NULL;
    END IF;
    local_time := at AT TIME ZONE tz;
    today := extract(isodow FROM local_time)::int;
    yesterday := CASE WHEN today = 1 THEN 7 ELSE today - 1 END;
    now_hm := to_char(local_time, 'HH24:MI');
    FOR period IN SELECT * FROM jsonb_array_elements(hours->'regular_hours') LOOP
        begin_hm := period->>'period_begin';
        end_hm := period->>'period_end';
        IF end_hm > begin_hm THEN
            -- "until 23:59" means until midnight.
            IF (period->>'weekday')::int = today AND now_hm >= begin_hm
               AND (now_hm < end_hm OR end_hm = '23:59') THEN
                RETURN true;
            END IF;
        ELSE
            -- Ends at or before it begins: runs past midnight ("00:00" = end of the day).
            IF (period->>'weekday')::int = today AND now_hm >= begin_hm THEN
                RETURN true;
            END IF;
            IF (period->>'weekday')::int = yesterday AND now_hm < end_hm THEN
                RETURN true;
            END IF;
        END IF;
    END LOOP;
    RETURN false;
END
$fn$;
"""


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS wattlas_open_now(jsonb, text, timestamptz)")
    op.drop_table("connectors")
    op.drop_table("evses")
    op.drop_table("tariffs")
    op.drop_index(op.f("ix_sync_runs_network_id_module_started_at"), table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_index(op.f("ix_quarantine_network_id_received_at"), table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_index(op.f("ix_network_tokens_network_id"), table_name="network_tokens")
    op.drop_table("network_tokens")
    op.drop_index(op.f("ix_network_parties_country_code_party_id"), table_name="network_parties")
    op.drop_table("network_parties")
    op.drop_index(
        "ix_locations_search_words",
        table_name="locations",
        postgresql_using="gin",
        postgresql_where=sa.text("visible"),
    )
    op.drop_index(
        "ix_locations_search_trgm",
        table_name="locations",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_where=sa.text("visible"),
    )
    op.drop_index(op.f("ix_locations_network_id"), table_name="locations")
    op.drop_index(
        "ix_locations_geom_visible",
        table_name="locations",
        postgresql_using="gist",
        postgresql_where=sa.text("visible"),
    )
    op.drop_index(
        "ix_locations_geog_visible",
        table_name="locations",
        postgresql_using="gist",
        postgresql_where=sa.text("visible"),
    )
    op.drop_table("locations")
    op.drop_table("networks")
    op.drop_table("cluster_cells")
