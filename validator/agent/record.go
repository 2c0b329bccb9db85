package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/admitpark/admit/validator/ticket"
)

// ErrCorrupt: a stored record does not decode. Every decoder here returns
// it (wrapped) for any input it cannot read, and never panics (fuzzed).
var ErrCorrupt = errors.New("agent: corrupt stored record")

// Record is one scan this agent decided offline: what it uploads later and
// what it remembers by scan id.
type Record struct {
	Seq        uint64 // backlog order; consecutive from 1
	ScanID     string
	Code       string // empty in the scan-id index
	Direction  string // "", in, out
	Persons    uint16
	DeviceTime int64 // unix ms: when the visitor was let in or turned away
	Admit      bool
	Reason     string
	TicketID   [16]byte // zero when the code did not parse
	Used       uint16   // entries used after the decision, as shown
	Allowed    uint16
	Uploaded   bool // the cluster has it (index only)
}

const (
	recordV1 = 1
	useV1    = 1
	maxCode  = 512
)

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendRecord encodes r:
//
//	0x01 | uvarint seq | str scan_id | str code | str direction
//	| uvarint persons | varint device_time | flags (1 admit, 2 uploaded)
//	| str reason | ticket_id[16] | uvarint used | uvarint allowed
func appendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, recordV1)
	dst = binary.AppendUvarint(dst, r.Seq)
	dst = appendStr(dst, r.ScanID)
	dst = appendStr(dst, r.Code)
	dst = appendStr(dst, r.Direction)
	dst = binary.AppendUvarint(dst, uint64(r.Persons))
	dst = binary.AppendVarint(dst, r.DeviceTime)
	var flags byte
	if r.Admit {
		flags |= 1
	}
	if r.Uploaded {
		flags |= 2
	}
	dst = append(dst, flags)
	dst = appendStr(dst, r.Reason)
	dst = append(dst, r.TicketID[:]...)
	dst = binary.AppendUvarint(dst, uint64(r.Used))
	return binary.AppendUvarint(dst, uint64(r.Allowed))
}

// dec reads what the append functions wrote; the first failure sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(field string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, field)
	}
}

func (d *dec) uvarint(field string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > max {
		d.fail(field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) str(field string, max int) string {
	n := d.uvarint(field, uint64(max))
	if d.err != nil {
		return ""
	}
	if uint64(len(d.b)) < n {
		d.fail(field)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(field)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) fixed(dst []byte, field string) {
	if d.err != nil {
		return
	}
	if len(d.b) < len(dst) {
		d.fail(field)
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// decodeRecord reads appendRecord's encoding.
func decodeRecord(v []byte) (Record, error) {
	var r Record
	d := dec{b: v}
	if d.byte("version") != recordV1 && d.err == nil {
		return r, fmt.Errorf("%w: record version %d", ErrCorrupt, v[0])
	}
	r.Seq = d.uvarint("seq", math.MaxUint64)
	r.ScanID = d.str("scan_id", 256)
	r.Code = d.str("code", maxCode)
	r.Direction = d.str("direction", 3)
	r.Persons = uint16(d.uvarint("persons", math.MaxUint16))
	r.DeviceTime = d.varint("device_time")
	flags := d.byte("flags")
	r.Admit, r.Uploaded = flags&1 != 0, flags&2 != 0
	if flags > 3 {
		d.fail("flags")
	}
	r.Reason = d.str("reason", 32)
	d.fixed(r.TicketID[:], "ticket_id")
	r.Used = uint16(d.uvarint("used", math.MaxUint16))
	r.Allowed = uint16(d.uvarint("allowed", math.MaxUint16))
	return r, d.end()
}

// appendUse encodes a ticket's usage of the gate's zone:
//
//	0x01 | uvarint used | uvarint inside | varint last_day | varint first_at
//	| str first_gate | varint last_at | str last_gate
func appendUse(dst []byte, u *ticket.ZoneUse) []byte {
	dst = append(dst, useV1)
	dst = binary.AppendUvarint(dst, uint64(u.Used))
	dst = binary.AppendUvarint(dst, uint64(u.Inside))
	dst = binary.AppendVarint(dst, int64(u.LastDay))
	dst = binary.AppendVarint(dst, u.FirstAt)
	dst = appendStr(dst, u.FirstGate)
	dst = binary.AppendVarint(dst, u.LastAt)
	return appendStr(dst, u.LastGate)
}

// decodeUse reads appendUse's encoding; zone is the gate's zone.
func decodeUse(v []byte, zone string) (ticket.ZoneUse, error) {
	u := ticket.ZoneUse{Zone: zone}
	d := dec{b: v}
	if d.byte("version") != useV1 && d.err == nil {
		return u, fmt.Errorf("%w: usage version %d", ErrCorrupt, v[0])
	}
	u.Used = uint16(d.uvarint("used", math.MaxUint16))
	u.Inside = uint16(d.uvarint("inside", math.MaxUint16))
	day := d.varint("last_day")
	if day < math.MinInt32 || day > math.MaxInt32 {
		d.fail("last_day")
	}
	u.LastDay = int32(day)
	u.FirstAt = d.varint("first_at")
	u.FirstGate = d.str("first_gate", ticket.MaxNameLen)
	u.LastAt = d.varint("last_at")
	u.LastGate = d.str("last_gate", ticket.MaxNameLen)
	if d.err == nil && u.Inside > u.Used {
		d.fail("inside above used")
	}
	return u, d.end()
}
