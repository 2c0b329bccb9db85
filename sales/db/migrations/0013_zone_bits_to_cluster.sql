-- Send every zone's bit to its park's cluster once (outbox configure rows,
-- as catalog.SetZone writes them from now on): zones created before bits
-- were sent are known to the cluster without one, and offline gate agents
-- read their zone's bit from the cluster (GET /v1/keys?gate=). Zones
-- without a bit (past a park's 32nd) are sent as they are, without one.
INSERT INTO outbox (kind, payload, park_id)
SELECT 'configure',
       jsonb_build_object('park', park_id, 'zones', jsonb_build_array(
           jsonb_build_object('id', id, 'cap', cap, 'warn', warn, 'bit', bit))),
       park_id
FROM zones
WHERE bit IS NOT NULL
ORDER BY park_id, bit;
