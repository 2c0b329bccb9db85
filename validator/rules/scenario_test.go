package rules

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/ticket"
)

func expect(t *testing.T, step string, d Decision, res Result, r Reason) {
	t.Helper()
	if d.Result != res || d.Reason != r {
		t.Fatalf("%s: got %s %q (%+v), want %s %q", step, d.Result, d.Reason, d, res, r)
	}
}

func TestZonesCountedSeparately(t *testing.T) {
	p := newPark(nil)
	single := tk(ticket.Single)
	expect(t, "main", p.scan(single, in("main", now)), Admit, None)
	expect(t, "coaster", p.scan(single, in("coaster", now+minute)), Admit, None)
	d := p.scan(single, in("main", now+2*minute))
	expect(t, "main again", d, Deny, AlreadyUsed)
	if d.FirstAt != now || d.FirstGate != "g-main" {
		t.Fatalf("already_used should name the first entry in main, got %d %q", d.FirstAt, d.FirstGate)
	}
	expect(t, "coaster again", p.scan(single, in("coaster", now+3*minute)), Deny, AlreadyUsed)
	if len(p.st.Zones) != 2 || p.st.Zones[0].Zone != "coaster" || p.st.Zones[1].Zone != "main" {
		t.Fatalf("state not sorted by zone: %+v", p.st)
	}

	multi := tk(ticket.Multi, entries(2))
	p = newPark(nil)
	for i, z := range []string{"main", "main", "coaster", "coaster"} {
		expect(t, z, p.scan(multi, in(z, now+int64(i)*minute)), Admit, None)
	}
	expect(t, "main third", p.scan(multi, in("main", now+time.Hour.Milliseconds())), Deny, NoEntriesLeft)
}

func TestGroupPartialPersons(t *testing.T) {
	p := newPark(nil, ticket.Zone{ID: "main"})
	g := tk(ticket.Group, entries(5))
	d := p.scan(g, persons(in("main", now), 3))
	expect(t, "3 of 5", d, Admit, None)
	if d.Persons != 3 || d.EntriesUsed != 3 || d.EntriesAllowed != 5 {
		t.Fatalf("3 of 5: %+v", d)
	}
	// 3 more do not fit: nobody passes, and the gate learns 2 remain.
	d = p.scan(g, persons(in("main", now+minute), 3))
	expect(t, "3 more", d, Deny, NoEntriesLeft)
	if d.Persons != 0 || d.EntriesUsed != 3 || d.EntriesAllowed != 5 {
		t.Fatalf("3 more: %+v", d)
	}
	expect(t, "last 2", p.scan(g, persons(in("main", now+2*minute), 2)), Admit, None)
	expect(t, "one more", p.scan(g, in("main", now+3*minute)), Deny, NoEntriesLeft)
	if occ := p.zones["main"].Occupancy; occ != 5 {
		t.Fatalf("occupancy %d, want 5", occ)
	}
	// Persons 0 counts as 1.
	p = newPark(nil)
	d = p.scan(g, persons(in("main", now), 0))
	if d.Persons != 1 || p.st.Zones[0].Used != 1 {
		t.Fatalf("persons 0: %+v %+v", d, p.st)
	}
}

func TestDayPassReentryAfterExit(t *testing.T) {
	p := newPark(nil, ticket.Zone{ID: "main"})
	dp := tk(ticket.DayPass)
	at := now
	for round := 1; round <= 3; round++ {
		d := p.scan(dp, in("main", at))
		expect(t, "enter", d, Admit, None)
		if d.EntriesUsed != uint16(round) || d.EntriesAllowed != 0 {
			t.Fatalf("round %d: %+v", round, d)
		}
		expect(t, "pass-back", p.scan(dp, in("main", at+minute)), Deny, AlreadyInside)
		expect(t, "exit", p.scan(dp, out("main", at+2*minute)), Admit, None)
		at += hour
	}
	if occ := p.zones["main"].Occupancy; occ != 0 {
		t.Fatalf("occupancy %d after all exits", occ)
	}
	if d := p.scan(dp, in("main", t0+3*day)); d.Reason != Expired {
		t.Fatalf("after validity: %+v", d)
	}
}

