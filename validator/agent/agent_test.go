package agent_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/agent"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// TestOfflinePolicies: cut off from the cluster, each policy does what
// docs/agent.md says; online, every policy gives the cluster's
// answer.
func TestOfflinePolicies(t *testing.T) {
	p := newPark(t, 1)
	for _, c := range []struct {
		policy                 agent.Policy
		first, second          string // a single ticket scanned twice offline
		forged, expired, wrong string // reasons for the other codes
	}{
		{agent.Deny, gateapi.ReasonUnknown, gateapi.ReasonUnknown, gateapi.ReasonUnknown, gateapi.ReasonUnknown, gateapi.ReasonUnknown},
		{agent.AllowOncePerDevice, "", gateapi.ReasonAlreadyUsed, gateapi.ReasonInvalidCode, gateapi.ReasonExpired, gateapi.ReasonWrongZone},
		{agent.Allow, "", "", gateapi.ReasonInvalidCode, gateapi.ReasonExpired, gateapi.ReasonWrongZone},
	} {
		t.Run(c.policy.String(), func(t *testing.T) {
			gate := "g-" + c.policy.String()
			a := p.startAgent(gate, p.addGate(gate, "main"), t.TempDir(), func(cfg *agent.Config) {
				cfg.Policy, cfg.ZoneBit = c.policy, 0 // main is bit 0, coaster bit 1
			})
			online := p.issue(tk{kind: ticket.Single, mask: 0b01})
			want(t, "online", a.scan(t, online), gateapi.ResultAdmit, "", false)
			want(t, "online again", a.scan(t, online), gateapi.ResultDeny, gateapi.ReasonAlreadyUsed, false)

			single := p.issue(tk{kind: ticket.Single, mask: 0b01})
			past := time.Now().Add(-48 * time.Hour).Truncate(time.Minute)
			expired := p.issue(tk{kind: ticket.Single, from: past, till: past.Add(time.Hour)})
			coaster := p.issue(tk{kind: ticket.Single, zones: []string{"coaster"}, mask: 0b10})
			_, forger, _ := ed25519.GenerateKey(rand.Reader)
			forged, err := code.Sign(forger, code.Claims{KeyID: 1, TicketID: [16]byte{1}, Version: 1, Kind: uint8(ticket.Single)})
			if err != nil {
				t.Fatal(err)
			}

			a.cutOff(t)
			res := func(reason string) string {
				if reason == "" {
					return gateapi.ResultAdmit
				}
				return gateapi.ResultDeny
			}
			want(t, "first offline scan", a.scan(t, single), res(c.first), c.first, true)
			want(t, "second offline scan", a.scan(t, single), res(c.second), c.second, true)
			want(t, "forged code", a.scan(t, forged), gateapi.ResultDeny, c.forged, true)
			want(t, "expired code", a.scan(t, expired), gateapi.ResultDeny, c.expired, true)
			want(t, "code for another zone", a.scan(t, coaster), gateapi.ResultDeny, c.wrong, true)
			if c.policy == agent.AllowOncePerDevice {
				// What the cluster saw before the cut counts offline too.
				want(t, "ticket used online, offline", a.scan(t, online), gateapi.ResultDeny, gateapi.ReasonAlreadyUsed, true)
			}
			if n, err := a.Backlog(); err != nil || n < 5 {
				t.Fatalf("backlog %d, %v; want every offline decision kept", n, err)
			}
			a.reconnect(t)
			want(t, "online after the heal", a.scan(t, p.issue(tk{kind: ticket.Single})), gateapi.ResultAdmit, "", false)
		})
	}
}

