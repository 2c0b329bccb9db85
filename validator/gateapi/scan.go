package gateapi

import "time"

// ScanRequest is the body of POST /v1/scan and one item of POST /v1/scans.
type ScanRequest struct {
	Code string `json:"code,omitempty"`
	// Credential, in place of Code, names the ticket by something else
	// the visitor carries (a card, an ID card, a typed ticket number).
	Credential *Credential `json:"credential,omitempty"`
	Gate       string      `json:"gate"`
	ScanID     string      `json:"scan_id"`
	Direction  string      `json:"direction,omitempty"` // in, out; empty: the gate's own
	Persons    uint16      `json:"persons,omitempty"`   // group tickets; 0 means 1
	// DeviceTime is the device's clock when the visitor presented the
	// credential. Recorded beside the log time; it never orders decisions.
	DeviceTime time.Time `json:"device_time,omitzero"`
	// Offline is the decision an offline device already acted on ("admit"
	// or "deny") for a scan uploaded later; empty for a live scan.
	Offline string `json:"offline,omitempty"`
}

// Credential kinds (Credential.Kind, CredentialJSON.Kind).
const (
	CredentialCard         = "card"          // a member or IC card's number or UID
	CredentialIDCard       = "id_card"       // a national ID number (real-name tickets)
	CredentialTicketNumber = "ticket_number" // the short number printed on a ticket, typed at a staffed gate
)

// Credential is what a gate read instead of a ticket code. For an ID card
// the value is the ID number as read; the cluster keeps only keyed hashes.
type Credential struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// ScanBatchRequest is the body of POST /v1/scans.
type ScanBatchRequest struct {
	Scans []ScanRequest `json:"scans"`
}

// ScanResponse is a gate decision.
type ScanResponse struct {
	ScanID         string `json:"scan_id,omitempty"`
	Result         string `json:"result"`           // admit, deny
	Reason         string `json:"reason,omitempty"` // one of the Reason* names; empty on admit
	Rescan         bool   `json:"rescan,omitempty"` // the original decision for a repeated scan_id
	TicketID       string `json:"ticket_id,omitempty"`
	Product        string `json:"product,omitempty"`
	Persons        uint16 `json:"persons,omitempty"`
	EntriesUsed    uint16 `json:"entries_used"`
	EntriesAllowed uint16 `json:"entries_allowed"` // 0: unlimited
	FirstEntryAt   string `json:"first_entry_at,omitempty"`
	FirstEntryGate string `json:"first_entry_gate,omitempty"`
	ZoneWarning    bool   `json:"zone_warning,omitempty"`
	Error          string `json:"error,omitempty"` // in a batch: this scan got no decision
	// Offline is set by a gate agent that decided without the cluster.
	Offline bool `json:"offline,omitempty"`
	// Conflict: an uploaded offline admit met another admit of the same
	// ticket; recorded as a conflict event (GET /v1/conflicts).
	Conflict bool `json:"conflict,omitempty"`
}

// ScanBatchResponse answers POST /v1/scans, results in request order.
type ScanBatchResponse struct {
	Results []ScanResponse `json:"results"`
}
