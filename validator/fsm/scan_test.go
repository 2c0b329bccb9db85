package fsm

import (
	"testing"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

func TestIssueScanAlreadyUsed(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Single)
	if got := e.issue(tk); got[0] != OutcomeApplied {
		t.Fatalf("issue: %v", got)
	}
	firstIndex := e.idx + 1
	r := e.scan1(scanOf("s1", "g1", tk))
	expect(t, "first scan", r, rules.Admit, rules.None)
	if r.Rescan || r.TicketID != tk.ID || r.Product != "single-adult" || r.Kind != ticket.Single ||
		r.Persons != 1 || r.EntriesUsed != 1 || r.EntriesAllowed != 1 ||
		r.FirstAt != e.now || r.FirstGate != "g1" || r.Index != firstIndex || r.Pos != 0 {
		t.Fatalf("admit result: %+v", r)
	}
	admittedAt := e.now

	e.now += 5 * minute
	r = e.scan1(scanOf("s2", "g2", tk))
	expect(t, "second scan", r, rules.Deny, rules.AlreadyUsed)
	if r.FirstAt != admittedAt || r.FirstGate != "g1" || r.EntriesUsed != 1 || r.Index != e.idx || r.Rescan {
		t.Fatalf("already_used result: %+v", r)
	}

	// The same issue again, or an older version, is stale and harmless.
	if got := e.issue(tk); got[0] != OutcomeStale {
		t.Fatalf("re-sent issue: %v", got)
	}
	v2 := reprint(tk, 2)
	older := tk
	older.Product = "changed"
	if got := e.issue(v2, older); got[0] != OutcomeApplied || got[1] != OutcomeStale {
		t.Fatalf("issue v2 then v1: %v", got)
	}
	got, _ := e.ticket(tk.ID)
	if got.Version != 2 || got.Product != "single-adult" {
		t.Fatalf("stored ticket %+v", got)
	}
}

func TestReprint(t *testing.T) {
	e := newPark(t)
	v1 := tkt(1, ticket.Single)
	e.issue(v1)
	v2 := reprint(v1, 2)
	if got := e.issue(v2); got[0] != OutcomeApplied {
		t.Fatalf("reprint: %v", got)
	}
	// Unused: the old code is replaced, the new one admits.
	expect(t, "old code", e.scan1(scanOf("a", "g1", v1)), rules.Deny, rules.Replaced)
	expect(t, "new code", e.scan1(scanOf("b", "g1", v2)), rules.Admit, rules.None)

	// Used, reprinted again: the usage survives the reprint.
	v3 := reprint(v1, 3)
	e.issue(v3)
	_, st := e.ticket(v1.ID)
	if len(st.Zones) != 1 || st.Zones[0].Used != 1 {
		t.Fatalf("state after reprint: %+v", st)
	}
	expect(t, "v2 code after v3", e.scan1(scanOf("c", "g1", v2)), rules.Deny, rules.Replaced)
	r := e.scan1(scanOf("d", "g1", v3))
	expect(t, "v3 code", r, rules.Deny, rules.AlreadyUsed)
	if r.FirstGate != "g1" {
		t.Fatalf("result %+v", r)
	}
	// A code for a version the cluster never had is just invalid.
	bogus := scanOf("e", "g1", v3)
	bogus.CodeVersion, bogus.Digest[0] = 9, 0
	expect(t, "forged newer code", e.scan1(bogus), rules.Deny, rules.InvalidCode)
}

