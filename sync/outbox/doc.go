// Package outbox owns the outbox table of the sales database: the rows that
// tell the park's cluster what sales changed, their kinds and payload
// formats, how sales writes them and how the relay (package sync) reads
// and marks them.
//
// Sales writes a row with Write* in the same transaction as the change the
// cluster must learn, so the row and the change commit or roll back
// together. The relay reads unsent rows in seq order (LoadUnsent), sends
// them, and marks them sent (MarkSent) only after the cluster acknowledged
// them, or gives one up with a note (GiveUp).
//
// # Rows and payloads
//
//	kind       ticket_id, version        payload
//	issue      the ticket, its version   Ticket: the ticket with its current code
//	revoke     the ticket, new version   Change {"version":N}
//	update     the ticket, new version   Change {"version":N,"op":...,"valid_until":...}
//	configure  none                      Configure {"park","time_zone","keys"}, {"zones":[...]} or {"gates":[...]}
//
// park_id names the park whose cluster must learn the row: WriteIssue
// takes it from Ticket.Park, WriteRevoke and WriteUpdate as an argument,
// WriteConfigure from Configure.Park. NULL (rows written before the
// column, or "" given) means the default cluster. A relay reads the rows of
// its cluster with LoadUnsentFor and a Route (one park's rows, or for the
// default cluster the rows with no park and those of every park without a
// cluster of its own).
//
// The payload types are the outbox's own, not the gate API's: rows stay in
// the database across upgrades, so their JSON is a storage format. It is
// the format sales has always written (same field names and encodings), so
// rows written before this package existed decode as they are; the
// decoding test holds literal rows as that code wrote them.
//
// Format: every payload is of format 1, written without a "format" field
// (byte for byte what older code wrote, so an older relay still running
// during an upgrade sends it as before). A payload of a later format
// carries "format":N; Decode* refuse a format newer than Format with
// ErrFormat, so a relay never misreads a row written by newer code: the
// row blocks the queue until the relay is upgraded.
//
// Invariants:
//
//   - Rows are read in seq order, with no high-water mark: every read
//     selects all rows WHERE sent_at IS NULL ORDER BY seq.
//   - A row is marked sent only by MarkSent (acknowledged) or GiveUp
//     (given up, with a note in the row and an audit_log entry
//     'sync.outbox.given_up' in the same transaction).
//   - WriteRevoke skips a revoke whose ticket and version its transaction
//     already sees in the outbox (two transactions at once may both write
//     one: harmless, a revoke is idempotent at the cluster).
//   - WriteIssue writes only a ticket the cluster would accept
//     (Ticket.Validate), so a bad ticket fails the sale, not the relay.
package outbox
