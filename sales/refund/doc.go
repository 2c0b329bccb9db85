// Package refund owns refunds and reprints of tickets.
//
// # Refunds
//
// A refund gives money back for a ticket nobody has used, and the only one
// who can tell that a ticket is unused is the park's cluster: a gate may
// have admitted it a second ago. So the cluster revokes the ticket first
// (POST /v1/tickets/{id}/revoke on a gate node, through a Revoker), and money
// moves only once the cluster has acknowledged the revoke. A refund is one
// refunds row per ticket (a whole-order refund is one row per ticket):
//
//	request            refunds pending_revoke, ticket refund_pending    (one transaction, audited)
//	cluster: revoked   refunds refunded, ticket refunded, version = the revoke's,
//	                   payment refunded_minor += amount, quota.ReleaseOne,
//	                   order refunded|partially_refunded                (one transaction, audited)
//	cluster: already_used
//	                   refunds refused (refused_reason already_used, used_at,
//	                   used_gate), ticket active again; money untouched
//	cluster: unknown   pending: retried later, and an outbox 'revoke' row
//	cluster down, 5xx  pending: attempts+1, next_attempt_at = now + backoff
//	                   (no node answered: gateapi.ErrUnavailable, or
//	                   ErrOutcomeUnknown, settled by the retry's identical
//	                   revoke; see ClusterRevoker)
//
// The revoke carries version = tickets.version + 1 and, on success, the
// ticket row takes that version, so the sales database and the cluster agree
// on the ticket's version after the refund.
//
// "unknown" means the cluster has never heard of the ticket: its issue is
// still in the outbox (the sync relay is behind or the cluster was down when
// the ticket was sold). Refunding then would be wrong: the issue may still
// reach the cluster after the money went back, and the ticket would admit at
// the gate although refunded. A refund is complete only when the cluster
// itself says "revoked". So the refund stays pending and is retried, and an
// outbox 'revoke' row (outbox.WriteRevoke, payload {"version": N}, the body
// of the cluster's revoke; once per version) is written after the issue, so
// the relay, which sends in seq
// order, revokes the ticket right after issuing it; the next retry then
// hears "revoked" (the cluster answers a revoke of a revoked ticket with
// "revoked") and completes the refund. If a gate admits the ticket between
// the issue and the revoke, the retry hears already_used and the refund is
// refused, as it should be.
//
// "stale" means the cluster holds a version at least as new as the one sent
// while the ticket is not revoked: the database and the cluster disagree
// about the version. The ticket's version is bumped in the database (the
// ticket is refund_pending, nothing else changes it) and the refund retried,
// so the next revoke carries a newer version.
//
// # Money
//
// Money goes back through the payment that settled the order
// (orders.paid_payment_id, set when the order was paid). A second payment
// of the same order (a duplicate) or a short one is a refund_due payment
// that orders refunds on its own; it is never used here. Before the cluster
// is asked to revoke, the settling payment must be able to pay the refund
// back on top of what it refunded and what other open refunds will take:
// a request that it cannot cover is refused (409 payment_cannot_cover, no
// refund made), and a pending refund found in that state is refused
// (refused_reason payment_cannot_cover, ticket active again) without a
// revoke, so a ticket is never revoked for money that cannot move.
//
//   - cash, card, wallet (taken at a window): the cashier pays out. When a
//     cashier or admin asks for the refund and the cluster answers at once,
//     the payout is recorded at once: completed_at = now and refunds.user_id
//     = that cashier; the cashier's shift report counts the refunds with
//     their user_id and completed_at in the shift. When the refund completes
//     later (retried, or asked by a distributor), completed_at stays NULL
//     ("to pay out") until a cashier records the payout with
//     POST /v1/refunds/{id}/payout, which sets completed_at and user_id to
//     that cashier.
//   - provider: after the completing transaction commits, Provider.Refund is
//     called with refundID "refund-<id>" (the provider refunds once per
//     refundID, so a retry is safe). Until it succeeds the refund is in its
//     separate money state: status refunded with completed_at NULL, and
//     attempts/next_attempt_at (reset to 0 when the revoke succeeded) count
//     and schedule the provider calls. The Retrier retries those too.
//   - no payment at all (an order settled on account): nothing to send;
//     completed_at is set with the revoke.
//
// payments.refunded_minor grows in the completing transaction, together with
// the ticket's refunded status, so it counts what the park owes back as soon
// as the ticket is dead; completed_at says when the money actually left.
//
// Refund policy (per product): refundable; allowed until refund_until_hours
// before the visit day starts (midnight of visit_date in the park's time
// zone; negative hours: after it started); fee = refund_fee_minor +
// refund_fee_percent % of the ticket's price (rounded down), capped at the
// price; the refund is the price minus the fee.
//
// Who: admin and cashier refund any order; a distributor only its own
// orders (others answer 404, as if they did not exist).
//
// # Concurrency
//
// A refunds row is claimed by setting next_attempt_at = now + Lease before
// the cluster is called (at creation, and by the Retrier under FOR UPDATE
// SKIP LOCKED), so a request and the Retrier do not work on one refund at
// once; if the process dies mid-call, the Retrier takes it over once the
// lease ends. Every transition is a conditional update on the refund's
// status, so a duplicate attempt changes nothing; revokes are idempotent at
// the cluster. The partial unique index refunds_one_open allows one open
// refund per ticket.
//
// # Reprints
//
// A reprint (lost or damaged print; the cashier checks the holder's
// identity and gives a reason) bumps the ticket's version, signs a new code
// with the active key (the old code's claims with the new version), records
// a reprints row and writes an outbox 'issue' row with the new version's
// ticket (outbox.WriteIssue, payload outbox.Ticket) in one audited
// transaction. Once the relay sends it, the
// cluster holds the new code's digest: the old code is denied "replaced".
// Refused for tickets refunded, revoked, replaced or with a refund under way.
package refund
