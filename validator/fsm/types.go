package fsm

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// Limits enforced by the encoders and decoders. They bound what one command
// can make a node allocate and write.
const (
	MaxScanIDLen    = 64    // bytes in a ScanID
	MaxScanBatch    = 4096  // scans in one ScanBatch
	MaxIssueBatch   = 10000 // tickets in one IssueBatch
	MaxConfigItems  = 4096  // entries in each list of one Configure
	MaxTimeZoneLen  = 64    // bytes in an IANA time zone name
	DefaultPurgeMax = 10000 // keys one PurgeScans deletes when Limit is 0
	MaxPurgeMax     = 50000 // upper bound on PurgeScans.Limit
	MaxKeys         = 256   // signing keys in one Configure (one per key id)
)

// Direction is a gate's direction, or the direction a scan asks for.
// Values are persisted: append only.
type Direction uint8

const (
	// DirBoth on a gate: scans pass either way and say which (a scan that
	// does not say enters). On a scan: the gate decides.
	DirBoth Direction = iota
	DirIn
	DirOut
	numDirections
)

var directionNames = [numDirections]string{"both", "in", "out"}

// Valid reports whether d is a known direction.
func (d Direction) Valid() bool { return d < numDirections }

// String returns "both", "in" or "out".
func (d Direction) String() string {
	if d.Valid() {
		return directionNames[d]
	}
	return "direction(" + strconv.Itoa(int(d)) + ")"
}

// ParseDirection parses "both", "in" or "out"; "" is DirBoth.
func ParseDirection(s string) (Direction, error) {
	if s == "" {
		return DirBoth, nil
	}
	for i, n := range directionNames {
		if n == s {
			return Direction(i), nil
		}
	}
	return 0, fmt.Errorf("fsm: unknown direction %q", s)
}

// MarshalText makes Direction a JSON string.
func (d Direction) MarshalText() ([]byte, error) {
	if !d.Valid() {
		return nil, fmt.Errorf("fsm: unknown direction %d", uint8(d))
	}
	return []byte(directionNames[d]), nil
}

// UnmarshalText accepts what MarshalText produces, and "".
func (d *Direction) UnmarshalText(b []byte) error {
	v, err := ParseDirection(string(b))
	if err == nil {
		*d = v
	}
	return err
}

// effective returns the direction a scan at gate g takes: a one-way gate's
// own direction wins over what the scan says.
func effective(gate, scan Direction) rules.Direction {
	switch {
	case gate == DirOut, gate == DirBoth && scan == DirOut:
		return rules.Out
	}
	return rules.In
}

// Gate is an entry point: which zone it counts for and how it authenticates.
type Gate struct {
	ID        string
	Zone      string
	TokenHash [32]byte // SHA-256 of the gate's bearer token; all zero = no token accepted
	Direction Direction
}

// HashToken returns the TokenHash for a gate's bearer token.
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// Scan is one code presented at a gate, as the node submits it. The node
// parses the code text first (see ScanFromCode); invalid codes never reach
// the log.
type Scan struct {
	ScanID    string    // chosen by the gate, 1 to MaxScanIDLen bytes; unique per gate
	Gate      string    // gate ID
	Direction Direction // DirBoth: the gate's direction decides
	// Offline is the decision an offline gate already acted on, for a
	// scan uploaded later (offline.go); Live for a scan decided now.
	// (Beside Direction, so that it costs no space.)
	Offline     OfflineDecision
	Persons     uint16 // persons passing; 0 means 1
	TicketID    [16]byte
	CodeVersion uint32   // ticket version the code was printed for
	Digest      [16]byte // digest of the presented code
	// DeviceTime is the gate's clock when the visitor presented the code
	// (unix ms; 0 = not sent). Recorded, never used to decide or order.
	DeviceTime int64
	// Credential, when its Kind is set, names the ticket in place of a
	// code: TicketID, CodeVersion and Digest are zero, and apply finds
	// the ticket the credential is bound to (credentials.go).
	Credential Credential
}

// OfflineDecision is what an offline gate did with a scan it uploads
// later. Values are persisted: append only.
type OfflineDecision uint8

const (
	Live         OfflineDecision = iota // decided by the cluster now
	OfflineAdmit                        // the gate let the visitor through
	OfflineDeny                         // the gate kept the visitor out
	numOfflineDecisions
)

// ext reports whether s needs a ScanBatch2 (credential, device time or
// offline decision).
func (s *Scan) ext() bool {
	return s.Credential.Kind != CredNone || s.DeviceTime != 0 || s.Offline != Live
}

