package gate_test

import (
	"net/http"
	"testing"

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
	for _, c := range []struct {
		what, path, token string
		status            int
	}{
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
