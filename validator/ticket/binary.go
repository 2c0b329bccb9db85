package ticket

import (
	"encoding/binary"
	"math"

	"github.com/admitpark/admit/validator/internal/wire"
)

// Encoding versions: the first byte of each encoding.
const (
	TicketEncodingV1 = 1
	StateEncodingV1  = 1
	ZoneEncodingV1   = 1
	// ZoneEncodingV2 adds the zone's mask bit; written only when it is
	// known, so a zone without one encodes as before.
	ZoneEncodingV2 = 2
)

// Decode errors; the error a decoder returns wraps one of these and names
// the field. They are validator/fsm's too.
var (
	ErrVersion   = wire.ErrVersion
	ErrTruncated = wire.ErrTruncated
	ErrMalformed = wire.ErrMalformed
)

// Ticket flag bits. Optional fixed-size fields are flagged so that an absent
// 32-byte hash costs nothing.
const (
	flagIDHash = 1 << iota
	knownFlags = flagIDHash
)

// Smallest encodings of repeated items, to bound counts by the bytes present.
const (
	minZoneName = 2 // length byte + at least one byte
	minZoneUse  = minZoneName + 7
)

// AppendBinary appends the canonical encoding of t (version 1):
//
//	0x01 | ID[16] | uvarint Version | Kind | Status | flags | uvarint Entries
//	| str Product | uvarint n | n × str Zone | varint ValidFrom ValidUntil
//	SlotStart SlotEnd | Digest[16] | str Holder | [IDHash[32] if flagged]
//
// where str is a uvarint length and the bytes, and varint is zigzag. A ticket
// that fails MarshalBinary's checks encodes to bytes the decoder rejects.
func (t *Ticket) AppendBinary(dst []byte) []byte {
	var flags byte
	if t.IDHash != ([32]byte{}) {
		flags |= flagIDHash
	}
	dst = append(dst, TicketEncodingV1)
	dst = append(dst, t.ID[:]...)
	dst = binary.AppendUvarint(dst, t.Version)
	dst = append(dst, byte(t.Kind), byte(t.Status), flags)
	dst = binary.AppendUvarint(dst, uint64(t.Entries))
	dst = appendString(dst, t.Product)
	dst = binary.AppendUvarint(dst, uint64(len(t.Zones)))
	for _, z := range t.Zones {
		dst = appendString(dst, z)
	}
	dst = binary.AppendVarint(dst, t.ValidFrom)
	dst = binary.AppendVarint(dst, t.ValidUntil)
	dst = binary.AppendVarint(dst, t.SlotStart)
	dst = binary.AppendVarint(dst, t.SlotEnd)
	dst = append(dst, t.Digest[:]...)
	dst = appendString(dst, t.Holder)
	if flags&flagIDHash != 0 {
		dst = append(dst, t.IDHash[:]...)
	}
	return dst
}

// MarshalBinary checks that t is encodable and encodes it.
func (t *Ticket) MarshalBinary() ([]byte, error) {
	if err := t.checkEncodable(); err != nil {
		return nil, err
	}
	n := 1 + 16 + 10 + 3 + 3 + 10 + len(t.Product) + 3 + 4*10 + 16 + 2 + len(t.Holder) + 32
	for _, z := range t.Zones {
		n += 1 + len(z)
	}
	return t.AppendBinary(make([]byte, 0, n)), nil
}

