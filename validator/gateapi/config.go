package gateapi

import "time"

// GateJSON is a gate in the API. Token appears once, in the reply to add.
type GateJSON struct {
	ID        string `json:"id"`
	Zone      string `json:"zone"`
	Direction string `json:"direction,omitempty"` // in, out, both (default both)
	Token     string `json:"token,omitempty"`
}

// ZoneJSON is a zone in the API; occupancy is read-only.
type ZoneJSON struct {
	ID        string `json:"id"`
	Cap       uint32 `json:"cap"`
	Warn      uint32 `json:"warn"`
	Occupancy uint32 `json:"occupancy"`
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
	At        time.Time `json:"at"`
}
