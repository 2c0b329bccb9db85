package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // park time zones must load on a bare machine

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

// Machine is the ticket state machine. It keeps no state of its own: the
// cluster holds the state in memory and hands it to Apply as a Txn, so one
// value may serve any number of nodes.
type Machine struct{}

// NewMachine returns a Machine.
func NewMachine() Machine { return Machine{} }

var (
	_ cluster.StateMachine = Machine{}
	_ cluster.PointKeyed   = Machine{}
)

// PointPrefixes are the keys read only by their exact key: tickets, scan
// ids, credentials and their bindings. The cluster keeps them in a hash
// map rather than in order; nothing iterates them.
func (Machine) PointPrefixes() []string {
	return []string{prefixTicket, prefixScanID, prefixCred, prefixBindings}
}

// Apply decodes one command and applies it in txn at e.Time. A malformed
// command, an invalid Configure or a storage error rejects the command;
// per-ticket and per-scan refusals are results, not errors.
func (Machine) Apply(txn cluster.Txn, e cluster.Entry) ([]byte, error) {
	c, err := DecodeCommand(e.Data)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case TypeIssueBatch, TypeIssueBatch2, TypeIssueBatch3:
		return applyIssue(txn, e, c.Issues)
	case TypeRevoke:
		return applyRevoke(txn, e, c.Revoke)
	case TypeUpdate:
		return applyUpdate(txn, c.Update)
	case TypeConfigure, TypeConfigure2, TypeConfigure3, TypeConfigure4:
		return applyConfigure(txn, &c.Configure)
	case TypeScanBatch, TypeScanBatch2:
		return applyScans(txn, e, c.Scans, c.Type == TypeScanBatch2)
	case TypeExitAll:
		return applyExitAll(txn)
	case TypePurgeScans:
		return applyPurge(txn, c.Purge)
	}
	return nil, fmt.Errorf("%w: command type %d", ErrMalformed, c.Type)
}

// ErrParkChange: a Configure names a park other than the one the cluster
// already serves.
var ErrParkChange = errors.New("fsm: the cluster serves another park; its park ID cannot change")

// proofs is what an issue is checked against: the park ID and signing
// keys stored in the state.
type proofs struct {
	park    string
	keys    [256][]byte // public keys by key id; nil = none
	hasKeys bool
}

