-- The most common OCPI message (ocpi.md §3.3): PATCH of an EVSE's status, applied set-based for a
-- batch of pushes. Ordered by last_updated (an older update is ignored); REMOVED hides the EVSE.
-- One row per input: whether its location and EVSE are known, whether it was applied, and the
-- EVSE's bucket and visibility before and after (the caller holds the locations' row locks, so
-- "before" is what this statement changes).
WITH p AS (
    SELECT *
    FROM unnest(
        %(idx)b::int[], %(cc)b::text[], %(pid)b::text[], %(loc)b::text[], %(uid)b::text[],
        %(status)b::text[], %(status_raw)b::text[], %(bucket)b::text[],
        %(last_updated)b::timestamptz[], %(patch)b::text[]::jsonb[]
    ) AS p(idx, cc, pid, loc, uid, status, status_raw, bucket, last_updated, patch)
),
target AS (
    SELECT p.*, l.id AS location_pk, e.id AS evse_pk, e.status AS old_status,
           e.status_bucket AS old_bucket, e.visible AS old_visible
    FROM p
    JOIN locations l ON (l.country_code, l.party_id, l.ocpi_id) = (p.cc, p.pid, p.loc)
    LEFT JOIN evses e ON e.location_id = l.id AND e.uid = p.uid
),
applied AS (
    UPDATE evses e SET
        status = t.status,
        status_raw = t.status_raw,
        status_bucket = t.bucket,
        status_updated_at = t.last_updated,
        status_received_at = %(received_at)s,
        last_updated = t.last_updated,
        raw = e.raw || t.patch,
        visible = t.bucket <> 'hidden'
            AND EXISTS (SELECT 1 FROM connectors c WHERE c.evse_pk = e.id AND c.visible),
        hidden_reason = CASE
            WHEN t.bucket = 'hidden' THEN 'status REMOVED'
            WHEN NOT EXISTS (SELECT 1 FROM connectors c WHERE c.evse_pk = e.id AND c.visible)
                THEN 'no usable connector'
        END
    FROM target t
    WHERE e.id = t.evse_pk AND e.last_updated <= t.last_updated
    RETURNING t.idx, e.visible
)
SELECT p.idx, t.location_pk, t.evse_pk, t.old_status, a.idx IS NOT NULL AS applied,
       t.old_bucket, t.old_visible, a.visible AS new_visible
FROM p
LEFT JOIN target t ON t.idx = p.idx
LEFT JOIN applied a ON a.idx = p.idx
ORDER BY p.idx
