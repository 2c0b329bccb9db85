package agent_test

import (
	"testing"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// TestTwoAgentsConflict: two agents cut off from a 3-node cluster both let
// the same single-entry ticket in. After the heal both uploads land, both
// passages are on record, and the ticket shows exactly one conflict,
// however often the uploads are sent again.
func TestTwoAgentsConflict(t *testing.T) {
	p := newPark(t, 3)
	a1 := p.startAgent("g1", p.addGate("g1", "main"), t.TempDir(), nil)
	a2 := p.startAgent("g2", p.addGate("g2", "main"), t.TempDir(), nil)
	c := p.issue(tk{kind: ticket.Single})
	parsed, _ := code.Parse(c)
	id := ticket.FormatID(parsed.TicketID())

	a1.cutOff(t)
	a2.cutOff(t)
	want(t, "at g1, offline", a1.scan(t, c), gateapi.ResultAdmit, "", true)
	want(t, "at g2, offline", a2.scan(t, c), gateapi.ResultAdmit, "", true)
	a1.reconnect(t)
	a2.reconnect(t)

	check := func(when string) {
		t.Helper()
		cs, err := p.admin.Conflicts(t.Context(), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Total != 1 || len(cs.Conflicts) != 1 {
			t.Fatalf("%s: %d conflicts recorded, listed %+v; want exactly one", when, cs.Total, cs.Conflicts)
		}
		k := cs.Conflicts[0]
		gates := map[string]bool{k.Scan.Gate: true, k.Other.Gate: true}
		if k.TicketID != id || k.Reason != gateapi.ReasonAlreadyUsed || !gates["g1"] || !gates["g2"] || !k.Scan.Offline ||
			k.Scan.DeviceTime.IsZero() {
			t.Fatalf("%s: conflict %+v; want ticket %s already_used, between g1 and g2, the offline scan's device time", when, k, id)
		}
		admits, flagged := 0, 0
		for _, e := range p.events() {
			if e.TicketID != id {
				continue
			}
			if e.Result == gateapi.ResultAdmit && e.Offline {
				admits++
			}
			if e.Conflict {
				flagged++
			}
		}
		if admits != 2 || flagged != 1 {
			t.Fatalf("%s: %d offline admits, %d flagged as conflict on the changefeed; want 2 and 1", when, admits, flagged)
		}
	}
	check("after the heal")

	// Send both agents' uploads again, as an agent that did not hear back
	// would: same scan ids, device times and decisions.
	for _, a := range []*agentUnder{a1, a2} {
		gw, err := gateapi.NewClient(gateapi.Config{URLs: p.admin.URLs(), GateToken: a.token})
		if err != nil {
			t.Fatal(err)
		}
		ups := a.cable.uploads()
		if len(ups) != 1 {
			t.Fatalf("agent %s uploaded %d scans, want 1", a.gate, len(ups))
		}
		for range 3 {
			out, err := gw.ScanBatch(t.Context(), ups)
			if err != nil || len(out) != 1 || !out[0].Rescan {
				t.Fatalf("upload again from %s: %+v, %v; want the first answer, marked rescan", a.gate, out, err)
			}
		}
	}
	check("after the uploads were sent three more times")
}

// TestLateLiveScanStillShowsTheConflict: the cluster applies the live
// scans the agents gave up on (they reach it, the answers are lost): one
// is an admit, the other a deny, while both gates let the visitor in
// offline. The gate's own decision is uploaded beside the live deny, and
// the double use shows as a conflict rather than hiding behind it.
func TestLateLiveScanStillShowsTheConflict(t *testing.T) {
	p := newPark(t, 1)
	a1 := p.startAgent("g1", p.addGate("g1", "main"), t.TempDir(), nil)
	a2 := p.startAgent("g2", p.addGate("g2", "main"), t.TempDir(), nil)
	c := p.issue(tk{kind: ticket.Single})
	a1.cable.late.Store(true)
	a2.cable.late.Store(true)
	want(t, "at g2, the live answer lost", a2.scan(t, c), gateapi.ResultAdmit, "", true)
	want(t, "at g1, the live answer lost", a1.scan(t, c), gateapi.ResultAdmit, "", true)
	a1.cable.late.Store(false)
	a2.cable.late.Store(false)
	a1.reconnect(t)
	a2.reconnect(t)
	cs, err := p.admin.Conflicts(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Total != 1 || len(cs.Conflicts) != 1 || cs.Conflicts[0].Scan.Gate != "g1" || cs.Conflicts[0].Scan.ScanID != "g1:1~o" {
		t.Fatalf("conflicts %+v; want one, g1's offline admit (uploaded as g1:1~o beside the live deny)", cs)
	}
}
