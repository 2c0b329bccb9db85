package ticket

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func fullTicket() Ticket {
	t := Ticket{
		Version:    7,
		Product:    "adult-day",
		Kind:       Group,
		Entries:    5,
		Zones:      []string{"main", "coaster"},
		ValidFrom:  1767225600000, // 2026-01-01T00:00:00Z
		ValidUntil: 1767312000000,
		SlotStart:  1767258000000,
		SlotEnd:    1767261600000,
		Status:     Suspended,
		Holder:     "张三",
	}
	for i := range t.ID {
		t.ID[i] = byte(i + 1)
	}
	for i := range t.Digest {
		t.Digest[i] = byte(0xf0 + i)
	}
	for i := range t.IDHash {
		t.IDHash[i] = byte(i * 3)
	}
	return t
}

func minimalTicket() Ticket {
	return Ticket{ID: [16]byte{15: 1}}
}

func sampleState() State {
	return State{Zones: []ZoneUse{
		{Zone: "coaster", Used: 2, Inside: 1, LastDay: 20454, FirstAt: 1767258100000, FirstGate: "c1", LastAt: 1767260000000, LastGate: "c2"},
		{Zone: "main", Used: 3, Inside: 0, LastDay: 20454, FirstAt: 1767258000000, FirstGate: "g1", LastAt: 1767258000000, LastGate: "g1"},
		{Zone: "water", Used: math.MaxUint16, Inside: math.MaxUint16, LastDay: -5, FirstAt: -1, LastAt: math.MaxInt64},
	}}
}

func TestTicketRoundTrip(t *testing.T) {
	for name, tk := range map[string]Ticket{"full": fullTicket(), "minimal": minimalTicket()} {
		t.Run(name, func(t *testing.T) {
			b, err := tk.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, tk.AppendBinary(nil)) {
				t.Fatal("MarshalBinary and AppendBinary differ")
			}
			var got Ticket
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tk) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tk)
			}
		})
	}
}

func TestTicketAppendKeepsPrefix(t *testing.T) {
	tk := fullTicket()
	b := tk.AppendBinary([]byte("prefix"))
	if !bytes.HasPrefix(b, []byte("prefix")) {
		t.Fatal("prefix lost")
	}
	var got Ticket
	if err := got.UnmarshalBinary(b[len("prefix"):]); err != nil {
		t.Fatal(err)
	}
}

// The encoding is persisted in Raft logs and snapshots: it must not change
// by accident. Update this only together with a new encoding version.
func TestTicketGolden(t *testing.T) {
	tk := fullTicket()
	want := "01" + "0102030405060708090a0b0c0d0e0f10" + "07" + "04" + "02" + "01" + "05" +
		"09" + hex6("adult-day") + "02" + "04" + hex6("main") + "07" + hex6("coaster") +
		"80a0d5edee66" + "809088c0ef66" + "80aac88cef66" + "80e4ff8fef66" +
		"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff" + "06" + "e5bca0e4b889" +
		"000306090c0f1215181b1e2124272a2d303336393c3f4245484b4e5154575a5d"
	if got := hex.EncodeToString(tk.AppendBinary(nil)); got != want {
		t.Fatalf("encoding changed:\n got %s\nwant %s", got, want)
	}
}

func hex6(s string) string { return hex.EncodeToString([]byte(s)) }

func TestStateRoundTrip(t *testing.T) {
	for name, st := range map[string]State{"sample": sampleState(), "empty": {}} {
		t.Run(name, func(t *testing.T) {
			b, err := st.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got State
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, st) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, st)
			}
		})
	}
}

