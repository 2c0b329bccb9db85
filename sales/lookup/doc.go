// Package lookup answers questions about sold tickets: a ticket by its id,
// the tickets of an order, of a contact phone or of a holder's ID number,
// a ticket's QR code as a PNG, and the public keys that verify codes.
//
// Invariants:
//
//   - Read only: nothing here changes state, so nothing is audited.
//   - ID numbers are never stored or compared in clear: a look-up hashes the
//     number with HashIDNumber (HMAC-SHA256 with the shared secret over the
//     number trimmed and upper-cased) and compares with
//     tickets.holder_id_hash, which orders writes with the same function
//     and secret.
//   - Holder names are masked in every reply (first character of each word
//     kept); ID numbers appear only as tickets.holder_id_masked.
//   - Distributors see only the tickets of their own orders; anything else
//     answers 404 (one ticket) or an empty list, as if it did not exist.
//   - A ticket's code is a bearer credential: only admin, cashier and the
//     owning distributor get it (GET /v1/tickets/{id} and its QR PNG);
//     finance and gate operators see the ticket without its code.
//   - A ticket's status in replies: unused or used (an active ticket, used
//     once the entry feed recorded a first entry: first_entry_at/gate), or
//     the ticket's own status (suspended, refund_pending, refunded,
//     revoked, replaced).
//   - GET /v1/keys is anonymous: public keys only, for offline handhelds.
package lookup
