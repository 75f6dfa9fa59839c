-- EVSEs a location PUT no longer lists are hidden, never deleted (architecture.md).
UPDATE evses e
SET visible = false, hidden_reason = 'absent from the last PUT of its location'
FROM stage_locations s
WHERE e.location_id = s.location_pk
  AND s.location_pk IS NOT NULL
  AND e.hidden_reason IS DISTINCT FROM 'absent from the last PUT of its location'
  AND NOT EXISTS (
      SELECT 1 FROM stage_evses se WHERE se.loc_idx = s.idx AND se.uid = e.uid
  )
