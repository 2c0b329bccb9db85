package gate_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// TestEveryDecisionThroughTheAPI drives each deny reason (and rescan) end to
// end: HTTP request, node, Raft, state machine, answer.
func TestEveryDecisionThroughTheAPI(t *testing.T) {
	p := newPark(t, 3)
	main := p.addGate("main-1", "main", "both")
	coaster := p.addGate("coaster-1", "coaster", "both")
	p.admin(http.MethodPost, gateapi.PathZones, gateapi.ZoneJSON{ID: "coaster", Cap: 1}, nil)
	p.admin(http.MethodPut, gateapi.PathPark, gateapi.ParkJSON{TimeZone: "Asia/Shanghai"}, nil)

	now := time.Now().Truncate(time.Minute)
	claims := func(tj gateapi.TicketJSON) code.Claims {
		return code.Claims{ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil}
	}
	mk := func(kind string, entries uint16, zones ...string) gateapi.TicketJSON {
		tj := single("p-" + kind)
		tj.Kind, tj.Entries, tj.Zones = kind, entries, zones
		return tj
	}
	node := p.URL(p.h.Followers()[0])
	seq := 0
	scan := func(cd, token, gateID, dir string) gateapi.ScanResponse {
		t.Helper()
		seq++
		status, resp, msg := p.scan(node, token, gateapi.ScanRequest{Code: cd, Gate: gateID, ScanID: fmt.Sprintf("s%d", seq), Direction: dir})
		if status != http.StatusOK {
			t.Fatalf("scan: %d %s", status, msg)
		}
		return resp
	}
	want := func(name string, got gateapi.ScanResponse, result, reason string) {
		t.Helper()
		if got.Result != result || got.Reason != reason {
			t.Fatalf("%s: got %s/%q, want %s/%q (%+v)", name, got.Result, got.Reason, result, reason, got)
		}
	}
	seen := map[string]bool{}
	deny := func(name string, got gateapi.ScanResponse, reason string) {
		t.Helper()
		want(name, got, "deny", reason)
		seen[reason] = true
	}

	// invalid_code and unknown
	deny("garbage", scan("NOT-A-CODE", main, "main-1", "in"), "invalid_code")
	ghost := single("ghost")
	ghostCode, _ := code.Sign(p.key, code.Claims{TicketID: mustID(t, ghost.ID), Version: 1})
	deny("never issued", scan(ghostCode, main, "main-1", "in"), "unknown")

	// already_used, with when and where
	a := mk("single", 0)
	ac := p.issue(a, claims(a))
	want("first entry", scan(ac, main, "main-1", "in"), "admit", "")
	used := scan(ac, main, "main-1", "in")
	deny("second entry", used, "already_used")
	if used.FirstEntryGate != "main-1" || used.FirstEntryAt == "" || used.EntriesUsed != 1 || used.EntriesAllowed != 1 {
		t.Fatalf("already_used lacks first entry or counts: %+v", used)
	}
	if _, err := time.Parse(time.RFC3339, used.FirstEntryAt); err != nil || used.FirstEntryAt[len(used.FirstEntryAt)-6:] != "+08:00" {
		t.Fatalf("first entry time %q should be RFC 3339 in the park's zone (+08:00)", used.FirstEntryAt)
	}

	// rescan: same scan id again
	seq--
	if r := scan(ac, main, "main-1", "in"); !r.Rescan || r.Reason != "already_used" {
		t.Fatalf("repeated scan id: %+v, want the original already_used marked rescan", r)
	}

	// revoked, suspended
	r := mk("single", 0)
	rc := p.issue(r, claims(r))
	var cr gateapi.ChangeResponse
	p.admin(http.MethodPost, gateapi.PathTickets+r.ID+"/revoke", gateapi.ChangeRequest{Version: 2}, &cr)
	if cr.Outcome != "revoked" {
		t.Fatalf("revoke unused: %+v", cr)
	}
	deny("revoked", scan(rc, main, "main-1", "in"), "revoked")
	p.admin(http.MethodPost, gateapi.PathTickets+a.ID+"/revoke", gateapi.ChangeRequest{Version: 2}, &cr)
	if cr.Outcome != "already_used" || cr.FirstEntryGate != "main-1" {
		t.Fatalf("revoke used: %+v", cr)
	}
	s := mk("single", 0)
	sc := p.issue(s, claims(s))
	p.admin(http.MethodPost, gateapi.PathTickets+s.ID+"/update", gateapi.ChangeRequest{Version: 2, Op: "suspend"}, &cr)
	deny("suspended", scan(sc, main, "main-1", "in"), "suspended")

	// replaced: a reprint makes the old code stop working
	rp := mk("single", 0)
	oldCode := p.issue(rp, claims(rp))
	rp.Version = 2
	newCode := p.issue(rp, claims(rp))
	deny("old code after reprint", scan(oldCode, main, "main-1", "in"), "replaced")
	want("new code after reprint", scan(newCode, main, "main-1", "in"), "admit", "")

	// not_yet_valid, expired
	fut := mk("single", 0)
	fut.ValidFrom, fut.ValidUntil = now.Add(48*time.Hour), now.Add(72*time.Hour)
	deny("tomorrow's ticket", scan(p.issue(fut, claims(fut)), main, "main-1", "in"), "not_yet_valid")
	past := mk("single", 0)
	past.ValidFrom, past.ValidUntil = now.Add(-72*time.Hour), now.Add(-48*time.Hour)
	deny("last week's ticket", scan(p.issue(past, claims(past)), main, "main-1", "in"), "expired")

	// wrong_zone
	mz := mk("single", 0, "main")
	deny("main-only at the coaster", scan(p.issue(mz, claims(mz)), coaster, "coaster-1", "in"), "wrong_zone")

	// already_inside: a day pass needs an exit before it enters again
	dp := mk("day_pass", 0)
	dc := p.issue(dp, claims(dp))
	want("day pass in", scan(dc, main, "main-1", "in"), "admit", "")
	deny("day pass in again", scan(dc, main, "main-1", "in"), "already_inside")
	want("day pass out", scan(dc, main, "main-1", "out"), "admit", "")
	want("day pass back in", scan(dc, main, "main-1", "in"), "admit", "")

	// daily_limit: an annual pass enters once per park day
	ap := mk("period", 0)
	apc := p.issue(ap, claims(ap))
	want("annual in", scan(apc, main, "main-1", "in"), "admit", "")
	want("annual out", scan(apc, main, "main-1", "out"), "admit", "")
	deny("annual in again", scan(apc, main, "main-1", "in"), "daily_limit")

	// no_entries_left: two entries, then no more
	mt := mk("multi", 2)
	mc := p.issue(mt, claims(mt))
	for i := 0; i < 2; i++ {
		want("multi in", scan(mc, main, "main-1", "in"), "admit", "")
		want("multi out", scan(mc, main, "main-1", "out"), "admit", "")
	}
	deny("multi third", scan(mc, main, "main-1", "in"), "no_entries_left")

	// zone_full: the coaster holds one visitor
	z1, z2 := mk("single", 0, "coaster"), mk("single", 0, "coaster")
	want("first on the coaster", scan(p.issue(z1, claims(z1)), coaster, "coaster-1", "in"), "admit", "")
	deny("second on the coaster", scan(p.issue(z2, claims(z2)), coaster, "coaster-1", "in"), "zone_full")
	// Every node reports the zone from its own state, which may trail by a few ms.
	for _, m := range p.h.Running() {
		clustertest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
			occ := zoneGauge(t, m.Registry, "admit_zone_occupancy", "coaster")
			capacity := zoneGauge(t, m.Registry, "admit_zone_capacity", "coaster")
			if occ != 1 || capacity != 1 {
				return fmt.Errorf("occupancy %v, capacity %v", occ, capacity)
			}
			return nil
		}, "%s to report the coaster's occupancy 1 of 1", m.ID)
	}

	// group: several persons on one code
	gp := mk("group", 5)
	gc := p.issue(gp, claims(gp))
	seq++
	status, g3, msg := p.scan(node, main, gateapi.ScanRequest{Code: gc, Gate: "main-1", ScanID: fmt.Sprintf("s%d", seq), Persons: 3})
	if status != http.StatusOK || g3.Result != "admit" || g3.Persons != 3 || g3.EntriesUsed != 3 || g3.EntriesAllowed != 5 {
		t.Fatalf("group of 3: %d %+v %s", status, g3, msg)
	}

	for _, reason := range []string{"invalid_code", "unknown", "revoked", "suspended", "replaced", "not_yet_valid",
		"expired", "wrong_zone", "already_used", "daily_limit", "no_entries_left", "already_inside", "zone_full"} {
		if !seen[reason] {
			t.Errorf("reason %s never produced", reason)
		}
	}
}

func mustID(t *testing.T, s string) [16]byte {
	t.Helper()
	id, err := ticket.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// zoneGauge reads one zone's gauge from a node's registry.
func zoneGauge(t *testing.T, g prometheus.Gatherer, name, zone string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "zone" && l.GetValue() == zone {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s for zone %s", name, zone)
	return 0
}