func loadProofs(txn cluster.Reader) (*proofs, error) {
	p := &proofs{}
	err := getValue(txn, keyPark, func(v []byte) error { p.park = string(v); return nil })
	if err != nil && !errors.Is(err, cluster.ErrNotFound) {
		return nil, err
	}
	err = iterate(txn, prefixKey, func(k, v []byte) error {
		if len(k) != len(prefixKey)+1 || len(v) != 32 {
			return fmt.Errorf("%w: signing key %x", ErrMalformed, k)
		}
		p.keys[k[len(prefixKey)]], p.hasKeys = v, true // values are never changed
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// refuse returns why is must not be written (0 when it may): a park other
// than the cluster's, or, when the cluster holds signing keys, a missing
// or bad code. It verifies one signature, so callers skip stale tickets
// first.
func (p *proofs) refuse(is *Issue) Outcome {
	t := &is.Ticket
	if !p.hasKeys {
		return 0
	}
	if len(is.Code) == 0 {
		return OutcomeUnsigned
	}
	c, err := code.FromBinary(is.Code)
	if err != nil {
		return OutcomeBadSignature
	}
	pub := p.keys[c.KeyID()]
	switch {
	case pub == nil,
		c.TicketID() != t.ID, uint64(c.TicketVersion()) != t.Version,
		c.Digest() != code.Digest(t.Digest),
		code.VerifyKey(pub, c) != nil:
		return OutcomeBadSignature
	}
	return 0
}

func applyIssue(txn cluster.Txn, e cluster.Entry, issues []Issue) ([]byte, error) {
	outcomes := make([]Outcome, len(issues))
	p, err := loadProofs(txn)
	if err != nil {
		return nil, err
	}
	var old ticket.Ticket
	var scratch []byte
	for i := range issues {
		is := &issues[i]
		t := &is.Ticket
		if p.park != "" && is.Park != "" && is.Park != p.park {
			outcomes[i] = OutcomeWrongPark
			continue
		}
		key := appendTicketKey(nil, t.ID)
		// A reissue keeps the usage: the record's tail is copied as is.
		tail := emptyStateTail
		found := false
		err := getValue(txn, key, func(v []byte) error {
			tb, tl, err := splitTicketRecord(v)
			if err != nil {
				return err
			}
			found, tail = true, tl // values are never changed: tl stays valid
			return old.UnmarshalBinary(tb)
		})
		if err != nil && !errors.Is(err, cluster.ErrNotFound) {
			return nil, err
		}
		if found && !t.Supersedes(&old) {
			outcomes[i] = OutcomeStale
			continue
		}
		if o := p.refuse(is); o != 0 {
			outcomes[i] = o
			continue
		}
		scratch = t.AppendBinary(append(scratch[:0], ticketRecordV1, 0, 0, 0, 0))
		binary.BigEndian.PutUint32(scratch[1:], uint32(len(scratch)-5))
		scratch = append(scratch, tail...)
		if err := txn.Set(key, exact(scratch)); err != nil { // the state keeps it: its own size
			return nil, err
		}
		if err := rebind(txn, t.ID, is.Credentials); err != nil {
			return nil, err
		}
		if t.Status == ticket.Revoked && (!found || old.Status != ticket.Revoked) {
			// Revoked by its new version (a refund after a reprint).
			if err := putRevocation(txn, Revocation{Cursor: Cursor{Index: e.Index, Pos: uint32(i)}, TicketID: t.ID,
				Version: t.Version, ValidUntil: t.ValidUntil, At: e.Time.UnixMilli()}); err != nil {
				return nil, err
			}
		}
		outcomes[i] = OutcomeApplied
	}
	return EncodeIssueResult(outcomes), nil
}

// loadTicket reads a ticket and its state as of the current epoch; the
// ticket is nil when unknown.
func loadTicket(txn cluster.Reader, id [16]byte) (*ticket.Ticket, ticket.State, uint64, error) {
	epoch, err := getUint64(txn, keyEpoch)
	if err != nil {
		return nil, ticket.State{}, 0, err
	}
	var t ticket.Ticket
	st, found, err := getTicket(txn, appendTicketKey(nil, id), epoch, &t)
	if err != nil || !found {
		return nil, ticket.State{}, epoch, err
	}
	return &t, st, epoch, nil
}

func putTicket(txn cluster.Txn, t *ticket.Ticket, epoch uint64, st ticket.State) error {
	return txn.Set(appendTicketKey(nil, t.ID), appendTicketRecord(nil, t, epoch, st))
}

func applyRevoke(txn cluster.Txn, e cluster.Entry, r Revoke) ([]byte, error) {
	t, st, epoch, err := loadTicket(txn, r.ID)
	if err != nil {
		return nil, err
	}
	var res RevokeResult
	switch {
	case t == nil:
		res.Outcome = OutcomeUnknown
	case t.Status == ticket.Revoked: // a resend, or revoked by an issue
		res.Outcome = OutcomeRevoked
		if r.Version > t.Version {
			t.Version = r.Version
			err = putTicket(txn, t, epoch, st)
		}
	default:
		ok, at, gate, zone := rules.Revocable(st)
		switch {
		case !ok:
			res = RevokeResult{Outcome: OutcomeAlreadyUsed, FirstAt: at, FirstGate: gate, Zone: zone}
		case r.Version <= t.Version:
			res.Outcome = OutcomeStale
		default:
			res.Outcome = OutcomeRevoked
			t.Status, t.Version = ticket.Revoked, r.Version
			if err = putTicket(txn, t, epoch, st); err == nil {
				err = putRevocation(txn, Revocation{Cursor: Cursor{Index: e.Index}, TicketID: t.ID, Version: t.Version,
					ValidUntil: t.ValidUntil, At: e.Time.UnixMilli()})
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return EncodeRevokeResult(res), nil
}

func applyUpdate(txn cluster.Txn, u Update) ([]byte, error) {
	t, st, epoch, err := loadTicket(txn, u.ID)
	if err != nil {
		return nil, err
	}
	outcome := OutcomeApplied
	switch {
	case t == nil:
		outcome = OutcomeUnknown
	case u.Version <= t.Version:
		outcome = OutcomeStale
	case t.Status != ticket.Active && t.Status != ticket.Suspended:
		outcome = OutcomeConflict // revoked and replaced tickets stay so
	case u.Op == OpSuspend:
		t.Status = ticket.Suspended
	case u.Op == OpResume:
		t.Status = ticket.Active
	case u.Op == OpExtend:
		if u.ValidUntil != 0 && t.ValidFrom != 0 && u.ValidUntil <= t.ValidFrom {
			outcome = OutcomeConflict // would leave an empty validity window
		} else {
			t.ValidUntil = u.ValidUntil
		}
	default:
		return nil, fmt.Errorf("%w: update op %d", ErrMalformed, u.Op)
	}
	if outcome == OutcomeApplied {
		t.Version = u.Version
		if err := putTicket(txn, t, epoch, st); err != nil {
			return nil, err
		}
	}
	return EncodeUpdateResult(outcome), nil
}

func applyConfigure(txn cluster.Txn, c *Configure) ([]byte, error) {
	if err := c.checkConsistent(); err != nil {
		return nil, err
	}
	if c.TimeZone != "" {
		if _, err := loadLocation(c.TimeZone); err != nil {
			return nil, err
		}
		if err := txn.Set(keyTZ, []byte(c.TimeZone)); err != nil {
			return nil, err
		}
	}
	if c.Park != "" {
		var park string
		err := getValue(txn, keyPark, func(v []byte) error { park = string(v); return nil })
		switch {
		case errors.Is(err, cluster.ErrNotFound):
			if err := txn.Set(keyPark, []byte(c.Park)); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		case park != c.Park:
			return nil, fmt.Errorf("%w: it serves %q, not %q", ErrParkChange, park, c.Park)
		}
	}
	if c.IDCardKey != nil {
		if err := txn.Set(keyIDCardKey, append([]byte(nil), c.IDCardKey...)); err != nil {
			return nil, err
		}
	}
	if len(c.Keys) > 0 { // the set is replaced as a whole
		var dels [][]byte
		err := iterate(txn, prefixKey, func(k, _ []byte) error { dels = append(dels, k); return nil })
		if err != nil {
			return nil, err
		}
		for _, k := range dels {
			if err := txn.Delete(k); err != nil {
				return nil, err
			}
		}
		for _, k := range c.Keys {
			if err := txn.Set(appendSigningKey(nil, k.ID), append([]byte(nil), k.Public[:]...)); err != nil {
				return nil, err
			}
		}
	}
	for _, z := range c.Zones {
		key := appendZoneKey(nil, z.ID)
		old, _, err := getZone(txn, key)
		if err != nil {
			return nil, err
		}
		z.Occupancy = old.Occupancy
		if z.MaskBit == 0 {
			z.MaskBit = old.MaskBit // not told (an older sender): keep what is known
		}
		if err := txn.Set(key, z.AppendBinary(nil)); err != nil {
			return nil, err
		}
	}
	for i := range c.Gates {
		g := &c.Gates[i]
		_, ok, err := getZone(txn, appendZoneKey(nil, g.Zone))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("fsm: gate %q: no zone %q", g.ID, g.Zone)
		}
		if err := txn.Set(appendGateKey(nil, g.ID), appendGateRecord(nil, g)); err != nil {
			return nil, err
		}
	}
	for _, id := range c.DeleteGates {
		if err := txn.Delete(appendGateKey(nil, id)); err != nil {
			return nil, err
		}
	}
	if len(c.DeleteZones) == 0 {
		return EncodeConfigureResult(), nil
	}
	for _, id := range c.DeleteZones {
		if err := txn.Delete(appendZoneKey(nil, id)); err != nil {
			return nil, err
		}
	}
	// A deleted zone must have no gates left: scan them all (a park has
	// hundreds at most).
	deleted := make(map[string]bool, len(c.DeleteZones))
	for _, id := range c.DeleteZones {
		deleted[id] = true
	}
	err := iterate(txn, prefixGate, func(k, v []byte) error {
		g, err := decodeGateRecord(string(k[len(prefixGate):]), v)
		if err != nil {
			return err
		}
		if deleted[g.Zone] {
			return fmt.Errorf("fsm: zone %q still has gate %q", g.Zone, g.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return EncodeConfigureResult(), nil
}

// iterate calls fn for every key with prefix, in key order.
func iterate(txn cluster.Reader, prefix string, fn func(k, v []byte) error) error {
	return txn.Iterate([]byte(prefix), nil, fn)
}

// applyExitAll starts a new epoch, in which every state written before
// reads with nobody inside, and zeroes every zone's occupancy: O(zones),
// whatever the number of tickets.
func applyExitAll(txn cluster.Txn) ([]byte, error) {
	epoch, err := getUint64(txn, keyEpoch)
	if err != nil {
		return nil, err
	}
	epoch++
	if err := txn.Set(keyEpoch, binary.BigEndian.AppendUint64(nil, epoch)); err != nil {
		return nil, err
	}
	type reset struct {
		key []byte
		z   ticket.Zone
	}
	var resets []reset
	err = iterate(txn, prefixZone, func(k, v []byte) error {
		var z ticket.Zone
		if err := z.UnmarshalBinary(v); err != nil {
			return err
		}
		if z.Occupancy != 0 {
			z.Occupancy = 0
			resets = append(resets, reset{k, z}) // k is the caller's to keep
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range resets {
		if err := txn.Set(r.key, r.z.AppendBinary(nil)); err != nil {
			return nil, err
		}
	}
	return EncodeExitAllResult(ExitAllResult{Epoch: epoch, Zones: len(resets)}), nil
}

// applyPurge deletes the events of batches before p.Before, oldest first,
// with the scan-ID records they decided and their scan logs, until a batch at or after
// p.Before or the key limit (the first batch is always taken whole, so
// at most max(limit, MaxScanBatch+1) keys). It resumes after the last
// batch it purged, so repeated purges never walk earlier tombstones.
func applyPurge(txn cluster.Txn, p PurgeScans) ([]byte, error) {
	limit := p.Limit
	if limit == 0 {
		limit = DefaultPurgeMax
	}
	from, err := purgedUpTo(txn)
	if err != nil {
		return nil, err
	}
	var res PurgeResult
	var last Cursor
	keys := 0
	// Deletes are made after the walk: the walk sees the state before it.
	var dels [][]byte
	err = txn.Iterate([]byte(prefixEvent), appendEventsKey(nil, from.Index), func(k, v []byte) error {
		index, ok := parseEventsKey(k)
		if !ok {
			return fmt.Errorf("%w: events key %x", ErrMalformed, k)
		}
		if from != (Cursor{}) && index <= from.Index {
			return nil
		}
		b, err := newEventBatch(index, v)
		if err != nil {
			return err
		}
		if b.at >= p.Before {
			return cluster.ErrStop
		}
		evs, err := decodeEvents(index, v)
		if err != nil {
			return err
		}
		if keys > 0 && keys+1+len(evs) > limit {
			res.More = true
			return cluster.ErrStop
		}
		dels = append(dels, k, appendScanLogKey(nil, index))
		keys += 2
		for i := range evs {
			ev := &evs[i]
			// Delete the scan-ID record only if it is this event's.
			xkey := appendScanIDKey(nil, ev.Gate, ev.ScanID)
			var rec ScanResult
			err := getValue(txn, xkey, func(v []byte) error { return decodeScanRecord(v, &rec) })
			switch {
			case errors.Is(err, cluster.ErrNotFound):
			case err != nil:
				return err
			case rec.Index == ev.Index && rec.Pos == ev.Pos:
				dels = append(dels, xkey)
				res.ScanIDs++
				keys++
			}
		}
		res.Events += len(evs)
		last = Cursor{Index: index}
		if len(evs) > 0 {
			last.Pos = evs[len(evs)-1].Pos
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range dels {
		if err := txn.Delete(k); err != nil {
			return nil, err
		}
	}
	if last != (Cursor{}) {
		if err := txn.Set(keyPurged, appendCursor(nil, last)); err != nil {
			return nil, err
		}
		if err := purgeConflicts(txn, last.Index); err != nil {
			return nil, err
		}
	}
	if room := limit - keys; room > 0 {
		n, err := purgeRevocations(txn, p.Before, room)
		if err != nil {
			return nil, err
		}
		res.More = res.More || n == room
	} else {
		res.More = true
	}
	return EncodePurgeResult(res), nil
}

// Locations are cached by name: loading one parses tzdata, and a name
// always loads the same zone from the same binary.
var (
	locMu sync.RWMutex
	locs  = map[string]*time.Location{}
)

// loadLocation loads an IANA time zone. "" is UTC; "Local" is refused, as
// it differs between machines.
func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	locMu.RLock()
	loc := locs[name]
	locMu.RUnlock()
	if loc != nil {
		return loc, nil
	}
	if name == "Local" {
		return nil, errors.New("fsm: time zone \"Local\" differs between machines; name the zone")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("fsm: time zone %q: %w", name, err)
	}
	locMu.Lock()
	locs[name] = loc
	locMu.Unlock()
	return loc, nil
}

// locationOf returns the park's time zone as stored in txn.
func locationOf(txn cluster.Reader) (*time.Location, error) {
	var loc *time.Location
	err := getValue(txn, keyTZ, func(v []byte) error {
		locMu.RLock()
		loc = locs[string(v)]
		locMu.RUnlock()
		if loc != nil {
			return nil
		}
		var err error
		loc, err = loadLocation(string(v))
		return err
	})
	if errors.Is(err, cluster.ErrNotFound) {
		return time.UTC, nil
	}
	return loc, err
}
