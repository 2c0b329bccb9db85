// Package orders sells tickets: it owns orders and their lines, taking
// payments for them (through sales/payment), issuing the tickets of paid
// orders, and the outbox rows that tell the park's cluster about them.
//
// An order comes from a channel (a cashier's window or kiosk, the shop, a
// distributor's API key) for one park. Creating it checks every line
// against the catalog (on sale, visit date from the park's today to
// MaxDaysAhead days, slot iff the product has slots, quantity within
// max_per_order, one holder per ticket for real-name products), takes its
// places with quota.Take in the same transaction, and leaves it pending
// until Config.HoldFor has passed. Places are persons: a group ticket takes
// as many places as it admits.
//
// Invariants:
//
//   - An order is never paid without its tickets: marking it paid, issuing
//     its tickets (signed codes, version 1) and writing one outbox "issue"
//     row per ticket happen in one transaction.
//   - A pending order holds its places; expiry (ExpireDue, the Sweeper) and
//     cancellation give them back in the transaction that ends the order.
//     A payment that finds the hold ran out expires the order itself.
//   - Money that arrives for an order that cannot take it (expired,
//     cancelled, already paid, another amount) is recorded and marked for
//     refund, never silently kept; the refund is idempotent by payment.
//   - The order row is locked before its payments, everywhere.
//   - Holder ID numbers are never stored in plain: an HMAC-SHA256 (to find
//     them) and a mask (to show them).
//   - The same Idempotency-Key from the same caller (user:<id> or
//     key:<id>) never makes a second order; with another request it is
//     refused.
//   - A distributor sees and changes only its own orders; others' are "not
//     found".
//   - Every change is written to the audit log in its own transaction.
//
// The catalog is read with small queries of its own (catalogread.go) until
// sales/catalog is ready.
package orders
