-- The row locks of the locations a batch of pushes addresses, taken in id order (two batches
-- never wait for each other in a circle).
SELECT l.id
FROM unnest(%(cc)b::text[], %(pid)b::text[], %(loc)b::text[]) AS p(cc, pid, loc)
JOIN locations l ON (l.country_code, l.party_id, l.ocpi_id) = (p.cc, p.pid, p.loc)
ORDER BY l.id
FOR UPDATE OF l
