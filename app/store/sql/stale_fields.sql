-- Staged locations whose own fields are older than the stored ones, but which may still bring
-- newer EVSEs (each EVSE is compared by its own last_updated): they take part in the EVSE steps,
-- their fields stay as stored.
UPDATE stage_locations s
SET location_pk = l.id, inserted = false, fields_stale = true
FROM locations l
WHERE s.location_pk IS NULL
  AND (l.country_code, l.party_id, l.ocpi_id) = (s.country_code, s.party_id, s.ocpi_id)
  AND l.own_updated_at > s.own_updated_at
  AND l.content_hash IS DISTINCT FROM s.content_hash
