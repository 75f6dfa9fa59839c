-- Session-local staging tables for set-based apply (ingest/apply.py). ON COMMIT DELETE ROWS:
-- every batch starts empty; the tables live as long as the pooled connection.
CREATE TEMP TABLE IF NOT EXISTS stage_locations (
    idx integer NOT NULL,
    location_pk bigint,
    inserted boolean,
    public_id text NOT NULL,
    country_code text NOT NULL,
    party_id text NOT NULL,
    ocpi_id text NOT NULL,
    ocpi_id_raw text NOT NULL,
    publish boolean NOT NULL,
    name text, address text, city text, postal_code text, state text, country text,
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    region_key bigint NOT NULL,
    h3_r3 bigint, h3_r4 bigint, h3_r5 bigint, h3_r6 bigint, h3_r7 bigint, h3_r8 bigint,
    h3_r9 bigint,
    parking_type text,
    facilities text[],
    operator_name text, suboperator_name text, owner_name text,
    time_zone text,
    opening_times text,
    open_24_7 boolean,
    charging_when_closed boolean,
    search_text text NOT NULL,
    evse_count integer NOT NULL,
    available_count integer NOT NULL,
    occupied_count integer NOT NULL,
    out_of_service_count integer NOT NULL,
    unknown_count integer NOT NULL,
    planned_count integer NOT NULL,
    max_power_kw double precision,
    connector_standards text[],
    power_types text[],
    connector_groups text,
    tariff_links text,
    sort_key bigint NOT NULL,
    status_updated_at timestamptz,
    last_updated timestamptz NOT NULL,
    own_updated_at timestamptz NOT NULL,
    content_hash bytea NOT NULL,
    raw text NOT NULL,
    -- Set by the apply: the stored fields are newer (only EVSEs may apply), and the stored
    -- EVSEs differ from the staged ones (the projection is recounted in SQL).
    fields_stale boolean NOT NULL DEFAULT false,
    mixed boolean NOT NULL DEFAULT false
) ON COMMIT DELETE ROWS;

CREATE TEMP TABLE IF NOT EXISTS stage_evses (
    loc_idx integer NOT NULL,
    uid text NOT NULL,
    uid_raw text NOT NULL,
    evse_id text,
    status text NOT NULL,
    status_raw text,
    status_bucket text NOT NULL,
    capabilities text[],
    parking_restrictions text[],
    floor_level text,
    physical_reference text,
    lat double precision,
    lon double precision,
    max_power_kw double precision,
    connector_standards text[],
    power_types text[],
    visible boolean NOT NULL,
    hidden_reason text,
    last_updated timestamptz NOT NULL,
    content_hash bytea NOT NULL,
    raw text NOT NULL,
    applied boolean NOT NULL DEFAULT false  -- written by this apply (not older than stored)
) ON COMMIT DELETE ROWS;

CREATE TEMP TABLE IF NOT EXISTS stage_connectors (
    loc_idx integer NOT NULL,
    evse_uid text NOT NULL,
    connector_id text NOT NULL,
    connector_id_raw text NOT NULL,
    standard text NOT NULL,
    standard_raw text,
    format text NOT NULL,
    power_type text NOT NULL,
    max_voltage integer,
    max_amperage integer,
    max_electric_power_w integer,
    max_power_kw double precision,
    tariff_ids text[],
    terms_and_conditions text,
    last_updated timestamptz NOT NULL,
    content_hash bytea NOT NULL,
    raw text NOT NULL
) ON COMMIT DELETE ROWS;

-- Empty them for this apply. ON COMMIT DELETE ROWS alone is not enough: the push writer applies
-- many operations in one transaction (a savepoint each), and an operation that found the rows of
-- the one before it would give that location's EVSEs to its own (issue 9, finding 0).
DELETE FROM stage_connectors;
DELETE FROM stage_evses;
DELETE FROM stage_locations;
