-- EVSEs a location PUT no longer lists are hidden, never deleted (architecture.md), unless they
-- changed after the PUT's own time. Only locations that existed before this batch have such EVSEs. (An anti-join on the staged
-- rows: the temp tables have no statistics, so a correlated NOT EXISTS would run nested.)
-- The PUT's time becomes the EVSE's: "gone as of then", so that an older PATCH arriving later
-- does not bring it back (it would not, had it arrived in order).
UPDATE evses e
SET visible = false, hidden_reason = 'absent from the last PUT of its location',
    last_updated = greatest(e.last_updated, gone.put_at)
FROM (
    SELECT old.id, s.last_updated AS put_at
    FROM stage_locations s
    JOIN evses old ON old.location_id = s.location_pk
    LEFT JOIN stage_evses se ON se.loc_idx = s.idx AND se.uid = old.uid
    WHERE s.location_pk IS NOT NULL AND NOT s.inserted AND se.uid IS NULL
      AND old.last_updated <= s.last_updated
      -- one hidden already moves to this PUT's time too (a later, older PATCH must not
      -- bring it back); one hidden at this very time is left as it is
      AND (old.hidden_reason IS DISTINCT FROM 'absent from the last PUT of its location'
           OR old.last_updated < s.last_updated)
) gone
WHERE e.id = gone.id
