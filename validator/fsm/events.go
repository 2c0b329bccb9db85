package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// ErrEventsPurged: the events after the cursor were partly purged; a reader
// at that cursor has missed some.
var ErrEventsPurged = errors.New("fsm: events after the cursor were purged")

// Cursor is a position in the event stream: the log index of a ScanBatch and
// a scan's position in it. The zero Cursor is before every event.
type Cursor struct {
	Index uint64
	Pos   uint32
}

// Less reports whether c comes before o.
func (c Cursor) Less(o Cursor) bool {
	return c.Index < o.Index || c.Index == o.Index && c.Pos < o.Pos
}

// Event is one decided scan, admitted or denied. Rescans, unknown gates and
// scan-ID conflicts write none.
type Event struct {
	Cursor             // where the scan was decided
	Seq       uint64   // 1, 2, 3...: consecutive over all events, so a reader sees gaps
	ScanID    string   // as the gate sent it
	TicketID  [16]byte // as scanned; the ticket may not exist
	Gate      string   // gate ID
	Zone      string   // the gate's zone at the time
	Direction rules.Direction
	Persons   uint16 // persons admitted or let out; for a denial, persons asked for
	Result    rules.Result
	Reason    rules.Reason
	At        int64 // unix ms, the leader's time of the batch
	// DeviceTime is the gate's clock when the credential was presented
	// (unix ms; 0 = not sent): recorded beside At, never used to order.
	DeviceTime int64
	// Credential is what the visitor presented instead of a code
	// (CredNone: a code).
	Credential CredentialKind
	// Offline: an offline gate made this decision (an uploaded scan);
	// Result is what the gate did and Reason, on an admit, the deny the
	// cluster would have given.
	Offline bool
	// Conflict: an offline admit that met another admit of the ticket.
	Conflict bool
}

// The events of one ScanBatch are stored together under e/<index>, in
// position order, so a batch writes one event key rather than one per scan:
//
//	0x01 | uvarint Seq of the first event | varint At
//	| events: uvarint Pos | str ScanID | TicketID[16] | str Gate | str Zone
//	  | Direction | uvarint Persons | Result | Reason
//
// The events run to the end of the value; Seq grows by one per event.
//
// A ScanBatch2 writes version 2 records: the same, each event followed by
//
//	flags: 1 offline, 2 conflict, 4 device time, 8 credential
//	| [varint DeviceTime] | [credential kind]
const (
	evOffline = 1 << iota
	evConflict
	evDeviceTime
	evCredential
	evKnown = evOffline | evConflict | evDeviceTime | evCredential

	eventRecordV2 = 2
)

func appendEventsHeaderV(dst []byte, version byte, firstSeq uint64, at int64) []byte {
	dst = append(dst, version)
	dst = binary.AppendUvarint(dst, firstSeq)
	return binary.AppendVarint(dst, at)
}

// appendEventExt appends what a version 2 record adds to an event.
func appendEventExt(dst []byte, e *Event) []byte {
	var flags byte
	if e.Offline {
		flags |= evOffline
	}
	if e.Conflict {
		flags |= evConflict
	}
	if e.DeviceTime != 0 {
		flags |= evDeviceTime
	}
	if e.Credential != CredNone {
		flags |= evCredential
	}
	dst = append(dst, flags)
	if e.DeviceTime != 0 {
		dst = binary.AppendVarint(dst, e.DeviceTime)
	}
	if e.Credential != CredNone {
		dst = append(dst, byte(e.Credential))
	}
	return dst
}

func appendEvent(dst []byte, e *Event) []byte {
	dst = binary.AppendUvarint(dst, uint64(e.Pos))
	dst = appendString(dst, e.ScanID)
	dst = append(dst, e.TicketID[:]...)
	dst = appendString(dst, e.Gate)
	dst = appendString(dst, e.Zone)
	dst = append(dst, byte(e.Direction))
	dst = binary.AppendUvarint(dst, uint64(e.Persons))
	return append(dst, byte(e.Result), byte(e.Reason))
}

// eventBatch reads the events record of the batch at index.
type eventBatch struct {
	r     reader
	index uint64
	seq   uint64
	at    int64
	pos   int64 // position of the last event read; -1 before the first
	v2    bool  // a version 2 record: events carry their ext
}

func newEventBatch(index uint64, v []byte) (*eventBatch, error) {
	b := &eventBatch{r: newReader(v, 0, "events"), index: index, pos: -1}
	if len(v) == 0 || (v[0] != eventRecordV1 && v[0] != eventRecordV2) {
		return nil, fmt.Errorf("%w: events record version", ErrVersion)
	}
	b.r.Off, b.v2 = 1, v[0] == eventRecordV2
	b.seq = b.r.Uvarint("seq", math.MaxUint64)
	b.at = b.r.Varint("at")
	if b.r.Err != nil {
		return nil, b.r.Err
	}
	return b, nil
}

