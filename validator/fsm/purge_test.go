package fsm

import (
	"testing"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// TestPurgeForgetsOldScanIDs: after PurgeScans a scan ID decided before the
// cutoff is forgotten, so presenting it again is decided afresh (a used
// single ticket is denied already_used, not answered with its old admit
// as a rescan, and the ID may now go with another ticket without a
// conflict), while an ID decided at or after the cutoff still answers its
// original decision. A limit smaller than one batch still purges the first
// batch whole, and says there is more.
func TestPurgeForgetsOldScanIDs(t *testing.T) {
	e := newPark(t)
	a, b, c := tkt(1, ticket.Single), tkt(2, ticket.Single), tkt(3, ticket.Single)
	fill := []ticket.Ticket{tkt(4, ticket.Single), tkt(5, ticket.Single), tkt(6, ticket.Single)}
	e.issue(append([]ticket.Ticket{a, b, c}, fill...)...)
	start := e.now

	// Batch 1 (old): a as "old", and three more scans, five keys in all.
	expect(t, "a, old", e.scan(scanOf("old", "g1", a), scanOf("f4", "g1", fill[0]), scanOf("f5", "g1", fill[1]),
		scanOf("f6", "g1", fill[2]))[0], rules.Admit, rules.None)
	// Batch 2 (old too): c as "old2".
	e.now = start + minute
	expect(t, "c, old2", e.scan1(scanOf("old2", "g2", c)), rules.Admit, rules.None)
	// Batch 3 (new): b as "new", at the cutoff.
	cutoff := start + 10*minute
	e.now = cutoff
	expect(t, "b, new", e.scan1(scanOf("new", "g1", b)), rules.Admit, rules.None)

	// Before the purge: a reused "old" is a rescan of a's admit, and with
	// another ticket a conflict.
	if r := e.scan1(scanOf("old", "g1", a)); !r.Rescan || r.Result != rules.Admit {
		t.Fatalf("before the purge, \"old\" again: %+v, want the original admit as a rescan", r)
	}
	if r := e.scan1(scanOf("old2", "g2", b)); r.Error != ScanIDConflict {
		t.Fatalf("before the purge, \"old2\" with another ticket: %+v, want a conflict", r)
	}

	// Limit 1 (fewer keys than batch 1 holds): batch 1 goes whole, and
	// there is more.
	r := e.purge(cutoff, 1)
	if r.Events != 4 || r.ScanIDs != 4 || !r.More {
		t.Fatalf("purge with limit 1: %+v, want batch 1 whole (4 events, 4 scan IDs) and more", r)
	}
	if r := e.purge(cutoff, 0); r.Events != 1 || r.ScanIDs != 1 || r.More {
		t.Fatalf("second purge: %+v, want batch 2 (1 event, 1 scan ID), no more", r)
	}
	if r := e.purge(cutoff, 0); r != (PurgeResult{}) {
		t.Fatalf("third purge: %+v, want nothing left before the cutoff", r)
	}
	for _, id := range []struct{ gate, scan string }{{"g1", "old"}, {"g2", "old2"}} {
		if _, found, err := LookupScan(e.st, id.gate, id.scan); err != nil || found {
			t.Fatalf("scan ID %s/%s after the purge: found %v, %v", id.gate, id.scan, found, err)
		}
	}
	if rec, found, err := LookupScan(e.st, "g1", "new"); err != nil || !found || rec.TicketID != b.ID {
		t.Fatalf("scan ID g1/new after the purge: %+v, found %v, %v; want kept", rec, found, err)
	}

	// Decided afresh: a is used, so "old" is now a deny, not a rescan.
	e.now = cutoff + minute
	r1 := e.scan1(scanOf("old", "g1", a))
	expect(t, "a with the forgotten \"old\"", r1, rules.Deny, rules.AlreadyUsed)
	if r1.Rescan {
		t.Fatalf("a with the forgotten \"old\": %+v, decided afresh, not a rescan", r1)
	}
	// The forgotten "old2" may go with another ticket: b is used, so deny,
	// but decided, not a conflict.
	if r := e.scan1(scanOf("old2", "g2", b)); r.Error != ScanOK || r.Rescan || r.Reason != rules.AlreadyUsed {
		t.Fatalf("\"old2\" with b after the purge: %+v, want a fresh already_used decision", r)
	}
	// The kept "new" still answers b's admit as a rescan.
	if r := e.scan1(scanOf("new", "g1", b)); !r.Rescan || r.Result != rules.Admit {
		t.Fatalf("\"new\" again after the purge: %+v, want the original admit as a rescan", r)
	}
	// The events left start at the cutoff.
	if evs := e.events(); len(evs) == 0 || evs[0].At != cutoff || evs[0].TicketID != b.ID {
		t.Fatalf("events after the purge: %+v, want b's at the cutoff first", evs)
	}
}