func TestPeriodAcrossMidnightInPark(t *testing.T) {
	annual := tk(ticket.Period, func(t *ticket.Ticket) { t.ValidFrom, t.ValidUntil = 0, 0 })
	// 23:50 on Jan 1 and 00:10 on Jan 2 in Shanghai: both 2026-01-01 in UTC.
	lateJan1 := time.Date(2026, 1, 1, 23, 50, 0, 0, shanghai).UnixMilli()
	earlyJan2 := time.Date(2026, 1, 2, 0, 10, 0, 0, shanghai).UnixMilli()
	if ParkDay(lateJan1, time.UTC) != ParkDay(earlyJan2, time.UTC) {
		t.Fatal("test premise: both instants should be one UTC day")
	}

	p := newPark(shanghai)
	expect(t, "23:50", p.scan(annual, in("main", lateJan1)), Admit, None)
	expect(t, "exit", p.scan(annual, out("main", lateJan1+5*minute)), Admit, None)
	expect(t, "23:58 same park day", p.scan(annual, in("main", lateJan1+8*minute)), Deny, DailyLimit)
	expect(t, "00:10 next park day", p.scan(annual, in("main", earlyJan2)), Admit, None)
	if got, want := p.st.Zones[0].LastDay, ParkDay(earlyJan2, shanghai); got != want {
		t.Fatalf("LastDay %d, want %d", got, want)
	}

	// The same scans in a UTC park fall on one day.
	p = newPark(time.UTC)
	expect(t, "utc 1", p.scan(annual, in("main", lateJan1)), Admit, None)
	expect(t, "utc exit", p.scan(annual, out("main", lateJan1+5*minute)), Admit, None)
	expect(t, "utc 2", p.scan(annual, in("main", earlyJan2)), Deny, DailyLimit)

	// Still inside on the next day (no nightly reset ran): anti-passback wins.
	p = newPark(shanghai)
	p.scan(annual, in("main", lateJan1))
	expect(t, "inside", p.scan(annual, in("main", earlyJan2)), Deny, AlreadyInside)
	p.st = ExitAll(p.st)
	expect(t, "after reset", p.scan(annual, in("main", earlyJan2)), Admit, None)
}

func TestParkDay(t *testing.T) {
	for _, c := range []struct {
		at   int64
		loc  *time.Location
		want int32
	}{
		{0, nil, 0},
		{day - 1, time.UTC, 0},
		{day, time.UTC, 1},
		{-1, time.UTC, -1},
		{-day, time.UTC, -1},
		{-day - 1, time.UTC, -2},
		{t0, time.UTC, 20454},
		{t0 - 8*hour - 1, shanghai, 20453}, // 23:59:59.999 Dec 31 in Shanghai
		{t0 - 8*hour, shanghai, 20454},
		{time.Date(2026, 3, 8, 23, 59, 0, 0, mustLoad("America/New_York")).UnixMilli(), mustLoad("America/New_York"), 20520},
		{time.Date(2026, 3, 9, 0, 0, 0, 0, mustLoad("America/New_York")).UnixMilli(), mustLoad("America/New_York"), 20521},
		{1<<63 - 1, time.UTC, 1<<31 - 1},
		{-1 << 63, time.UTC, -1 << 31},
	} {
		if got := ParkDay(c.at, c.loc); got != c.want {
			t.Errorf("ParkDay(%d, %v) = %d, want %d", c.at, c.loc, got, c.want)
		}
	}
}

func TestSlotWindow(t *testing.T) {
	start, end := t0+10*hour, t0+10*hour+30*minute
	timed := tk(ticket.DayPass, slot(start, end))
	for _, c := range []struct {
		at   int64
		want Reason
	}{
		{start - 1, NotYetValid},
		{start, None},
		{end - 1, None},
		{end, Expired},
	} {
		d, _, _ := Decide(timed, ticket.State{}, zone("main", 0), in("main", c.at), nil)
		if d.Reason != c.want {
			t.Errorf("at start%+dms: got %q, want %q", c.at-start, d.Reason, c.want)
		}
	}
	// Open-ended slots.
	from := tk(ticket.Single, slot(start, 0))
	if d, _, _ := Decide(from, ticket.State{}, zone("main", 0), in("main", t0+2*day), nil); d.Result != Admit {
		t.Errorf("open slot end: %+v", d)
	}
	until := tk(ticket.Single, slot(0, end))
	if d, _, _ := Decide(until, ticket.State{}, zone("main", 0), in("main", t0), nil); d.Result != Admit {
		t.Errorf("open slot start: %+v", d)
	}
	// The slot binds re-entries too.
	p := newPark(nil)
	expect(t, "in slot", p.scan(timed, in("main", start)), Admit, None)
	expect(t, "out", p.scan(timed, out("main", start+minute)), Admit, None)
	expect(t, "back after slot", p.scan(timed, in("main", end+hour)), Deny, Expired)
}

