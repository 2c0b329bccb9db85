package catalog

import (
	"context"
	"encoding/json"
	"fmt"
)

// ConfigZone is a zone in a 'configure' outbox payload: what the cluster
// keeps of a zone (validator/ticket.Zone without occupancy).
type ConfigZone struct {
	ID   string `json:"id"`
	Cap  int    `json:"cap"`
	Warn int    `json:"warn"`
}

// ConfigGate is a gate in a 'configure' outbox payload. The cluster makes
// the gate's token itself when it first learns the gate.
type ConfigGate struct {
	ID        string `json:"id"`
	Zone      string `json:"zone"`
	Direction string `json:"direction"` // in, out, both
}

// ConfigurePayload is the payload of an outbox row of kind 'configure':
// {"zones":[...]} or {"gates":[...]}, upserts for the park's cluster.
type ConfigurePayload struct {
	TimeZone string       `json:"time_zone,omitempty"` // the park's IANA zone: its days at the gates
	Zones    []ConfigZone `json:"zones,omitempty"`
	Gates    []ConfigGate `json:"gates,omitempty"`
}

// writeConfigure adds a 'configure' row to the outbox, in the caller's
// transaction, for sync to send to the cluster.
func writeConfigure(ctx context.Context, tx DB, p ConfigurePayload) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("configure payload: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (kind, payload) VALUES ('configure', $1)`, b); err != nil {
		return fmt.Errorf("outbox configure: %w", err)
	}
	return nil
}
