-- Replace the connectors of the EVSEs this apply wrote (unchanged ones are left untouched, and so
-- are those of an EVSE kept because its stored version is newer); connectors a PUT no longer
-- lists are hidden, never deleted.
INSERT INTO connectors AS c (
    evse_pk, region_key, connector_id, connector_id_raw, standard, standard_raw, format,
    power_type, max_voltage, max_amperage, max_electric_power_w, max_power_kw, tariff_ids,
    terms_and_conditions, visible, last_updated, content_hash, raw
)
SELECT
    e.id, e.region_key, sc.connector_id, sc.connector_id_raw, sc.standard, sc.standard_raw,
    sc.format, sc.power_type, sc.max_voltage, sc.max_amperage, sc.max_electric_power_w,
    sc.max_power_kw, coalesce(sc.tariff_ids, '{}'), sc.terms_and_conditions, true,
    sc.last_updated, sc.content_hash, sc.raw::jsonb
FROM stage_connectors sc
JOIN stage_locations s ON s.idx = sc.loc_idx AND s.location_pk IS NOT NULL
JOIN stage_evses se ON se.loc_idx = sc.loc_idx AND se.uid = sc.evse_uid AND se.applied
JOIN evses e ON e.location_id = s.location_pk AND e.uid = sc.evse_uid
-- A fixed order: ids follow the feed's keys, and concurrent applies lock rows in the same order.
ORDER BY sc.loc_idx, sc.evse_uid, sc.connector_id
ON CONFLICT (evse_pk, connector_id) DO UPDATE SET
    region_key = EXCLUDED.region_key,
    connector_id_raw = EXCLUDED.connector_id_raw,
    standard = EXCLUDED.standard,
    standard_raw = EXCLUDED.standard_raw,
    format = EXCLUDED.format,
    power_type = EXCLUDED.power_type,
    max_voltage = EXCLUDED.max_voltage,
    max_amperage = EXCLUDED.max_amperage,
    max_electric_power_w = EXCLUDED.max_electric_power_w,
    max_power_kw = EXCLUDED.max_power_kw,
    tariff_ids = EXCLUDED.tariff_ids,
    terms_and_conditions = EXCLUDED.terms_and_conditions,
    visible = true,
    last_updated = EXCLUDED.last_updated,
    content_hash = EXCLUDED.content_hash,
    raw = EXCLUDED.raw
WHERE c.content_hash IS DISTINCT FROM EXCLUDED.content_hash OR NOT c.visible