func TestZoneRoundTrip(t *testing.T) {
	z := Zone{ID: "coaster", Cap: 1200, Warn: 1000, Occupancy: math.MaxUint32}
	b, err := z.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Zone
	if err := got.UnmarshalBinary(b); err != nil || got != z {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := (Zone{}).MarshalBinary(); err == nil {
		t.Error("want error for empty zone ID")
	}
}

// TestZoneMaskBit: a zone with its mask bit encodes as version 2 and comes
// back with it; a version 1 record (every zone stored before) decodes with
// the bit unknown; a bit past 31 is refused.
func TestZoneMaskBit(t *testing.T) {
	z := Zone{ID: "coaster", Cap: 10, MaskBit: 2}
	b, err := z.MarshalBinary()
	if err != nil || b[0] != ZoneEncodingV2 {
		t.Fatalf("encoding %x, %v: want version 2", b, err)
	}
	var got Zone
	if err := got.UnmarshalBinary(b); err != nil || got != z {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if bit, ok := got.Bit(); bit != 1 || !ok {
		t.Fatalf("bit %d %v, want 1 true", bit, ok)
	}
	old := []byte{ZoneEncodingV1, 4, 'm', 'a', 'i', 'n', 0x90, 0x4e, 0, 3} // a record written before version 2
	if err := got.UnmarshalBinary(old); err != nil || got != (Zone{ID: "main", Cap: 10000, Occupancy: 3}) {
		t.Fatalf("version 1 record: %+v, %v", got, err)
	}
	if _, ok := got.Bit(); ok {
		t.Fatal("a version 1 zone has a known bit")
	}
	if _, err := (Zone{ID: "x", MaskBit: MaxMaskBit + 1}).MarshalBinary(); err == nil {
		t.Fatal("bit 32 encoded")
	}
	for _, bad := range [][]byte{append(b[:len(b)-1:len(b)-1], 0), append(b[:len(b)-1:len(b)-1], MaxMaskBit+1), b[:len(b)-1]} {
		if err := got.UnmarshalBinary(bad); err == nil {
			t.Fatalf("decoded %x", bad)
		}
	}
}

func TestDecodeTruncated(t *testing.T) {
	tk := fullTicket()
	st := sampleState()
	z := Zone{ID: "main", Cap: 300}
	for name, c := range map[string]struct {
		b   []byte
		dec func([]byte) error
	}{
		"ticket": {tk.AppendBinary(nil), func(b []byte) error { var v Ticket; return v.UnmarshalBinary(b) }},
		"state":  {st.AppendBinary(nil), func(b []byte) error { var v State; return v.UnmarshalBinary(b) }},
		"zone":   {z.AppendBinary(nil), func(b []byte) error { var v Zone; return v.UnmarshalBinary(b) }},
	} {
		for i := range len(c.b) {
			err := c.dec(c.b[:i])
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s cut at %d: got %v", name, i, err)
			}
		}
		if err := c.dec(append(c.b[:len(c.b):len(c.b)], 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s with trailing byte: got %v", name, err)
		}
		bad := bytes.Clone(c.b)
		bad[0] = 3 // zones have a version 2
		if err := c.dec(bad); !errors.Is(err, ErrVersion) {
			t.Errorf("%s version 3: got %v", name, err)
		}
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	mt := minimalTicket()
	base := mt.AppendBinary(nil) // version byte, ID, then "Version" uvarint at 17
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(base)) }
	cases := map[string][]byte{
		"overlong version varint": mut(func(b []byte) []byte {
			return append(append(b[:17:17], 0x80, 0x00), b[18:]...)
		}),
		"unknown kind":   mut(func(b []byte) []byte { b[18] = byte(numKinds); return b }),
		"unknown status": mut(func(b []byte) []byte { b[19] = byte(numStatuses); return b }),
		"unknown flag":   mut(func(b []byte) []byte { b[20] = 0x80; return b }),
		"flagged zero hash": mut(func(b []byte) []byte {
			b[20] = flagIDHash
			return append(b, make([]byte, 32)...)
		}),
		"varint over 64 bits": mut(func(b []byte) []byte {
			return append(append(b[:17:17], bytes.Repeat([]byte{0xff}, 10)...), append([]byte{1}, b[18:]...)...)
		}),
	}
	for name, b := range cases {
		var tk Ticket
		if err := tk.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", name, err)
		}
	}

	unsorted := sampleState()
	unsorted.Zones[0], unsorted.Zones[1] = unsorted.Zones[1], unsorted.Zones[0]
	var st State
	if err := st.UnmarshalBinary(unsorted.AppendBinary(nil)); !errors.Is(err, ErrMalformed) {
		t.Errorf("unsorted state: got %v", err)
	}
	if _, err := unsorted.MarshalBinary(); err == nil {
		t.Error("MarshalBinary of unsorted state: want error")
	}
	dup := State{Zones: []ZoneUse{{Zone: "a"}, {Zone: "a"}}}
	if err := st.UnmarshalBinary(dup.AppendBinary(nil)); !errors.Is(err, ErrMalformed) {
		t.Errorf("duplicate zone: got %v", err)
	}
}

