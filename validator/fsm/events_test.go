package fsm

import (
	"errors"
	"fmt"
	"testing"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

func TestEventsInOrderWithoutGaps(t *testing.T) {
	e := newPark(t)
	var tks []ticket.Ticket
	for i := range 10 {
		tks = append(tks, tkt(byte(i+1), ticket.Single))
	}
	e.issue(tks...)
	type want struct {
		scanID, gate string
		result       rules.Result
		reason       rules.Reason
		c            Cursor
	}
	var wants []want
	n := 0
	for batch := 0; batch < 4; batch++ {
		var scans []Scan
		for i := 0; i < 3; i++ {
			n++
			scans = append(scans, scanOf(fmt.Sprintf("s%d", n), "g1", tks[(n*7)%10]))
		}
		scans = append(scans, scanOf("s1", "g1", tks[7]))                                   // a rescan: no event
		scans = append(scans, scanOf("s0", "nowhere", tks[0]))                              // unknown gate: no event
		scans = append(scans, scanOf(fmt.Sprint("u", batch), "g2", tkt(99, ticket.Single))) // unknown ticket: an event
		e.now += minute
		rs := e.scan(scans...)
		for i, r := range rs {
			if r.Rescan || r.Error != ScanOK {
				continue
			}
			wants = append(wants, want{scans[i].ScanID, scans[i].Gate, r.Result, r.Reason, Cursor{e.idx, uint32(i)}})
		}
		e.exitAll() // other commands between batches
	}

	var got []Event
	var c Cursor
	for page := 0; ; page++ {
		evs, next, err := EventsAfter(e.st, c, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			if next != c {
				t.Fatalf("empty page moved the cursor to %+v", next)
			}
			break
		}
		if len(evs) > 4 || next != evs[len(evs)-1].Cursor {
			t.Fatalf("page %d: %d events, next %+v", page, len(evs), next)
		}
		got = append(got, evs...)
		c = next
	}
	if len(got) != len(wants) {
		t.Fatalf("%d events, want %d", len(got), len(wants))
	}
	for i, ev := range got {
		w := wants[i]
		if ev.Seq != uint64(i+1) || ev.Cursor != w.c || ev.ScanID != w.scanID || ev.Gate != w.gate ||
			ev.Zone != "main" || ev.Result != w.result || ev.Reason != w.reason || ev.Persons != 1 {
			t.Fatalf("event %d: %+v, want %+v", i, ev, w)
		}
		if i > 0 && !got[i-1].Cursor.Less(ev.Cursor) {
			t.Fatalf("event %d out of order", i)
		}
	}
	// The first event of each batch is at its position, and carries the
	// batch's time.
	if got[0].At != t0+2*hour+minute || got[0].TicketID != tks[7].ID {
		t.Fatalf("first event %+v", got[0])
	}
}

func TestPurge(t *testing.T) {
	e := newPark(t)
	var tks []ticket.Ticket
	for i := range 10 {
		tks = append(tks, tkt(byte(i+1), ticket.Multi, withEntries(100)))
	}
	e.issue(tks...)
	start := e.now
	for i := range 10 { // ten batches a minute apart, two events each
		e.now = start + int64(i)*minute
		e.scan(scanOf(fmt.Sprint("a", i), "g1", tks[i]), scanOf(fmt.Sprint("b", i), "g2", tks[i]))
	}
	all := e.events()
	if len(all) != 20 {
		t.Fatalf("%d events", len(all))
	}

	// Purge the first six batches (12 events, 24 keys), 10 keys at a time.
	before := start + 6*minute
	var total PurgeResult
	for rounds := 0; ; rounds++ {
		if rounds > 5 {
			t.Fatal("purge does not finish")
		}
		r := e.purge(before, 10)
		// Each batch is one events key, one scan log and two scan-ID keys.
		if keys := 2*(r.Events/2) + r.ScanIDs; keys > 10 || r.More && keys < 8 {
			t.Fatalf("purge deleted %d keys, limit 10: %+v", keys, r)
		}
		total.Events += r.Events
		total.ScanIDs += r.ScanIDs
		if !r.More {
			break
		}
	}
	if total.Events != 12 || total.ScanIDs != 12 {
		t.Fatalf("purged %+v", total)
	}
	left := e.events()
	if len(left) != 8 || left[0].Seq != 13 || left[0].At != before {
		t.Fatalf("left %d events, first %+v", len(left), left[0])
	}
	if r := e.purge(before, 0); r != (PurgeResult{}) {
		t.Fatalf("second purge %+v", r)
	}

	// A reader behind the purge is told; one at the purge line is not.
	if _, _, err := EventsAfter(e.st, all[3].Cursor, 10); !errors.Is(err, ErrEventsPurged) {
		t.Fatalf("reader behind purge: %v", err)
	}
	if evs, _, err := EventsAfter(e.st, all[11].Cursor, 10); err != nil || len(evs) != 8 {
		t.Fatalf("reader at purge line: %d, %v", len(evs), err)
	}

	// A purged scan ID is forgotten: the same ID decides afresh. A kept one
	// still answers a rescan.
	if _, found, _ := LookupScan(e.st, "g1", "a0"); found {
		t.Fatal("purged scan ID still recorded")
	}
	if r, found, err := LookupScan(e.st, "g1", "a7"); err != nil || !found || !r.Rescan || r.Index != all[14].Index {
		t.Fatalf("kept scan ID: %+v %v %v", r, found, err)
	}
	e.now = start + 20*minute
	rs := e.scan(scanOf("a0", "g1", tks[0]), scanOf("a7", "g1", tks[7]))
	if rs[0].Rescan || rs[0].EntriesUsed != 3 || !rs[1].Rescan || rs[1].EntriesUsed != 1 {
		t.Fatalf("after purge: %+v", rs)
	}

	// Purging everything leaves nothing but the last event's position.
	r := e.purge(start+30*minute, 0)
	if r.Events != 9 || r.ScanIDs != 9 || r.More {
		t.Fatalf("final purge %+v", r)
	}
	if evs := e.events(); len(evs) != 0 {
		t.Fatalf("%d events left", len(evs))
	}
}
