-- The search projection of a set of locations (architecture.md, "Storage"): counts per
-- availability bucket over visible EVSEs, max power, connector standards, power types, and
-- visibility. Parents' last_updated is bumped where a child change asks for it (OCPI §3.3).
-- Returns what the live stream publishes.
WITH targets AS (
    SELECT t.id, max(t.bump) AS bump
    FROM unnest(%(location_ids)s::bigint[], %(bumps)s::timestamptz[]) AS t(id, bump)
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
             WHERE e2.location_id = t.id AND e2.visible), '{}') AS power_types
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
    last_updated = greatest(l.last_updated, a.bump),
    visible = l.publish AND l.absent_since IS NULL AND a.evse_count > 0,
    hidden_reason = CASE
        WHEN NOT l.publish THEN 'publish is false'
        WHEN l.absent_since IS NOT NULL THEN 'absent from a complete full pull'
        WHEN a.evse_count = 0 THEN 'no visible EVSE'
    END
FROM agg a
WHERE l.id = a.id
RETURNING l.id, l.public_id, l.lat, l.lon, l.h3_r5, l.h3_r7, l.visible, l.evse_count,
          l.available_count, l.occupied_count, l.out_of_service_count, l.unknown_count,
          l.planned_count
