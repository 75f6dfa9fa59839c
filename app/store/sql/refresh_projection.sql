-- The search projection of a set of locations (architecture.md, "Storage"): counts per
-- availability bucket over visible EVSEs, max power, connector standards, power types, and
-- visibility. Parents' last_updated is bumped where a child change asks for it (OCPI §3.3).
-- Returns what the live stream publishes.
WITH targets AS (
    SELECT t.id, max(t.bump) AS bump
    FROM unnest(%(location_ids)b::bigint[], %(bumps)b::timestamptz[]) AS t(id, bump)
    GROUP BY t.id
),
agg AS (
    SELECT
        t.id,
        t.bump,
        count(e.id) FILTER (WHERE e.visible) AS evse_count,
        count(e.id) FILTER (WHERE e.visible AND e.status_bucket = 'available') AS available,
        count(e.id) FILTER (WHERE e.visible AND e.status_bucket = 'occupied') AS occupied,
        count(e.id) FILTER (WHERE e.visible AND e.status_bucket = 'out_of_service') AS oos,
        count(e.id) FILTER (WHERE e.visible AND e.status_bucket = 'unknown') AS unknown,
        count(e.id) FILTER (WHERE e.visible AND e.status_bucket = 'planned') AS planned,
        max(e.max_power_kw) FILTER (WHERE e.visible) AS max_power_kw,
        max(e.status_updated_at) FILTER (WHERE e.visible) AS status_updated_at,
        coalesce(
            (SELECT array_agg(DISTINCT s ORDER BY s)
             FROM evses e2, unnest(e2.connector_standards) s
             WHERE e2.location_id = t.id AND e2.visible), '{}') AS standards,
        coalesce(
            (SELECT array_agg(DISTINCT p ORDER BY p)
             FROM evses e2, unnest(e2.power_types) p
             WHERE e2.location_id = t.id AND e2.visible), '{}') AS power_types,
        -- app/domain/groups.py, in SQL: EVSEs per (standard, power type, max power) and bucket.
        coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'standard', g.standard, 'power_type', g.power_type,
                       'max_power_kw', g.max_power_kw, 'evses', g.evses,
                       'available', g.available, 'occupied', g.occupied,
                       'out_of_service', g.out_of_service, 'planned', g.planned,
                       'unknown', g.unknown)
                   ORDER BY coalesce(g.max_power_kw, 0) DESC, g.standard, g.power_type)
            FROM (
                SELECT k.standard, k.power_type, k.max_power_kw,
                       count(*) AS evses,
                       count(*) FILTER (WHERE k.bucket = 'available') AS available,
                       count(*) FILTER (WHERE k.bucket = 'occupied') AS occupied,
                       count(*) FILTER (WHERE k.bucket = 'out_of_service') AS out_of_service,
                       count(*) FILTER (WHERE k.bucket = 'planned') AS planned,
                       count(*) FILTER (WHERE k.bucket = 'unknown') AS unknown
                FROM (
                    SELECT DISTINCT e3.id, e3.status_bucket AS bucket, c.standard, c.power_type,
                           c.max_power_kw
                    FROM evses e3 JOIN connectors c ON c.evse_pk = e3.id AND c.visible
                    WHERE e3.location_id = t.id AND e3.visible
                ) k
                GROUP BY k.standard, k.power_type, k.max_power_kw
            ) g), '[]'::jsonb) AS groups
    FROM targets t
    LEFT JOIN evses e ON e.location_id = t.id
    GROUP BY t.id, t.bump
)
UPDATE locations l SET
    evse_count = a.evse_count,
    available_count = a.available,
    occupied_count = a.occupied,
    out_of_service_count = a.oos,
    unknown_count = a.unknown,
    planned_count = a.planned,
    max_power_kw = a.max_power_kw,
    status_updated_at = a.status_updated_at,
    connector_standards = a.standards,
    power_types = a.power_types,
    connector_groups = a.groups,
    tariff_links = wattlas_tariff_links(l.id),  -- migration 0008
    last_updated = greatest(l.last_updated, a.bump),
    visible = l.publish AND l.absent_since IS NULL AND a.evse_count > 0
              AND l.merged_into IS NULL,
    hidden_reason = CASE
        WHEN NOT l.publish THEN 'publish is false'
        WHEN l.absent_since IS NOT NULL THEN 'absent from a complete full pull'
        WHEN a.evse_count = 0 THEN 'no visible EVSE'
        WHEN l.merged_into IS NOT NULL THEN 'merged into another source''s record of the site'
    END
FROM agg a
WHERE l.id = a.id
RETURNING l.id, l.public_id, l.lat, l.lon, l.h3_r5, l.h3_r7, l.visible, l.evse_count,
          l.available_count, l.occupied_count, l.out_of_service_count, l.unknown_count,
          l.planned_count, false AS status_only
