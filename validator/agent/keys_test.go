package agent_test

import (
	"testing"

	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

// TestKeyRotation: after a rotation reaches the cluster, a code signed by
// the new key admits online at once and offline once the agent has
// refreshed its keys; a code signed by the retired key still admits while
// the key is in the cluster's set, and not after it leaves it (sales
// removes it only once every code it signed has expired).
func TestKeyRotation(t *testing.T) {
	p := newPark(t, 1)
	a := p.startAgent("g1", p.addGate("g1", "main"), t.TempDir(), nil)
	old := p.issue(tk{kind: ticket.Single, key: 1})
	p.setKeys(1, 2) // the rotation, as sync sends it: key 2 active, 1 retired
	fresh := p.issue(tk{kind: ticket.Single, key: 2})
	want(t, "new key, online", a.scan(t, fresh), gateapi.ResultAdmit, "", false)

	a.cutOff(t)
	notYet := p.issue(tk{kind: ticket.Single, key: 2})
	want(t, "new key, offline, before the refresh", a.scan(t, notYet), gateapi.ResultDeny, gateapi.ReasonInvalidCode, true)
	a.reconnect(t)
	if err := a.RefreshKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.cutOff(t)
	want(t, "new key, offline, after the refresh", a.scan(t, p.issue(tk{kind: ticket.Single, key: 2})), gateapi.ResultAdmit, "", true)
	want(t, "retired key with an unexpired code, offline", a.scan(t, old), gateapi.ResultAdmit, "", true)
	a.reconnect(t)

	p.setKeys(2) // key 1 retired for good
	if err := a.RefreshKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.cutOff(t)
	want(t, "key out of the set, offline", a.scan(t, p.issueUnchecked(1)), gateapi.ResultDeny, gateapi.ReasonInvalidCode, true)
	a.reconnect(t)
}
