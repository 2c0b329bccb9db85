package gateapi

// Results of a scan.
const (
	ResultAdmit = "admit"
	ResultDeny  = "deny"
)

// Reasons a scan is denied (ScanResponse.Reason, EventJSON.Reason). The
// server's names come from validator/rules; a test there keeps them equal.
const (
	ReasonInvalidCode   = "invalid_code"    // code forged or garbled
	ReasonUnknown       = "unknown"         // no such ticket
	ReasonRevoked       = "revoked"         // ticket refunded or cancelled
	ReasonSuspended     = "suspended"       // ticket blocked for now
	ReasonReplaced      = "replaced"        // ticket superseded, or an older print of its code
	ReasonNotYetValid   = "not_yet_valid"   // before validity or slot start
	ReasonExpired       = "expired"         // at or after validity or slot end
	ReasonWrongZone     = "wrong_zone"      // ticket not valid in this zone
	ReasonAlreadyUsed   = "already_used"    // single entry already taken in this zone
	ReasonDailyLimit    = "daily_limit"     // period pass already entered today
	ReasonNoEntriesLeft = "no_entries_left" // entries or persons exhausted
	ReasonAlreadyInside = "already_inside"  // still recorded inside: exit first
	ReasonZoneFull      = "zone_full"       // zone at capacity
	// ReasonOfflineDeny: an offline gate denied a scan (uploaded later)
	// that the cluster would have admitted.
	ReasonOfflineDeny = "offline_deny"
)

// Reasons lists every deny reason, in the server's order.
var Reasons = []string{
	ReasonInvalidCode, ReasonUnknown, ReasonRevoked, ReasonSuspended, ReasonReplaced,
	ReasonNotYetValid, ReasonExpired, ReasonWrongZone, ReasonAlreadyUsed, ReasonDailyLimit,
	ReasonNoEntriesLeft, ReasonAlreadyInside, ReasonZoneFull, ReasonOfflineDeny,
}

// Outcomes of an issue, revoke or update, per ticket (IssueResponse.Outcomes,
// ChangeResponse.Outcome).
const (
	OutcomeApplied     = "applied"      // the change was made
	OutcomeStale       = "stale"        // the cluster has this version or a newer one: nothing changed
	OutcomeUnknown     = "unknown"      // the cluster does not have the ticket
	OutcomeRevoked     = "revoked"      // the ticket is revoked (now, or already)
	OutcomeAlreadyUsed = "already_used" // revoke refused: the ticket entered a zone
	OutcomeConflict    = "conflict"     // the operation does not apply to the ticket's status
	// Issue refusals: the ticket's proof does not hold, nothing changed,
	// and sending it again gets the same answer.
	OutcomeUnsigned     = "unsigned"      // the cluster holds signing keys and the ticket came without its code
	OutcomeBadSignature = "bad_signature" // the code is not signed by one of the park's keys, or not for this ticket
	OutcomeWrongPark    = "wrong_park"    // the ticket names another park than the cluster's
)

// Outcomes lists every outcome, in the server's order.
var Outcomes = []string{OutcomeApplied, OutcomeStale, OutcomeUnknown, OutcomeRevoked, OutcomeAlreadyUsed, OutcomeConflict,
	OutcomeUnsigned, OutcomeBadSignature, OutcomeWrongPark}

// IssueRefused reports whether an issue outcome refuses the ticket for
// good (unsigned, bad_signature, wrong_park).
func IssueRefused(outcome string) bool {
	return outcome == OutcomeUnsigned || outcome == OutcomeBadSignature || outcome == OutcomeWrongPark
}

// Directions of a gate or a scan.
const (
	DirectionBoth = "both"
	DirectionIn   = "in"
	DirectionOut  = "out"
)

// Update operations (ChangeRequest.Op).
const (
	OpSuspend = "suspend"
	OpResume  = "resume"
	OpExtend  = "extend"
)

// ErrorBody is every error reply: {"error": "what is wrong"}.
type ErrorBody struct {
	Error string `json:"error"`
}

// EventsResponse answers GET /v1/events.
type EventsResponse struct {
	Events       []EventJSON `json:"events"`
	Next         string      `json:"next"` // pass as ?after= to read on
	AppliedIndex uint64      `json:"applied_index"`
}

// ExitAllResponse answers POST /v1/park/exit-all.
type ExitAllResponse struct {
	Epoch      uint64 `json:"epoch"`
	ZonesReset int    `json:"zones_reset"`
}

// GatesResponse answers GET /v1/gates.
type GatesResponse struct {
	Gates []GateJSON `json:"gates"`
}

// ZonesResponse answers GET /v1/zones.
type ZonesResponse struct {
	Zones []ZoneJSON `json:"zones"`
}