// TestOfflineMultiAndGroup: counted entitlements are counted offline as
// the cluster counts them.
func TestOfflineMultiAndGroup(t *testing.T) {
	p := newPark(t, 1)
	a := p.startAgent("g1", p.addGate("g1", "main"), t.TempDir(), nil)
	multi := p.issue(tk{kind: ticket.Multi, entries: 2})
	want(t, "multi online", a.scan(t, multi), gateapi.ResultAdmit, "", false)
	a.cutOff(t)
	r := a.scan(t, multi)
	want(t, "multi offline, second entry", r, gateapi.ResultAdmit, "", true)
	if r.EntriesUsed != 2 || r.EntriesAllowed != 2 {
		t.Fatalf("entries %d/%d offline, want 2/2", r.EntriesUsed, r.EntriesAllowed)
	}
	want(t, "multi offline, third entry", a.scan(t, multi), gateapi.ResultDeny, gateapi.ReasonNoEntriesLeft, true)
	group := p.issue(tk{kind: ticket.Group, entries: 5})
	g, err := a.Scan(t.Context(), gateapi.ScanRequest{Code: group, ScanID: "grp-1", Persons: 4})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "group of 4 of 5", g, gateapi.ResultAdmit, "", true)
	g, err = a.Scan(t.Context(), gateapi.ScanRequest{Code: group, ScanID: "grp-2", Persons: 2})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "2 more of a group of 5", g, gateapi.ResultDeny, gateapi.ReasonNoEntriesLeft, true)
	// A repeated scan id gets its first answer, offline too.
	g, err = a.Scan(t.Context(), gateapi.ScanRequest{Code: group, ScanID: "grp-1", Persons: 4})
	if err != nil || g.Result != gateapi.ResultAdmit || !g.Rescan {
		t.Fatalf("repeated scan id offline: %+v, %v; want the first admit, marked rescan", g, err)
	}
	a.reconnect(t)
}

