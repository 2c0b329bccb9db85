package sync

import (
	"context"
	"fmt"

	"github.com/admitpark/admit/sync/outbox"
	"github.com/admitpark/admit/validator/gateapi"
)

// sendConfigure sets the park's time zone, park ID, signing public keys
// and ID-card hash key (PUT /v1/park: the ID is set once, a different one is refused with 409
// and the row waits for an operator; the keys replace the cluster's set),
// upserts zones (POST /v1/zones per zone, idempotent) and
// adds gates the cluster does not have yet (POST /v1/gates). A gate the
// cluster already has is left alone: adding it again would give it a new
// token and lock its device out.
func (r *Relay) sendConfigure(ctx context.Context, o *outbox.Row) error {
	p, err := outbox.DecodeConfigure(o.Payload)
	if err != nil {
		return badRow(o, err)
	}
	if !r.tellsPark(o.Park) {
		p.Park = ""
	}
	if p.TimeZone != "" || p.Park != "" || len(p.Keys) > 0 || p.IDCardKey != "" {
		// The ID-card key goes to the park's own cluster as to the
		// default one: it only keys hashes of ID numbers, which the
		// cluster compares; it holds no numbers.
		park := gateapi.ParkJSON{TimeZone: p.TimeZone, ID: p.Park, IDCardKey: p.IDCardKey}
		for _, k := range p.Keys {
			park.Keys = append(park.Keys, gateapi.KeyJSON(k))
		}
		if err := r.client.SetPark(ctx, park); err != nil {
			return fmt.Errorf("park (id %q, time zone %q, %d keys): %w", p.Park, p.TimeZone, len(p.Keys), clusterErr(err))
		}
	}
	for _, z := range p.Zones {
		if err := r.client.SetZone(ctx, gateapi.ZoneJSON{ID: z.ID, Cap: z.Cap, Warn: z.Warn, Bit: z.Bit}); err != nil {
			return fmt.Errorf("zone %q: %w", z.ID, clusterErr(err))
		}
	}
	if len(p.Gates) > 0 {
		list, err := r.client.Gates(ctx)
		if err != nil {
			return fmt.Errorf("list gates: %w", clusterErr(err))
		}
		have := map[string]gateapi.GateJSON{}
		for _, g := range list {
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
			added, err := r.client.AddGate(ctx, gateapi.GateJSON{ID: g.ID, Zone: g.Zone, Direction: g.Direction})
			if err != nil {
				return fmt.Errorf("gate %q: %w", g.ID, clusterErr(err))
			}
			// The token in the reply is not kept or logged: sync has no safe
			// place for it. The device gets its token from an operator.
			r.log.Info("sync relay added a gate to the cluster; issue its device token at the park with "+
				"`admit gate add --id ID --zone ZONE --direction DIR` (prints the token once)",
				"gate", g.ID, "zone", g.Zone, "direction", added.Direction)
		}
	}
	return r.markSent(ctx, o.Kind, []int64{o.Seq})
}
