package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/rules"
)

// view is what the agent caches from GET /v1/keys: the keys that verify
// codes, the park's time zone and this gate's zone and direction. It is
// immutable; a refresh swaps in a new one.
type view struct {
	keys *code.KeySet
	nkey int
	loc  *time.Location
	zone string
	// zoneBit is the zone's bit in codes' zone masks as the cluster knows
	// it (sales sends it with the zone); -1 when it does not.
	zoneBit int
	dir     rules.Direction // In unless the gate is an exit gate
	both    bool            // the gate passes either way: the scan says which
	raw     gateapi.KeysResponse
}

// newView checks a GET /v1/keys answer and builds a view. The key set is
// the cluster's set as is: sales keeps a retired key in it until every
// code the key signed has expired (sales/keys), so a key that leaves the
// set verifies nothing still valid, and the agent drops it too.
func newView(k gateapi.KeysResponse, gate string) (*view, error) {
	v := &view{keys: code.NewKeySet(), raw: k, both: true}
	for _, kj := range k.Keys {
		pub, err := base64.StdEncoding.DecodeString(kj.Public)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %d: not a base64 Ed25519 public key", kj.ID)
		}
		if err := v.keys.AddPublic(kj.ID, pub); err != nil {
			return nil, err
		}
		v.nkey++
	}
	loc, err := time.LoadLocation(k.TimeZone)
	if err != nil || k.TimeZone == "" {
		loc = time.UTC
	}
	v.loc = loc
	if k.Gate == nil || k.Gate.ID != gate {
		return nil, fmt.Errorf("the cluster's answer has no gate %q", gate)
	}
	v.zone, v.zoneBit = k.Gate.Zone, -1
	if b := k.Gate.ZoneBit; b != nil && *b >= 0 && *b < 32 {
		v.zoneBit = *b
	}
	switch k.Gate.Direction {
	case gateapi.DirectionIn:
		v.both = false
	case gateapi.DirectionOut:
		v.dir, v.both = rules.Out, false
	}
	return v, nil
}

// direction is the direction a scan takes at this gate (the cluster's
// rule: a one-way gate decides; at a two-way gate the scan says, in by
// default).
func (v *view) direction(scan string) rules.Direction {
	if v.both {
		if scan == gateapi.DirectionOut {
			return rules.Out
		}
		return rules.In
	}
	return v.dir
}

// refreshKeys reads the keys, time zone and gate from the cluster, caches
// them in the store and swaps them in.
func (a *Agent) refreshKeys(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	k, err := a.client.Keys(ctx, a.cfg.Gate)
	if err != nil {
		return err
	}
	v, err := newView(k, a.cfg.Gate)
	if err != nil {
		return err
	}
	old := a.view.Load()
	if old == nil || !sameKeys(old.raw, k) {
		if err := a.store.SaveKeys(k); err != nil {
			return err
		}
		a.log.Info("gate agent: keys and gate configuration from the cluster", "keys", v.nkey, "zone", v.zone, "zone_bit", v.zoneBit,
			"time_zone", v.loc.String())
	}
	a.view.Store(v)
	return nil
}

func sameKeys(a, b gateapi.KeysResponse) bool {
	if a.TimeZone != b.TimeZone || a.Park != b.Park || len(a.Keys) != len(b.Keys) || (a.Gate == nil) != (b.Gate == nil) {
		return false
	}
	if a.Gate != nil {
		ga, gb := *a.Gate, *b.Gate
		if (ga.ZoneBit == nil) != (gb.ZoneBit == nil) || ga.ZoneBit != nil && *ga.ZoneBit != *gb.ZoneBit {
			return false
		}
		ga.ZoneBit, gb.ZoneBit = nil, nil
		if ga != gb {
			return false
		}
	}
	for i := range a.Keys {
		if a.Keys[i] != b.Keys[i] {
			return false
		}
	}
	return true
}
