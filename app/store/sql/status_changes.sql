-- EVSEs of the applied locations whose status the staged version changes (new EVSEs of
-- existing locations included; a location new to us brings no change event).
SELECT s.location_pk, se.uid, e.status AS old_status, se.status AS new_status
FROM stage_evses se
JOIN stage_locations s ON s.idx = se.loc_idx AND s.location_pk IS NOT NULL
    AND (NOT s.inserted OR %(announce_new)s)
LEFT JOIN evses e ON e.location_id = s.location_pk AND e.uid = se.uid
WHERE e.status IS DISTINCT FROM se.status
  AND (e.id IS NULL OR e.last_updated <= se.last_updated)  -- else the stored one stays