func TestDecodeBoundsCounts(t *testing.T) {
	// A count of MaxZones with no bytes behind it must not allocate MaxZones
	// entries: it fails on the bytes present.
	b := []byte{StateEncodingV1, 0x80, 0x08} // uvarint 1024
	var st State
	if err := st.UnmarshalBinary(b); !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v", err)
	}
	b = []byte{StateEncodingV1, 0x81, 0x08} // 1025 > MaxZones
	if err := st.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
	bogus := []byte{StateEncodingV1, 0x80, 0x08}
	if n := testing.AllocsPerRun(100, func() { _ = st.UnmarshalBinary(bogus) }); n > 1 { // the error itself
		t.Fatalf("rejecting a bogus count allocated %v times", n)
	}
}

func TestUnmarshalLeavesTargetOnError(t *testing.T) {
	tk := fullTicket()
	before := fullTicket()
	if err := tk.UnmarshalBinary([]byte{TicketEncodingV1, 1, 2}); err == nil {
		t.Fatal("want error")
	}
	if !reflect.DeepEqual(tk, before) {
		t.Fatal("ticket changed by failed decode")
	}
}

func TestDecodedStringsDoNotAliasInput(t *testing.T) {
	tk := fullTicket()
	b := tk.AppendBinary(nil)
	var got Ticket
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if got.Product != "adult-day" || got.Zones[1] != "coaster" {
		t.Fatalf("decoded strings changed with the input: %+v", got)
	}
}

func TestMarshalBinaryChecks(t *testing.T) {
	for name, f := range map[string]func(*Ticket){
		"long product": func(t *Ticket) { t.Product = strings.Repeat("p", MaxNameLen+1) },
		"long holder":  func(t *Ticket) { t.Holder = strings.Repeat("h", MaxHolderLen+1) },
		"empty zone":   func(t *Ticket) { t.Zones = []string{""} },
		"many zones":   func(t *Ticket) { t.Zones = make([]string, MaxZones+1) },
		"bad kind":     func(t *Ticket) { t.Kind = numKinds },
		"bad status":   func(t *Ticket) { t.Status = 9 },
	} {
		tk := fullTicket()
		f(&tk)
		if _, err := tk.MarshalBinary(); err == nil {
			t.Errorf("%s: want error", name)
		}
		if tk.Validate() == nil {
			t.Errorf("%s: Validate: want error", name)
		}
		var back Ticket
		if back.UnmarshalBinary(tk.AppendBinary(nil)) == nil {
			t.Errorf("%s: decoder accepted what MarshalBinary refuses", name)
		}
	}
	long := sampleState()
	long.Zones[0].LastGate = strings.Repeat("g", MaxNameLen+1)
	if _, err := long.MarshalBinary(); err == nil {
		t.Error("long gate: want error")
	}
}

func TestValidate(t *testing.T) {
	ok := fullTicket()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*Ticket){
		"zero id":        func(t *Ticket) { t.ID = [16]byte{} },
		"group no entry": func(t *Ticket) { t.Entries = 0 },
		"dup zone":       func(t *Ticket) { t.Zones = []string{"a", "b", "a"} },
		"empty validity": func(t *Ticket) { t.ValidUntil = t.ValidFrom },
		"empty slot":     func(t *Ticket) { t.SlotEnd = t.SlotStart - 1 },
	} {
		tk := fullTicket()
		f(&tk)
		if tk.Validate() == nil {
			t.Errorf("%s: want error", name)
		}
	}
	st := sampleState()
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	st.Zones[1].Inside = st.Zones[1].Used + 1
	if st.Validate() == nil {
		t.Error("inside > used: want error")
	}
}

func TestTicketHelpers(t *testing.T) {
	tk := fullTicket()
	if !tk.ValidIn("coaster") || tk.ValidIn("water") {
		t.Error("ValidIn with zone list")
	}
	if mt := minimalTicket(); !mt.ValidIn("anything") {
		t.Error("ValidIn with no zones")
	}
	old := tk
	tk.Version++
	if !tk.Supersedes(&old) || old.Supersedes(&tk) || tk.Supersedes(&tk) || !tk.Supersedes(nil) {
		t.Error("Supersedes")
	}
	st := sampleState()
	if i, ok := st.Find("main"); !ok || i != 1 {
		t.Errorf("Find(main) = %d, %v", i, ok)
	}
	if i, ok := st.Find("dark-ride"); ok || i != 1 {
		t.Errorf("Find(dark-ride) = %d, %v", i, ok)
	}
	c := st.Clone()
	c.Zones[0].Used = 99
	if st.Zones[0].Used == 99 {
		t.Error("Clone shares the backing array")
	}
}
