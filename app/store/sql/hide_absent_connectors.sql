-- Connectors an EVSE PUT no longer lists are hidden, never deleted. Only locations that
-- existed before this batch can have such connectors.
UPDATE connectors c
SET visible = false
FROM (
    SELECT old.id
    FROM stage_locations s
    JOIN stage_evses se ON se.loc_idx = s.idx AND se.applied
    JOIN evses e ON e.location_id = s.location_pk AND e.uid = se.uid
    JOIN connectors old ON old.evse_pk = e.id AND old.visible
    LEFT JOIN stage_connectors sc
        ON sc.loc_idx = s.idx AND sc.evse_uid = e.uid AND sc.connector_id = old.connector_id
    WHERE s.location_pk IS NOT NULL AND NOT s.inserted AND sc.connector_id IS NULL
) gone
WHERE c.id = gone.id
