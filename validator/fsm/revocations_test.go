package fsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/admitpark/admit/validator/ticket"
)

// TestRevocationsAreListedInLogOrder: every ticket Apply revokes (a
// Revoke, or an issue of its revoked version) is listed once, in log
// order, from any cursor; refused and repeated revokes list nothing.
func TestRevocationsAreListedInLogOrder(t *testing.T) {
	e := newPark(t)
	a, b, used := tkt(1, ticket.Single), tkt(2, ticket.Single), tkt(3, ticket.Single)
	open := tkt(4, ticket.Period, func(t *ticket.Ticket) { t.ValidUntil = 0 })
	e.issue(a, b, used, open)
	e.scan1(scanOf("s1", "g1", used))

	e.revoke(a.ID, 2)
	aIdx := e.idx
	e.revoke(a.ID, 3)    // a resend
	e.revoke(used.ID, 2) // refused: used
	b2 := b
	b2.Version, b2.Status, b2.Digest = 2, ticket.Revoked, digest(b.ID, 2)
	e.issue(tkt(9, ticket.Single), b2) // b revoked by its new version, second in the batch
	bIdx := e.idx
	e.issue(b2) // the same again: stale, nothing new
	e.revoke(open.ID, 2)

	all, next, err := Revocations(e.st, Cursor{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].TicketID != a.ID || all[0].Version != 2 || all[0].Cursor != (Cursor{Index: aIdx}) ||
		all[0].ValidUntil != a.ValidUntil || all[0].At != e.now ||
		all[1].TicketID != b.ID || all[1].Cursor != (Cursor{Index: bIdx, Pos: 1}) || all[1].Version != 2 ||
		all[2].TicketID != open.ID || next != all[2].Cursor {
		t.Fatalf("revocations %+v, next %+v", all, next)
	}
	page, next, err := Revocations(e.st, all[0].Cursor, 1)
	if err != nil || len(page) != 1 || page[0] != all[1] || next != all[1].Cursor {
		t.Fatalf("page after the first: %+v %+v %v", page, next, err)
	}
	if rest, next, err := Revocations(e.st, all[2].Cursor, 10); err != nil || len(rest) != 0 || next != all[2].Cursor {
		t.Fatalf("after the last: %+v %+v %v", rest, next, err)
	}
	if _, _, err := Revocations(e.st, Cursor{}, 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

// TestRevocationsPurged: PurgeScans drops the records of tickets whose
// validity ended before its cutoff, keeps the rest (and those of tickets
// without an end), and a reader's cursor reads on.
func TestRevocationsPurged(t *testing.T) {
	e := newPark(t)
	short := tkt(1, ticket.Single, func(t *ticket.Ticket) { t.ValidUntil = t0 + day })
	long := tkt(2, ticket.Single, func(t *ticket.Ticket) { t.ValidUntil = t0 + 30*day })
	open := tkt(3, ticket.Period, func(t *ticket.Ticket) { t.ValidUntil = 0 })
	e.issue(short, long, open)
	for _, tk := range []ticket.Ticket{short, long, open} {
		e.revoke(tk.ID, 2)
	}
	first, _, _ := Revocations(e.st, Cursor{}, 1)

	e.purge(t0+day, 100) // the short ticket's validity ends at the cutoff: kept
	if all, _, _ := Revocations(e.st, Cursor{}, 10); len(all) != 3 {
		t.Fatalf("purged at its end of validity: %+v", all)
	}
	e.purge(t0+2*day, 100)
	all, _, err := Revocations(e.st, Cursor{}, 10)
	if err != nil || len(all) != 2 || all[0].TicketID != long.ID || all[1].TicketID != open.ID {
		t.Fatalf("after purging past the short ticket's end: %+v, %v", all, err)
	}
	if rest, _, err := Revocations(e.st, first[0].Cursor, 10); err != nil || len(rest) != 2 {
		t.Fatalf("reading on from a purged record's cursor: %+v, %v", rest, err)
	}
	e.purge(t0+365*day, 100)
	if all, _, _ := Revocations(e.st, Cursor{}, 10); len(all) != 1 || all[0].TicketID != open.ID {
		t.Fatalf("a ticket without an end of validity keeps its record: %+v", all)
	}
}

// FuzzDecodeRevocation: a stored revocation record decodes and encodes
// back to the same bytes, or is refused; never a panic.
func FuzzDecodeRevocation(f *testing.F) {
	key := appendRevocationKey(nil, Cursor{Index: 7, Pos: 1})
	f.Add(appendRevocationRecord(nil, &Revocation{TicketID: [16]byte{1}, Version: 2, ValidUntil: t0, At: t0 - 5}))
	f.Add([]byte{revocationRecordV1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := decodeRevocation(key, v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if again := appendRevocationRecord(nil, &r); !bytes.Equal(again, v) {
			t.Fatalf("not canonical: %x -> %x", v, again)
		}
	})
}
