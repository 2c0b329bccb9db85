package agent

import (
	"bytes"
	"errors"
	"testing"

	"github.com/admitpark/admit/validator/ticket"
)

// FuzzDecodeRecord: a stored backlog or index record either decodes and
// encodes back to the same bytes, or is ErrCorrupt; never a panic.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, &Record{Seq: 1, ScanID: "g1:1", Code: "ABC", Direction: "in", Persons: 2, DeviceTime: 1764633600000,
		Admit: true, TicketID: [16]byte{1, 2}, Used: 1, Allowed: 1}))
	f.Add(appendRecord(nil, &Record{Seq: 1 << 40, ScanID: "x", Reason: "already_used", Uploaded: true, DeviceTime: -5}))
	f.Add([]byte{})
	f.Add([]byte{recordV1})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if again := appendRecord(nil, &r); !bytes.Equal(again, b) {
			// Varints have one canonical form only when written by us;
			// what decodes must at least decode the same again.
			r2, err := decodeRecord(again)
			if err != nil || r2 != r {
				t.Fatalf("re-encoded %x decodes to %+v, %v; want %+v", again, r2, err, r)
			}
		}
	})
}

// FuzzDecodeUse: a stored usage record decodes into a valid zone use or
// is ErrCorrupt.
func FuzzDecodeUse(f *testing.F) {
	f.Add(appendUse(nil, &ticket.ZoneUse{Used: 3, Inside: 1, LastDay: 20423, FirstAt: 1764633600000, FirstGate: "g1", LastAt: 1764633700000, LastGate: "g2"}))
	f.Add(appendUse(nil, &ticket.ZoneUse{}))
	f.Add([]byte{useV1, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeUse(b, "main")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if u.Inside > u.Used || len(u.FirstGate) > ticket.MaxNameLen || len(u.LastGate) > ticket.MaxNameLen {
			t.Fatalf("decoded an impossible use %+v", u)
		}
		st := ticket.State{Zones: []ticket.ZoneUse{u}}
		if err := st.Validate(); err != nil {
			t.Fatalf("decoded use does not validate: %v", err)
		}
		u2, err := decodeUse(appendUse(nil, &u), "main")
		if err != nil || u2 != u {
			t.Fatalf("round trip %+v -> %+v, %v", u, u2, err)
		}
	})
}

// TestCommitManyKeepsEachRecord: one commit of many decisions stores each
// as it was (bbolt keeps value slices until the commit).
func TestCommitManyKeepsEachRecord(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []*Record
	for i := range 100 {
		recs = append(recs, &Record{Seq: uint64(i + 1), ScanID: "s" + string(rune('a'+i%26)) + string(rune('0'+i/26)), Code: "CODE", Admit: i%2 == 0,
			TicketID: [16]byte{byte(i)}, DeviceTime: int64(i)})
	}
	if err := st.Commit(recs); err != nil {
		t.Fatal(err)
	}
	got, err := st.Pending(1000)
	if err != nil || len(got) != 100 {
		t.Fatalf("pending %d, %v", len(got), err)
	}
	for i, r := range got {
		if r != *recs[i] {
			t.Fatalf("record %d stored as %+v, want %+v", i, r, *recs[i])
		}
	}
}