func TestCapacityAndWarning(t *testing.T) {
	// Four tickets, each with its own state, share the coaster's counters.
	shared := newPark(nil, ticket.Zone{ID: "coaster", Cap: 3, Warn: 2})
	parkFor := func() *park { p := newPark(nil); p.zones = shared.zones; return p }
	a, b, c, grp := parkFor(), parkFor(), parkFor(), parkFor()
	single, dp, group := tk(ticket.Single), tk(ticket.DayPass), tk(ticket.Group, entries(2))

	d := a.scan(single, in("coaster", now))
	if d.Result != Admit || d.ZoneWarn {
		t.Fatalf("1st: %+v", d)
	}
	d = b.scan(dp, in("coaster", now))
	if d.Result != Admit || !d.ZoneWarn {
		t.Fatalf("2nd should reach the warning level: %+v", d)
	}
	d = grp.scan(group, persons(in("coaster", now), 2))
	expect(t, "group of 2 into 1 free place", d, Deny, ZoneFull)
	if !d.ZoneWarn {
		t.Fatal("denial should still report the warning")
	}
	expect(t, "3rd", c.scan(dp, in("coaster", now)), Admit, None)
	expect(t, "4th", grp.scan(group, in("coaster", now)), Deny, ZoneFull)
	expect(t, "single already used, zone full", a.scan(single, in("coaster", now)), Deny, AlreadyUsed)
	expect(t, "b leaves", b.scan(dp, out("coaster", now+minute)), Admit, None)
	expect(t, "place freed", grp.scan(group, in("coaster", now+2*minute)), Admit, None)
	if occ := shared.zones["coaster"].Occupancy; occ != 3 {
		t.Fatalf("occupancy %d, want 3", occ)
	}
}

func TestExitsNeverGoBelowZero(t *testing.T) {
	dp := tk(ticket.DayPass)
	// The zone was reset (occupancy 0) but the ticket still records 1 inside.
	st := state(use("main", 1, 1, now))
	d, st2, z := Decide(dp, st, zone("main", 0), out("main", now), nil)
	if d.Result != Admit || st2.Zones[0].Inside != 0 || z.Occupancy != 0 {
		t.Fatalf("got %+v %+v %+v", d, st2, z)
	}
	// Exiting again changes nothing.
	d, st3, z := Decide(dp, st2, zone("main", 7), out("main", now), nil)
	if d.Result != Admit || st3.Zones[0].Inside != 0 || z.Occupancy != 7 {
		t.Fatalf("second exit: %+v %+v %+v", d, st3, z)
	}
	if &st3.Zones[0] != &st2.Zones[0] {
		t.Error("an unchanged state should be returned as is")
	}
}

