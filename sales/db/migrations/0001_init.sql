-- admit sales schema, version 1.
-- Money is integer minor units (fen, cents) with its currency. Times are
-- timestamptz (stored UTC); a park's business day (visit_date) is a date in
-- the park's own time zone.

-- Places -------------------------------------------------------------------

CREATE TABLE parks (
    id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name            text NOT NULL,
    time_zone       text NOT NULL,                 -- IANA, e.g. Asia/Shanghai
    currency        char(3) NOT NULL DEFAULT 'CNY',
    daily_capacity  integer CHECK (daily_capacity >= 0),   -- NULL: no park-wide cap
    capacity_warn   integer CHECK (capacity_warn >= 0),    -- flow warning level
    opens_at        time,
    closes_at       time,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE zones (
    park_id     text NOT NULL REFERENCES parks,
    id          text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name        text NOT NULL,
    cap         integer NOT NULL DEFAULT 0 CHECK (cap >= 0),    -- 0: none
    warn        integer NOT NULL DEFAULT 0 CHECK (warn >= 0),
    PRIMARY KEY (park_id, id)
);

CREATE TABLE gates (
    park_id     text NOT NULL,
    id          text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    zone_id     text NOT NULL,
    direction   text NOT NULL DEFAULT 'both' CHECK (direction IN ('in', 'out', 'both')),
    PRIMARY KEY (park_id, id),
    FOREIGN KEY (park_id, zone_id) REFERENCES zones
);

CREATE TABLE business_units (
    id          bigserial PRIMARY KEY,
    park_id     text NOT NULL REFERENCES parks,
    name        text NOT NULL,
    UNIQUE (park_id, name)
);

-- A sales point: a ticket window, a kiosk, the web shop, or a distributor's
-- channel. Each window has its own permissions through the users on it.
CREATE TABLE sales_points (
    id                text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    park_id           text NOT NULL REFERENCES parks,
    business_unit_id  bigint REFERENCES business_units,
    name              text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('window', 'kiosk', 'shop', 'distributor')),
    active            boolean NOT NULL DEFAULT true
);

-- People and access ----------------------------------------------------------

CREATE TABLE distributors (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name    text NOT NULL DEFAULT '',
    role            text NOT NULL CHECK (role IN ('admin', 'cashier', 'gate_operator', 'finance', 'distributor')),
    password_hash   text NOT NULL,                      -- argon2id, PHC string format
    must_change_password boolean NOT NULL DEFAULT false,
    failed_logins   integer NOT NULL DEFAULT 0,         -- consecutive wrong passwords
    locked_until    timestamptz,                        -- set on the third wrong password
    disabled        boolean NOT NULL DEFAULT false,
    sales_point_id  text REFERENCES sales_points,       -- cashiers: their window
    distributor_id  bigint REFERENCES distributors,     -- distributor users
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'distributor' OR distributor_id IS NOT NULL)
);

