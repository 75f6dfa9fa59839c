-- Locations this apply wrote only in part (their fields were older, or some stored EVSE is newer
-- than the staged one, or than the PUT for an EVSE it no longer lists): their projection is
-- recounted from the EVSEs as they are now, and their last_updated moves to the newest of both.
UPDATE stage_locations s SET mixed = true
WHERE s.location_pk IS NOT NULL AND NOT s.inserted
  AND (s.fields_stale OR EXISTS (
      SELECT 1 FROM evses e
      LEFT JOIN stage_evses se ON se.loc_idx = s.idx AND se.uid = e.uid
      WHERE e.location_id = s.location_pk
        AND e.hidden_reason IS DISTINCT FROM 'absent from the last PUT of its location'
        AND e.last_updated > coalesce(se.last_updated, s.last_updated)))
RETURNING s.location_pk, s.last_updated
