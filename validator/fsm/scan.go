package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// scanBatch is the working set of one ScanBatch apply. Zones and gates are
// cached for the batch only; zone counters are written once at the end.
type scanBatch struct {
	txn   cluster.Txn
	index uint64
	at    int64
	epoch uint64
	seq   uint64
	loc   *time.Location
	// Values handed to txn.Set become the state and are never written
	// again, so each is its own allocation of its exact size: a value
	// that lives for days pins nothing else.
	events []byte // the batch's events record, written at the end
	log    []byte // the batch's scan log (scanlog.go), written at the end
	key    []byte // scratch key (Set copies keys)
	gates  map[string]gateEntry
	zones  []zoneEntry
	tk     ticket.Ticket
	ext    bool // a ScanBatch2: version 2 events
}

type gateEntry struct {
	g    Gate
	zone int // index in zones; -1 when the zone does not exist
	ok   bool
}

type zoneEntry struct {
	z     ticket.Zone
	dirty bool
}

// Rough sizes of what one scan writes, to size the result and events.
const (
	scanResultEstimate = 64
	scanEventEstimate  = 64
)

func applyScans(txn cluster.Txn, e cluster.Entry, scans []Scan, ext bool) ([]byte, error) {
	b := scanBatch{
		txn:   txn,
		index: e.Index,
		at:    e.Time.UnixMilli(),
		key:   make([]byte, 0, 512),
		gates: make(map[string]gateEntry, 4),
		ext:   ext,
	}
	var err error
	if b.epoch, err = getUint64(txn, keyEpoch); err != nil {
		return nil, err
	}
	if b.seq, err = getUint64(txn, keySeq); err != nil {
		return nil, err
	}
	if b.loc, err = locationOf(txn); err != nil {
		return nil, err
	}
	version := byte(eventRecordV1)
	if ext {
		version = eventRecordV2
	}
	b.events = appendEventsHeaderV(make([]byte, 0, 16+len(scans)*scanEventEstimate), version, b.seq+1, b.at)
	startSeq := b.seq

	out := make([]byte, 0, 2+binary.MaxVarintLen64+len(scans)*scanResultEstimate)
	out = header(out, TypeScanBatch)
	out = binary.AppendUvarint(out, uint64(len(scans)))
	var res ScanResult
	for i := range scans {
		if err := b.scan(uint32(i), &scans[i], &res); err != nil {
			return nil, err
		}
		out = appendScanResult(out, &res)
	}

	for i := range b.zones {
		if z := &b.zones[i]; z.dirty {
			b.key = appendZoneKey(b.key[:0], z.z.ID)
			if err := txn.Set(b.key, z.z.AppendBinary(nil)); err != nil {
				return nil, err
			}
		}
	}
	if b.seq != startSeq {
		if err := txn.Set(keySeq, binary.BigEndian.AppendUint64(make([]byte, 0, 8), b.seq)); err != nil {
			return nil, err
		}
		b.key = appendEventsKey(b.key[:0], b.index)
		if err := txn.Set(b.key, bytes.Clone(b.events)); err != nil {
			return nil, err
		}
	}
	if len(b.log) > 0 {
		b.key = appendScanLogKey(b.key[:0], b.index)
		if err := txn.Set(b.key, exact(b.log)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scan decides one scan into res.
func (b *scanBatch) scan(pos uint32, s *Scan, res *ScanResult) error {
	*res = ScanResult{TicketID: s.TicketID}
	cred := s.Credential.Kind != CredNone

	// A scan ID seen before answers with the original decision.
	b.key = appendScanIDKey(b.key[:0], s.Gate, s.ScanID)
	v, err := b.txn.Get(b.key)
	if err == nil {
		c, err := decodeScanRecordCred(v, res)
		if err != nil {
			return err
		}
		if cred && c != s.Credential || !cred && res.TicketID != s.TicketID {
			*res = ScanResult{Error: ScanIDConflict, TicketID: s.TicketID}
			return nil
		}
		res.Rescan = true
		return nil
	}
	if !errors.Is(err, cluster.ErrNotFound) {
		return err
	}

	g, err := b.gate(s.Gate)
	if err != nil {
		return err
	}
	if !g.ok || g.zone < 0 {
		res.Error = ScanUnknownGate
		return nil
	}
	zone := &b.zones[g.zone]

	// The ticket and its state; the ticket may be missing. A credential
	// names it through its binding.
	tid := s.TicketID
	if cred {
		b.key = appendCredKey(b.key[:0], s.Credential)
		if tid, _, err = credentialTicket(b.txn, b.key); err != nil {
			return err
		}
	}
	b.key = appendTicketKey(b.key[:0], tid)
	st, found, err := getTicket(b.txn, b.key, b.epoch, &b.tk)
	if err != nil {
		return err
	}
	var tk *ticket.Ticket
	match := rules.Mismatch
	if found {
		tk = &b.tk
		switch {
		case cred: // bound to the ticket as it is now: no code to compare
			match = rules.Match
		case tk.Digest == s.Digest && tk.Digest != [16]byte{}:
			match = rules.Match
		case uint64(s.CodeVersion) < tk.Version:
			match = rules.Older
		}
	}

	dir := effective(g.g.Direction, s.Direction)
	rs := rules.Scan{Zone: g.g.Zone, Gate: g.g.ID, Direction: dir, Persons: s.Persons, Code: match, At: b.at}
	d, nst, nz := rules.Decide(tk, st, zone.z, rs, b.loc)
	conflict := false
	if s.Offline != Live {
		if d, nst, nz, conflict, err = b.offline(s, tk, st, zone.z, rs, d, nst, nz, pos); err != nil {
			return err
		}
	}

	if !sameState(st, nst) {
		b.key = appendTicketKey(b.key[:0], tid)
		if err := b.txn.Set(b.key, exact(appendTicketRecord(b.key[len(b.key):], tk, b.epoch, nst))); err != nil {
			return err
		}
	}
	if nz != zone.z {
		zone.z, zone.dirty = nz, true
	}

	*res = ScanResult{
		Result: d.Result, Reason: d.Reason, TicketID: tid,
		Persons: d.Persons, EntriesUsed: d.EntriesUsed, EntriesAllowed: d.EntriesAllowed,
		FirstAt: d.FirstAt, FirstGate: d.FirstGate, ZoneWarn: d.ZoneWarn,
		Index: b.index, Pos: pos,
		Offline: s.Offline != Live, Conflict: conflict,
	}
	if s.DeviceTime != 0 {
		res.DeviceTime, res.At = s.DeviceTime, b.at
	}
	if tk != nil {
		res.Product, res.Kind = tk.Product, tk.Kind
	}
	b.key = appendScanIDKey(b.key[:0], s.Gate, s.ScanID)
	var rec []byte
	if cred {
		rec = appendCredScanRecord(b.key[len(b.key):], s.Credential, res)
	} else {
		rec = appendScanRecord(b.key[len(b.key):], res)
	}
	if err := b.txn.Set(b.key, exact(rec)); err != nil {
		return err
	}
	b.log = appendScanLogRecord(b.log, b.key, rec)

	b.seq++
	ev := Event{
		Cursor: Cursor{Index: b.index, Pos: pos}, Seq: b.seq,
		ScanID: s.ScanID, TicketID: tid, Gate: g.g.ID, Zone: g.g.Zone,
		Direction: dir, Persons: d.Persons, Result: d.Result, Reason: d.Reason, At: b.at,
	}
	if d.Result != rules.Admit {
		ev.Persons = max(s.Persons, 1)
	}
	b.events = appendEvent(b.events, &ev)
	if b.ext {
		ev.DeviceTime, ev.Credential = s.DeviceTime, s.Credential.Kind
		ev.Offline, ev.Conflict = s.Offline != Live, conflict
		b.events = appendEventExt(b.events, &ev)
	}
	return nil
}

// exact copies p into an allocation of its own size.
func exact(p []byte) []byte { return append(make([]byte, 0, len(p)), p...) }

// sameState reports whether Decide returned st unchanged: it returns an
// unchanged state as passed in, sharing its array, and a changed one in a
// fresh array.
func sameState(st, nst ticket.State) bool {
	return len(st.Zones) == len(nst.Zones) && (len(st.Zones) == 0 || &st.Zones[0] == &nst.Zones[0])
}

// gate returns the gate and its zone, loading both on first use in the batch.
func (b *scanBatch) gate(id string) (gateEntry, error) {
	if g, ok := b.gates[id]; ok {
		return g, nil
	}
	b.key = appendGateKey(b.key[:0], id)
	g, ok, err := getGate(b.txn, b.key, id)
	if err != nil {
		return gateEntry{}, err
	}
	e := gateEntry{g: g, ok: ok, zone: -1}
	if ok {
		if e.zone, err = b.zone(g.Zone); err != nil {
			return gateEntry{}, err
		}
	}
	b.gates[id] = e
	return e, nil
}

// zone returns the index of zone in b.zones, loading it on first use, or -1
// when it does not exist.
func (b *scanBatch) zone(id string) (int, error) {
	for i := range b.zones {
		if b.zones[i].z.ID == id {
			return i, nil
		}
	}
	b.key = appendZoneKey(b.key[:0], id)
	z, ok, err := getZone(b.txn, b.key)
	if err != nil || !ok {
		return -1, err
	}
	b.zones = append(b.zones, zoneEntry{z: z})
	return len(b.zones) - 1, nil
}
