package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/admitpark/admit/validator/gateapi"
)

// configurePayload is a 'configure' outbox row (sales/catalog writes it):
// {"time_zone":"Asia/Shanghai"}, {"zones":[{"id","cap","warn"}]} or
// {"gates":[{"id","zone","direction"}]}.
type configurePayload struct {
	TimeZone string `json:"time_zone"`
	Zones    []struct {
		ID   string `json:"id"`
		Cap  uint32 `json:"cap"`
		Warn uint32 `json:"warn"`
	} `json:"zones"`
	Gates []struct {
		ID        string `json:"id"`
		Zone      string `json:"zone"`
		Direction string `json:"direction"`
	} `json:"gates"`
}

// sendConfigure upserts zones (POST /v1/zones per zone, idempotent) and
// adds gates the cluster does not have yet (POST /v1/gates). A gate the
// cluster already has is left alone: adding it again would give it a new
// token and lock its device out.
func (r *Relay) sendConfigure(ctx context.Context, o *outboxRow) error {
	var p configurePayload
	if err := json.Unmarshal(o.payload, &p); err != nil || (len(p.Zones)+len(p.Gates) == 0 && p.TimeZone == "") {
		return fmt.Errorf(`%w: payload must be {"time_zone":...}, {"zones":[...]} or {"gates":[...]}: %s`, ErrBadRow, o.payload)
	}
	if p.TimeZone != "" {
		if err := r.call(ctx, http.MethodPut, gateapi.PathPark, gateapi.ParkJSON{TimeZone: p.TimeZone}, nil); err != nil {
			return fmt.Errorf("park time zone %q: %w", p.TimeZone, err)
		}
	}
	for _, z := range p.Zones {
		body := gateapi.ZoneJSON{ID: z.ID, Cap: z.Cap, Warn: z.Warn}
		if err := r.call(ctx, http.MethodPost, gateapi.PathZones, body, nil); err != nil {
			return fmt.Errorf("zone %q: %w", z.ID, err)
		}
	}
	if len(p.Gates) > 0 {
		var list struct {
			Gates []gateapi.GateJSON `json:"gates"`
		}
		if err := r.call(ctx, http.MethodGet, gateapi.PathGates, nil, &list); err != nil {
			return fmt.Errorf("list gates: %w", err)
		}
		have := map[string]gateapi.GateJSON{}
		for _, g := range list.Gates {
			have[g.ID] = g
		}
		for _, g := range p.Gates {
			if old, ok := have[g.ID]; ok {
				if old.Zone != g.Zone || (g.Direction != "" && old.Direction != g.Direction) {
					r.log.Warn("sync relay: gate exists in the cluster with another zone or direction; left as it is "+
						"(changing it means a new token: run `admit gate add` at the park)",
						"gate", g.ID, "cluster_zone", old.Zone, "cluster_direction", old.Direction, "zone", g.Zone, "direction", g.Direction)
				}
				continue
			}
			var added gateapi.GateJSON
			body := gateapi.GateJSON{ID: g.ID, Zone: g.Zone, Direction: g.Direction}
			if err := r.call(ctx, http.MethodPost, gateapi.PathGates, body, &added); err != nil {
				return fmt.Errorf("gate %q: %w", g.ID, err)
			}
			// The token in the reply is not kept or logged: sync has no safe
			// place for it. The device gets its token from an operator.
			r.log.Info("sync relay added a gate to the cluster; issue its device token at the park with "+
				"`admit gate add --id ID --zone ZONE --direction DIR` (prints the token once)",
				"gate", g.ID, "zone", g.Zone, "direction", added.Direction)
		}
	}
	return r.markSent(ctx, []outboxRow{*o}, "")
}
