package gate_test

import (
	"net/http"
	"testing"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

// TestAgentRoutes: a gate's own token reads the keys (with its gate's
// zone and direction) and the changefeed when it names its gate; another
// gate's id, no gate, or no token are refused. The operator and sales
// tokens need no gate.
func TestAgentRoutes(t *testing.T) {
	p := newPark(t, 1)
	tok := p.addGate("g1", "main", "in")
	p.addGate("g2", "coaster", "both")
	p.admin(http.MethodPut, gateapi.PathPark, gateapi.ParkJSON{ID: "sunny", TimeZone: "Asia/Shanghai", Keys: []gateapi.KeyJSON{keyJSON(1, p.key)}}, nil)
	base := p.URL(p.h.Running()[0])

	var k gateapi.KeysResponse
	if status, err := gatetest.Call(base, http.MethodGet, gateapi.PathKeys+"?gate=g1", tok, nil, &k); status != http.StatusOK || err != nil {
		t.Fatalf("keys with the gate's token: %d, %v", status, err)
	}
	if k.Park != "sunny" || k.TimeZone != "Asia/Shanghai" || len(k.Keys) != 1 || k.Keys[0] != keyJSON(1, p.key) ||
		k.Gate == nil || *k.Gate != (gateapi.GateJSON{ID: "g1", Zone: "main", Direction: "in"}) {
		t.Fatalf("keys: %+v (gate %+v)", k, k.Gate)
	}
	var ev gateapi.EventsResponse
	if status, err := gatetest.Call(base, http.MethodGet, gateapi.PathEvents+"?gate=g1", tok, nil, &ev); status != http.StatusOK || err != nil {
		t.Fatalf("events with the gate's token: %d, %v", status, err)
	}
	// A revoked ticket is listed for the gate's agent, from its cursor on.
	tj := single("adult")
	tj.Park = "sunny"
	p.issue(tj, code.Claims{KeyID: 1, ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil})
	var rr gateapi.ChangeResponse
	p.admin(http.MethodPost, gateapi.PathTickets+tj.ID+gateapi.PathTicketRevoke, gateapi.ChangeRequest{Version: 2}, &rr)
	if rr.Outcome != "revoked" {
		t.Fatalf("revoke: %+v", rr)
	}
	var rv gateapi.RevocationsResponse
	if status, err := gatetest.Call(base, http.MethodGet, gateapi.PathRevocations+"?gate=g1", tok, nil, &rv); status != http.StatusOK || err != nil {
		t.Fatalf("revocations with the gate's token: %d, %v", status, err)
	}
	if len(rv.Revocations) != 1 || rv.Revocations[0].TicketID != tj.ID || rv.Revocations[0].Version != 2 ||
		!rv.Revocations[0].ValidUntil.Equal(tj.ValidUntil) || rv.Next != rv.Revocations[0].Cursor {
		t.Fatalf("revocations: %+v", rv)
	}
	var more gateapi.RevocationsResponse
	if status, err := gatetest.Call(base, http.MethodGet, gateapi.PathRevocations+"?gate=g1&after="+rv.Next, tok, nil, &more); status != http.StatusOK ||
		err != nil || len(more.Revocations) != 0 || more.Next != rv.Next {
		t.Fatalf("revocations after the last: %d %+v %v", status, more, err)
	}
	for _, c := range []struct {
		what, path, token string
		status            int
	}{
		{"revocations of another gate", gateapi.PathRevocations + "?gate=g2", tok, http.StatusForbidden},
		{"revocations, no token", gateapi.PathRevocations + "?gate=g1", "", http.StatusUnauthorized},
		{"revocations, a bad cursor", gateapi.PathRevocations + "?gate=g1&after=x", tok, http.StatusBadRequest},
		{"revocations, limit 0", gateapi.PathRevocations + "?gate=g1&limit=0", tok, http.StatusBadRequest},
		{"revocations, sales", gateapi.PathRevocations, gatetest.SalesToken, http.StatusOK},
		{"another gate's keys", gateapi.PathKeys + "?gate=g2", tok, http.StatusForbidden},
		{"keys without a gate", gateapi.PathKeys, tok, http.StatusForbidden},
		{"events of another gate", gateapi.PathEvents + "?gate=g2", tok, http.StatusForbidden},
		{"keys, no token", gateapi.PathKeys + "?gate=g1", "", http.StatusUnauthorized},
		{"keys, a wrong token", gateapi.PathKeys + "?gate=g1", "nope", http.StatusForbidden},
		{"keys of an unknown gate, operator", gateapi.PathKeys + "?gate=g9", adminToken, http.StatusNotFound},
		{"keys, operator", gateapi.PathKeys, adminToken, http.StatusOK},
		{"keys, sales", gateapi.PathKeys, gatetest.SalesToken, http.StatusOK},
		{"events, sales", gateapi.PathEvents, gatetest.SalesToken, http.StatusOK},
	} {
		var body map[string]any
		status, _ := gatetest.Call(base, http.MethodGet, c.path, c.token, nil, &body)
		if status != c.status {
			t.Errorf("%s: %d, want %d", c.what, status, c.status)
		}
	}
}