func TestEveryDenyReason(t *testing.T) {
	e := newPark(t)
	now := e.now
	issued := []ticket.Ticket{
		tkt(1, ticket.Single), // valid
		tkt(2, ticket.Single, withStatus(ticket.Revoked)),
		tkt(3, ticket.Single), // suspended below
		tkt(4, ticket.Single, withStatus(ticket.Replaced)),
		tkt(5, ticket.Single, withValidity(now+hour, now+2*hour)),
		tkt(6, ticket.Single, withValidity(now-2*hour, now-hour)),
		tkt(7, ticket.Single, withZones("coaster")),
		tkt(8, ticket.Single),
		tkt(9, ticket.Period),
		tkt(10, ticket.Multi, withEntries(2)),
		tkt(11, ticket.DayPass),
		tkt(12, ticket.Group, withEntries(2)),
		tkt(13, ticket.Single),
		tkt(14, ticket.Single), // reprinted below
	}
	e.issue(issued...)
	if o := e.update(Update{ID: issued[2].ID, Version: 2, Op: OpSuspend}); o != OutcomeApplied {
		t.Fatalf("suspend: %v", o)
	}
	e.issue(reprint(issued[13], 2))

	// Preconditions: use up what must be used.
	expect(t, "single", e.scan1(scanOf("p1", "g1", issued[7])), rules.Admit, rules.None)
	expect(t, "period in", e.scan1(scanOf("p2", "g1", issued[8])), rules.Admit, rules.None)
	expect(t, "period out", e.scan1(scanOf("p3", "x1", issued[8])), rules.Admit, rules.None)
	e.scan(scanOf("p4", "g1", issued[9]), scanOf("p5", "g1", issued[9]))
	expect(t, "day pass", e.scan1(scanOf("p6", "g1", issued[10])), rules.Admit, rules.None)
	expect(t, "group of 2", e.scan1(persons(scanOf("p7", "c1", issued[11]), 2)), rules.Admit, rules.None)

	unknown := tkt(99, ticket.Single)
	badCode := scanOf("d2", "g1", issued[0])
	badCode.Digest[3] ^= 1
	cases := []struct {
		scan   Scan
		reason rules.Reason
	}{
		{scanOf("d1", "g1", unknown), rules.Unknown},
		{badCode, rules.InvalidCode},
		{scanOf("d3", "g1", issued[1]), rules.Revoked},
		{scanOf("d4", "g1", issued[2]), rules.Suspended},
		{scanOf("d5", "g1", issued[3]), rules.Replaced},
		{scanOf("d6", "g1", issued[13]), rules.Replaced}, // the old print
		{scanOf("d7", "g1", issued[4]), rules.NotYetValid},
		{scanOf("d8", "g1", issued[5]), rules.Expired},
		{scanOf("d9", "g1", issued[6]), rules.WrongZone},
		{scanOf("d10", "g1", issued[7]), rules.AlreadyUsed},
		{scanOf("d11", "g1", issued[8]), rules.DailyLimit},
		{scanOf("d12", "g1", issued[9]), rules.NoEntriesLeft},
		{scanOf("d13", "g1", issued[10]), rules.AlreadyInside},
		{scanOf("d14", "c1", issued[12]), rules.ZoneFull},
	}
	var scans []Scan
	for _, c := range cases {
		scans = append(scans, c.scan)
	}
	results := e.scan(scans...)
	decided := e.idx
	for i, c := range cases {
		expect(t, c.reason.String(), results[i], rules.Deny, c.reason)
		if results[i].Index != decided || results[i].Pos != uint32(i) {
			t.Errorf("%s: index/pos %d/%d", c.reason, results[i].Index, results[i].Pos)
		}
	}
	if r := results[12]; r.EntriesUsed != 1 || r.FirstGate != "g1" {
		t.Errorf("already_inside details: %+v", r)
	}
	if !results[13].ZoneWarn {
		t.Error("zone_full without zone warning")
	}

	// Rescans: the original decisions, later and in another batch.
	e.now += hour
	again := e.scan(scans...)
	for i := range cases {
		want := results[i]
		want.Rescan = true
		if again[i] != want {
			t.Errorf("rescan %d:\n got %+v\nwant %+v", i, again[i], want)
		}
	}
	// The period pass may enter again the next park day (midnight in
	// Shanghai is 16:00 UTC).
	e.now = t0 + 16*hour
	expect(t, "period next day", e.scan1(scanOf("n1", "g1", issued[8])), rules.Admit, rules.None)
}

func TestSameTicketTwiceInOneBatch(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Single)
	e.issue(tk)
	rs := e.scan(scanOf("a", "g1", tk), scanOf("b", "g2", tk), scanOf("a", "g1", tk))
	expect(t, "first", rs[0], rules.Admit, rules.None)
	expect(t, "second", rs[1], rules.Deny, rules.AlreadyUsed)
	if !rs[2].Rescan || rs[2].Result != rules.Admit || rs[2].Pos != 0 {
		t.Fatalf("same scan ID in one batch: %+v", rs[2])
	}
	if z := e.zone("main"); z.Occupancy != 1 {
		t.Fatalf("occupancy %d", z.Occupancy)
	}
	if n := len(e.events()); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

func TestUnknownGateAndConflict(t *testing.T) {
	e := newPark(t)
	a, b := tkt(1, ticket.Single), tkt(2, ticket.Single)
	e.issue(a, b)
	r := e.scan1(scanOf("s1", "nope", a))
	if r.Error != ScanUnknownGate || r.Result != rules.Deny || r.Index != 0 {
		t.Fatalf("unknown gate: %+v", r)
	}
	if len(e.events()) != 0 {
		t.Fatal("unknown gate wrote an event")
	}
	// Nothing was recorded: once the gate exists the same scan ID decides.
	e.configure(Configure{Gates: []Gate{{ID: "nope", Zone: "main"}}})
	expect(t, "after configuring", e.scan1(scanOf("s1", "nope", a)), rules.Admit, rules.None)

	// The ID reused for another ticket is refused, not answered with a's admit.
	r = e.scan1(scanOf("s1", "nope", b))
	if r.Error != ScanIDConflict || r.Result != rules.Deny || r.TicketID != b.ID {
		t.Fatalf("reused scan ID: %+v", r)
	}
	// Scan IDs are per gate: g1 may use s1 too.
	expect(t, "same ID other gate", e.scan1(scanOf("s1", "g1", b)), rules.Admit, rules.None)
}

