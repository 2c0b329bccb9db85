package rules

import (
	"slices"

	"github.com/admitpark/admit/validator/ticket"
)

// ExitAll returns st with nobody inside any zone, for the nightly reset (the
// caller zeroes every zone's Occupancy alongside). Usage history is kept.
// st is returned as is when nobody is inside.
func ExitAll(st ticket.State) ticket.State {
	i := slices.IndexFunc(st.Zones, func(u ticket.ZoneUse) bool { return u.Inside > 0 })
	if i < 0 {
		return st
	}
	zones := slices.Clone(st.Zones)
	for j := i; j < len(zones); j++ {
		zones[j].Inside = 0
	}
	return ticket.State{Zones: zones}
}

// Revocable reports whether a ticket with state st may be revoked (refunded):
// only if it never entered any zone. Otherwise it returns the earliest entry
// (ties go to the first zone in sorted order) so the refund desk can say why.
func Revocable(st ticket.State) (ok bool, firstAt int64, firstGate, zone string) {
	ok = true
	for _, u := range st.Zones {
		if u.Used == 0 {
			continue
		}
		if ok || u.FirstAt < firstAt {
			ok, firstAt, firstGate, zone = false, u.FirstAt, u.FirstGate, u.Zone
		}
	}
	return ok, firstAt, firstGate, zone
}

// Inside returns how many persons st records inside zone.
func Inside(st ticket.State, zone string) uint16 {
	if i, ok := st.Find(zone); ok {
		return st.Zones[i].Inside
	}
	return 0
}
