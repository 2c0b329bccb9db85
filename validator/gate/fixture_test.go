package gate_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

const adminToken = gatetest.AdminToken

// park is a real cluster with the gate API served over HTTP on every node
// (gatetest), plus a signing key and the helpers these tests share.
type park struct {
	*gatetest.Park
	t    *testing.T
	h    *clustertest.Harness
	key  ed25519.PrivateKey
	http *http.Client
}

func newPark(t *testing.T, nodes int) *park {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g := gatetest.New(t, gatetest.Options{Nodes: nodes, MaxBodyBytes: 64 << 10})
	return &park{Park: g, t: t, h: g.H, key: key, http: &http.Client{Timeout: 10 * time.Second}}
}

// admin calls the first node's API with the admin token and wants 2xx.
func (p *park) admin(method, path string, body, out any) {
	p.t.Helper()
	var eb gateapi.ErrorBody
	var status int
	var err error
	clustertest.CheckFor(p.t, 10*time.Second, 50*time.Millisecond, func() error {
		raw := json.RawMessage{}
		status, err = gatetest.Call(p.URL(p.h.Running()[0]), method, path, adminToken, body, &raw)
		if err != nil {
			return err
		}
		if status == http.StatusServiceUnavailable { // an election is on
			return fmt.Errorf("503: %s", raw)
		}
		if status >= 300 {
			json.Unmarshal(raw, &eb)
			return nil
		}
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}, "%s %s", method, path)
	if status >= 300 {
		p.t.Fatalf("%s %s: %d %s", method, path, status, eb.Error)
	}
}

// addGate registers a gate and returns its token.
func (p *park) addGate(id, zone, direction string) string {
	p.t.Helper()
	var g gateapi.GateJSON
	p.admin(http.MethodPost, gateapi.PathGates, gateapi.GateJSON{ID: id, Zone: zone, Direction: direction}, &g)
	return g.Token
}

// issue signs and issues a ticket; it returns the ticket's code.
func (p *park) issue(tj gateapi.TicketJSON, claims code.Claims) string {
	p.t.Helper()
	id, err := ticket.ParseID(tj.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	claims.TicketID, claims.Version = id, uint32(tj.Version)
	c, err := code.Sign(p.key, claims)
	if err != nil {
		p.t.Fatal(err)
	}
	tj.Code = c
	var out gateapi.IssueResponse
	p.admin(http.MethodPost, gateapi.PathIssue, gateapi.IssueRequest{Tickets: []gateapi.TicketJSON{tj}}, &out)
	return c
}

func newID() string {
	var id [16]byte
	rand.Read(id[:])
	return ticket.FormatID(id)
}

// single makes an active single-entry ticket valid around now.
func single(product string) gateapi.TicketJSON {
	now := time.Now().Truncate(time.Minute)
	return gateapi.TicketJSON{ID: newID(), Version: 1, Product: product, Kind: "single",
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(24 * time.Hour)}
}

// scan posts one scan to a node.
func (p *park) scan(base, token string, req gateapi.ScanRequest) (int, gateapi.ScanResponse, string) {
	var raw json.RawMessage
	status, err := gatetest.Call(base, http.MethodPost, gateapi.PathScan, token, req, &raw)
	if err != nil {
		return 0, gateapi.ScanResponse{}, err.Error()
	}
	var resp gateapi.ScanResponse
	var eb gateapi.ErrorBody
	if status == http.StatusOK {
		json.Unmarshal(raw, &resp)
	} else {
		json.Unmarshal(raw, &eb)
	}
	return status, resp, eb.Error
}
