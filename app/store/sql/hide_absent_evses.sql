-- EVSEs a location PUT no longer lists are hidden, never deleted (architecture.md). Only
-- locations that existed before this batch can have such EVSEs. (An anti-join on the staged
-- rows: the temp tables have no statistics, so a correlated NOT EXISTS would run nested.)
UPDATE evses e
SET visible = false, hidden_reason = 'absent from the last PUT of its location'
FROM (
    SELECT old.id
    FROM stage_locations s
    JOIN evses old ON old.location_id = s.location_pk
    LEFT JOIN stage_evses se ON se.loc_idx = s.idx AND se.uid = old.uid
    WHERE s.location_pk IS NOT NULL AND NOT s.inserted AND se.uid IS NULL
      AND old.hidden_reason IS DISTINCT FROM 'absent from the last PUT of its location'
) gone
WHERE e.id = gone.id
