package ticket

import "testing"

func BenchmarkTicketEncode(b *testing.B) {
	tk := fullTicket()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = tk.AppendBinary(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkTicketDecode(b *testing.B) {
	tk := fullTicket()
	data := tk.AppendBinary(nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var out Ticket
	for b.Loop() {
		if err := out.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStateEncode(b *testing.B) {
	st := sampleState()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = st.AppendBinary(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkStateDecode(b *testing.B) {
	data := sampleState().AppendBinary(nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var out State
	for b.Loop() {
		if err := out.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkZoneDecode(b *testing.B) {
	data := Zone{ID: "coaster", Cap: 1200, Warn: 1000, Occupancy: 800}.AppendBinary(nil)
	b.ReportAllocs()
	var out Zone
	for b.Loop() {
		if err := out.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}
