package gateapi

import "time"

// GateJSON is a gate in the API. Token appears once, in the reply to add.
type GateJSON struct {
	ID        string `json:"id"`
	Zone      string `json:"zone"`
	Direction string `json:"direction,omitempty"` // in, out, both (default both)
	Token     string `json:"token,omitempty"`
	// ZoneBit is the bit of the gate's zone in ticket codes' zone masks
	// (0-31), when the cluster was told it (sales sends it with the zone).
	// Read only: GET /v1/keys?gate= fills it in for an offline agent.
	ZoneBit *int `json:"zone_bit,omitempty"`
}

// ZoneJSON is a zone in the API; occupancy is read-only.
type ZoneJSON struct {
	ID        string `json:"id"`
	Cap       uint32 `json:"cap"`
	Warn      uint32 `json:"warn"`
	Occupancy uint32 `json:"occupancy"`
	// Bit is the zone's bit in ticket codes' zone masks (0-31; sales
	// numbers a park's zones). Absent: unknown, or unchanged by a POST
	// (a bit once set is kept).
	Bit *int `json:"bit,omitempty"`
}

// ParkJSON is the park-wide configuration.
type ParkJSON struct {
	TimeZone string `json:"time_zone"`
	// ID is the park this cluster serves. Set once; the cluster then
	// refuses tickets for another park. Empty: unchanged.
	ID string `json:"id,omitempty"`
	// Keys are the park's ticket signing public keys. When the cluster has
	// any, it admits into its state only tickets whose code is signed by
	// one of them (verified once, at issue). Nil: unchanged; a PUT with
	// keys replaces the set.
	Keys []KeyJSON `json:"keys,omitempty"`
	// IDCardKey keys the hashes of ID numbers (IDCardHash), 32 bytes in
	// standard base64: a node hashes an ID card read at a gate with it
	// and looks the hash up. Write only: PUT sets it (empty: unchanged);
	// GET and replies say only IDCardKeySet.
	IDCardKey    string `json:"id_card_key,omitempty"`
	IDCardKeySet bool   `json:"id_card_key_set,omitempty"`
}

// KeyJSON is a ticket signing public key.
type KeyJSON struct {
	ID     uint8  `json:"id"`     // the key id codes carry
	Public string `json:"public"` // Ed25519 public key, 32 bytes, standard base64
}

// EventJSON is one entry event of the changefeed.
type EventJSON struct {
	Cursor    string    `json:"cursor"` // pass as ?after= to read on
	Seq       uint64    `json:"seq"`
	ScanID    string    `json:"scan_id"`
	TicketID  string    `json:"ticket_id"`
	Gate      string    `json:"gate"`
	Zone      string    `json:"zone"`
	Direction string    `json:"direction"`
	Persons   uint16    `json:"persons"`
	Result    string    `json:"result"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"` // log time: the leader's clock for the batch; decisions follow log order
	// DeviceTime is the gate's clock when the visitor presented the code
	// (what the scan sent), recorded beside At; never used to order.
	DeviceTime time.Time `json:"device_time,omitzero"`
	// Credential is the kind presented instead of a code (card, id_card,
	// ticket_number); empty for a code.
	Credential string `json:"credential,omitempty"`
	// Offline: an offline gate made this decision and uploaded it later;
	// Result is what the gate did, and Reason on an admit the deny the
	// cluster would have given.
	Offline bool `json:"offline,omitempty"`
	// Conflict: an offline admit that met another admit of the same
	// ticket (GET /v1/conflicts lists both).
	Conflict bool `json:"conflict,omitempty"`
}

// ConflictScan is one of the two admits of a conflict.
type ConflictScan struct {
	ScanID     string    `json:"scan_id,omitempty"` // empty when its event was purged
	Gate       string    `json:"gate"`
	DeviceTime time.Time `json:"device_time,omitzero"`
	At         time.Time `json:"at"` // log time
	Offline    bool      `json:"offline,omitempty"`
	Cursor     string    `json:"cursor,omitempty"` // its event in GET /v1/events
}

// ConflictJSON is an offline admit that met another admit of the same
// ticket: the ticket was let in twice where the cluster would have let it
// in once.
type ConflictJSON struct {
	Cursor   string       `json:"cursor"` // the offline admit's event; pass as ?after= to read on
	TicketID string       `json:"ticket_id"`
	Zone     string       `json:"zone"`
	Reason   string       `json:"reason"` // what the cluster would have said: already_used, no_entries_left, ...
	Scan     ConflictScan `json:"scan"`   // the offline admit, uploaded later
	Other    ConflictScan `json:"other"`  // the admit it met
}

// ConflictsResponse answers GET /v1/conflicts.
type ConflictsResponse struct {
	Conflicts    []ConflictJSON `json:"conflicts"`
	Next         string         `json:"next"`  // pass as ?after= to read on
	Total        uint64         `json:"total"` // conflicts recorded so far (purged ones included)
	AppliedIndex uint64         `json:"applied_index"`
}
