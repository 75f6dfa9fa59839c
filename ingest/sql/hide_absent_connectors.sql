-- Connectors an EVSE PUT no longer lists are hidden, never deleted.
UPDATE connectors c
SET visible = false
FROM stage_evses se
JOIN stage_locations s ON s.idx = se.loc_idx AND s.location_pk IS NOT NULL
JOIN evses e ON e.location_id = s.location_pk AND e.uid = se.uid
WHERE c.evse_pk = e.id
  AND c.visible
  AND NOT EXISTS (
      SELECT 1 FROM stage_connectors sc
      WHERE sc.loc_idx = se.loc_idx AND sc.evse_uid = se.uid AND sc.connector_id = c.connector_id
  )
