package fsm

import (
	"fmt"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

const (
	minute = int64(60_000)
	hour   = 60 * minute
	day    = 24 * hour
	// t0 is 2026-01-01T00:00:00Z, 08:00 in Shanghai.
	t0 = int64(1767225600000)
)

// env applies commands to an in-memory state, one entry per command, as
// a node applies them.
type env struct {
	t   testing.TB
	st  *cluster.MemState
	m   Machine
	idx uint64
	now int64 // unix ms stamped on the next command
}

func newEnv(t testing.TB) *env {
	return &env{t: t, st: cluster.NewMemStateFor(NewMachine()), m: NewMachine(), now: t0 + 2*hour} // 10:00 in Shanghai
}

// park is the standard configuration: zones main (no cap) and coaster (cap
// 2, warn 1); gates g1 (main, in), g2 (main, both), x1 (main, out), c1
// (coaster, in), c1x (coaster, out); Shanghai time.
func newPark(t testing.TB) *env {
	e := newEnv(t)
	e.configure(Configure{
		TimeZone: "Asia/Shanghai",
		Zones:    []ticket.Zone{{ID: "main"}, {ID: "coaster", Cap: 2, Warn: 1}},
		Gates: []Gate{
			{ID: "g1", Zone: "main", Direction: DirIn, TokenHash: HashToken("tok-g1")},
			{ID: "g2", Zone: "main", Direction: DirBoth},
			{ID: "x1", Zone: "main", Direction: DirOut},
			{ID: "c1", Zone: "coaster", Direction: DirIn},
			{ID: "c1x", Zone: "coaster", Direction: DirOut},
		},
	})
	return e
}

func (e *env) apply(cmd []byte) ([]byte, error) {
	e.t.Helper()
	e.idx++
	return e.st.Apply(e.m, cluster.Entry{Index: e.idx, Term: 1, Time: time.UnixMilli(e.now), Data: cmd})
}

func (e *env) mustApply(cmd []byte, err error) []byte {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.apply(cmd)
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	return res
}

func (e *env) configure(c Configure) {
	e.t.Helper()
	if err := DecodeConfigureResult(e.mustApply(EncodeConfigure(c))); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) issue(tickets ...ticket.Ticket) []Outcome {
	e.t.Helper()
	out, err := DecodeIssueResult(e.mustApply(EncodeIssueBatch(tickets)))
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) scan(scans ...Scan) []ScanResult {
	e.t.Helper()
	out, err := DecodeScanResults(e.mustApply(EncodeScanBatch(scans)))
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out) != len(scans) {
		e.t.Fatalf("%d results for %d scans", len(out), len(scans))
	}
	return out
}

func (e *env) scan1(s Scan) ScanResult {
	e.t.Helper()
	return e.scan(s)[0]
}

func (e *env) revoke(id [16]byte, version uint64) RevokeResult {
	e.t.Helper()
	res, err := DecodeRevokeResult(e.mustApply(EncodeRevoke(Revoke{ID: id, Version: version}), nil))
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) update(u Update) Outcome {
	e.t.Helper()
	o, err := DecodeUpdateResult(e.mustApply(EncodeUpdate(u)))
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func (e *env) exitAll() ExitAllResult {
	e.t.Helper()
	res, err := DecodeExitAllResult(e.mustApply(EncodeExitAll(), nil))
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) purge(before int64, limit int) PurgeResult {
	e.t.Helper()
	res, err := DecodePurgeResult(e.mustApply(EncodePurgeScans(PurgeScans{Before: before, Limit: limit})))
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) ticket(id [16]byte) (ticket.Ticket, ticket.State) {
	e.t.Helper()
	t, st, found, err := Ticket(e.st, id)
	if err != nil || !found {
		e.t.Fatalf("ticket %x: found=%v, %v", id, found, err)
	}
	return t, st
}

func (e *env) zone(id string) ticket.Zone {
	e.t.Helper()
	zones, err := Zones(e.st)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, z := range zones {
		if z.ID == id {
			return z
		}
	}
	e.t.Fatalf("no zone %q", id)
	return ticket.Zone{}
}

func (e *env) events() []Event {
	e.t.Helper()
	evs, _, err := EventsAfter(e.st, Cursor{}, 1<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// tkt builds an active ticket with ID n, version 1, valid for 2026-01-01
// to 01-03 (UTC).
func tkt(n byte, kind ticket.Kind, opts ...func(*ticket.Ticket)) ticket.Ticket {
	t := ticket.Ticket{
		ID:         [16]byte{0: 0xa0, 15: n},
		Version:    1,
		Product:    kind.String() + "-adult",
		Kind:       kind,
		ValidFrom:  t0,
		ValidUntil: t0 + 3*day,
	}
	if kind == ticket.Multi || kind == ticket.Group {
		t.Entries = 3
	}
	t.Digest = digest(t.ID, t.Version)
	for _, o := range opts {
		o(&t)
	}
	return t
}

func digest(id [16]byte, version uint64) [16]byte {
	return [16]byte{0: 0xd1, 1: id[15], 2: byte(version), 15: 0x5a}
}

func withEntries(n uint16) func(*ticket.Ticket)  { return func(t *ticket.Ticket) { t.Entries = n } }
func withZones(z ...string) func(*ticket.Ticket) { return func(t *ticket.Ticket) { t.Zones = z } }
func withStatus(s ticket.Status) func(*ticket.Ticket) {
	return func(t *ticket.Ticket) { t.Status = s }
}
func withValidity(from, until int64) func(*ticket.Ticket) {
	return func(t *ticket.Ticket) { t.ValidFrom, t.ValidUntil = from, until }
}

// reprint returns t at a newer version with a new code.
func reprint(t ticket.Ticket, version uint64) ticket.Ticket {
	t.Version = version
	t.Digest = digest(t.ID, version)
	return t
}

// scanOf presents t's current code at gate.
func scanOf(scanID, gate string, t ticket.Ticket) Scan {
	return Scan{ScanID: scanID, Gate: gate, TicketID: t.ID, CodeVersion: uint32(t.Version), Digest: t.Digest}
}

func out(s Scan) Scan { s.Direction = DirOut; return s }

func persons(s Scan, n uint16) Scan { s.Persons = n; return s }

func expect(t testing.TB, what string, r ScanResult, result rules.Result, reason rules.Reason) {
	t.Helper()
	if r.Error != ScanOK || r.Result != result || r.Reason != reason {
		t.Fatalf("%s: got %s/%q (error %q), want %s/%q\n%+v", what, r.Result, r.Reason, r.Error, result, reason, r)
	}
}

// dump returns every application key and value, for comparing replicas.
func dump(db Viewer) (map[string]string, error) {
	m := map[string]string{}
	err := db.View(func(r cluster.Reader) error {
		return r.Iterate(nil, nil, func(k, v []byte) error {
			m[string(k)] = string(v)
			return nil
		})
	})
	return m, err
}

func sameDump(a, b map[string]string) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d keys vs %d", len(a), len(b))
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return fmt.Errorf("key %q differs", k)
		}
	}
	return nil
}