func TestDecideDoesNotAllocateOnDenyOrNoop(t *testing.T) {
	single := tk(ticket.Single)
	st := state(use("main", 1, 0, now))
	z := zone("main", 0)
	for name, s := range map[string]Scan{"deny": in("main", now), "exit nobody inside": out("main", now)} {
		if n := testing.AllocsPerRun(100, func() { Decide(single, st, z, s, shanghai) }); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
	enter := in("main", now)
	if n := testing.AllocsPerRun(100, func() { Decide(single, ticket.State{}, z, enter, shanghai) }); n != 1 {
		t.Errorf("admit: %v allocs, want 1 (the new state)", n)
	}
}

func TestLongGateIsClipped(t *testing.T) {
	s := in("main", now)
	s.Gate = string(make([]byte, ticket.MaxNameLen+10))
	d, st, _ := Decide(tk(ticket.Single), ticket.State{}, zone("main", 0), s, nil)
	if d.Result != Admit || len(st.Zones[0].FirstGate) != ticket.MaxNameLen || len(d.FirstGate) != ticket.MaxNameLen {
		t.Fatalf("gate not clipped: %+v", st)
	}
	if _, err := st.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
}

func TestStateZoneLimit(t *testing.T) {
	var st ticket.State
	for i := range ticket.MaxZones {
		st.Zones = append(st.Zones, use(string(rune('a'+i/676))+string(rune('a'+i/26%26))+string(rune('a'+i%26)), 1, 0, now))
	}
	dp := tk(ticket.DayPass)
	d, _, _ := Decide(dp, st, zone("zzzz", 0), in("zzzz", now), nil)
	expect(t, "one zone too many", d, Deny, WrongZone)
	d, _, _ = Decide(dp, st, zone("aaa", 0), in("aaa", now), nil)
	expect(t, "known zone", d, Admit, None)
}

func TestExitAll(t *testing.T) {
	st := state(use("a", 2, 1, now), use("b", 1, 0, now), use("c", 5, 5, now))
	before := st.Clone()
	got := ExitAll(st)
	for _, u := range got.Zones {
		if u.Inside != 0 {
			t.Fatalf("%s still has %d inside", u.Zone, u.Inside)
		}
	}
	if got.Zones[2].Used != 5 || got.Zones[0].LastAt != now {
		t.Fatal("history lost")
	}
	if got.Zones[0] == st.Zones[0] || st.Zones[0] != before.Zones[0] {
		t.Fatal("input mutated or output aliased")
	}
	empty := state(use("a", 1, 0, now))
	if again := ExitAll(empty); &again.Zones[0] != &empty.Zones[0] {
		t.Error("nobody inside: state should come back as is")
	}
	if got := ExitAll(ticket.State{}); got.Zones != nil {
		t.Error("empty state")
	}
}

func TestRevocable(t *testing.T) {
	if ok, _, _, _ := Revocable(ticket.State{}); !ok {
		t.Fatal("unused ticket must be revocable")
	}
	a := use("a", 1, 0, now)
	a.FirstAt, a.FirstGate = t0+5*hour, "ga"
	b := use("b", 1, 0, now)
	b.FirstAt, b.FirstGate = t0+3*hour, "gb"
	c := use("c", 1, 0, now)
	c.FirstAt, c.FirstGate = t0+3*hour, "gc"
	ok, at, gate, zone := Revocable(state(a, b, c))
	if ok || at != t0+3*hour || gate != "gb" || zone != "b" {
		t.Fatalf("got %v %d %q %q, want earliest entry b", ok, at, gate, zone)
	}
	if ok, _, _, _ := Revocable(state(ticket.ZoneUse{Zone: "x"})); !ok {
		t.Fatal("a zone without entries does not count as used")
	}
	if Inside(state(a, use("z", 3, 2, now)), "z") != 2 || Inside(ticket.State{}, "z") != 0 {
		t.Fatal("Inside")
	}
}

func TestReasonNames(t *testing.T) {
	want := []string{"", "invalid_code", "unknown", "revoked", "suspended", "replaced",
		"not_yet_valid", "expired", "wrong_zone", "already_used", "daily_limit",
		"no_entries_left", "already_inside", "zone_full", "offline_deny"}
	if len(want) != int(numReasons) {
		t.Fatalf("%d reasons, %d names", numReasons, len(want))
	}
	for i, w := range want {
		r := Reason(i)
		if r.String() != w {
			t.Errorf("Reason(%d) = %q, want %q", i, r, w)
		}
		if got, err := ParseReason(w); err != nil || got != r {
			t.Errorf("ParseReason(%q) = %v, %v", w, got, err)
		}
	}
	if _, err := ParseReason("full"); err == nil {
		t.Error("ParseReason: want error")
	}
	for _, s := range []string{"in", "out"} {
		if d, err := ParseDirection(s); err != nil || d.String() != s {
			t.Errorf("direction %q", s)
		}
	}
	for _, s := range []string{"admit", "deny"} {
		if r, err := ParseResult(s); err != nil || r.String() != s {
			t.Errorf("result %q", s)
		}
	}
	if Mismatch != 0 || Deny != 0 || Match.String() != "match" || Older.String() != "older" {
		t.Error("zero values must fail closed")
	}
}

func TestDecisionJSON(t *testing.T) {
	b, err := json.Marshal(struct {
		Result    Result    `json:"result"`
		Reason    Reason    `json:"reason"`
		Direction Direction `json:"direction"`
	}{Deny, AlreadyUsed, Out})
	if err != nil || string(b) != `{"result":"deny","reason":"already_used","direction":"out"}` {
		t.Fatalf("%s %v", b, err)
	}
	var back struct {
		Result Result
		Reason Reason
	}
	if err := json.Unmarshal([]byte(`{"Result":"admit","Reason":""}`), &back); err != nil || back.Result != Admit || back.Reason != None {
		t.Fatalf("%+v %v", back, err)
	}
}
