-- Entry events the sync feed (sync/feed.go) could not store in
-- entry_events: a text field PostgreSQL refuses (NUL, invalid UTF-8) or
-- that is not clean text, a ticket id that does not parse, any other data
-- or constraint error on the row. The feed keeps each one here, in the
-- transaction that stores the rest of its page and moves the cursor, and
-- goes on past it (admit_sync_feed_quarantined_total counts them). The
-- event is kept as the cluster sent it, in JSON (which escapes what text
-- columns refuse), with the reason. Owned by sync.
CREATE TABLE quarantined_events (
    seq             bigint PRIMARY KEY,     -- the cluster's event sequence number
    cursor_index    bigint NOT NULL,        -- the event's cursor (0, 0 if it did not parse)
    cursor_pos      integer NOT NULL,
    event           text NOT NULL,          -- gateapi.EventJSON as JSON
    error           text NOT NULL,          -- why it could not be stored
    quarantined_at  timestamptz NOT NULL DEFAULT now()
);
