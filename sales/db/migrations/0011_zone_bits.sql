-- Each zone's bit in ticket codes' zone masks (validator/code Claims.ZoneMask:
-- a code valid in zone z has bit 1<<zones.bit set), so that an offline gate
-- agent can check a code's zones without the cluster. Bits are numbered per
-- park from 0 in the order zones are created and never change or get
-- reused (zones are never deleted). A park's zones past the 32nd get none:
-- a product listing such a zone is issued with mask 0 (every zone), since
-- no mask could say it. Zones that exist already are numbered by id.
ALTER TABLE zones ADD COLUMN bit smallint CHECK (bit BETWEEN 0 AND 31);

UPDATE zones z SET bit = n.rn - 1
FROM (SELECT park_id, id, row_number() OVER (PARTITION BY park_id ORDER BY id) AS rn FROM zones) n
WHERE z.park_id = n.park_id AND z.id = n.id AND n.rn <= 32;

CREATE UNIQUE INDEX zones_park_bit ON zones (park_id, bit) WHERE bit IS NOT NULL;
