package ticket

import (
	"bytes"
	"reflect"
	"testing"
)

// The fuzz targets check that decoders never panic and that the encoding is
// canonical: whatever decodes re-encodes to the very same bytes, and passes
// MarshalBinary's checks. Seeds live in testdata/fuzz/<Target>.

func FuzzTicket(f *testing.F) {
	full, minimal := fullTicket(), minimalTicket()
	f.Add(full.AppendBinary(nil))
	f.Add(minimal.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tk Ticket
		if err := tk.UnmarshalBinary(data); err != nil {
			return
		}
		out, err := tk.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded ticket not encodable: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("not canonical:\n in  %x\n out %x", data, out)
		}
		var again Ticket
		if err := again.UnmarshalBinary(out); err != nil || !reflect.DeepEqual(again, tk) {
			t.Fatalf("second decode: %v\n%+v\n%+v", err, again, tk)
		}
	})
}

func FuzzState(f *testing.F) {
	f.Add(sampleState().AppendBinary(nil))
	f.Add(State{}.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		out, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded state not encodable: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("not canonical:\n in  %x\n out %x", data, out)
		}
		for i, u := range st.Zones {
			if j, ok := st.Find(u.Zone); !ok || j != i {
				t.Fatalf("Find(%q) = %d, %v; want %d", u.Zone, j, ok, i)
			}
		}
	})
}

func FuzzZone(f *testing.F) {
	f.Add(Zone{ID: "main", Cap: 5000, Warn: 4500, Occupancy: 12}.AppendBinary(nil))
	f.Add(Zone{ID: "main", Cap: 5000, Warn: 4500, Occupancy: 12, MaskBit: 32}.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var z Zone
		if err := z.UnmarshalBinary(data); err != nil {
			return
		}
		if out, err := z.MarshalBinary(); err != nil || !bytes.Equal(out, data) {
			t.Fatalf("not canonical: %v\n in  %x\n out %x", err, data, out)
		}
	})
}