// next decodes the next event into e; false at the end or on error (see err).
func (b *eventBatch) next(e *Event) bool {
	r := &b.r
	if r.Err != nil || r.Off == len(r.B) {
		return false
	}
	pos := r.Uvarint("pos", math.MaxUint32)
	if r.Err == nil && int64(pos) <= b.pos {
		r.Fail("pos", ErrMalformed) // positions strictly increase
	}
	*e = Event{Cursor: Cursor{Index: b.index, Pos: uint32(pos)}, Seq: b.seq, At: b.at}
	e.ScanID = r.Str("scan_id", 1, MaxScanIDLen)
	r.Fixed(e.TicketID[:], "ticket_id")
	e.Gate = r.Str("gate", 1, ticket.MaxNameLen)
	e.Zone = r.Str("zone", 1, ticket.MaxNameLen)
	e.Direction = rules.Direction(r.enum("direction", byte(rules.Out)))
	e.Persons = uint16(r.Uvarint("persons", math.MaxUint16))
	e.Result = rules.Result(r.enum("result", byte(rules.Admit)))
	e.Reason = rules.Reason(r.Byte("reason"))
	if b.v2 {
		flags := r.Byte("event_flags")
		if r.Err == nil && flags&^evKnown != 0 {
			r.Fail("event_flags", ErrMalformed)
		}
		e.Offline, e.Conflict = flags&evOffline != 0, flags&evConflict != 0
		if flags&evDeviceTime != 0 {
			e.DeviceTime = r.Varint("device_time")
		}
		if flags&evCredential != 0 {
			e.Credential = CredentialKind(r.Byte("credential_kind"))
		}
	}
	if r.Err != nil {
		return false
	}
	b.pos = int64(pos)
	b.seq++
	return true
}

func (b *eventBatch) err() error { return b.r.Err }

// decodeEvents decodes a whole events record.
func decodeEvents(index uint64, v []byte) ([]Event, error) {
	b, err := newEventBatch(index, v)
	if err != nil {
		return nil, err
	}
	var evs []Event
	var e Event
	for b.next(&e) {
		evs = append(evs, e)
	}
	return evs, b.err()
}

func appendEventsKey(dst []byte, index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, prefixEvent...), index)
}

func parseEventsKey(k []byte) (uint64, bool) {
	if len(k) != len(prefixEvent)+8 || string(k[:len(prefixEvent)]) != prefixEvent {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(prefixEvent):]), true
}

// EventsAfter returns up to limit events after the cursor, in log order, and
// the cursor to pass next time (after itself when there are none). It fails
// with ErrEventsPurged when after is not the zero Cursor and events after it
// were purged; the zero Cursor reads from the oldest event kept.
func EventsAfter(db Viewer, after Cursor, limit int) ([]Event, Cursor, error) {
	if limit <= 0 {
		return nil, after, errors.New("fsm: EventsAfter limit must be positive")
	}
	var events []Event
	next := after
	err := db.View(func(txn cluster.Reader) error {
		events, next = nil, after
		if after != (Cursor{}) {
			purged, err := purgedUpTo(txn)
			if err != nil {
				return err
			}
			if after.Less(purged) {
				return fmt.Errorf("%w: cursor %d/%d, purged up to %d/%d", ErrEventsPurged, after.Index, after.Pos, purged.Index, purged.Pos)
			}
		}
		return txn.Iterate([]byte(prefixEvent), appendEventsKey(nil, after.Index), func(k, v []byte) error {
			if len(events) >= limit {
				return cluster.ErrStop
			}
			index, ok := parseEventsKey(k)
			if !ok {
				return fmt.Errorf("%w: events key %x", ErrMalformed, k)
			}
			b, err := newEventBatch(index, v)
			if err != nil {
				return err
			}
			var e Event
			for len(events) < limit && b.next(&e) {
				if after.Less(e.Cursor) {
					events = append(events, e)
					next = e.Cursor
				}
			}
			return b.err()
		})
	})
	if err != nil {
		return nil, after, err
	}
	return events, next, nil
}

// purgedUpTo returns the cursor of the last purged event.
func purgedUpTo(txn cluster.Reader) (Cursor, error) {
	var c Cursor
	err := getValue(txn, keyPurged, func(v []byte) error {
		if len(v) != 12 {
			return fmt.Errorf("%w: purge mark %x", ErrMalformed, v)
		}
		c = Cursor{Index: binary.BigEndian.Uint64(v), Pos: binary.BigEndian.Uint32(v[8:])}
		return nil
	})
	if errors.Is(err, cluster.ErrNotFound) {
		return Cursor{}, nil
	}
	return c, err
}

func appendCursor(dst []byte, c Cursor) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(dst, c.Index), c.Pos)
}
