// Package fsm is the ticket state machine the cluster replicates: every
// valid ticket, its usage, the park's zones and gates, and the record of
// every gate scan. Machine implements cluster.StateMachine; commands are
// built with the Encode* functions and submitted with cluster.Node.Apply,
// and results come back through the Decode* functions. The read functions
// (Ticket, LookupGate, Gates, Zones, Location, CheckGateToken, LookupScan,
// EventsAfter) read a node's local state (in memory; see cluster).
//
// # Commands
//
// A command is compact binary, not JSON: byte 0 is CommandVersion, byte 1
// the CommandType, then the body; a result starts with ResultVersion and
// the same type. Strings are uvarint-length-prefixed. DecodeCommand never
// panics, bounds every count by the bytes present, and accepts only what
// the encoders produce (canonical: decoding and encoding again gives the
// same bytes).
//
//	IssueBatch   upsert tickets whose Version is newer; per ticket
//	             applied|stale|unsigned|bad_signature|wrong_park
//	IssueBatch2  the same, each ticket with its park and code (below)
//	IssueBatch3  the same, each ticket also with its credentials
//	             (cards, ID-number hashes, typed ticket numbers)
//	Revoke       revoke an unused ticket; revoked|already_used|unknown|stale
//	Update       suspend|resume|extend with a newer Version; applied|stale|unknown|conflict
//	Configure    zones, gates, park time zone; all or nothing
//	Configure2   the same, plus the park ID (set once) and signing keys
//	Configure3   the same, plus the ID-card hash key
//	ScanBatch    decide scans in order at the leader's time; a ScanResult each
//	ScanBatch2   the same, scans may name a credential instead of a code,
//	             carry a device time, or be offline decisions uploaded later
//	ExitAll      nightly: nobody is inside; O(zones)
//	PurgeScans   drop events and scan-ID records before a time, bounded
//
// IssueBatch2, Configure2 and later were added after the others; entries
// of the old types stay in Raft logs and decode and apply as they always
// did. The encoders write the new type only when it carries something new
// (EncodeIssues: a ticket with a park or a code, IssueBatch3 with
// credentials; EncodeConfigure: a park ID or keys, Configure3 an ID-card
// key; EncodeScanBatch: ScanBatch2 for a scan with a credential, a device
// time or an offline decision), and its decoder refuses one that does not,
// so each command still has one encoding and a plain code scan costs what
// it did. The bodies of the third generation are in commands_ext.go. Bodies (after the two header bytes):
//
//	IssueBatch   n | n × bytes ticket
//	IssueBatch2  n | n × (bytes ticket | str park | bytes code)
//	Configure    str tz | zones | delete zones | gates | delete gates
//	Configure2   the Configure body | str park | n | n × (key id | public[32])
//
// where "code" is the binary form of the ticket's code (code.Code.Binary,
// 101 bytes) or empty. Every node must run a version that knows the new
// types before any is written: an older node would reject the entry that
// the others apply.
//
// # Signed issue and one park
//
// Once a Configure has stored signing keys, apply writes a ticket only if
// its code parses, names a stored key ID, verifies under that key
// (Ed25519, deterministic), and was made for the ticket's ID and Version
// with Digest = the code's digest; otherwise the ticket's outcome is
// unsigned (no code; every old-format IssueBatch) or bad_signature, and
// nothing is written. So a write to the log alone cannot mint a ticket
// that admits. A code is verified once, at issue, and only when the
// ticket would be written (a stale resend is not verified); scans compare
// digests as before. Without keys (tests, benchmarks with throwaway keys)
// codes are not checked. The key set is replaced as a whole and cannot be
// emptied. Once a park ID is set, a ticket naming another park is refused
// (wrong_park); a ticket without a park is not checked; a Configure with
// another park ID is rejected (ErrParkChange).
//
// The encoders also refuse names, scan IDs, products, holders and zones
// that are not clean text (ticket.CleanText, ErrNotText). The decoders
// and apply do not: entries already in the log must decide as they did.
//
// # Key layout
//
// All keys are below the cluster's reserved "\x00cluster/" range.
//
//	t/<id:16>                       0x01 | uint32 BE n | ticket.Ticket encoding (n bytes)
//	                                | uvarint epoch | ticket.State encoding
//	z/<zone>                        ticket.Zone encoding (Cap, Warn, Occupancy)
//	g/<gate>                        0x01 | str zone | token hash[32] | direction
//	x/<len(gate):1><gate><scan id>  0x01 | the original ScanResult (Rescan clear);
//	                                in memory only, rebuilt from s/ at load (scanlog.go)
//	s/<index:8 BE>                  0x01 | the x/ keys and records the batch wrote
//	e/<index:8 BE>                  0x01 | uvarint first Seq | varint At | the batch's
//	                                events in position order (see events.go)
//	m/epoch                         uint64 BE: number of ExitAlls
//	m/seq                           uint64 BE: Seq of the last event
//	m/tz                            IANA name of the park time zone (absent = UTC)
//	m/purged                        index:8 BE | pos:4 BE of the last purged event
//	m/park                          the park ID this cluster serves (absent = not set)
//	k/<key id:1>                    Ed25519 public key of that signing key ID, 32 bytes
//	m/idkey                         the ID-card hash key, 32 bytes (absent = not set)
//	c/<kind:1><value>               0x01 | ticket id[16]: the ticket a credential opens
//	b/<id:16>                       0x01 | n | n × (kind | str value): a ticket's credentials
//	o/<index:8 BE><pos:4 BE>        a conflict record (offline.go)
//	r/<index:8 BE><pos:4 BE>        a ticket revoked: ticket, version, valid until, log time (revocations.go)
//	m/conflicts                     uint64 BE: conflicts recorded so far
//
// A credential scan's scan-ID record is 0x02 | kind | str value | the
// ScanResult, so a retry is told from another card by what it presented.
// A ScanBatch2 writes its events as version 2 records (events.go): each
// event also carries its device time, credential kind, and offline and
// conflict flags.
//
// # Credentials
//
// A ticket may be opened by credentials besides its code: a card (number
// or IC UID), the keyed hash of its holder's ID number (real-name
// tickets), or the short number printed on it. They are bound by issue
// commands: a ticket version that is written replaces its bindings as a
// whole (c/ and b/ together), a credential bound to another ticket moves
// to the newest issue naming it, and a version without credentials (every
// older issue command) drops them. A binding is written only with a ticket
// version that passes the signed-issue check below, so it is as trusted
// as the ticket's signature. Revoked and replaced tickets keep their
// bindings, so a scan says revoked or replaced rather than unknown.
// Tickets are never deleted from the state, so no binding outlives its
// ticket.
//
// A credential scan is decided in the same check-and-mark as a code scan:
// the scan-ID check first, then the binding is read in log order (so a
// card dropped by a newer version is unknown from the entry after it, on
// every node), then rules.Decide with the code counted as matching: a
// credential names the ticket as it is now, so there is no signature or
// version to compare (both were checked when the binding was written), and
// no credential answers invalid_code or replaced-by-reprint. An unbound
// credential is unknown; every other reason is the ticket's.
//
// The ID-card key lives in the replicated state (m/idkey, set by PUT
// /v1/park from sales' configuration, never read back out through the
// API): a node hashes the ID number a gate read with it before the scan
// reaches the log, so neither the log, the state, Badger, snapshots nor
// the events ever hold an ID number, only its keyed hash (sales binds the
// same hash). The key is in the state, like the signing keys, so that
// every node hashes alike and a replaced node gets it from the log or a
// snapshot with nothing to copy by hand.
// A ticket and its usage share one key, and a ScanBatch writes its events
// as one record: a scan then costs two reads (scan ID, ticket) and two
// writes (ticket, scan ID) plus a share of the batch's events key, all in
// memory; the cluster writes them to Badger behind apply.
// Events are still addressed one by one by Cursor (log index, position).
//
// # Invariants
//
//   - Apply is deterministic: it reads e.Time (never the clock) and
//     iterates only slices and the state's keys in order, never a map. It
//     keeps no state outside its cluster.Txn but a process-wide cache of
//     loaded time zones by name, a pure function of the name. Every value
//     it writes is an allocation of its own, never changed afterwards. A
//     time zone's rules come
//     from the system tzdata if present, else the tzdata built in: nodes
//     should run the same image so park days agree.
//   - A ticket's usage (Used/Inside per zone) is stored with the ticket,
//     tagged with the epoch it was written in, and a reissue keeps it byte
//     for byte. Usage from an older epoch reads with Inside zero
//     (rules.ExitAll), so ExitAll never touches tickets: its work is
//     O(zones). Zone Occupancy changes only through Decide and ExitAll
//     (Configure keeps it), so it tracks the Inside counts of the epoch.
//   - A scan ID is recorded per gate with the decision it got; a later scan
//     with the same gate and ID (a retry, through any node) changes nothing
//     and answers the original decision with Rescan set. A reused ID for
//     another ticket answers ScanIDConflict and the gate stays closed.
//   - Every decided scan writes exactly one event, ordered by (log index,
//     position in batch), with Seq consecutive across all events. Rescans,
//     unknown gates and conflicts write nothing. Events are removed only by
//     PurgeScans, a whole batch at a time, oldest first, with the scan-ID
//     records they decided and the batch's scan log.
//   - Scans within one batch see each other's effects (a Txn reads its own
//     writes), so two scans of one single-entry ticket in a batch admit
//     once.
//   - Ticket versions only grow: every admin change needs a newer Version,
//     so a resent or reordered command is harmless.
//   - A gate's zone exists: Configure rejects gates naming missing zones and
//     deleting zones that still have gates.
package fsm
