-- Holders of real-name tickets, per order line, kept from order to issue
-- (only a keyed hash and a mask of the ID number, never the number).
CREATE TABLE order_holders (
    order_id        bigint NOT NULL REFERENCES orders,
    order_line_id   bigint NOT NULL REFERENCES order_lines,
    position        integer NOT NULL CHECK (position >= 0),
    name            text NOT NULL,
    id_hash         bytea NOT NULL,
    id_masked       text NOT NULL,
    PRIMARY KEY (order_line_id, position)
);
CREATE INDEX order_holders_order ON order_holders (order_id);

-- Money taken that the order cannot keep (it arrived after expiry, or twice)
-- is marked for refund until the provider has returned it.
ALTER TABLE payments
    ADD COLUMN refund_due_since timestamptz,
    ADD COLUMN refund_due_reason text NOT NULL DEFAULT '';
CREATE INDEX payments_refund_due ON payments (refund_due_since) WHERE refund_due_since IS NOT NULL;