// TestDenyListFromTheChangefeed: a ticket used at another gate of the zone
// while the agent was online, and one revoked, are refused offline.
func TestDenyListFromTheChangefeed(t *testing.T) {
	p := newPark(t, 1)
	other := p.addGate("g2", "main")
	a := p.startAgent("g1", p.addGate("g1", "main"), t.TempDir(), nil)
	used := p.issue(tk{kind: ticket.Single})
	gw, err := gateapi.NewClient(gateapi.Config{URLs: p.admin.URLs(), GateToken: other})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := gw.Scan(t.Context(), gateapi.ScanRequest{Code: used, Gate: "g2", ScanID: "g2:1"}); err != nil || r.Result != gateapi.ResultAdmit {
		t.Fatalf("scan at g2: %+v, %v", r, err)
	}
	revoked := p.issue(tk{kind: ticket.Single})
	id, _ := code.Parse(revoked)
	if _, err := p.admin.Revoke(t.Context(), ticket.FormatID(id.TicketID()), gateapi.ChangeRequest{Version: 2}); err != nil {
		t.Fatal(err)
	}
	want(t, "revoked, online", a.scan(t, revoked), gateapi.ResultDeny, gateapi.ReasonRevoked, false)

	// Read the changefeed to its end now rather than wait for the poll.
	if err := a.SyncFeed(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.cutOff(t)
	want(t, "used at another gate, offline", a.scan(t, used), gateapi.ResultDeny, gateapi.ReasonAlreadyUsed, true)
	want(t, "revoked, offline", a.scan(t, revoked), gateapi.ResultDeny, gateapi.ReasonRevoked, true)
	a.reconnect(t)
}

// TestZoneBitFromTheCluster: with no --zone-bit, an agent checks codes'
// zone masks with the bit the cluster holds for its gate's zone (sales
// sends it with the zone); the flag still overrides; a zone whose bit the
// cluster does not know leaves zones unchecked offline, as before.
func TestZoneBitFromTheCluster(t *testing.T) {
	p := newPark(t, 1)
	bit := func(b int) *int { return &b }
	if err := p.admin.SetZone(t.Context(), gateapi.ZoneJSON{ID: "main", Bit: bit(0)}); err != nil {
		t.Fatal(err)
	}
	if err := p.admin.SetZone(t.Context(), gateapi.ZoneJSON{ID: "coaster", Bit: bit(1)}); err != nil {
		t.Fatal(err)
	}
	if err := p.admin.SetZone(t.Context(), gateapi.ZoneJSON{ID: "kids"}); err != nil { // no bit known
		t.Fatal(err)
	}
	fromCluster := p.startAgent("m1", p.addGate("m1", "main"), t.TempDir(), nil)
	overridden := p.startAgent("m2", p.addGate("m2", "main"), t.TempDir(), func(c *agent.Config) { c.ZoneBit = 1 })
	unknown := p.startAgent("k1", p.addGate("k1", "kids"), t.TempDir(), nil)
	if st, err := fromCluster.Status(); err != nil || st.ZoneBit != 0 {
		t.Fatalf("status %+v, %v; want zone bit 0 from the cluster", st, err)
	}
	if st, _ := unknown.Status(); st.ZoneBit != -1 {
		t.Fatalf("status %+v; want zone bit -1 (unknown)", st)
	}
	mainCode := func() string { return p.issue(tk{kind: ticket.Single, mask: 0b01}) }
	coasterCode := func() string { return p.issue(tk{kind: ticket.Single, zones: []string{"coaster"}, mask: 0b10}) }
	for _, a := range []*agentUnder{fromCluster, overridden, unknown} {
		a.cutOff(t)
	}
	want(t, "main code at main, bit from the cluster", fromCluster.scan(t, mainCode()), gateapi.ResultAdmit, "", true)
	want(t, "coaster code at main, bit from the cluster", fromCluster.scan(t, coasterCode()), gateapi.ResultDeny, gateapi.ReasonWrongZone, true)
	want(t, "main code at main, flag says bit 1", overridden.scan(t, mainCode()), gateapi.ResultDeny, gateapi.ReasonWrongZone, true)
	want(t, "coaster code at kids, bit unknown", unknown.scan(t, coasterCode()), gateapi.ResultAdmit, "", true)
	for _, a := range []*agentUnder{fromCluster, overridden, unknown} {
		a.reconnect(t)
	}
}

// TestRevokedWhileOnlineDeniedOffline: a ticket revoked (refunded) on the
// cluster while the agent is online, never scanned at this agent, is
// denied when the agent is cut off; one revoked after the cut is not
// known (the policy's stated risk) and its admit is uploaded later.
func TestRevokedWhileOnlineDeniedOffline(t *testing.T) {
	p := newPark(t, 1)
	dir, token := t.TempDir(), p.addGate("g1", "main")
	a := p.startAgent("g1", token, dir, nil)
	revoke := func(c string) {
		t.Helper()
		parsed, _ := code.Parse(c)
		r, err := p.admin.Revoke(t.Context(), ticket.FormatID(parsed.TicketID()), gateapi.ChangeRequest{Version: 2})
		if err != nil || r.Outcome != "revoked" {
			t.Fatalf("revoke: %+v, %v", r, err)
		}
	}
	revoked, kept, late := p.issue(tk{kind: ticket.Single}), p.issue(tk{kind: ticket.Single}), p.issue(tk{kind: ticket.Single})
	revoke(revoked)
	if err := a.SyncFeed(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.cutOff(t)
	revoke(late)
	want(t, "revoked while the agent was online, offline", a.scan(t, revoked), gateapi.ResultDeny, gateapi.ReasonRevoked, true)
	want(t, "a ticket not revoked, offline", a.scan(t, kept), gateapi.ResultAdmit, "", true)
	want(t, "revoked after the cut, offline", a.scan(t, late), gateapi.ResultAdmit, "", true)

	// A restarted agent still knows (the deny list is on disk).
	a.stop()
	b := p.startAgentOffline("g1", token, dir)
	r, err := b.Scan(t.Context(), gateapi.ScanRequest{Code: revoked, ScanID: "after-restart"})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "revoked, offline after a restart", r, gateapi.ResultDeny, gateapi.ReasonRevoked, true)
	b.reconnect(t)
}