func TestGateDirection(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.DayPass)
	e.issue(tk)
	// An in-only gate ignores a scan claiming out.
	expect(t, "in at g1", e.scan1(out(scanOf("a", "g1", tk))), rules.Admit, rules.None)
	if z := e.zone("main"); z.Occupancy != 1 {
		t.Fatalf("occupancy %d after entry", z.Occupancy)
	}
	// A both-way gate goes out when the scan says so.
	expect(t, "out at g2", e.scan1(out(scanOf("b", "g2", tk))), rules.Admit, rules.None)
	if z := e.zone("main"); z.Occupancy != 0 {
		t.Fatalf("occupancy %d after exit", z.Occupancy)
	}
	// ...and in when it does not.
	expect(t, "in at g2", e.scan1(scanOf("c", "g2", tk)), rules.Admit, rules.None)
	// An out-only gate lets out whatever the scan says.
	expect(t, "x1", e.scan1(scanOf("d", "x1", tk)), rules.Admit, rules.None)
	evs := e.events()
	want := []rules.Direction{rules.In, rules.Out, rules.In, rules.Out}
	for i, ev := range evs {
		if ev.Direction != want[i] {
			t.Errorf("event %d direction %s, want %s", i, ev.Direction, want[i])
		}
	}
	if z := e.zone("main"); z.Occupancy != 0 {
		t.Fatalf("occupancy %d", z.Occupancy)
	}
}

func TestExitAll(t *testing.T) {
	e := newPark(t)
	pass, other := tkt(1, ticket.DayPass), tkt(2, ticket.DayPass)
	e.issue(pass, other)
	expect(t, "enter", e.scan1(scanOf("a", "g1", pass)), rules.Admit, rules.None)
	expect(t, "enter coaster", e.scan1(scanOf("b", "c1", other)), rules.Admit, rules.None)
	expect(t, "re-enter", e.scan1(scanOf("c", "g1", pass)), rules.Deny, rules.AlreadyInside)
	if e.zone("main").Occupancy != 1 || e.zone("coaster").Occupancy != 1 {
		t.Fatal("occupancy before ExitAll")
	}

	res := e.exitAll()
	if res.Epoch != 1 || res.Zones != 2 {
		t.Fatalf("ExitAll: %+v", res)
	}
	if e.zone("main").Occupancy != 0 || e.zone("coaster").Occupancy != 0 {
		t.Fatal("occupancy after ExitAll")
	}
	_, st := e.ticket(pass.ID)
	if st.Zones[0].Inside != 0 || st.Zones[0].Used != 1 {
		t.Fatalf("state after ExitAll: %+v", st)
	}
	// Leaving after ExitAll changes nothing: nobody is recorded inside.
	expect(t, "late exit", e.scan1(scanOf("d", "c1x", other)), rules.Admit, rules.None)
	if e.zone("coaster").Occupancy != 0 {
		t.Fatal("late exit went below zero")
	}
	e.now += day
	expect(t, "next morning", e.scan1(scanOf("e", "g1", pass)), rules.Admit, rules.None)
	if e.zone("main").Occupancy != 1 {
		t.Fatal("occupancy after re-entry")
	}
	if res := e.exitAll(); res.Epoch != 2 || res.Zones != 1 {
		t.Fatalf("second ExitAll: %+v", res)
	}
}

// Two stores fed the same commands hold the same bytes.
func TestDeterministic(t *testing.T) {
	run := func() *env {
		e := newPark(t)
		tks := []ticket.Ticket{tkt(1, ticket.Single), tkt(2, ticket.Group, withEntries(5)), tkt(3, ticket.Period)}
		e.issue(tks...)
		e.scan(scanOf("a", "g1", tks[0]), persons(scanOf("b", "c1", tks[1]), 2), scanOf("c", "g1", tks[2]))
		e.revoke(tks[0].ID, 5)
		e.exitAll()
		e.scan(scanOf("d", "g1", tks[2]), scanOf("a", "g1", tks[0]))
		e.purge(e.now+1, 3)
		return e
	}
	a, b := run(), run()
	da, err := dump(a.st)
	if err != nil {
		t.Fatal(err)
	}
	db, err := dump(b.st)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameDump(da, db); err != nil {
		t.Fatal(err)
	}
}