CREATE TABLE sessions (
    token_hash      bytea PRIMARY KEY,                  -- SHA-256 of the bearer token
    user_id         bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    remote_addr     text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Distributors' systems call the API with keys; only a hash is kept.
CREATE TABLE api_keys (
    id              bigserial PRIMARY KEY,
    distributor_id  bigint NOT NULL REFERENCES distributors,
    prefix          text NOT NULL,                      -- first characters, to tell keys apart
    key_hash        bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

-- Every state-changing call: who, what, when, from where.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    user_id         bigint REFERENCES users,
    api_key_id      bigint REFERENCES api_keys,
    action          text NOT NULL,                      -- e.g. order.create, product.update
    object_type     text NOT NULL DEFAULT '',
    object_id       text NOT NULL DEFAULT '',
    details         jsonb NOT NULL DEFAULT '{}',
    remote_addr     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);

-- Catalog --------------------------------------------------------------------

CREATE TABLE products (
    id                  text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    park_id             text NOT NULL REFERENCES parks,
    name                text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('single', 'multi', 'day_pass', 'period', 'group')),
    entries             integer NOT NULL DEFAULT 0 CHECK (entries >= 0 AND entries <= 65535), -- multi: N entries; group: N persons
    zones               text[] NOT NULL DEFAULT '{}',   -- empty: every zone
    valid_days          integer NOT NULL DEFAULT 1 CHECK (valid_days >= 1),  -- from the visit date, in park days (annual pass: 365)
    has_slots           boolean NOT NULL DEFAULT false,
    real_name           boolean NOT NULL DEFAULT false, -- each ticket needs holder name and ID number
    max_per_order       integer NOT NULL DEFAULT 50 CHECK (max_per_order >= 1),
    daily_quota         integer CHECK (daily_quota >= 0),   -- NULL: none
    sales_stopped       boolean NOT NULL DEFAULT false,     -- operator's stop: no window sells it
    price_minor         bigint NOT NULL CHECK (price_minor >= 0),
    currency            char(3) NOT NULL DEFAULT 'CNY',
    refundable          boolean NOT NULL DEFAULT true,
    refund_until_hours  integer NOT NULL DEFAULT 0,     -- refunds allowed until this many hours before the visit day starts (negative: after)
    refund_fee_minor    bigint NOT NULL DEFAULT 0 CHECK (refund_fee_minor >= 0),
    refund_fee_percent  integer NOT NULL DEFAULT 0 CHECK (refund_fee_percent BETWEEN 0 AND 100),
    date_change_allowed boolean NOT NULL DEFAULT false,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE price_overrides (
    product_id      text NOT NULL REFERENCES products,
    visit_date      date NOT NULL,
    price_minor     bigint NOT NULL CHECK (price_minor >= 0),
    PRIMARY KEY (product_id, visit_date)
);

CREATE TABLE time_slots (
    id              bigserial PRIMARY KEY,
    product_id      text NOT NULL REFERENCES products,
    starts          time NOT NULL,
    ends            time NOT NULL CHECK (ends > starts),
    capacity        integer NOT NULL CHECK (capacity >= 0),
    UNIQUE (product_id, starts)
);

-- Quotas: one counter per scope and day. `used` counts tickets held by
-- pending orders and sold; capacity comes from the park, product or slot.
-- Taking places is one conditional UPDATE (used + n <= capacity), so buyers
-- racing for the last places never oversell.
CREATE TABLE quota_usage (
    scope       text NOT NULL CHECK (scope IN ('park', 'product', 'slot')),
    scope_id    text NOT NULL,                  -- park id, product id, or slot id
    visit_date  date NOT NULL,
    used        integer NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (scope, scope_id, visit_date)
);

-- Orders and money -------------------------------------------------------

CREATE TABLE orders (
    id                  bigserial PRIMARY KEY,
    number              text NOT NULL UNIQUE,       -- shown to people: e.g. W20261122-000123
    park_id             text NOT NULL REFERENCES parks,
    channel             text NOT NULL CHECK (channel IN ('window', 'kiosk', 'shop', 'distributor')),
    sales_point_id      text REFERENCES sales_points,
    user_id             bigint REFERENCES users,     -- the cashier or buyer account that created it
    distributor_id      bigint REFERENCES distributors,
    external_ref        text,                        -- the distributor's own order id
    status              text NOT NULL CHECK (status IN ('pending', 'paid', 'expired', 'cancelled', 'refunded', 'partially_refunded')),
    currency            char(3) NOT NULL,
    total_minor         bigint NOT NULL CHECK (total_minor >= 0),
    contact_name        text NOT NULL DEFAULT '',
    contact_phone       text NOT NULL DEFAULT '',   -- kept for look-ups
    idempotency_scope   text,                        -- user:<id> or key:<id>
    idempotency_key     text,
    request_hash        bytea,                       -- same key, different request: refused
    expires_at          timestamptz,                 -- pending orders hold quota until then
    created_at          timestamptz NOT NULL DEFAULT now(),
    paid_at             timestamptz,
    UNIQUE (idempotency_scope, idempotency_key),
    UNIQUE (distributor_id, external_ref)
);
CREATE INDEX orders_pending_expiry ON orders (expires_at) WHERE status = 'pending';
CREATE INDEX orders_phone ON orders (contact_phone) WHERE contact_phone <> '';
CREATE INDEX orders_created ON orders (park_id, created_at);

CREATE TABLE order_lines (
    id                  bigserial PRIMARY KEY,
    order_id            bigint NOT NULL REFERENCES orders,
    product_id          text NOT NULL REFERENCES products,
    visit_date          date NOT NULL,
    slot_id             bigint REFERENCES time_slots,
    quantity            integer NOT NULL CHECK (quantity >= 1),
    unit_price_minor    bigint NOT NULL CHECK (unit_price_minor >= 0)
);
CREATE INDEX order_lines_order ON order_lines (order_id);

-- Places an order holds, to give back when it expires, is cancelled or
-- refunded.
CREATE TABLE quota_holds (
    order_id    bigint NOT NULL REFERENCES orders,
    scope       text NOT NULL,
    scope_id    text NOT NULL,
    visit_date  date NOT NULL,
    quantity    integer NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (order_id, scope, scope_id, visit_date)
);

CREATE TABLE payments (
    id              bigserial PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders,
    method          text NOT NULL CHECK (method IN ('cash', 'card', 'wallet', 'provider')),
    provider        text NOT NULL DEFAULT '',        -- e.g. test, wechat, alipay
    provider_ref    text,                            -- the provider's payment id
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    currency        char(3) NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded', 'partially_refunded')),
    refunded_minor  bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    user_id         bigint REFERENCES users,         -- the cashier who took cash
    sales_point_id  text REFERENCES sales_points,
    created_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,
    UNIQUE (provider, provider_ref)
);
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_cashier ON payments (user_id, confirmed_at);

-- Tickets and codes ----------------------------------------------------------

-- Ed25519 keys that sign ticket codes; the key id is in every code so keys
-- can rotate. Public keys are published at /v1/keys.
CREATE TABLE signing_keys (
    id              integer PRIMARY KEY CHECK (id BETWEEN 0 AND 255),
    public_key      bytea NOT NULL,
    private_key     bytea NOT NULL,
    active          boolean NOT NULL DEFAULT true,   -- the one new codes are signed with (at most one)
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active;

CREATE TABLE tickets (
    id              uuid PRIMARY KEY,                -- the 128-bit ticket id in codes
    order_id        bigint NOT NULL REFERENCES orders,
    order_line_id   bigint NOT NULL REFERENCES order_lines,
    park_id         text NOT NULL REFERENCES parks,
    product_id      text NOT NULL REFERENCES products,
    kind            text NOT NULL,
    entries         integer NOT NULL DEFAULT 0,
    zones           text[] NOT NULL DEFAULT '{}',
    visit_date      date NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_until     timestamptz NOT NULL,
    slot_start      timestamptz,
    slot_end        timestamptz,
    holder_name     text NOT NULL DEFAULT '',
    holder_id_hash  bytea,                           -- HMAC of the ID-card number, for look-ups
    holder_id_masked text NOT NULL DEFAULT '',       -- e.g. 1101**********1234
    status          text NOT NULL CHECK (status IN ('active', 'suspended', 'revoked', 'replaced', 'refund_pending', 'refunded')),
    version         bigint NOT NULL DEFAULT 1,       -- bumped by every change the cluster must know
    code            text NOT NULL,                   -- the current signed code
    key_id          integer NOT NULL REFERENCES signing_keys,
    price_minor     bigint NOT NULL,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    first_entry_at  timestamptz,                     -- from the cluster's entry feed
    first_entry_gate text
);
CREATE INDEX tickets_order ON tickets (order_id);
CREATE INDEX tickets_holder_id ON tickets (holder_id_hash) WHERE holder_id_hash IS NOT NULL;

-- Changes the cluster must learn, written in the same transaction as the
-- change. The relay sends them in seq order and marks them sent once the
-- cluster acknowledged; the cluster applies a ticket change only when its
-- version is newer, so a resend is harmless.
CREATE TABLE outbox (
    seq         bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN ('issue', 'revoke', 'update', 'configure')),
    ticket_id   uuid,
    version     bigint,
    payload     jsonb NOT NULL,
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;

-- Refunds: the cluster must revoke the ticket (proving it unused) before
-- any money goes back.
CREATE TABLE refunds (
    id              bigserial PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders,
    ticket_id       uuid NOT NULL REFERENCES tickets,
    status          text NOT NULL CHECK (status IN ('pending_revoke', 'refunded', 'refused')),
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    fee_minor       bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
    currency        char(3) NOT NULL,
    reason          text NOT NULL DEFAULT '',
    refused_reason  text NOT NULL DEFAULT '',        -- e.g. already_used
    used_at         timestamptz,                     -- when refused for use: when and where
    used_gate       text,
    user_id         bigint REFERENCES users,
    attempts        integer NOT NULL DEFAULT 0,      -- revoke attempts while the cluster was unreachable
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE UNIQUE INDEX refunds_one_open ON refunds (ticket_id) WHERE status IN ('pending_revoke', 'refunded');
CREATE INDEX refunds_pending ON refunds (next_attempt_at) WHERE status = 'pending_revoke';

CREATE TABLE reprints (
    id              bigserial PRIMARY KEY,
    ticket_id       uuid NOT NULL REFERENCES tickets,
    old_version     bigint NOT NULL,
    new_version     bigint NOT NULL,
    reason          text NOT NULL DEFAULT '',
    user_id         bigint REFERENCES users,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Members and cards ---------------------------------------------------------

CREATE TABLE members (
    id              bigserial PRIMARY KEY,
    card_number     text NOT NULL UNIQUE,
    category        text NOT NULL CHECK (category IN ('ordinary', 'vip', 'annual')),
    name            text NOT NULL,
    phone           text NOT NULL DEFAULT '',
    id_hash         bytea,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'lost', 'refunded', 'expired')),
    balance_minor   bigint NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
    points          bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    valid_until     date,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_phone ON members (phone) WHERE phone <> '';

-- Cluster entry feed (filled by sync) -------------------------------------

CREATE TABLE entry_events (
    cursor_index    bigint NOT NULL,
    cursor_pos      integer NOT NULL,
    seq             bigint NOT NULL UNIQUE,
    scan_id         text NOT NULL,
    ticket_id       uuid NOT NULL,
    gate            text NOT NULL,
    zone            text NOT NULL,
    direction       text NOT NULL,
    persons         integer NOT NULL,
    result          text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL,
    PRIMARY KEY (cursor_index, cursor_pos)
);
CREATE INDEX entry_events_ticket ON entry_events (ticket_id);

-- Key/value settings and the sync cursors.
CREATE TABLE settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
