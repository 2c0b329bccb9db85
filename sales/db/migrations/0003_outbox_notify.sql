-- Wake the outbox relay (sync) as soon as a change commits, instead of
-- waiting for its next poll: a sale is admissible at the gate in
-- milliseconds. NOTIFY is delivered at commit, so the relay never sees an
-- uncommitted row.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('admit_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Why a row was given up on (marked sent without the cluster's ack).
ALTER TABLE outbox ADD COLUMN note text;
