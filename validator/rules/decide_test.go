package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/ticket"
)

const now = t0 + 2*hour // inside every default validity window

// fresh is the ZoneUse a first admit of n persons at at through g-<zone> creates.
func fresh(zone string, n uint16, at int64, loc *time.Location) ticket.ZoneUse {
	return ticket.ZoneUse{Zone: zone, Used: n, Inside: n, LastDay: ParkDay(at, loc),
		FirstAt: at, FirstGate: "g-" + zone, LastAt: at, LastGate: "g-" + zone}
}

type decideCase struct {
	name      string
	t         *ticket.Ticket
	st        ticket.State
	z         ticket.Zone
	s         Scan
	loc       *time.Location
	want      Decision
	wantState *ticket.State // nil: returned unchanged
	wantZone  ticket.Zone
}

func decideCases() []decideCase {
	sp := func(s ticket.State) *ticket.State { return &s }
	deny := func(r Reason) Decision { return Decision{Result: Deny, Reason: r} }
	usedMain := state(use("main", 1, 0, t0+hour))
	withCode := func(s Scan, c CodeMatch) Scan { s.Code = c; return s }
	longZone := strings.Repeat("z", ticket.MaxNameLen+1)
	return []decideCase{
		// Check 1: identity.
		{name: "unknown", t: nil, z: zone("main", 3), s: in("main", now),
			want: deny(Unknown), wantZone: zone("main", 3)},
		{name: "invalid_code", t: tk(ticket.Single), z: zone("main", 0), s: withCode(in("main", now), Mismatch),
			want: deny(InvalidCode), wantZone: zone("main", 0)},
		{name: "invalid_code/unknown verdict", t: tk(ticket.Single), z: zone("main", 0), s: withCode(in("main", now), 9),
			want: deny(InvalidCode), wantZone: zone("main", 0)},
		{name: "replaced/older code", t: tk(ticket.Single), z: zone("main", 0), s: withCode(in("main", now), Older),
			want: deny(Replaced), wantZone: zone("main", 0)},
		// Check 2: status.
		{name: "revoked", t: tk(ticket.Single, status(ticket.Revoked)), z: zone("main", 0), s: in("main", now),
			want: Decision{Reason: Revoked, EntriesAllowed: 1}, wantZone: zone("main", 0)},
		{name: "suspended", t: tk(ticket.Single, status(ticket.Suspended)), z: zone("main", 0), s: in("main", now),
			want: Decision{Reason: Suspended, EntriesAllowed: 1}, wantZone: zone("main", 0)},
		{name: "suspended/unknown status", t: tk(ticket.DayPass, status(9)), z: zone("main", 0), s: in("main", now),
			want: deny(Suspended), wantZone: zone("main", 0)},
		{name: "replaced/status", t: tk(ticket.Single, status(ticket.Replaced)), z: zone("main", 0), s: in("main", now),
			want: Decision{Reason: Replaced, EntriesAllowed: 1}, wantZone: zone("main", 0)},
		{name: "revoked beats expired", t: tk(ticket.DayPass, status(ticket.Revoked)), z: zone("main", 0), s: in("main", t0+9*day),
			want: deny(Revoked), wantZone: zone("main", 0)},
		// Check 3: zone.
		{name: "wrong_zone", t: tk(ticket.Single, zones("main")), z: zone("coaster", 0), s: in("coaster", now),
			want: Decision{Reason: WrongZone, EntriesAllowed: 1}, wantZone: zone("coaster", 0)},
		{name: "wrong_zone/empty zone ID", t: tk(ticket.DayPass), z: zone("", 0), s: in("", now),
			want: deny(WrongZone), wantZone: zone("", 0)},
		{name: "wrong_zone/overlong zone ID", t: tk(ticket.DayPass), z: zone(longZone, 0), s: in(longZone, now),
			want: deny(WrongZone), wantZone: zone(longZone, 0)},
		{name: "wrong_zone beats expired", t: tk(ticket.Single, zones("main")), z: zone("coaster", 0), s: in("coaster", t0-day),
			want: Decision{Reason: WrongZone, EntriesAllowed: 1}, wantZone: zone("coaster", 0)},
		// Check 4: validity and slot, [start, end).
		{name: "not_yet_valid", t: tk(ticket.DayPass), z: zone("main", 0), s: in("main", t0-1),
			want: deny(NotYetValid), wantZone: zone("main", 0)},
		{name: "expired", t: tk(ticket.DayPass), z: zone("main", 0), s: in("main", t0+3*day),
			want: deny(Expired), wantZone: zone("main", 0)},
		{name: "not_yet_valid/slot", t: tk(ticket.Single, slot(t0+10*hour, t0+11*hour)), z: zone("main", 0), s: in("main", t0+10*hour-1),
			want: Decision{Reason: NotYetValid, EntriesAllowed: 1}, wantZone: zone("main", 0)},
		{name: "expired/slot", t: tk(ticket.Single, slot(t0+10*hour, t0+11*hour)), z: zone("main", 0), s: in("main", t0+11*hour),
			want: Decision{Reason: Expired, EntriesAllowed: 1}, wantZone: zone("main", 0)},
		{name: "expired beats already_used", t: tk(ticket.Single), st: usedMain, z: zone("main", 0), s: in("main", t0+4*day),
			want:     Decision{Reason: Expired, EntriesUsed: 1, EntriesAllowed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: zone("main", 0)},
		// Check 5: entitlement.
		{name: "already_used", t: tk(ticket.Single), st: usedMain, z: zone("main", 0), s: in("main", now),
			want:     Decision{Reason: AlreadyUsed, EntriesUsed: 1, EntriesAllowed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: zone("main", 0)},
		{name: "daily_limit", t: tk(ticket.Period), st: usedMain, z: zone("main", 0), s: in("main", now),
			want:     Decision{Reason: DailyLimit, EntriesUsed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: zone("main", 0)},
		{name: "no_entries_left/multi", t: tk(ticket.Multi, entries(2)), st: state(use("main", 2, 0, now)), z: zone("main", 0), s: in("main", now),
			want:     Decision{Reason: NoEntriesLeft, EntriesUsed: 2, EntriesAllowed: 2, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: zone("main", 0)},
		{name: "no_entries_left/group, no partial admit", t: tk(ticket.Group, entries(5)), st: state(use("main", 3, 3, now)), z: zone("main", 3),
			s:        persons(in("main", now), 3),
			want:     Decision{Reason: NoEntriesLeft, EntriesUsed: 3, EntriesAllowed: 5, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: zone("main", 3)},
		{name: "already_inside/day_pass", t: tk(ticket.DayPass), st: state(use("main", 1, 1, now)), z: zone("main", 1), s: in("main", now),
			want:     Decision{Reason: AlreadyInside, EntriesUsed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: zone("main", 1)},
		{name: "already_inside/period, entered yesterday", t: tk(ticket.Period, func(t *ticket.Ticket) { t.ValidFrom = 0 }),
			st: state(use("main", 1, 1, now-day)), z: zone("main", 1), s: in("main", now),
			want:     Decision{Reason: AlreadyInside, EntriesUsed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: zone("main", 1)},
		{name: "unknown/kind", t: tk(9), z: zone("main", 0), s: in("main", now),
			want: deny(Unknown), wantZone: zone("main", 0)},
		// Check 6: capacity.
		{name: "zone_full", t: tk(ticket.Single), z: ticket.Zone{ID: "main", Cap: 10, Warn: 8, Occupancy: 10}, s: in("main", now),
			want:     Decision{Reason: ZoneFull, EntriesAllowed: 1, ZoneWarn: true},
			wantZone: ticket.Zone{ID: "main", Cap: 10, Warn: 8, Occupancy: 10}},
		{name: "zone_full/group would exceed", t: tk(ticket.Group, entries(5)), z: ticket.Zone{ID: "main", Cap: 10, Occupancy: 8},
			s: persons(in("main", now), 3), want: Decision{Reason: ZoneFull, EntriesAllowed: 5},
			wantZone: ticket.Zone{ID: "main", Cap: 10, Occupancy: 8}},
		{name: "already_used beats zone_full", t: tk(ticket.Single), st: usedMain, z: ticket.Zone{ID: "main", Cap: 10, Occupancy: 10},
			s:        in("main", now),
			want:     Decision{Reason: AlreadyUsed, EntriesUsed: 1, EntriesAllowed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: ticket.Zone{ID: "main", Cap: 10, Occupancy: 10}},
		// Admits, one per kind and then some.
		{name: "admit/single", t: tk(ticket.Single), z: zone("main", 4), s: in("main", now),
			want:      Decision{Result: Admit, Persons: 1, EntriesUsed: 1, EntriesAllowed: 1, FirstAt: now, FirstGate: "g-main"},
			wantState: sp(state(fresh("main", 1, now, nil))), wantZone: zone("main", 5)},
		{name: "admit/single ignores persons", t: tk(ticket.Single), z: zone("main", 0), s: persons(in("main", now), 4),
			want:      Decision{Result: Admit, Persons: 1, EntriesUsed: 1, EntriesAllowed: 1, FirstAt: now, FirstGate: "g-main"},
			wantState: sp(state(fresh("main", 1, now, nil))), wantZone: zone("main", 1)},
		{name: "admit/multi", t: tk(ticket.Multi, entries(3)), st: state(use("main", 1, 0, t0+hour)), z: zone("main", 0), s: in("main", now),
			want: Decision{Result: Admit, Persons: 1, EntriesUsed: 2, EntriesAllowed: 3, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantState: sp(state(ticket.ZoneUse{Zone: "main", Used: 2, Inside: 1, LastDay: ParkDay(now, nil),
				FirstAt: t0 + hour, FirstGate: "g-main", LastAt: now, LastGate: "g-main"})),
			wantZone: zone("main", 1)},
		{name: "admit/multi several persons", t: tk(ticket.Multi, entries(3)), z: zone("main", 0), s: persons(in("main", now), 3),
			want:      Decision{Result: Admit, Persons: 3, EntriesUsed: 3, EntriesAllowed: 3, FirstAt: now, FirstGate: "g-main"},
			wantState: sp(state(fresh("main", 3, now, nil))), wantZone: zone("main", 3)},
		{name: "admit/day_pass re-entry", t: tk(ticket.DayPass), st: state(use("main", 4, 0, t0+hour)), z: zone("main", 0), s: in("main", now),
			want: Decision{Result: Admit, Persons: 1, EntriesUsed: 5, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantState: sp(state(ticket.ZoneUse{Zone: "main", Used: 5, Inside: 1, LastDay: ParkDay(now, nil),
				FirstAt: t0 + hour, FirstGate: "g-main", LastAt: now, LastGate: "g-main"})),
			wantZone: zone("main", 1)},
		{name: "admit/period next day", t: tk(ticket.Period), st: state(use("main", 1, 0, now-day)), z: zone("main", 0), s: in("main", now),
			want: Decision{Result: Admit, Persons: 1, EntriesUsed: 2, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantState: sp(state(ticket.ZoneUse{Zone: "main", Used: 2, Inside: 1, LastDay: ParkDay(now, nil),
				FirstAt: t0 + hour, FirstGate: "g-main", LastAt: now, LastGate: "g-main"})),
			wantZone: zone("main", 1)},
		{name: "admit/group 3 of 5", t: tk(ticket.Group, entries(5)), z: zone("main", 0), s: persons(in("main", now), 3),
			want:      Decision{Result: Admit, Persons: 3, EntriesUsed: 3, EntriesAllowed: 5, FirstAt: now, FirstGate: "g-main"},
			wantState: sp(state(fresh("main", 3, now, nil))), wantZone: zone("main", 3)},
		{name: "admit/zone warning", t: tk(ticket.Single), z: ticket.Zone{ID: "main", Cap: 10, Warn: 5, Occupancy: 4}, s: in("main", now),
			want:      Decision{Result: Admit, Persons: 1, EntriesUsed: 1, EntriesAllowed: 1, FirstAt: now, FirstGate: "g-main", ZoneWarn: true},
			wantState: sp(state(fresh("main", 1, now, nil))), wantZone: ticket.Zone{ID: "main", Cap: 10, Warn: 5, Occupancy: 5}},
		{name: "admit/inserted in sorted place", t: tk(ticket.Single), st: state(use("a", 1, 0, now), use("z", 1, 0, now)),
			z: zone("main", 0), s: in("main", now),
			want:      Decision{Result: Admit, Persons: 1, EntriesUsed: 1, EntriesAllowed: 1, FirstAt: now, FirstGate: "g-main"},
			wantState: sp(state(use("a", 1, 0, now), fresh("main", 1, now, nil), use("z", 1, 0, now))), wantZone: zone("main", 1)},
		// Exits: only check 1 applies.
		{name: "exit/inside", t: tk(ticket.DayPass), st: state(use("main", 1, 1, now)), z: zone("main", 5), s: out("main", now),
			want:      Decision{Result: Admit, Persons: 1, EntriesUsed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantState: sp(state(use("main", 1, 0, now))), wantZone: zone("main", 4)},
		{name: "exit/nobody recorded inside", t: tk(ticket.DayPass), st: state(use("main", 1, 0, now)), z: zone("main", 5), s: out("main", now),
			want:     Decision{Result: Admit, Persons: 1, EntriesUsed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantZone: zone("main", 5)},
		{name: "exit/never entered", t: tk(ticket.Single), z: zone("main", 5), s: out("main", now),
			want: Decision{Result: Admit, Persons: 1, EntriesAllowed: 1}, wantZone: zone("main", 5)},
		{name: "exit/revoked while inside", t: tk(ticket.Single, status(ticket.Revoked)), st: state(use("main", 1, 1, now)), z: zone("main", 5),
			s:         out("main", now),
			want:      Decision{Result: Admit, Persons: 1, EntriesUsed: 1, EntriesAllowed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantState: sp(state(use("main", 1, 0, now))), wantZone: zone("main", 4)},
		{name: "exit/expired at closing", t: tk(ticket.DayPass), st: state(use("main", 1, 1, now)), z: zone("main", 5), s: out("main", t0+3*day),
			want:      Decision{Result: Admit, Persons: 1, EntriesUsed: 1, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantState: sp(state(use("main", 1, 0, now))), wantZone: zone("main", 4)},
		{name: "exit/zone no longer on ticket", t: tk(ticket.DayPass, zones("main")), st: state(use("coaster", 1, 1, now)), z: zone("coaster", 1),
			s:         out("coaster", now),
			want:      Decision{Result: Admit, Persons: 1, EntriesUsed: 1, FirstAt: t0 + hour, FirstGate: "g-coaster"},
			wantState: sp(state(use("coaster", 1, 0, now))), wantZone: zone("coaster", 0)},
		{name: "exit/group part leaves", t: tk(ticket.Group, entries(5)), st: state(use("main", 5, 5, now)), z: zone("main", 9),
			s:         persons(out("main", now), 2),
			want:      Decision{Result: Admit, Persons: 2, EntriesUsed: 5, EntriesAllowed: 5, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantState: sp(state(use("main", 5, 3, now))), wantZone: zone("main", 7)},
		{name: "exit/never below zero", t: tk(ticket.Group, entries(5)), st: state(use("main", 5, 2, now)), z: zone("main", 1),
			s:         persons(out("main", now), 5),
			want:      Decision{Result: Admit, Persons: 5, EntriesUsed: 5, EntriesAllowed: 5, FirstAt: t0 + hour, FirstGate: "g-main"},
			wantState: sp(state(use("main", 5, 0, now))), wantZone: zone("main", 0)},
		{name: "exit/invalid_code", t: tk(ticket.DayPass), st: state(use("main", 1, 1, now)), z: zone("main", 1),
			s: withCode(out("main", now), Mismatch), want: deny(InvalidCode), wantZone: zone("main", 1)},
		{name: "exit/unknown", t: nil, z: zone("main", 1), s: out("main", now), want: deny(Unknown), wantZone: zone("main", 1)},
	}
}

func TestDecideTable(t *testing.T) {
	for _, c := range decideCases() {
		t.Run(c.name, func(t *testing.T) {
			before := c.st.Clone()
			var tBefore ticket.Ticket
			if c.t != nil {
				tBefore = *c.t
				tBefore.Zones = append([]string(nil), c.t.Zones...)
			}
			d, st, z := Decide(c.t, c.st, c.z, c.s, c.loc)
			if d != c.want {
				t.Errorf("decision\n got %+v\nwant %+v", d, c.want)
			}
			want := c.st
			if c.wantState != nil {
				want = *c.wantState
			}
			if !reflect.DeepEqual(st, want) {
				t.Errorf("state\n got %+v\nwant %+v", st, want)
			}
			if z != c.wantZone {
				t.Errorf("zone\n got %+v\nwant %+v", z, c.wantZone)
			}
			if d.Result == Deny && !reflect.DeepEqual(st, c.st) {
				t.Error("a denial changed the state")
			}
			// Inputs are untouched, and a changed state owns its array.
			if !reflect.DeepEqual(c.st, before) {
				t.Errorf("input state mutated: %+v, was %+v", c.st, before)
			}
			if c.t != nil && !reflect.DeepEqual(*c.t, tBefore) {
				t.Error("ticket mutated")
			}
			if c.wantState != nil && len(c.st.Zones) > 0 && &st.Zones[0] == &c.st.Zones[0] {
				t.Error("new state shares the input's array")
			}
			if err := st.Validate(); err != nil {
				t.Errorf("invalid output state: %v", err)
			}
			if _, err := st.MarshalBinary(); err != nil {
				t.Errorf("output state does not encode: %v", err)
			}
		})
	}
}

func TestTableCoversEveryReason(t *testing.T) {
	seen := map[Reason]bool{}
	kinds := map[ticket.Kind]bool{}
	for _, c := range decideCases() {
		seen[c.want.Reason] = true
		if c.want.Result == Admit && c.s.Direction == In {
			kinds[c.t.Kind] = true
		}
		if c.want.Reason != None && !strings.Contains(c.name, c.want.Reason.String()) {
			t.Errorf("case %q should be named after its reason %q", c.name, c.want.Reason)
		}
	}
	for r := InvalidCode; r < OfflineDeny; r++ { // OfflineDeny is no decision of Decide's
		if !seen[r] {
			t.Errorf("no table case produces %q", r)
		}
	}
	for _, k := range []ticket.Kind{ticket.Single, ticket.Multi, ticket.DayPass, ticket.Period, ticket.Group} {
		if !kinds[k] {
			t.Errorf("no table case admits a %s ticket", k)
		}
	}
}
