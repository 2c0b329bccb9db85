-- Security issue 13 ("Lock the doors").

-- Wrong passwords slow down one source for one username, not the account:
-- a (username, source) pair is blocked for a while after too many wrong
-- passwords in a row (see sales/auth). The username is stored as typed
-- (normalized), whether or not such a user exists, so the answers do not
-- tell which usernames exist. The account-wide lock is gone.
CREATE TABLE login_throttle (
    username        text NOT NULL,
    source          text NOT NULL,                  -- the client's IP (IPv6: its /64)
    failures        integer NOT NULL CHECK (failures >= 0),
    last_failure_at timestamptz NOT NULL,
    blocked_until   timestamptz,
    PRIMARY KEY (username, source)
);
CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure_at);
UPDATE users SET locked_until = NULL WHERE locked_until IS NOT NULL;

-- The payment that settled an order: refunds go back through it (a second
-- or short payment of the same order is a refund_due payment, never this).
ALTER TABLE orders ADD COLUMN paid_payment_id bigint REFERENCES payments;
UPDATE orders o SET paid_payment_id = (
    SELECT p.id FROM payments p
    WHERE p.order_id = o.id AND p.refund_due_reason = ''
      AND p.status IN ('succeeded', 'partially_refunded', 'refunded')
    ORDER BY p.id LIMIT 1)
WHERE o.paid_at IS NOT NULL;

-- Signing keys' private halves are sealed with a key-encryption key (KEK)
-- from a file outside the database. kek_id names the KEK that sealed
-- private_key; NULL means the row still holds the plain 32-byte seed (it is
-- sealed at the next start of the service with a KEK).
ALTER TABLE signing_keys ADD COLUMN kek_id text;
