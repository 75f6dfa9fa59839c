-- The projection after status changes of EVSEs that were visible and stay visible (nearly every
-- push): each location's counts move from the old availability bucket to the new one, in its
-- totals and in the connector groups the EVSE belongs to, without re-aggregating its EVSEs.
-- Gives what refresh_projection.sql would for these locations (tests compare the two), and
-- returns the same columns.
WITH moved AS (
    SELECT *
    FROM unnest(
        %(location_ids)b::bigint[], %(evse_ids)b::bigint[], %(old_buckets)b::text[],
        %(new_buckets)b::text[], %(moments)b::timestamptz[]
    ) AS m(location_id, evse_id, old_bucket, new_bucket, moment)
),
per_location AS (
    SELECT location_id,
           sum((new_bucket = 'available')::int - (old_bucket = 'available')::int) AS available,
           sum((new_bucket = 'occupied')::int - (old_bucket = 'occupied')::int) AS occupied,
           sum((new_bucket = 'out_of_service')::int - (old_bucket = 'out_of_service')::int)
               AS out_of_service,
           sum((new_bucket = 'unknown')::int - (old_bucket = 'unknown')::int) AS unknown,
           sum((new_bucket = 'planned')::int - (old_bucket = 'planned')::int) AS planned,
           max(moment) AS moment
    FROM moved
    GROUP BY location_id
),
-- Per location and connector group (standard, power type, max power; an EVSE counts once in
-- each group one of its visible connectors is in): how much each bucket's count changes.
group_moves AS (
    SELECT location_id, standard, power_type, max_power_kw,
           jsonb_object_agg(bucket, delta) AS deltas
    FROM (
        SELECT k.location_id, coalesce(k.standard, '') AS standard,
               coalesce(k.power_type, '') AS power_type,
               coalesce(to_jsonb(k.max_power_kw), 'null'::jsonb) AS max_power_kw,
               b.bucket, sum(b.delta) AS delta
        FROM (
            SELECT DISTINCT m.location_id, m.evse_id, m.old_bucket, m.new_bucket,
                   c.standard, c.power_type, c.max_power_kw
            FROM moved m
            JOIN connectors c ON c.evse_pk = m.evse_id AND c.visible
            WHERE m.old_bucket <> m.new_bucket
        ) k
        CROSS JOIN LATERAL (VALUES (k.old_bucket, -1), (k.new_bucket, 1)) AS b(bucket, delta)
        GROUP BY 1, 2, 3, 4, 5
    ) d
    GROUP BY location_id, standard, power_type, max_power_kw
),
new_groups AS (
    SELECT p.location_id,
           jsonb_agg(
               CASE WHEN gm.deltas IS NULL THEN g.value
                    ELSE g.value || (SELECT jsonb_object_agg(d.key, (g.value ->> d.key)::int
                                                                    + d.value::int)
                                     FROM jsonb_each_text(gm.deltas) AS d)
               END
               ORDER BY g.ord
           ) AS connector_groups
    FROM per_location p
    JOIN locations l ON l.id = p.location_id
    CROSS JOIN LATERAL jsonb_array_elements(l.connector_groups) WITH ORDINALITY AS g(value, ord)
    LEFT JOIN group_moves gm
        ON gm.location_id = p.location_id
       AND gm.standard = coalesce(g.value ->> 'standard', '')
       AND gm.power_type = coalesce(g.value ->> 'power_type', '')
       AND gm.max_power_kw = g.value -> 'max_power_kw'
    GROUP BY p.location_id
)
UPDATE locations l SET
    available_count = l.available_count + p.available,
    occupied_count = l.occupied_count + p.occupied,
    out_of_service_count = l.out_of_service_count + p.out_of_service,
    unknown_count = l.unknown_count + p.unknown,
    planned_count = l.planned_count + p.planned,
    status_updated_at = greatest(l.status_updated_at, p.moment),
    last_updated = greatest(l.last_updated, p.moment),
    connector_groups = coalesce(g.connector_groups, l.connector_groups)
FROM per_location p
LEFT JOIN new_groups g ON g.location_id = p.location_id
WHERE l.id = p.location_id
RETURNING l.id, l.public_id, l.lat, l.lon, l.h3_r5, l.h3_r7, l.visible, l.evse_count,
          l.available_count, l.occupied_count, l.out_of_service_count, l.unknown_count,
          l.planned_count, true AS status_only
