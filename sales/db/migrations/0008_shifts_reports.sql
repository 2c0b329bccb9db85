-- Issue 14: cashier shifts, revenue summary rows, report indexes.

-- A cashier's shift at a sales point: opened with a float of cash, closed
-- with the cash counted per payment method, confirmed by finance or an
-- admin. A cashier has at most one open shift. Money taken or paid out at
-- a window names the shift it happened in (payments.shift_id,
-- refunds.shift_id); the shift row is locked FOR SHARE by the sale and FOR
-- UPDATE by the close, so nothing lands in a shift after it closed.
CREATE TABLE shifts (
    id                  bigserial PRIMARY KEY,
    park_id             text NOT NULL REFERENCES parks,
    sales_point_id      text NOT NULL REFERENCES sales_points,
    user_id             bigint NOT NULL REFERENCES users,
    status              text NOT NULL CHECK (status IN ('open', 'closed', 'confirmed')),
    currency            char(3) NOT NULL,
    opening_float_minor bigint NOT NULL CHECK (opening_float_minor >= 0),
    opened_at           timestamptz NOT NULL,
    closed_at           timestamptz,
    closed_by           bigint REFERENCES users,
    counted             jsonb,                  -- {"cash": 123400, "card": 0}: minor units per method
    report              jsonb,                  -- the shift report, frozen at close
    difference_minor    bigint,                 -- counted - expected over every method, at close
    note                text NOT NULL DEFAULT '',
    confirmed_at        timestamptz,
    confirmed_by        bigint REFERENCES users,
    confirm_note        text NOT NULL DEFAULT '',
    CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE UNIQUE INDEX shifts_one_open ON shifts (user_id) WHERE status = 'open';
CREATE INDEX shifts_park_opened ON shifts (park_id, opened_at);
CREATE INDEX shifts_open ON shifts (opened_at) WHERE status = 'open';

ALTER TABLE payments ADD COLUMN shift_id bigint REFERENCES shifts;
CREATE INDEX payments_shift ON payments (shift_id) WHERE shift_id IS NOT NULL;
ALTER TABLE refunds ADD COLUMN shift_id bigint REFERENCES shifts;
CREATE INDEX refunds_shift ON refunds (shift_id) WHERE shift_id IS NOT NULL;
ALTER TABLE reprints ADD COLUMN shift_id bigint REFERENCES shifts;
CREATE INDEX reprints_shift ON reprints (shift_id) WHERE shift_id IS NOT NULL;
ALTER TABLE orders ADD COLUMN shift_id bigint REFERENCES shifts;
CREATE INDEX orders_shift ON orders (shift_id) WHERE shift_id IS NOT NULL;

-- When a refund became refunded (the ticket dead, the money owed back);
-- completed_at says when the money left. Revenue counts a refund on this day.
ALTER TABLE refunds ADD COLUMN refunded_at timestamptz;
UPDATE refunds SET refunded_at = coalesce(completed_at, created_at) WHERE status = 'refunded';

-- Revenue summary rows, kept in the same transaction as the sale (orders
-- paid) and the refund (refunds refunded), so a month's revenue reads a few
-- thousand rows instead of every order (see sales/report). day is the
-- park's local day of the payment or refund; the dimensions are the sale's.
-- shard spreads the rows of orders without a user (online, distributor
-- keys: order id % 8) so concurrent sales do not queue on one row; a
-- user's orders keep shard 0.
CREATE TABLE revenue_daily (
    park_id          text NOT NULL,
    day              date NOT NULL,
    sales_point_id   text NOT NULL DEFAULT '',
    user_id          bigint NOT NULL DEFAULT 0,   -- the cashier who took the payment (0: none)
    product_id       text NOT NULL,
    channel          text NOT NULL,
    method           text NOT NULL,               -- the settling payment's method ('account': none)
    distributor_id   bigint NOT NULL DEFAULT 0,
    shard            smallint NOT NULL DEFAULT 0,
    gross_minor      bigint NOT NULL DEFAULT 0,
    tickets_sold     bigint NOT NULL DEFAULT 0,
    refunds_minor    bigint NOT NULL DEFAULT 0,   -- paid back
    fees_minor       bigint NOT NULL DEFAULT 0,   -- refund fees kept
    tickets_refunded bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (park_id, day, sales_point_id, user_id, product_id, channel, method, distributor_id, shard)
);

INSERT INTO revenue_daily (park_id, day, sales_point_id, user_id, product_id, channel, method, distributor_id, shard,
        gross_minor, tickets_sold)
SELECT o.park_id, (o.paid_at AT TIME ZONE pk.time_zone)::date, coalesce(o.sales_point_id, ''),
       coalesce(pay.user_id, 0), l.product_id, o.channel, coalesce(pay.method, 'account'),
       coalesce(o.distributor_id, 0), CASE WHEN o.user_id IS NULL THEN o.id % 8 ELSE 0 END, sum(l.quantity * l.unit_price_minor), sum(l.quantity)
FROM orders o JOIN parks pk ON pk.id = o.park_id JOIN order_lines l ON l.order_id = o.id
LEFT JOIN payments pay ON pay.id = o.paid_payment_id
WHERE o.paid_at IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

INSERT INTO revenue_daily AS r (park_id, day, sales_point_id, user_id, product_id, channel, method, distributor_id, shard,
        refunds_minor, fees_minor, tickets_refunded)
SELECT o.park_id, (f.refunded_at AT TIME ZONE pk.time_zone)::date, coalesce(o.sales_point_id, ''),
       coalesce(pay.user_id, 0), t.product_id, o.channel, coalesce(pay.method, 'account'),
       coalesce(o.distributor_id, 0), CASE WHEN o.user_id IS NULL THEN o.id % 8 ELSE 0 END, sum(f.amount_minor), sum(f.fee_minor), count(*)
FROM refunds f JOIN tickets t ON t.id = f.ticket_id JOIN orders o ON o.id = f.order_id
JOIN parks pk ON pk.id = o.park_id LEFT JOIN payments pay ON pay.id = o.paid_payment_id
WHERE f.status = 'refunded'
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ON CONFLICT (park_id, day, sales_point_id, user_id, product_id, channel, method, distributor_id, shard) DO UPDATE SET
    refunds_minor = r.refunds_minor + excluded.refunds_minor, fees_minor = r.fees_minor + excluded.fees_minor,
    tickets_refunded = r.tickets_refunded + excluded.tickets_refunded;

-- Report look-ups.
CREATE INDEX tickets_park_visit ON tickets (park_id, visit_date);
CREATE INDEX entry_events_at ON entry_events (at);
CREATE INDEX orders_distributor_paid ON orders (park_id, paid_at) WHERE distributor_id IS NOT NULL;
CREATE INDEX audit_log_user ON audit_log (user_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