// ScanFromCode builds a Scan from a parsed code.
func ScanFromCode(scanID, gate string, dir Direction, persons uint16, c code.Code) Scan {
	return Scan{
		ScanID: scanID, Gate: gate, Direction: dir, Persons: persons,
		TicketID: c.TicketID(), CodeVersion: c.TicketVersion(), Digest: c.Digest(),
	}
}

func (s *Scan) check() error {
	switch {
	case len(s.ScanID) == 0 || len(s.ScanID) > MaxScanIDLen:
		return fmt.Errorf("fsm: scan ID must be 1 to %d bytes", MaxScanIDLen)
	case !ticket.ValidName(s.Gate):
		return fmt.Errorf("fsm: gate ID must be 1 to %d bytes", ticket.MaxNameLen)
	case !s.Direction.Valid():
		return fmt.Errorf("fsm: unknown direction %d", s.Direction)
	case s.Offline >= numOfflineDecisions:
		return fmt.Errorf("fsm: unknown offline decision %d", s.Offline)
	case s.Credential.Kind != CredNone && !ValidCredential(s.Credential):
		return fmt.Errorf("fsm: credential (%s) is not in normal form", s.Credential.Kind)
	case s.Credential.Kind != CredNone && (s.TicketID != [16]byte{} || s.CodeVersion != 0 || s.Digest != [16]byte{}):
		return errors.New("fsm: a credential scan names no ticket, version or digest")
	}
	return nil
}

// ScanError is a per-scan failure that is not a gate decision: the scan was
// not decided, nothing changed, and the gate must stay closed. Values are
// persisted: append only.
type ScanError uint8

const (
	ScanOK ScanError = iota
	// ScanUnknownGate: the gate (or its zone) is not configured.
	ScanUnknownGate
	// ScanIDConflict: the gate reused a scan ID for another ticket.
	ScanIDConflict
	numScanErrors
)

var scanErrorNames = [numScanErrors]string{"", "unknown_gate", "scan_id_conflict"}

// String returns the API name, "" for ScanOK.
func (e ScanError) String() string {
	if e < numScanErrors {
		return scanErrorNames[e]
	}
	return "scan_error(" + strconv.Itoa(int(e)) + ")"
}

// ScanResult is the outcome of one scan: the gate decision and everything
// the gate API shows.
type ScanResult struct {
	Error          ScanError    // ScanOK when decided; otherwise Result is Deny
	Result         rules.Result // admit or deny
	Reason         rules.Reason // None on admit
	Rescan         bool         // the scan ID was seen before: this is the original decision
	TicketID       [16]byte
	Product        string // "" for an unknown ticket
	Kind           ticket.Kind
	Persons        uint16 // persons admitted or let out
	EntriesUsed    uint16
	EntriesAllowed uint16 // 0 = unlimited
	FirstAt        int64  // unix ms of the first entry in the zone; 0 if none
	FirstGate      string
	ZoneWarn       bool   // the zone is at or above its warning level
	Index          uint64 // log index of the original decision; 0 when not decided
	Pos            uint32 // position of the scan in that batch; with Index, its event's cursor
	// Offline: the decision recorded is what an offline gate did (an
	// uploaded scan). Result is the gate's; Reason, when set on an admit,
	// is the deny the cluster would have given.
	Offline bool
	// Conflict: an offline admit met another admit of the same ticket
	// (the cluster would have denied it for its use); a conflict record
	// lists both (Conflicts).
	Conflict bool
	// DeviceTime is the scan's device time (unix ms) and At the log time
	// of its decision, both set only when the scan carried a device time.
	DeviceTime int64
	At         int64
}

// Outcome is the answer to an administrative command, per ticket. Values are
// persisted: append only.
type Outcome uint8

const (
	_                  Outcome = iota
	OutcomeApplied             // the change was made
	OutcomeStale               // the command's version is not newer than the ticket's: nothing changed
	OutcomeUnknown             // no such ticket
	OutcomeRevoked             // the ticket is revoked (now, or already)
	OutcomeAlreadyUsed         // revoke refused: the ticket entered a zone
	OutcomeConflict            // the operation does not apply to the ticket's status or validity
	// OutcomeUnsigned: issue refused, the cluster holds signing keys and
	// the ticket came without its code. Nothing changed.
	OutcomeUnsigned
	// OutcomeBadSignature: issue refused, the ticket's code does not
	// parse, names a key id the cluster does not hold, is not signed by
	// that key, or was made for another ticket id, version or digest.
	// Nothing changed.
	OutcomeBadSignature
	// OutcomeWrongPark: issue refused, the ticket names a park other than
	// the cluster's. Nothing changed.
	OutcomeWrongPark
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"", "applied", "stale", "unknown", "revoked", "already_used", "conflict",
	"unsigned", "bad_signature", "wrong_park"}

