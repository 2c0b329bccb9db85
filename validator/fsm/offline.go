package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// Offline scans. A gate that could not reach the cluster decided on its
// own and uploads the scan later (Scan.Offline) with what it did. Apply
// decides it in log order like any scan, then records what the gate did:
//
//   - an offline admit the cluster admits too is an admit, as live;
//   - an offline admit the cluster would deny is recorded as an admit all
//     the same (rules.Force: the visitor is through, so the entry and the
//     zone's occupancy count), with the cluster's deny reason beside it.
//     When that reason is the ticket's own use (rules.UsageReason) the
//     admit met another admit of the ticket: a conflict. It is flagged on
//     the result and the event, counted (m/conflicts) and listed
//     (o/<index><pos>, Conflicts) with the admit it met;
//   - an offline deny is recorded as a deny and changes nothing; its
//     reason is the cluster's, or rules.OfflineDeny when the cluster would
//     have admitted.
//
// The upload is idempotent by scan ID like every scan: a retry is a rescan
// and records nothing again, so a conflict is recorded once.

var keyConflicts = []byte("m/conflicts") // uint64 BE: conflicts recorded so far

const (
	prefixConflict   = "o/" // o/<index:8 BE><pos:4 BE>: a conflict record
	conflictRecordV1 = 1
)

// offline turns Decide's decision d (with its new state and zone) into
// the decision to record for an uploaded offline scan.
func (b *scanBatch) offline(s *Scan, tk *ticket.Ticket, st ticket.State, z ticket.Zone, rs rules.Scan,
	d rules.Decision, nst ticket.State, nz ticket.Zone, pos uint32) (rules.Decision, ticket.State, ticket.Zone, bool, error) {
	if s.Offline == OfflineDeny {
		if d.Result == rules.Admit {
			// The gate kept out a visitor the cluster would have let in:
			// nothing changes, and the decision says so.
			use := useOf(st, rs.Zone)
			d = rules.Decision{Reason: rules.OfflineDeny, EntriesUsed: use.Used, EntriesAllowed: d.EntriesAllowed,
				FirstAt: use.FirstAt, FirstGate: use.FirstGate, ZoneWarn: z.Warn > 0 && z.Occupancy >= z.Warn}
		}
		return d, st, z, false, nil
	}
	if d.Result == rules.Admit {
		return d, nst, nz, false, nil
	}
	reason := d.Reason
	met := useOf(st, rs.Zone) // the entry this one met, before it is recorded
	d, nst, nz = rules.Force(tk, st, z, rs, b.loc)
	d.Reason = reason
	if !rules.UsageReason(reason) {
		return d, nst, nz, false, nil
	}
	c := Conflict{
		Cursor: Cursor{Index: b.index, Pos: pos}, TicketID: tk.ID, Zone: rs.Zone, Reason: reason,
		Scan:  ConflictScan{ScanID: s.ScanID, Gate: rs.Gate, DeviceTime: s.DeviceTime, At: b.at, Offline: true},
		Other: ConflictScan{Gate: met.LastGate, At: met.LastAt},
	}
	b.key = appendConflictKey(b.key[:0], c.Cursor)
	if err := b.txn.Set(b.key, appendConflictRecord(nil, &c)); err != nil {
		return d, nst, nz, false, err
	}
	n, err := getUint64(b.txn, keyConflicts)
	if err != nil {
		return d, nst, nz, false, err
	}
	if err := b.txn.Set(keyConflicts, binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
		return d, nst, nz, false, err
	}
	return d, nst, nz, true, nil
}

// useOf is st's use of zone (zero when none).
func useOf(st ticket.State, zone string) ticket.ZoneUse {
	if i, ok := st.Find(zone); ok {
		return st.Zones[i]
	}
	return ticket.ZoneUse{}
}

// Conflict is an offline admit that met another admit of the same ticket.
type Conflict struct {
	Cursor   Cursor // the offline admit's event
	TicketID [16]byte
	Zone     string
	Reason   rules.Reason // what the cluster would have said: already_used, no_entries_left, ...
	Scan     ConflictScan // the offline admit
	Other    ConflictScan // the admit it met (the ticket's last entry into the zone before it)
}

// ConflictScan is one of the two admits of a conflict. For Other, the
// record holds the gate and log time (the ticket's last entry into the
// zone); Conflicts fills in the rest from that admit's event while the
// event is kept (ScanID empty otherwise).
type ConflictScan struct {
	ScanID     string
	Gate       string
	DeviceTime int64 // unix ms; 0 = not known
	At         int64 // log time, unix ms
	Offline    bool
	Cursor     Cursor // Other: its event's cursor, when found
}

func appendConflictKey(dst []byte, c Cursor) []byte {
	return appendCursor(append(dst, prefixConflict...), c)
}

// Conflict record: 0x01 | ticket[16] | str zone | reason | str scan id
// | str gate | varint device time | varint at | str other gate | varint other at.
func appendConflictRecord(dst []byte, c *Conflict) []byte {
	dst = append(dst, conflictRecordV1)
	dst = append(dst, c.TicketID[:]...)
	dst = appendString(dst, c.Zone)
	dst = append(dst, byte(c.Reason))
	dst = appendString(dst, c.Scan.ScanID)
	dst = appendString(dst, c.Scan.Gate)
	dst = binary.AppendVarint(dst, c.Scan.DeviceTime)
	dst = binary.AppendVarint(dst, c.Scan.At)
	dst = appendString(dst, c.Other.Gate)
	return binary.AppendVarint(dst, c.Other.At)
}

