-- Replace the EVSEs of the applied locations (a location PUT replaces its children, OCPI §3.3);
-- an EVSE whose content did not change is left untouched, and one whose stored version is newer
-- too (a status PATCH that overtook this PUT). The staged EVSEs written are marked ``applied``.
WITH upserted AS (
INSERT INTO evses AS e (
    location_id, region_key, uid, uid_raw, evse_id, status, status_raw, status_bucket,
    status_updated_at, status_received_at, capabilities, parking_restrictions, floor_level,
    physical_reference, lat, lon, max_power_kw, connector_standards, power_types, visible,
    hidden_reason, last_updated, content_hash, raw
)
SELECT
    s.location_pk, s.region_key, se.uid, se.uid_raw, se.evse_id, se.status, se.status_raw,
    se.status_bucket, se.last_updated, %(observed_at)s, coalesce(se.capabilities, '{}'),
    coalesce(se.parking_restrictions, '{}'), se.floor_level, se.physical_reference, se.lat, se.lon,
    se.max_power_kw, coalesce(se.connector_standards, '{}'), coalesce(se.power_types, '{}'),
    se.visible, se.hidden_reason, se.last_updated, se.content_hash,
    se.raw::jsonb - 'connectors'
FROM stage_evses se
JOIN stage_locations s ON s.idx = se.loc_idx AND s.location_pk IS NOT NULL
-- A fixed order: ids follow the feed's keys, and concurrent applies lock rows in the same order.
ORDER BY se.loc_idx, se.uid
ON CONFLICT (location_id, uid) DO UPDATE SET
    region_key = EXCLUDED.region_key,
    uid_raw = EXCLUDED.uid_raw,
    evse_id = EXCLUDED.evse_id,
    status = EXCLUDED.status,
    status_raw = EXCLUDED.status_raw,
    status_bucket = EXCLUDED.status_bucket,
    status_updated_at = EXCLUDED.status_updated_at,
    status_received_at = EXCLUDED.status_received_at,
    capabilities = EXCLUDED.capabilities,
    parking_restrictions = EXCLUDED.parking_restrictions,
    floor_level = EXCLUDED.floor_level,
    physical_reference = EXCLUDED.physical_reference,
    lat = EXCLUDED.lat,
    lon = EXCLUDED.lon,
    max_power_kw = EXCLUDED.max_power_kw,
    connector_standards = EXCLUDED.connector_standards,
    power_types = EXCLUDED.power_types,
    visible = EXCLUDED.visible,
    hidden_reason = EXCLUDED.hidden_reason,
    last_updated = EXCLUDED.last_updated,
    content_hash = EXCLUDED.content_hash,
    raw = EXCLUDED.raw
WHERE (e.content_hash IS DISTINCT FROM EXCLUDED.content_hash
       OR e.hidden_reason IS NOT DISTINCT FROM 'absent from the last PUT of its location')
  AND e.last_updated <= EXCLUDED.last_updated
RETURNING e.location_id, e.uid
)
UPDATE stage_evses se SET applied = true
FROM upserted u, stage_locations s
WHERE s.idx = se.loc_idx AND s.location_pk = u.location_id AND se.uid = u.uid
