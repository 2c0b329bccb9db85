-- Members and their cards, stored value and points, typed ticket numbers,
-- credentials carried by tickets, date changes (issue 16). See
-- sales/member/DESIGN.md.

-- The members table of version 1 was never used: it is replaced by members
-- (people: customer records) and cards (what they carry).
DROP TABLE members;

-- Categories of members with their points rule: points_per_unit points for
-- every unit_minor spent from a card's balance; a redeemed point pays
-- point_value_minor. refund_fee_percent of the balance is kept when a card
-- of the category is refunded.
CREATE TABLE member_categories (
    id                  text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    name                text NOT NULL,
    points_per_unit     integer NOT NULL DEFAULT 0 CHECK (points_per_unit BETWEEN 0 AND 1000000),
    unit_minor          bigint NOT NULL DEFAULT 100 CHECK (unit_minor >= 1),
    point_value_minor   bigint NOT NULL DEFAULT 1 CHECK (point_value_minor BETWEEN 0 AND 1000000),
    refund_fee_percent  integer NOT NULL DEFAULT 0 CHECK (refund_fee_percent BETWEEN 0 AND 100)
);
INSERT INTO member_categories (id, name, points_per_unit, unit_minor, point_value_minor) VALUES
    ('ordinary', 'Ordinary', 1, 100, 1),
    ('vip', 'VIP', 2, 100, 1),
    ('annual', 'Annual', 1, 100, 1);

-- A member is a customer record: deduplicated by phone and by the keyed
-- hash of the ID number (the holder secret's HMAC, as tickets.holder_id_hash;
-- never the number).
CREATE TABLE members (
    id              bigserial PRIMARY KEY,
    category        text NOT NULL REFERENCES member_categories,
    name            text NOT NULL,
    phone           text NOT NULL DEFAULT '',
    id_hash         bytea,
    id_masked       text NOT NULL DEFAULT '',
    photo_ref       text NOT NULL DEFAULT '',        -- where the photo is kept (a file or object name), not the photo
    note            text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX members_phone ON members (phone) WHERE phone <> '';
CREATE UNIQUE INDEX members_id_hash ON members (id_hash) WHERE id_hash IS NOT NULL;

-- A member's card: a printed number or an IC card's UID, normalized
-- (gateapi.NormalizeCardValue). The stored value and points are on the
-- card; a replacement moves them to the new card.
CREATE TABLE cards (
    id              bigserial PRIMARY KEY,
    number          text NOT NULL UNIQUE CHECK (number ~ '^[0-9A-Z]{4,32}$'),
    park_id         text NOT NULL REFERENCES parks,
    member_id       bigint NOT NULL REFERENCES members,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'lost', 'replaced', 'refunded')),
    currency        char(3) NOT NULL,
    balance_minor   bigint NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
    points          bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    expires_on      date,                            -- last valid park day; NULL: does not expire
    replaced_by     bigint REFERENCES cards,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_member ON cards (member_id);

-- Every change of a card's balance or points, with the balance after it:
-- the card's statement. A point of sale's request_id makes its call
-- idempotent per card. shift_id: the cashier's shift (drawer money).
CREATE TABLE card_ledger (
    id              bigserial PRIMARY KEY,
    card_id         bigint NOT NULL REFERENCES cards,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind IN ('recharge', 'payment', 'consume', 'refund', 'transfer_in',
                        'transfer_out', 'card_refund', 'refund_fee', 'date_change')),
    amount_minor    bigint NOT NULL,                 -- into the balance (+) or out of it (-)
    balance_minor   bigint NOT NULL CHECK (balance_minor >= 0),
    points          bigint NOT NULL DEFAULT 0,       -- earned (+) or redeemed (-)
    points_balance  bigint NOT NULL CHECK (points_balance >= 0),
    method          text NOT NULL DEFAULT '',        -- recharge and card refund: cash or card
    reference       text NOT NULL DEFAULT '',        -- a card payment's reference, a point of sale's text
    order_id        bigint REFERENCES orders,
    user_id         bigint REFERENCES users,
    sales_point_id  text REFERENCES sales_points,
    shift_id        bigint REFERENCES shifts,       -- recharges and refunds at a window count in the cashier's shift
    request_id      text,
    UNIQUE (card_id, request_id)
);
CREATE INDEX card_ledger_card ON card_ledger (card_id, id);
CREATE INDEX card_ledger_order ON card_ledger (order_id) WHERE order_id IS NOT NULL;

-- An order paid from a card's balance (and points).
ALTER TABLE payments DROP CONSTRAINT payments_method_check;
ALTER TABLE payments ADD CONSTRAINT payments_method_check
    CHECK (method IN ('cash', 'card', 'wallet', 'provider', 'stored_value'));

-- What opens a ticket besides its code: its typed number (12 digits, the
-- last a check digit; random, so that a number does not tell its
-- neighbours), the card it is bound to (passes), and for real-name tickets
-- the gate's keyed hash of the holder's ID number (gateapi.IDCardHash, a
-- key of its own; see sales/member/DESIGN.md).
ALTER TABLE tickets
    ADD COLUMN number text,
    ADD COLUMN card_id bigint REFERENCES cards,
    ADD COLUMN id_card_hash text;
CREATE UNIQUE INDEX tickets_number ON tickets (park_id, number) WHERE number IS NOT NULL;
CREATE INDEX tickets_card ON tickets (card_id) WHERE card_id IS NOT NULL;
ALTER TABLE order_lines ADD COLUMN card_id bigint REFERENCES cards;
ALTER TABLE order_holders ADD COLUMN id_card_hash text;

-- Date changes (改签): a ticket moved to another day or slot.
CREATE TABLE date_changes (
    id              bigserial PRIMARY KEY,
    ticket_id       uuid NOT NULL REFERENCES tickets,
    old_visit_date  date NOT NULL,
    old_slot_id     bigint REFERENCES time_slots,
    new_visit_date  date NOT NULL,
    new_slot_id     bigint REFERENCES time_slots,
    old_price_minor bigint NOT NULL,
    new_price_minor bigint NOT NULL,
    method          text NOT NULL DEFAULT '',        -- how the difference was settled: cash, stored_value, none
    card_id         bigint REFERENCES cards,
    old_version     bigint NOT NULL,
    new_version     bigint NOT NULL,
    user_id         bigint REFERENCES users,
    sales_point_id  text REFERENCES sales_points,
    shift_id        bigint REFERENCES shifts,       -- the cashier's shift: cash paid back counts there
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX date_changes_ticket ON date_changes (ticket_id);
CREATE INDEX card_ledger_shift ON card_ledger (shift_id) WHERE shift_id IS NOT NULL;
CREATE INDEX date_changes_shift ON date_changes (shift_id) WHERE shift_id IS NOT NULL;
