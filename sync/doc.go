// Package sync links the sales database (PostgreSQL) and the parks' gate
// clusters: the outbox Relay tells a cluster what sales changed, and the
// entry Feed copies the cluster's entry events back for reports. It links
// nothing of sales: the outbox table is owned by sync/outbox (kinds,
// payload types, the SQL that writes, reads and marks rows), which sales
// calls to write rows in its own transactions; the gate API by
// validator/gateapi.
//
// # One relay and one feed per cluster
//
// A park may have a cluster of its own (sales' clusters file,
// `--clusters-file`); every other park shares the default cluster
// (`--cluster`). PerCluster makes one Config per cluster, and each gets its
// own Relay and Feed:
//
//   - Every outbox row names its park (outbox.park_id; NULL for rows
//     written before rows had one). The relay of park P's cluster
//     (Config.Park = P) sends only the rows with park_id = P; the default
//     cluster's relay sends the rows with NULL park_id and those of every
//     park without a cluster of its own (not in Config.OtherParks). Seq
//     order holds per cluster; the relays do not wait for each other, so
//     one cluster being down holds back only its own park's rows.
//   - Each relay has its own advisory lock (LockKey for the default; for a
//     park's, LockKey mixed with a hash of the park id): one active relay
//     per cluster across processes. Every process that runs sync must be
//     given the same clusters file, or two relays would send the same park's
//     rows to different clusters.
//   - A park's own cluster learns its park id (configure rows carry
//     "park"); the default cluster may serve several parks, so its relay
//     drops "park" from configure payloads and it is never told one.
//   - Each feed keeps its cursor under its own settings key
//     (Config.CursorKey: 'sync.feed.cursor' for the default cluster,
//     'sync.feed.cursor.PARK' for a park's) and stores its events with
//     entry_events.cluster = the park id (empty for the default): two
//     clusters' log indexes and event seqs overlap, so events are keyed by
//     (cluster, cursor) and (cluster, seq) (sales migration 6).
//   - With a clusters file, every metric below carries the label park (the
//     park id; "" for the default cluster).
//
// # Relay: outbox -> cluster
//
// Sales writes an outbox row (outbox.Write*) in the same transaction as
// each change the cluster must learn (kinds issue, revoke, update,
// configure). The relay reads them (outbox.LoadUnsent), decodes each
// payload (outbox.Decode*; a payload that does not decode, or of a newer
// format, is ErrBadRow), converts it to the gate API's types and sends it
// with a gateapi.Client over ClusterURLs and the admin token. The client's
// one failover policy applies: a 2xx or 4xx answer is final; a node that
// cannot be reached or answers 5xx is passed over for the next (every call
// below is idempotent, so sending it to another node is safe); when no
// node answered, the row fails with ErrCluster and is sent again, unchanged,
// on the next pass (which also settles gateapi.ErrOutcomeUnknown).
//
//	issue      payload outbox.Ticket, sent as gateapi.TicketJSON;
//	           consecutive issue rows go as one
//	           POST /v1/tickets/issue {"tickets":[...]} (at most Batch rows
//	           and MaxBatchBytes of stored payload). "applied" and "stale"
//	           (the cluster has this version or newer) both acknowledge.
//	           "unsigned", "bad_signature" and "wrong_park" (the cluster
//	           refuses the ticket for good: no code, a code not signed by
//	           the park's keys, another park) are logged as errors and
//	           given up (outbox.GiveUp) so the rows after them go on.
//	revoke     payload outbox.Change {"version":N}, sent as a
//	           gateapi.ChangeRequest to POST /v1/tickets/{id}/revoke.
//	           "revoked", "already_used" and "stale" acknowledge (the refund
//	           package acts on its own revoke call; this row only makes the
//	           revoke follow a late issue).
//	update     payload outbox.Change, sent as a gateapi.ChangeRequest to
//	           POST /v1/tickets/{id}/update; "applied" and "stale"
//	           acknowledge; "conflict" (the change can never apply, e.g.
//	           resume a revoked ticket) is logged as an error and given up
//	           (outbox.GiveUp: marked sent with a note and an audit_log
//	           entry).
//	configure  payload outbox.Configure: {"time_zone", "park", "keys"}:
//	           PUT /v1/park (the park id is set once: another one is a
//	           409 and the row waits for an operator; keys replace the
//	           cluster's set);
//	           {"zones":[{id,cap,warn}]}: POST /v1/zones per zone (an
//	           upsert); {"gates":[{id,zone,direction}]}: GET /v1/gates, then
//	           POST /v1/gates for each gate the cluster does not have. A gate
//	           the cluster has is never added again (that would make a new
//	           token and lock its device out); a zone or direction change is
//	           logged, not sent. The token the cluster makes for a new gate is
//	           neither kept nor logged: the operator issues the device's token
//	           at the park with `admit gate add` (it prints the token once).
//
// Invariants:
//
//   - A row is marked sent (sent_at) only after the cluster acknowledged it.
//     Every send is idempotent on the cluster (a ticket change applies only
//     when its version is newer; zones are upserts; existing gates are
//     skipped), so a resend after a crash between ack and mark is harmless.
//   - Rows are sent in seq order. A row that fails (cluster down, 5xx, 4xx,
//     an outcome that is not an acknowledgement) stops the pass: the rows
//     after it wait, and Run retries with backoff (Backoff doubling up to
//     MaxBackoff), logging why. A 4xx or a bad payload blocks until an
//     operator fixes the row or marks it sent
//     (UPDATE outbox SET sent_at = now() WHERE seq = N).
//   - No high-water mark: every pass selects all rows WHERE sent_at IS NULL
//     ORDER BY seq, so a row that commits late with a lower seq than rows
//     already sent is still sent (then after them). Per ticket the order
//     holds anyway: a ticket's later change is written by a transaction
//     that saw the earlier one committed.
//   - "unknown" (the cluster has no such ticket) for a revoke or update is
//     not an acknowledgement: the issue may not have arrived. It blocks and
//     is retried; after UnknownAttempts such answers in a row (counted in
//     memory, so a restart counts again) while no unsent issue row for the
//     ticket is left, the row is given up so the queue does not stop for
//     ever: logged as an error, recorded in audit_log (action
//     sync.outbox.given_up, object outbox/seq, no user: the row
//     outbox.GiveUp writes in the transaction that marks it sent).
//   - One relay sends at a time: Run holds the Postgres session advisory
//     lock LockKey (pg_try_advisory_lock) on a connection hijacked from the
//     pool for as long as it is active. A second relay waits on standby,
//     trying every LockRetry (1 s), and takes over when the first's
//     connection closes (its Run ended, its process died, or the network to
//     the database broke; Postgres then drops the lock). The active relay
//     checks its lock connection whenever it waits; if it broke, it stops
//     sending and tries to lock again. Between the break and that check it
//     may finish one pass alongside the new relay: harmless, as sends are
//     idempotent, though two passes may then interleave.
//   - Latency: when idle the relay waits for a NOTIFY on NotifyChannel on
//     its lock connection, or Poll (100 ms) at most. The outbox_notify
//     trigger (sales migration 3) sends the NOTIFY at commit: measured 10 ms
//     worst of 10 from commit to the cluster's ack (104 ms polling only).
//
// Metrics: admit_sync_outbox_backlog, admit_sync_outbox_sent_total{kind},
// admit_sync_commit_to_ack_seconds (outbox created_at to ack),
// admit_sync_errors_total{kind} (outbox kind, db, lock, feed),
// admit_sync_relay_active, admit_sync_relay_wakeups_total{by} (idle waits
// ended by notify or by poll), admit_sync_feed_events_total,
// admit_sync_feed_cursor_index, admit_sync_feed_lag_entries,
// admit_sync_feed_cluster_applied_index, admit_sync_feed_pending_events and
// admit_sync_feed_quarantined_total (see Feed).
//
// # Feed: cluster entry events -> entry_events
//
// Pull reads GET /v1/events?after=CURSOR&limit=Batch and, in ONE
// transaction, inserts the events into entry_events, sets
// tickets.first_entry_at/first_entry_gate from the earliest admitted "in"
// event where they are NULL, and stores the page's last cursor in settings
// ('sync.feed.cursor', or 'sync.feed.cursor.PARK' for a park's own
// cluster; a JSON string "INDEX.POS"). The rows and the cursor
// commit together, so each event is stored exactly once across crashes and
// restarts. The cursor row is locked and compared in that transaction, so
// two feeds running at once do not store a page twice (the insert also
// skips duplicates). Events for tickets sales does not know are stored too.
// If the cluster purged events the feed has not read (410), Pull fails with
// ErrEventsPurged and the feed stops until an operator moves the cursor.
//
// Quarantine: an event that cannot be stored in entry_events (a text field
// that is not clean text, e.g. a scan id holding NUL, which PostgreSQL
// refuses; a ticket id that does not parse; any row PostgreSQL refuses with
// a data or constraint error, SQLSTATE class 22 or 23, found by inserting
// the page row by row under savepoints) is put in quarantined_events (sales
// migration 5: seq, cursor, the event as JSON, the reason) in the same
// transaction as the rest of its page and the cursor, logged as an error
// and counted in admit_sync_feed_quarantined_total; the feed goes on past
// it. Any other failure (database down, a trigger) stores nothing and is
// retried.
//
// Lag: GET /v1/events also answers "applied_index", the log index the
// answering node's state is as of. After each successful Pull,
// admit_sync_feed_cursor_index is the stored cursor's log index and
// admit_sync_feed_lag_entries how far the feed trails, in log entries: 0
// when the page was not full (the feed has read every event the node had
// at that index), else applied_index minus the cursor's index. That is an
// upper bound, not a count of events: most log entries are ticket changes
// without events, and the cluster does not say how many events remain. It
// is measured against the node that answered, which may itself trail the
// leader. admit_sync_feed_cluster_applied_index is that applied index.
// When the cluster answered but the page could not be stored, the lag is
// the applied index minus the cursor's (at least 1, never the last good
// pull's 0) and admit_sync_feed_pending_events the events of that page (0
// after a page is stored); alert AdmitEntryFeedStuck fires when events wait
// and the cursor stands still. A Pull that got no page (cluster not
// reachable) leaves the gauges as they were (see
// admit_sync_errors_total{kind="feed"}); a feed stuck on ErrEventsPurged
// shows no lag, only errors.
package sync
