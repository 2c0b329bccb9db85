package fsm

import (
	"errors"
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/rules"
	"github.com/admitpark/admit/validator/ticket"
)

func TestRevoke(t *testing.T) {
	e := newPark(t)
	unused, used := tkt(1, ticket.Single), tkt(2, ticket.Multi)
	e.issue(unused, used)
	expect(t, "use", e.scan1(scanOf("a", "c1", used)), rules.Admit, rules.None)
	usedAt := e.now
	e.now += hour
	expect(t, "use main", e.scan1(scanOf("b", "g1", used)), rules.Admit, rules.None)

	if r := e.revoke(unused.ID, 1); r.Outcome != OutcomeStale {
		t.Fatalf("revoke at the current version: %+v", r)
	}
	if r := e.revoke(unused.ID, 2); r != (RevokeResult{Outcome: OutcomeRevoked}) {
		t.Fatalf("revoke unused: %+v", r)
	}
	got, _ := e.ticket(unused.ID)
	if got.Status != ticket.Revoked || got.Version != 2 {
		t.Fatalf("after revoke: %+v", got)
	}
	// Resends, even older ones, answer revoked again and change nothing.
	for _, v := range []uint64{2, 1} {
		if r := e.revoke(unused.ID, v); r.Outcome != OutcomeRevoked {
			t.Fatalf("resend v%d: %+v", v, r)
		}
	}
	if got, _ := e.ticket(unused.ID); got.Version != 2 {
		t.Fatalf("version after resend %d", got.Version)
	}
	expect(t, "scan revoked", e.scan1(scanOf("c", "g1", unused)), rules.Deny, rules.Revoked)

	// Used: refused with the earliest entry, whatever the version.
	want := RevokeResult{Outcome: OutcomeAlreadyUsed, FirstAt: usedAt, FirstGate: "c1", Zone: "coaster"}
	for i := 0; i < 2; i++ {
		if r := e.revoke(used.ID, 7); r != want {
			t.Fatalf("revoke used: %+v", r)
		}
	}
	if got, _ := e.ticket(used.ID); got.Status != ticket.Active || got.Version != 1 {
		t.Fatalf("used ticket changed: %+v", got)
	}
	if r := e.revoke([16]byte{9}, 1); r.Outcome != OutcomeUnknown {
		t.Fatalf("revoke unknown: %+v", r)
	}
}

func TestUpdate(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Single)
	e.issue(tk, tkt(2, ticket.Single, withStatus(ticket.Revoked)))
	steps := []struct {
		u    Update
		want Outcome
	}{
		{Update{ID: tk.ID, Version: 2, Op: OpSuspend}, OutcomeApplied},
		{Update{ID: tk.ID, Version: 2, Op: OpResume}, OutcomeStale},
		{Update{ID: tk.ID, Version: 3, Op: OpResume}, OutcomeApplied},
		{Update{ID: tk.ID, Version: 4, Op: OpExtend, ValidUntil: t0 - hour}, OutcomeConflict},
		{Update{ID: tk.ID, Version: 4, Op: OpExtend, ValidUntil: t0 + 10*day}, OutcomeApplied},
		{Update{ID: [16]byte{0: 0xa0, 15: 2}, Version: 9, Op: OpResume}, OutcomeConflict},
		{Update{ID: [16]byte{7}, Version: 9, Op: OpSuspend}, OutcomeUnknown},
	}
	for i, s := range steps {
		if got := e.update(s.u); got != s.want {
			t.Fatalf("step %d %s v%d: %s, want %s", i, s.u.Op, s.u.Version, got, s.want)
		}
	}
	got, _ := e.ticket(tk.ID)
	if got.Status != ticket.Active || got.Version != 4 || got.ValidUntil != t0+10*day || got.Digest != tk.Digest {
		t.Fatalf("after updates: %+v", got)
	}
	// Version bumps by updates keep the printed code valid.
	e.now = t0 + 5*day
	expect(t, "extended", e.scan1(scanOf("a", "g1", tk)), rules.Admit, rules.None)
}