// UnmarshalBinary decodes what AppendBinary produced. On error t is unchanged.
func (t *Ticket) UnmarshalBinary(data []byte) error {
	d := newDecoder(data, "ticket")
	d.version(TicketEncodingV1)
	var n Ticket
	d.Fixed(n.ID[:], "id")
	n.Version = d.Uvarint("ticket_version", math.MaxUint64)
	n.Kind = Kind(d.Byte("kind"))
	if d.Err == nil && !n.Kind.Valid() {
		d.Fail("kind", ErrMalformed)
	}
	n.Status = Status(d.Byte("status"))
	if d.Err == nil && !n.Status.Valid() {
		d.Fail("status", ErrMalformed)
	}
	flags := d.Byte("flags")
	if d.Err == nil && flags&^knownFlags != 0 {
		d.Fail("flags", ErrMalformed)
	}
	n.Entries = uint16(d.Uvarint("entries", math.MaxUint16))
	n.Product = d.Str("product", 0, MaxNameLen)
	if c := d.Count("zones", MaxZones, minZoneName); c > 0 {
		n.Zones = make([]string, c)
		for i := range n.Zones {
			n.Zones[i] = d.Str("zones", 1, MaxNameLen)
		}
	}
	n.ValidFrom = d.Varint("valid_from")
	n.ValidUntil = d.Varint("valid_until")
	n.SlotStart = d.Varint("slot_start")
	n.SlotEnd = d.Varint("slot_end")
	d.Fixed(n.Digest[:], "digest")
	n.Holder = d.Str("holder", 0, MaxHolderLen)
	if flags&flagIDHash != 0 {
		d.Fixed(n.IDHash[:], "id_hash")
		// A flagged all-zero hash would re-encode without the flag.
		if d.Err == nil && n.IDHash == ([32]byte{}) {
			d.Fail("id_hash", ErrMalformed)
		}
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*t = n
	return nil
}

// AppendBinary appends the canonical encoding of s (version 1):
//
//	0x01 | uvarint n | n × (str Zone | uvarint Used | uvarint Inside
//	| varint LastDay | varint FirstAt | str FirstGate
//	| varint LastAt-FirstAt | str LastGate)
//
// LastAt is stored relative to FirstAt because it is usually close to it.
func (s State) AppendBinary(dst []byte) []byte {
	dst = append(dst, StateEncodingV1)
	dst = binary.AppendUvarint(dst, uint64(len(s.Zones)))
	for i := range s.Zones {
		u := &s.Zones[i]
		dst = appendString(dst, u.Zone)
		dst = binary.AppendUvarint(dst, uint64(u.Used))
		dst = binary.AppendUvarint(dst, uint64(u.Inside))
		dst = binary.AppendVarint(dst, int64(u.LastDay))
		dst = binary.AppendVarint(dst, u.FirstAt)
		dst = appendString(dst, u.FirstGate)
		dst = binary.AppendVarint(dst, u.LastAt-u.FirstAt) // wraps, and so does decoding
		dst = appendString(dst, u.LastGate)
	}
	return dst
}

// MarshalBinary checks that s is encodable (sorted, bounded) and encodes it.
func (s State) MarshalBinary() ([]byte, error) {
	if err := s.checkEncodable(); err != nil {
		return nil, err
	}
	n := 1 + 3
	for i := range s.Zones {
		u := &s.Zones[i]
		n += 3 + 3 + 3 + 5 + 10 + 10 + len(u.Zone) + len(u.FirstGate) + len(u.LastGate)
	}
	return s.AppendBinary(make([]byte, 0, n)), nil
}

// UnmarshalBinary decodes what AppendBinary produced. On error s is unchanged.
func (s *State) UnmarshalBinary(data []byte) error {
	d := newDecoder(data, "state")
	d.version(StateEncodingV1)
	var n State
	if c := d.Count("zones", MaxZones, minZoneUse); c > 0 {
		n.Zones = make([]ZoneUse, c)
		for i := range n.Zones {
			u := &n.Zones[i]
			u.Zone = d.Str("zone", 1, MaxNameLen)
			if d.Err == nil && i > 0 && n.Zones[i-1].Zone >= u.Zone {
				d.Fail("zone", ErrMalformed) // unsorted or duplicate
			}
			u.Used = uint16(d.Uvarint("used", math.MaxUint16))
			u.Inside = uint16(d.Uvarint("inside", math.MaxUint16))
			day := d.Varint("last_day")
			if d.Err == nil && (day < math.MinInt32 || day > math.MaxInt32) {
				d.Fail("last_day", ErrMalformed)
			}
			u.LastDay = int32(day)
			u.FirstAt = d.Varint("first_at")
			u.FirstGate = d.Str("first_gate", 0, MaxNameLen)
			u.LastAt = u.FirstAt + d.Varint("last_at")
			u.LastGate = d.Str("last_gate", 0, MaxNameLen)
		}
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*s = n
	return nil
}

// AppendBinary appends the canonical encoding of z: version 1 when its
// mask bit is unknown, else version 2:
//
//	0x01 | str ID | uvarint Cap | uvarint Warn | uvarint Occupancy
//	0x02 | str ID | uvarint Cap | uvarint Warn | uvarint Occupancy | MaskBit (1-32)
func (z Zone) AppendBinary(dst []byte) []byte {
	v := byte(ZoneEncodingV1)
	if z.MaskBit != 0 {
		v = ZoneEncodingV2
	}
	dst = append(dst, v)
	dst = appendString(dst, z.ID)
	dst = binary.AppendUvarint(dst, uint64(z.Cap))
	dst = binary.AppendUvarint(dst, uint64(z.Warn))
	dst = binary.AppendUvarint(dst, uint64(z.Occupancy))
	if z.MaskBit != 0 {
		dst = append(dst, z.MaskBit)
	}
	return dst
}

// MarshalBinary checks that z is encodable and encodes it.
func (z Zone) MarshalBinary() ([]byte, error) {
	if err := z.checkEncodable(); err != nil {
		return nil, err
	}
	return z.AppendBinary(make([]byte, 0, 1+1+len(z.ID)+3*5+1)), nil
}

// UnmarshalBinary decodes what AppendBinary produced. On error z is unchanged.
func (z *Zone) UnmarshalBinary(data []byte) error {
	d := newDecoder(data, "zone")
	v := byte(ZoneEncodingV1)
	if len(data) > 0 && data[0] == ZoneEncodingV2 {
		v = ZoneEncodingV2
	}
	d.version(v)
	var n Zone
	n.ID = d.Str("id", 1, MaxNameLen)
	n.Cap = uint32(d.Uvarint("cap", math.MaxUint32))
	n.Warn = uint32(d.Uvarint("warn", math.MaxUint32))
	n.Occupancy = uint32(d.Uvarint("occupancy", math.MaxUint32))
	if v == ZoneEncodingV2 {
		n.MaskBit = d.Byte("mask_bit")
		if d.Err == nil && (n.MaskBit == 0 || n.MaskBit > MaxMaskBit) {
			d.Fail("mask_bit", ErrMalformed)
		}
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*z = n
	return nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
