package refund_test

// A real 3-node park cluster with the gate API served over HTTP on every
// node, as `admit node` serves it (validator/gate/gatetest).

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

const adminToken = gatetest.AdminToken

// park is a real cluster serving the gate API (gatetest) with the calls
// these tests make as the sync relay and the gates would.
type park struct {
	*gatetest.Park
	t *testing.T
	h *clustertest.Harness
}

func newPark(t *testing.T) *park {
	t.Helper()
	g := gatetest.New(t, gatetest.Options{})
	return &park{Park: g, t: t, h: g.H}
}

// call is gatetest.CallOK: a reply of 300 or more is an error.
func (p *park) call(base, method, path, token string, body, out any) (int, error) {
	return gatetest.CallOK(base, method, path, token, body, out)
}

// admin calls a running node with the admin token until it answers 2xx
// (an election may be on).
func (p *park) admin(method, path string, body, out any) {
	p.t.Helper()
	clustertest.CheckFor(p.t, 15*time.Second, 50*time.Millisecond, func() error {
		_, err := p.call(p.URL(p.h.Running()[0]), method, path, adminToken, body, out)
		return err
	}, "%s %s", method, path)
}

func (p *park) addGate(id, zone string) string {
	p.t.Helper()
	var g gateapi.GateJSON
	p.admin(http.MethodPost, gateapi.PathGates, gateapi.GateJSON{ID: id, Zone: zone, Direction: "in"}, &g)
	return g.Token
}

// issue sends tickets (with their codes) to the cluster as the sync relay
// would.
func (p *park) issue(tickets ...gateapi.TicketJSON) gateapi.IssueResponse {
	p.t.Helper()
	var out gateapi.IssueResponse
	p.admin(http.MethodPost, gateapi.PathIssue, gateapi.IssueRequest{Tickets: tickets}, &out)
	return out
}

// scan posts one scan through a running node and returns its decision.
func (p *park) scan(gateToken, gateID, code string) gateapi.ScanResponse {
	p.t.Helper()
	var resp gateapi.ScanResponse
	scanID := fmt.Sprintf("%s:%d", gateID, time.Now().UnixNano())
	clustertest.CheckFor(p.t, 15*time.Second, 50*time.Millisecond, func() error {
		_, err := p.call(p.URL(p.h.Running()[0]), http.MethodPost, gateapi.PathScan, gateToken,
			gateapi.ScanRequest{Code: code, Gate: gateID, ScanID: scanID}, &resp)
		return err
	}, "scan at %s", gateID)
	return resp
}
