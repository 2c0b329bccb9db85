package gate_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/fsm"
	"github.com/admitpark/admit/validator/gate"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

// The leader purges scan ids and events older than the retention, on
// every replica through the log: the same scan id sent again afterwards is
// decided afresh (already_used), not answered as the old admit (rescan).
func TestLeaderPurgesOldScanIDs(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g := gatetest.New(t, gatetest.Options{Nodes: 3, Gate: func(c *gate.Config) {
		c.ScanRetention, c.PurgeInterval = time.Second, 100*time.Millisecond
	}})
	p := &park{Park: g, t: t, h: g.H, key: key, http: &http.Client{Timeout: 10 * time.Second}}
	token := p.addGate("g1", "main", "in")
	cd := p.singles(1)[0]
	req := gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: "g1:1"}
	if status, resp, msg := p.scan(p.URL(p.h.Leader()), token, req); status != 200 || resp.Result != gateapi.ResultAdmit {
		t.Fatalf("first scan: %d %+v %s", status, resp, msg)
	}
	if _, resp, _ := p.scan(p.URL(p.h.Leader()), token, req); !resp.Rescan {
		t.Fatalf("repeated scan id within the retention: %+v, want the rescan", resp)
	}
	clustertest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		for _, m := range p.h.Running() {
			if _, found, err := fsm.LookupScan(m.Node(), "g1", "g1:1"); err != nil || found {
				return fmt.Errorf("%s still holds the scan id (%v)", m.ID, err)
			}
		}
		return nil
	}, "every replica to forget the scan id past its retention")
	status, resp, msg := p.scan(p.URL(p.h.Leader()), token, req)
	if status != 200 || resp.Rescan || resp.Reason != gateapi.ReasonAlreadyUsed {
		t.Fatalf("scan id sent again after the purge: %d %+v %s, want a fresh already_used", status, resp, msg)
	}
}