func TestConfigure(t *testing.T) {
	e := newPark(t)
	tk := tkt(1, ticket.Group, withEntries(4))
	e.issue(tk)
	e.scan1(persons(scanOf("a", "g1", tk), 3))

	// Upserting a zone keeps its occupancy.
	e.configure(Configure{Zones: []ticket.Zone{{ID: "main", Cap: 100, Warn: 3, Occupancy: 77}}})
	if z := e.zone("main"); z != (ticket.Zone{ID: "main", Cap: 100, Warn: 3, Occupancy: 3}) {
		t.Fatalf("zone after upsert: %+v", z)
	}
	// A zone's mask bit is kept; a configure that does not carry one (an
	// older sender) leaves it; a record written before bits reads as unknown.
	if _, ok := e.zone("main").Bit(); ok {
		t.Fatalf("zone main has a bit nobody sent: %+v", e.zone("main"))
	}
	e.configure(Configure{Zones: []ticket.Zone{{ID: "main", Cap: 100, Warn: 3, MaskBit: 3}}})
	e.configure(Configure{Zones: []ticket.Zone{{ID: "main", Cap: 101, Warn: 3}}})
	if z := e.zone("main"); z != (ticket.Zone{ID: "main", Cap: 101, Warn: 3, Occupancy: 3, MaskBit: 3}) {
		t.Fatalf("zone after upserts with and without its bit: %+v", z)
	}
	if z, ok, err := LookupZone(e.st, "main"); err != nil || !ok || z.MaskBit != 3 {
		t.Fatalf("LookupZone: %+v %v %v", z, ok, err)
	}
	if c, err := DecodeCommand(must(t)(EncodeConfigure(Configure{Zones: []ticket.Zone{{ID: "main", Cap: 5}}}))); err != nil || c.Type != TypeConfigure {
		t.Fatalf("a configure without bits is written as before: %v, %v", c.Type, err)
	}
	loc, err := Location(e.st)
	if err != nil || loc.String() != "Asia/Shanghai" {
		t.Fatalf("location %v, %v", loc, err)
	}

	rejected := map[string]Configure{
		"bad time zone":      {TimeZone: "Mars/Olympus"},
		"local time zone":    {TimeZone: "Local"},
		"gate without zone":  {Gates: []Gate{{ID: "q", Zone: "nowhere"}}},
		"zone still has one": {DeleteZones: []string{"coaster"}},
		"zone twice":         {Zones: []ticket.Zone{{ID: "a"}, {ID: "a"}}},
		"upsert and delete":  {Zones: []ticket.Zone{{ID: "a"}}, DeleteZones: []string{"a"}},
		"gate twice":         {Gates: []Gate{{ID: "g1", Zone: "main"}}, DeleteGates: []string{"g1"}},
		"gate in deleted":    {Gates: []Gate{{ID: "q", Zone: "coaster"}}, DeleteZones: []string{"coaster"}},
	}
	for name, c := range rejected {
		// Encode what the encoder would refuse, so Apply must refuse it too.
		cmd := Command{Type: TypeConfigure, Configure: c}
		if _, err := e.apply(cmd.appendTo(nil)); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	if _, err := EncodeConfigure(Configure{TimeZone: "Mars/Olympus"}); err == nil {
		t.Error("EncodeConfigure accepted a bad time zone")
	}

	// Deleting the gates and the zone together works.
	e.configure(Configure{DeleteZones: []string{"coaster"}, DeleteGates: []string{"c1", "c1x"}})
	gates, err := Gates(e.st)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range gates {
		ids = append(ids, g.ID)
	}
	if strings.Join(ids, ",") != "g1,g2,x1" {
		t.Fatalf("gates %v", ids)
	}
	zones, _ := Zones(e.st)
	if len(zones) != 1 || zones[0].ID != "main" {
		t.Fatalf("zones %+v", zones)
	}
	if g, ok, err := LookupGate(e.st, "g1"); err != nil || !ok || g.Zone != "main" || g.Direction != DirIn {
		t.Fatalf("gate g1: %+v %v %v", g, ok, err)
	}
	if _, ok, err := LookupGate(e.st, "c1"); err != nil || ok {
		t.Fatalf("deleted gate: %v %v", ok, err)
	}
}

func TestCheckGateToken(t *testing.T) {
	e := newPark(t)
	if g, err := CheckGateToken(e.st, "g1", "tok-g1"); err != nil || g.ID != "g1" {
		t.Fatalf("good token: %+v %v", g, err)
	}
	if _, err := CheckGateToken(e.st, "g1", "tok-g2"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := CheckGateToken(e.st, "g2", ""); !errors.Is(err, ErrBadToken) {
		t.Fatalf("gate without token: %v", err)
	}
	if _, err := CheckGateToken(e.st, "zz", "tok-g1"); !errors.Is(err, ErrUnknownGate) {
		t.Fatalf("unknown gate: %v", err)
	}
	if _, err := CheckGateToken(e.st, strings.Repeat("g", 100), "x"); !errors.Is(err, ErrUnknownGate) {
		t.Fatalf("overlong gate: %v", err)
	}
}

func TestReadEmpty(t *testing.T) {
	e := newEnv(t)
	if _, _, found, err := Ticket(e.st, [16]byte{1}); found || err != nil {
		t.Fatalf("ticket in empty store: %v %v", found, err)
	}
	if loc, err := Location(e.st); err != nil || loc.String() != "UTC" {
		t.Fatalf("default location %v %v", loc, err)
	}
	if gates, err := Gates(e.st); err != nil || len(gates) != 0 {
		t.Fatalf("gates %v %v", gates, err)
	}
	if _, found, err := LookupScan(e.st, "g1", "x"); found || err != nil {
		t.Fatalf("scan lookup %v %v", found, err)
	}
}

func TestApplyRejectsGarbage(t *testing.T) {
	e := newPark(t)
	for _, cmd := range [][]byte{nil, {1}, {2, 5}, {1, 99}, {1, byte(TypeScanBatch), 0}, {1, byte(TypeExitAll), 0}} {
		if _, err := e.apply(cmd); err == nil {
			t.Errorf("applied %x", cmd)
		}
	}
}
