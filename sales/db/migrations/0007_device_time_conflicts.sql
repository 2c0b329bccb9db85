-- Gates that keep working without the cluster (issue 17) and credentials
-- in place of codes (issue 16). Each entry event now says what the
-- cluster recorded beside its decision (written by sync's feed, from
-- gateapi.EventJSON):
--   device_time  the gate's clock when the visitor presented the code, as
--                the scan sent it (NULL: not sent). The decision's time is
--                `at` (the log's); device_time never orders anything.
--   credential   what was presented instead of a code: card, id_card,
--                ticket_number ('' for a code).
--   offline      an offline gate made this decision and uploaded it later;
--                result is what the gate did, and reason on an admit the
--                deny the cluster would have given.
--   conflict     an offline admit that met another admit of the same
--                ticket (the ticket went in twice): the entries report
--                lists these. The cluster lists both scans of each at
--                GET /v1/conflicts.
ALTER TABLE entry_events ADD COLUMN device_time timestamptz;
ALTER TABLE entry_events ADD COLUMN credential text NOT NULL DEFAULT '';
ALTER TABLE entry_events ADD COLUMN offline boolean NOT NULL DEFAULT false;
ALTER TABLE entry_events ADD COLUMN conflict boolean NOT NULL DEFAULT false;
CREATE INDEX entry_events_conflicts ON entry_events (at) WHERE conflict;
