package rules

import (
	"time"
	_ "time/tzdata" // park zones must load on a bare machine

	"github.com/admitpark/admit/validator/ticket"
)

const (
	minute = int64(60_000)
	hour   = 60 * minute
	day    = 24 * hour
	// t0 is 2026-01-01T00:00:00Z, 08:00 in Shanghai.
	t0 = int64(1767225600000)
)

var shanghai = mustLoad("Asia/Shanghai")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// tk builds an active ticket of kind valid for 2026-01-01..03 (UTC).
func tk(kind ticket.Kind, opts ...func(*ticket.Ticket)) *ticket.Ticket {
	t := &ticket.Ticket{
		ID:         [16]byte{1},
		Version:    1,
		Product:    kind.String(),
		Kind:       kind,
		ValidFrom:  t0,
		ValidUntil: t0 + 3*day,
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func entries(n uint16) func(*ticket.Ticket)  { return func(t *ticket.Ticket) { t.Entries = n } }
func zones(z ...string) func(*ticket.Ticket) { return func(t *ticket.Ticket) { t.Zones = z } }
func status(s ticket.Status) func(*ticket.Ticket) {
	return func(t *ticket.Ticket) { t.Status = s }
}
func slot(start, end int64) func(*ticket.Ticket) {
	return func(t *ticket.Ticket) { t.SlotStart, t.SlotEnd = start, end }
}

func in(zone string, at int64) Scan {
	return Scan{Zone: zone, Gate: "g-" + zone, Direction: In, Code: Match, At: at}
}

func out(zone string, at int64) Scan {
	return Scan{Zone: zone, Gate: "x-" + zone, Direction: Out, Code: Match, At: at}
}

func persons(s Scan, n uint16) Scan { s.Persons = n; return s }

// use is a zone entered first at t0+1h through gate "g-<zone>".
func use(zone string, used, inside uint16, lastAt int64) ticket.ZoneUse {
	return ticket.ZoneUse{
		Zone: zone, Used: used, Inside: inside,
		LastDay: ParkDay(lastAt, time.UTC), FirstAt: t0 + hour, FirstGate: "g-" + zone,
		LastAt: lastAt, LastGate: "g-" + zone,
	}
}

func state(u ...ticket.ZoneUse) ticket.State { return ticket.State{Zones: u} }

func zone(id string, occ uint32) ticket.Zone { return ticket.Zone{ID: id, Occupancy: occ} }

// run feeds scans through Decide, threading state and zone counters, and
// returns every decision.
type park struct {
	st    ticket.State
	zones map[string]ticket.Zone
	loc   *time.Location
}

func newPark(loc *time.Location, zs ...ticket.Zone) *park {
	p := &park{zones: map[string]ticket.Zone{}, loc: loc}
	for _, z := range zs {
		p.zones[z.ID] = z
	}
	return p
}

func (p *park) scan(t *ticket.Ticket, s Scan) Decision {
	z, ok := p.zones[s.Zone]
	if !ok {
		z = ticket.Zone{ID: s.Zone}
	}
	d, st, nz := Decide(t, p.st, z, s, p.loc)
	p.st, p.zones[s.Zone] = st, nz
	return d
}
