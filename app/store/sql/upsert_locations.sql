-- Apply staged locations: insert new ones; replace the fields of known ones unless the stored
-- fields are newer (``own_updated_at``: ordering by last_updated, architecture.md; a location's
-- ``last_updated`` also moves with its EVSEs) or the content is the same (a re-pull of an
-- unchanged location costs a hash compare, ocpi.md P10). Applied rows get their key in the stage.
WITH upserted AS (
    INSERT INTO locations AS l (
        public_id, network_id, country_code, party_id, ocpi_id, ocpi_id_raw, ocpi_version,
        publish, name, address, city, postal_code, state, country, geog, geom, lat, lon,
        region_key,
        h3_r3, h3_r4, h3_r5, h3_r6, h3_r7, h3_r8, h3_r9, parking_type, facilities,
        operator_name, suboperator_name, owner_name, time_zone, opening_times, open_24_7,
        charging_when_closed, search_text, evse_count, available_count, occupied_count,
        out_of_service_count, unknown_count, planned_count, max_power_kw, connector_standards,
        power_types, connector_groups, tariff_links, sort_key, status_updated_at, visible, hidden_reason,
        last_updated, own_updated_at, received_at,
        content_hash, raw, seen_sync_id
    )
    SELECT
        s.public_id, %(network_id)s, s.country_code, s.party_id, s.ocpi_id, s.ocpi_id_raw,
        %(ocpi_version)s, s.publish, s.name, s.address, s.city, s.postal_code, s.state, s.country,
        ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geography,
        ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), s.lat, s.lon, s.region_key,
        s.h3_r3, s.h3_r4, s.h3_r5, s.h3_r6, s.h3_r7, s.h3_r8, s.h3_r9, s.parking_type,
        coalesce(s.facilities, '{}'), s.operator_name, s.suboperator_name, s.owner_name,
        s.time_zone, s.opening_times::jsonb, s.open_24_7, s.charging_when_closed, s.search_text,
        s.evse_count, s.available_count, s.occupied_count, s.out_of_service_count,
        s.unknown_count, s.planned_count, s.max_power_kw, coalesce(s.connector_standards, '{}'),
        coalesce(s.power_types, '{}'), s.connector_groups::jsonb, s.tariff_links::jsonb, s.sort_key, s.status_updated_at,
        s.publish AND s.evse_count > 0,
        CASE WHEN NOT s.publish THEN 'publish is false'
             WHEN s.evse_count = 0 THEN 'no visible EVSE' END,
        s.last_updated, s.own_updated_at, %(received_at)s, s.content_hash,
        s.raw::jsonb - 'evses', %(sync_run_id)s
    FROM stage_locations s
    ORDER BY s.idx  -- ids follow the feed (objects are locked in key order before, locks.py)
    ON CONFLICT (country_code, party_id, ocpi_id) DO UPDATE SET
        network_id = EXCLUDED.network_id,
        ocpi_id_raw = EXCLUDED.ocpi_id_raw,
        ocpi_version = EXCLUDED.ocpi_version,
        publish = EXCLUDED.publish,
        name = EXCLUDED.name,
        address = EXCLUDED.address,
        city = EXCLUDED.city,
        postal_code = EXCLUDED.postal_code,
        state = EXCLUDED.state,
        country = EXCLUDED.country,
        geog = EXCLUDED.geog,
        geom = EXCLUDED.geom,
        lat = EXCLUDED.lat,
        lon = EXCLUDED.lon,
        region_key = EXCLUDED.region_key,
        h3_r3 = EXCLUDED.h3_r3, h3_r4 = EXCLUDED.h3_r4, h3_r5 = EXCLUDED.h3_r5,
        h3_r6 = EXCLUDED.h3_r6, h3_r7 = EXCLUDED.h3_r7, h3_r8 = EXCLUDED.h3_r8,
        h3_r9 = EXCLUDED.h3_r9,
        parking_type = EXCLUDED.parking_type,
        facilities = EXCLUDED.facilities,
        operator_name = EXCLUDED.operator_name,
        suboperator_name = EXCLUDED.suboperator_name,
        owner_name = EXCLUDED.owner_name,
        time_zone = EXCLUDED.time_zone,
        opening_times = EXCLUDED.opening_times,
        open_24_7 = EXCLUDED.open_24_7,
        charging_when_closed = EXCLUDED.charging_when_closed,
        search_text = EXCLUDED.search_text,
        evse_count = EXCLUDED.evse_count,
        available_count = EXCLUDED.available_count,
        occupied_count = EXCLUDED.occupied_count,
        out_of_service_count = EXCLUDED.out_of_service_count,
        unknown_count = EXCLUDED.unknown_count,
        planned_count = EXCLUDED.planned_count,
        max_power_kw = EXCLUDED.max_power_kw,
        connector_standards = EXCLUDED.connector_standards,
        power_types = EXCLUDED.power_types,
        connector_groups = EXCLUDED.connector_groups,
        tariff_links = EXCLUDED.tariff_links,
        sort_key = EXCLUDED.sort_key,
        status_updated_at = EXCLUDED.status_updated_at,
        -- A record merged into another source's record of its site stays hidden (issue 12).
        visible = EXCLUDED.visible AND l.merged_into IS NULL,
        hidden_reason = CASE
            WHEN EXCLUDED.visible AND l.merged_into IS NOT NULL
            THEN 'merged into another source''s record of the site'
            ELSE EXCLUDED.hidden_reason
        END,
        last_updated = greatest(l.last_updated, EXCLUDED.last_updated),
        own_updated_at = EXCLUDED.own_updated_at,
        received_at = EXCLUDED.received_at,
        content_hash = EXCLUDED.content_hash,
        raw = EXCLUDED.raw,
        absent_since = NULL,
        seen_sync_id = coalesce(EXCLUDED.seen_sync_id, l.seen_sync_id)
    WHERE l.own_updated_at <= EXCLUDED.own_updated_at
      AND (l.content_hash IS DISTINCT FROM EXCLUDED.content_hash
           OR l.network_id <> EXCLUDED.network_id OR %(force)s)
    RETURNING l.id, l.country_code, l.party_id, l.ocpi_id, (l.xmax = 0) AS inserted
)
UPDATE stage_locations s
SET location_pk = u.id, inserted = u.inserted
FROM upserted u
WHERE (s.country_code, s.party_id, s.ocpi_id) = (u.country_code, u.party_id, u.ocpi_id)
