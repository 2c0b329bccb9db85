package gateapi

// ScanRequest is the body of POST /v1/scan and one item of POST /v1/scans.
type ScanRequest struct {
	Code      string `json:"code"`
	Gate      string `json:"gate"`
	ScanID    string `json:"scan_id"`
	Direction string `json:"direction,omitempty"` // in, out; empty: the gate's own
	Persons   uint16 `json:"persons,omitempty"`   // group tickets; 0 means 1
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
}

// ScanBatchResponse answers POST /v1/scans, results in request order.
type ScanBatchResponse struct {
	Results []ScanResponse `json:"results"`
}