// Refused reports whether o refuses an issue for good: the ticket's proof
// (code, signature, park) does not hold, and a resend gets the same answer.
func (o Outcome) Refused() bool {
	return o == OutcomeUnsigned || o == OutcomeBadSignature || o == OutcomeWrongPark
}

// String returns the API name, e.g. "already_used".
func (o Outcome) String() string {
	if o > 0 && o < numOutcomes {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// MarshalText makes Outcome a JSON string.
func (o Outcome) MarshalText() ([]byte, error) {
	if o == 0 || o >= numOutcomes {
		return nil, fmt.Errorf("fsm: unknown outcome %d", uint8(o))
	}
	return []byte(outcomeNames[o]), nil
}

// Revoke refunds or cancels a ticket that never entered any zone.
type Revoke struct {
	ID      [16]byte
	Version uint64 // the ticket's version after the revoke; must be newer
}

// RevokeResult answers a Revoke. For OutcomeAlreadyUsed it says when and
// where the ticket first entered (the earliest entry over all zones).
type RevokeResult struct {
	Outcome   Outcome
	FirstAt   int64
	FirstGate string
	Zone      string
}

// UpdateOp is what an Update does. Values are persisted: append only.
type UpdateOp uint8

const (
	_         UpdateOp = iota
	OpSuspend          // active or suspended -> suspended
	OpResume           // suspended or active -> active
	OpExtend           // set ValidUntil (active or suspended tickets)
	numUpdateOps
)

var updateOpNames = [numUpdateOps]string{"", "suspend", "resume", "extend"}

// String returns "suspend", "resume" or "extend".
func (o UpdateOp) String() string {
	if o > 0 && o < numUpdateOps {
		return updateOpNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// ParseUpdateOp parses what String returns.
func ParseUpdateOp(s string) (UpdateOp, error) {
	for i, n := range updateOpNames {
		if i > 0 && n == s {
			return UpdateOp(i), nil
		}
	}
	return 0, fmt.Errorf("fsm: unknown update op %q", s)
}

// Update changes one ticket's status or validity.
type Update struct {
	ID         [16]byte
	Version    uint64 // the ticket's version after the update; must be newer
	Op         UpdateOp
	ValidUntil int64 // OpExtend only: new end of validity (unix ms, 0 = open); 0 otherwise
}

// Configure changes the park configuration. Lists apply in this order:
// zone upserts, gate upserts, gate deletes, zone deletes. The command is
// rejected as a whole if an ID is listed twice, a gate names a zone that
// does not exist afterwards, a deleted zone still has gates, the time
// zone does not load, or Park differs from the park ID already set
// (ErrParkChange).
type Configure struct {
	TimeZone    string        // IANA name such as "Asia/Shanghai"; "" = unchanged
	Zones       []ticket.Zone // upserts of ID, Cap, Warn; Occupancy is ignored and kept
	DeleteZones []string
	Gates       []Gate // upserts
	DeleteGates []string
	// Park is the park this cluster serves: set once, then only the same
	// ID again. "" = unchanged.
	Park string
	// Keys replace the park's signing public keys as a whole set; empty =
	// unchanged (the set cannot be emptied: once a cluster holds keys,
	// every issue is verified). At most one key per ID.
	Keys []Key
	// IDCardKey keys the hashes of ID numbers (gateapi.IDCardHash): a
	// node hashes an ID card read at a gate with it before the scan
	// reaches the log. nil = unchanged; else exactly 32 bytes.
	IDCardKey []byte
}

// Key is a ticket signing public key (Ed25519) under the key ID codes
// carry (code.Claims.KeyID).
type Key struct {
	ID     uint8
	Public [32]byte
}

// Issue is one ticket of an issue command with what apply checks it
// against when the cluster holds signing keys or a park ID.
type Issue struct {
	Ticket ticket.Ticket
	// Park is the ticket's park; "" = not checked.
	Park string
	// Code is the binary form of the ticket's current code
	// (code.Code.Binary); nil = digest only, refused once the cluster
	// holds signing keys.
	Code []byte
	// Credentials open the ticket besides its code; a ticket version
	// that is written replaces its bindings as a whole (credentials.go).
	Credentials []Credential
}

// ExitAllResult answers ExitAll.
type ExitAllResult struct {
	Epoch uint64 // the new epoch
	Zones int    // zones whose occupancy was reset
}

// PurgeScans drops scan-ID records and entry events from before a time.
type PurgeScans struct {
	Before int64 // unix ms; events at or after it stay
	Limit  int   // keys deleted at most; 0 = DefaultPurgeMax; at most MaxPurgeMax
}

// PurgeResult answers PurgeScans. More says the limit stopped the purge:
// send the command again.
type PurgeResult struct {
	Events  int
	ScanIDs int
	More    bool
}