func decodeConflictRecord(k, v []byte) (Conflict, error) {
	var c Conflict
	if len(k) != len(prefixConflict)+12 {
		return c, fmt.Errorf("%w: conflict key %x", ErrMalformed, k)
	}
	c.Cursor = Cursor{Index: binary.BigEndian.Uint64(k[2:]), Pos: binary.BigEndian.Uint32(k[10:])}
	if len(v) == 0 || v[0] != conflictRecordV1 {
		return c, fmt.Errorf("%w: conflict record version", ErrVersion)
	}
	r := newReader(v, 1, "conflict record")
	r.Fixed(c.TicketID[:], "ticket_id")
	c.Zone = r.Str("zone", 0, ticket.MaxNameLen)
	c.Reason = rules.Reason(r.Byte("reason"))
	c.Scan.ScanID = r.Str("scan_id", 0, MaxScanIDLen)
	c.Scan.Gate = r.Str("gate", 0, ticket.MaxNameLen)
	c.Scan.DeviceTime = r.Varint("device_time")
	c.Scan.At = r.Varint("at")
	c.Scan.Offline = true
	c.Other.Gate = r.Str("other_gate", 0, ticket.MaxNameLen)
	c.Other.At = r.Varint("other_at")
	return c, r.Finish()
}

// ConflictCount is how many conflicts the cluster has recorded (never
// less: purging old records does not lower it).
func ConflictCount(db Viewer) (uint64, error) {
	var n uint64
	err := db.View(func(txn cluster.Reader) (err error) {
		n, err = getUint64(txn, keyConflicts)
		return err
	})
	return n, err
}

// Conflicts returns up to limit conflicts after the cursor, oldest first,
// each with the admit it met filled in from its event when that is still
// kept (events go with PurgeScans; so do conflict records, with the
// events of their batch).
func Conflicts(db Viewer, after Cursor, limit int) ([]Conflict, error) {
	if limit <= 0 {
		return nil, errors.New("fsm: Conflicts limit must be positive")
	}
	var out []Conflict
	err := db.View(func(txn cluster.Reader) error {
		out = nil
		from := appendConflictKey(nil, after)
		err := txn.Iterate([]byte(prefixConflict), from, func(k, v []byte) error {
			if len(out) >= limit {
				return cluster.ErrStop
			}
			c, err := decodeConflictRecord(k, v)
			if err != nil {
				return err
			}
			if c.Cursor == after && after != (Cursor{}) {
				return nil
			}
			out = append(out, c)
			return nil
		})
		if err != nil {
			return err
		}
		for i := range out {
			if err := fillOther(txn, &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// eventSlack bounds how far back in leader time the admit a conflict met
// is looked for before its own log time: leaders' clocks may differ a
// little, so batch times are not strictly in log order.
const eventSlack = 10_000 // ms

// fillOther finds the event of the admit c met: the last admit of the
// ticket into the zone at the gate and log time the record names, before
// c. The events are in log order and their times nearly so: a binary
// search by time over the batches finds where to start, and a short walk
// finds the event.
func fillOther(txn cluster.Reader, c *Conflict) error {
	if c.Other.At == 0 {
		return nil
	}
	first := func(from uint64) (uint64, int64, bool, error) {
		var idx uint64
		var at int64
		ok := false
		err := txn.Iterate([]byte(prefixEvent), appendEventsKey(nil, from), func(k, v []byte) error {
			i, good := parseEventsKey(k)
			if !good {
				return fmt.Errorf("%w: events key %x", ErrMalformed, k)
			}
			b, err := newEventBatch(i, v)
			if err != nil {
				return err
			}
			idx, at, ok = i, b.at, true
			return cluster.ErrStop
		})
		return idx, at, ok, err
	}
	// The first batch whose time is at or after target: in [lo, hi].
	lo, hi := uint64(0), c.Cursor.Index
	target := c.Other.At - eventSlack
	for lo < hi {
		mid := lo + (hi-lo)/2
		idx, at, ok, err := first(mid)
		if err != nil {
			return err
		}
		if !ok || idx >= c.Cursor.Index || at >= target {
			hi = mid
		} else {
			lo = idx + 1
		}
	}
	var found Event
	err := txn.Iterate([]byte(prefixEvent), appendEventsKey(nil, lo), func(k, v []byte) error {
		index, _ := parseEventsKey(k)
		b, err := newEventBatch(index, v)
		if err != nil {
			return err
		}
		if index > c.Cursor.Index || b.at > c.Other.At+eventSlack {
			return cluster.ErrStop
		}
		var e Event
		for b.next(&e) {
			if !e.Cursor.Less(c.Cursor) {
				break
			}
			if e.TicketID == c.TicketID && e.Result == rules.Admit && e.Direction == rules.In &&
				e.Zone == c.Zone && e.Gate == c.Other.Gate && e.At == c.Other.At {
				found = e
			}
		}
		return b.err()
	})
	if err != nil || found.Seq == 0 {
		return err
	}
	c.Other = ConflictScan{ScanID: found.ScanID, Gate: found.Gate, DeviceTime: found.DeviceTime, At: found.At,
		Offline: found.Offline, Cursor: found.Cursor}
	return nil
}

// purgeConflicts deletes the conflict records up to and including the
// batch at index (their events are purged).
func purgeConflicts(txn cluster.Txn, index uint64) error {
	var dels [][]byte
	err := txn.Iterate([]byte(prefixConflict), nil, func(k, _ []byte) error {
		if len(k) != len(prefixConflict)+12 || binary.BigEndian.Uint64(k[2:]) > index {
			return cluster.ErrStop
		}
		dels = append(dels, k)
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range dels {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
