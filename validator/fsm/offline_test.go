package fsm

import (
	"testing"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

func TestOfflineUploads(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Single)
	e.issue(tk)
	a := scanOf("a1", "g1", tk)
	a.Offline, a.DeviceTime = OfflineAdmit, t0+hour
	b := scanOf("b1", "g2", tk)
	b.Offline, b.DeviceTime = OfflineAdmit, t0+hour+5*minute
	ra := e.scan1(a)
	expect(t, "first offline admit", ra, rules.Admit, rules.None)
	if ra.Conflict || !ra.Offline || ra.DeviceTime != a.DeviceTime || ra.At != e.now {
		t.Fatalf("first: %+v", ra)
	}
	e.now += minute
	rb := e.scan1(b)
	if rb.Result != rules.Admit || rb.Reason != rules.AlreadyUsed || !rb.Conflict || rb.EntriesUsed != 2 {
		t.Fatalf("second offline admit: %+v", rb)
	}
	// Retried uploads: rescans, no second conflict.
	for range 3 {
		if r := e.scan(a, b); !r[0].Rescan || !r[1].Rescan || !r[1].Conflict {
			t.Fatalf("retry: %+v", r)
		}
	}
	if n, _ := ConflictCount(e.st); n != 1 {
		t.Fatalf("%d conflicts", n)
	}
	cs, err := Conflicts(e.st, Cursor{}, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts %v %v", cs, err)
	}
	c := cs[0]
	if c.TicketID != tk.ID || c.Scan.ScanID != "b1" || c.Scan.Gate != "g2" || c.Scan.DeviceTime != b.DeviceTime ||
		c.Other.ScanID != "a1" || c.Other.Gate != "g1" || c.Other.DeviceTime != a.DeviceTime || c.Other.At != ra.At {
		t.Fatalf("conflict %+v", c)
	}
	// Inside twice: the zone counts both visitors.
	if z := e.zone("main"); z.Occupancy != 2 {
		t.Fatalf("occupancy %d", z.Occupancy)
	}

	// An offline deny the cluster would admit: a deny, nothing changes.
	t2 := tkt(2, ticket.Single)
	e.issue(t2)
	d := scanOf("d1", "g1", t2)
	d.Offline = OfflineDeny
	expect(t, "offline deny", e.scan1(d), rules.Deny, rules.OfflineDeny)
	expect(t, "live after offline deny", e.scan1(scanOf("d2", "g1", t2)), rules.Admit, rules.None)

	evs := e.events()
	if ev := evs[1]; !ev.Offline || !ev.Conflict || ev.DeviceTime != b.DeviceTime || ev.Reason != rules.AlreadyUsed {
		t.Fatalf("conflict event %+v", ev)
	}
	// Purging the batches drops the conflict records with their events;
	// the count stays.
	e.now += day
	e.purge(e.now, 0)
	if cs, _ := Conflicts(e.st, Cursor{}, 10); len(cs) != 0 {
		t.Fatalf("conflicts after purge: %v", cs)
	}
	if n, _ := ConflictCount(e.st); n != 1 {
		t.Fatalf("%d conflicts after purge", n)
	}
}

// Two offline admits in one upload (one entry): the second is the
// conflict, and the admit it met is found in the same batch. An offline
// admit the cluster denies for another reason (revoked, unknown) is
// recorded as an admit with that reason, and is no conflict.
func TestOfflineAdmitsInOneBatchAndOtherReasons(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Single)
	rv := tkt(2, ticket.Single)
	e.issue(tk, rv)
	e.revoke(rv.ID, 2)
	off := func(s Scan) Scan { s.Offline = OfflineAdmit; return s }
	rs := e.scan(off(scanOf("a", "g1", tk)), off(scanOf("b", "g2", tk)), off(scanOf("c", "g1", rv)),
		off(scanOf("d", "g1", tkt(3, ticket.Single))))
	if rs[0].Conflict || !rs[1].Conflict || rs[1].Reason != rules.AlreadyUsed {
		t.Fatalf("same batch: %+v", rs[:2])
	}
	if r := rs[2]; r.Result != rules.Admit || r.Reason != rules.Revoked || r.Conflict || r.EntriesUsed != 1 {
		t.Fatalf("offline admit of a revoked ticket: %+v", r)
	}
	if r := rs[3]; r.Result != rules.Admit || r.Reason != rules.Unknown || r.Conflict {
		t.Fatalf("offline admit of an unknown ticket: %+v", r)
	}
	cs, err := Conflicts(e.st, Cursor{}, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts %+v %v", cs, err)
	}
	if c := cs[0]; c.Other.ScanID != "a" || c.Other.Cursor != (Cursor{Index: rs[0].Index, Pos: 0}) || c.Scan.ScanID != "b" {
		t.Fatalf("conflict %+v", c)
	}
	// Paging: nothing after the last one.
	if more, _ := Conflicts(e.st, cs[0].Cursor, 10); len(more) != 0 {
		t.Fatalf("after the last: %+v", more)
	}
}
