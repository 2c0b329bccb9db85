package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/dgraph-io/badger/v4"

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
	Cursor              // where the scan was decided
	Seq       uint64    // 1, 2, 3...: consecutive over all events, so a reader sees gaps
	ScanID    string    // as the gate sent it
	TicketID  [16]byte  // as scanned; the ticket may not exist
	Gate      string    // gate ID
	Zone      string    // the gate's zone at the time
	Direction rules.Direction
	Persons   uint16 // persons admitted or let out; for a denial, persons asked for
	Result    rules.Result
	Reason    rules.Reason
	At        int64 // unix ms, the leader's time of the batch
}

// appendEventRecord: 0x01 | uvarint Seq | str ScanID | TicketID[16] | str
// Gate | str Zone | Direction | uvarint Persons | Result | Reason | varint At.
func appendEventRecord(dst []byte, e *Event) []byte {
	dst = append(dst, eventRecordV1)
	dst = binary.AppendUvarint(dst, e.Seq)
	dst = appendString(dst, e.ScanID)
	dst = append(dst, e.TicketID[:]...)
	dst = appendString(dst, e.Gate)
	dst = appendString(dst, e.Zone)
	dst = append(dst, byte(e.Direction))
	dst = binary.AppendUvarint(dst, uint64(e.Persons))
	dst = append(dst, byte(e.Result), byte(e.Reason))
	return binary.AppendVarint(dst, e.At)
}

func decodeEventRecord(c Cursor, v []byte) (Event, error) {
	e := Event{Cursor: c}
	if len(v) == 0 || v[0] != eventRecordV1 {
		return e, fmt.Errorf("%w: event record version", ErrVersion)
	}
	r := reader{b: v, off: 1, what: "event"}
	e.Seq = r.uvarint("seq", math.MaxUint64)
	e.ScanID = r.str("scan_id", 1, MaxScanIDLen)
	r.fixed(e.TicketID[:], "ticket_id")
	e.Gate = r.str("gate", 1, ticket.MaxNameLen)
	e.Zone = r.str("zone", 1, ticket.MaxNameLen)
	e.Direction = rules.Direction(r.enum("direction", byte(rules.Out)))
	e.Persons = uint16(r.uvarint("persons", math.MaxUint16))
	e.Result = rules.Result(r.enum("result", byte(rules.Admit)))
	e.Reason = rules.Reason(r.byte("reason"))
	e.At = r.varint("at")
	return e, r.finish()
}

// EventsAfter returns up to limit events after the cursor, in log order, and
// the cursor to pass next time (after itself when there are none). It fails
// with ErrEventsPurged when after is not the zero Cursor and events after it
// were purged; the zero Cursor reads from the oldest event kept.
func EventsAfter(db *badger.DB, after Cursor, limit int) ([]Event, Cursor, error) {
	if limit <= 0 {
		return nil, after, errors.New("fsm: EventsAfter limit must be positive")
	}
	var events []Event
	next := after
	err := db.View(func(txn *badger.Txn) error {
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
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixEvent)
		opts.PrefetchSize = min(limit, 100)
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := appendEventKey(nil, after)
		for it.Seek(seek); it.ValidForPrefix(opts.Prefix) && len(events) < limit; it.Next() {
			item := it.Item()
			c, ok := parseEventKey(item.Key())
			if !ok {
				return fmt.Errorf("%w: event key %x", ErrMalformed, item.Key())
			}
			if !after.Less(c) {
				continue // the cursor's own event
			}
			var ev Event
			err := item.Value(func(v []byte) (err error) {
				ev, err = decodeEventRecord(c, v)
				return err
			})
			if err != nil {
				return err
			}
			events = append(events, ev)
			next = c
		}
		return nil
	})
	if err != nil {
		return nil, after, err
	}
	return events, next, nil
}

// purgedUpTo returns the cursor of the last purged event.
func purgedUpTo(txn *badger.Txn) (Cursor, error) {
	var c Cursor
	err := getValue(txn, keyPurged, func(v []byte) error {
		var ok bool
		if c, ok = parseEventKey(v); !ok {
			return fmt.Errorf("%w: purge mark %x", ErrMalformed, v)
		}
		return nil
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Cursor{}, nil
	}
	return c, err
}
