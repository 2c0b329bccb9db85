package rules

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/admitpark/admit/validator/ticket"
)

type simTicket struct {
	t  *ticket.Ticket
	st ticket.State
}

type simStep struct {
	d  Decision
	st ticket.State
	z  ticket.Zone
}

// simulate runs a seeded random day of scans over a few tickets and checks
// the invariants after every step. It returns the trace for replay checks.
func simulate(t *testing.T, seed uint64, steps int) []simStep {
	rng := rand.New(rand.NewPCG(seed, 1))
	zoneIDs := []string{"coaster", "main", "water"}
	zones := map[string]ticket.Zone{
		"coaster": {ID: "coaster", Cap: 6, Warn: 4},
		"main":    {ID: "main", Cap: 40},
		"water":   {ID: "water"},
	}
	var tickets []*simTicket
	for i := range 12 {
		k := ticket.Kind(i % 5)
		tk := tk(k, entries(uint16(1+rng.IntN(4))))
		tk.ValidFrom, tk.ValidUntil = 0, 0
		if i%4 == 3 {
			tk.Zones = []string{"main", "water"}
		}
		tickets = append(tickets, &simTicket{t: tk})
	}
	entered := map[[3]int64]bool{} // period: (ticket, zone, day) admitted
	at := t0
	var trace []simStep
	for step := range steps {
		at += int64(rng.IntN(int(3 * hour)))
		if rng.IntN(200) == 0 { // nightly reset
			for _, s := range tickets {
				s.st = ExitAll(s.st)
			}
			for id, z := range zones {
				z.Occupancy = 0
				zones[id] = z
			}
		}
		ti := rng.IntN(len(tickets))
		s := tickets[ti]
		zi := rng.IntN(len(zoneIDs))
		sc := Scan{Zone: zoneIDs[zi], Gate: "g", At: at, Code: Match, Persons: uint16(rng.IntN(4))}
		if rng.IntN(2) == 0 {
			sc.Direction = Out
		}
		if rng.IntN(30) == 0 {
			sc.Code = CodeMatch(rng.IntN(3))
		}
		before, zBefore := s.st, zones[sc.Zone]
		d, st, z := Decide(s.t, s.st, zBefore, sc, shanghai)
		trace = append(trace, simStep{d, st, z})

		if d.Result == Deny && (!reflect.DeepEqual(st, before) || z != zBefore) {
			t.Fatalf("step %d: denial changed state", step)
		}
		if err := st.Validate(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if z.Cap > 0 && z.Occupancy > z.Cap {
			t.Fatalf("step %d: occupancy %d over cap %d", step, z.Occupancy, z.Cap)
		}
		if i, ok := st.Find(sc.Zone); ok {
			u := st.Zones[i]
			switch s.t.Kind {
			case ticket.Single:
				if u.Used > 1 {
					t.Fatalf("step %d: single used %d times", step, u.Used)
				}
			case ticket.Multi, ticket.Group:
				if u.Used > s.t.Entries {
					t.Fatalf("step %d: %d of %d entries used", step, u.Used, s.t.Entries)
				}
			}
		}
		if s.t.Kind == ticket.Period && d.Result == Admit && sc.Direction == In {
			key := [3]int64{int64(ti), int64(zi), int64(ParkDay(at, shanghai))}
			if entered[key] {
				t.Fatalf("step %d: period pass entered twice on one park day", step)
			}
			entered[key] = true
		}
		s.st, zones[sc.Zone] = st, z

		// Occupancy is exactly the persons the tickets record inside.
		for _, id := range zoneIDs {
			var sum uint32
			for _, s := range tickets {
				sum += uint32(Inside(s.st, id))
			}
			if sum != zones[id].Occupancy {
				t.Fatalf("step %d: zone %s occupancy %d, tickets record %d", step, id, zones[id].Occupancy, sum)
			}
		}
	}
	return trace
}

func TestRandomScansKeepInvariants(t *testing.T) {
	for seed := range uint64(20) {
		simulate(t, seed, 2000)
	}
}

func TestDecideIsDeterministic(t *testing.T) {
	a, b := simulate(t, 42, 3000), simulate(t, 42, 3000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same scans gave different results")
	}
}

// FuzzDecide checks that no combination of inputs panics or produces a
// state that breaks the invariants or cannot be encoded.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(ticket.Group), uint8(0), uint16(5), uint16(3), uint16(2), uint16(3), false, uint8(Match), t0, uint32(10), uint32(9), []byte("main"))
	f.Add(uint8(ticket.Period), uint8(0), uint16(0), uint16(1), uint16(1), uint16(0), true, uint8(Match), t0+day, uint32(0), uint32(0), []byte("coaster"))
	f.Fuzz(func(t *testing.T, kind, stat uint8, ent, used, inside, persons uint16, exit bool, code uint8, at int64, zcap, occ uint32, zone []byte) {
		tkt := tk(ticket.Kind(kind), entries(ent), status(ticket.Status(stat)))
		inside = min(inside, used)
		st := state(use("m", used, inside, at), use(string(zone), used, inside, at-day))
		if _, ok := st.Find("m"); !ok || st.Validate() != nil {
			return // not a valid starting state
		}
		sc := Scan{Zone: string(zone), Gate: "g", Persons: persons, Code: CodeMatch(code), At: at}
		if exit {
			sc.Direction = Out
		}
		before := st.Clone()
		d, st2, z := Decide(tkt, st, ticket.Zone{ID: sc.Zone, Cap: zcap, Occupancy: occ}, sc, shanghai)
		if !reflect.DeepEqual(st, before) {
			t.Fatal("input mutated")
		}
		if err := st2.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := st2.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		if d.Result == Admit && !exit && zcap > 0 && z.Occupancy > zcap {
			t.Fatalf("admitted over cap: %+v", z)
		}
	})
}

func BenchmarkDecide(b *testing.B) {
	g := tk(ticket.Group, entries(10))
	single := tk(ticket.Single, zones("main", "coaster", "water"))
	period := tk(ticket.Period)
	dp := tk(ticket.DayPass)
	three := state(use("coaster", 1, 0, now), use("main", 1, 0, now), use("water", 1, 0, now))
	z := ticket.Zone{ID: "main", Cap: 5000, Warn: 4000, Occupancy: 1200}
	for _, c := range []struct {
		name string
		t    *ticket.Ticket
		st   ticket.State
		s    Scan
	}{
		{"admit/single first entry", single, ticket.State{}, in("main", now)},
		{"admit/group of 4, 3 zones", g, state(use("coaster", 2, 0, now), use("main", 2, 0, now), use("water", 2, 0, now)), persons(in("main", now), 4)},
		{"admit/period next day", period, state(use("main", 3, 0, now-day)), in("main", now)},
		{"deny/already_used", single, three, in("main", now)},
		{"deny/already_inside", dp, state(use("main", 1, 1, now)), in("main", now)},
		{"deny/unknown", nil, ticket.State{}, in("main", now)},
		{"exit/inside", dp, state(use("main", 1, 1, now)), out("main", now)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Decide(c.t, c.st, z, c.s, shanghai)
			}
		})
	}
}
