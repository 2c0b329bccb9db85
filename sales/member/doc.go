// Package member holds members (customer records), their cards, the
// stored value and points on the cards, and passes bound to cards; see
// DESIGN.md beside this file.
//
// A member is a person: name, phone, category, photo reference, and the
// keyed look-up hash and mask of their ID number (never the number).
// Members are deduplicated by phone and by ID hash (unique indexes): a
// create with either of another member's is refused, an import updates
// that member. Categories carry the points rule.
//
// A card (printed number or IC UID, normalized as the gates read it) has
// a status (active, lost, replaced, refunded), an expiry, a balance and
// points. Every change of balance or points is one card_ledger row with
// the balances after it, written in the transaction of the change, with
// an audit_log row: the card's statement sums by construction. Debits lock
// the card row (FOR UPDATE) and subtract under a condition (balance >=
// amount) behind a CHECK (balance >= 0): racing payments queue on the row
// and exactly the affordable ones succeed.
//
// A pass is a ticket sold through orders with the card on its order line
// (tickets.card_id): the card is one of its gate credentials. Loss
// suspends it (an outbox update row, op suspend); replacement binds it to
// the new card in a new ticket version (an outbox issue row with a new
// code and the new credential list).
package member
