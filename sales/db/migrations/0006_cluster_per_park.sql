-- One cluster per park (security issue 13, item 8). Every outbox row names
-- the park whose cluster must learn it; the relay of that park's cluster
-- sends only its park's rows. NULL (rows written before this migration):
-- the default cluster (`admit sales --cluster`), as before.
ALTER TABLE outbox ADD COLUMN park_id text;
CREATE INDEX outbox_unsent_park ON outbox (park_id, seq) WHERE sent_at IS NULL;

-- Entry events come from several clusters, each with its own log indexes
-- and event sequence numbers: they are keyed by the cluster they came
-- from. cluster is the park id of that cluster in the clusters file, ''
-- for the default cluster (every event stored before this migration).
ALTER TABLE entry_events ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE entry_events DROP CONSTRAINT entry_events_pkey;
ALTER TABLE entry_events ADD PRIMARY KEY (cluster, cursor_index, cursor_pos);
ALTER TABLE entry_events DROP CONSTRAINT entry_events_seq_key;
ALTER TABLE entry_events ADD CONSTRAINT entry_events_seq_key UNIQUE (cluster, seq);

ALTER TABLE quarantined_events ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE quarantined_events DROP CONSTRAINT quarantined_events_pkey;
ALTER TABLE quarantined_events ADD PRIMARY KEY (cluster, seq);
