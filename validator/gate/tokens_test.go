package gate_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
)

// TestReplacedGateTokenStopsWorking: gate tokens are cached for a moment
// after a good check. Registering the gate again (a new token) makes the
// old one fail at once on the node that did it, and soon on every node;
// the new token works everywhere.
func TestReplacedGateTokenStopsWorking(t *testing.T) {
	p := newPark(t, 3)
	old := p.addGate("g1", "main", "in")
	tj := single("x")
	cd := p.issue(tj, code.Claims{ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil})
	urls := p.ServedURLs()
	n := 0
	scan := func(base, token string) int {
		n++
		status, _, _ := p.scan(base, token, gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: fmt.Sprint("s", n)})
		return status
	}
	for _, u := range urls { // the old token is good, and now cached, everywhere
		clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if s := scan(u, old); s != http.StatusOK {
				return fmt.Errorf("status %d", s)
			}
			return nil
		}, "old token accepted on %s", u)
	}
	admin := p.URL(p.h.Running()[0])
	fresh := p.addGate("g1", "main", "in") // through the first running node
	if s := scan(admin, old); s != http.StatusForbidden {
		t.Fatalf("old token on the node that replaced it: %d, want 403", s)
	}
	for _, u := range urls {
		clustertest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			if s := scan(u, old); s != http.StatusForbidden {
				return fmt.Errorf("old token: status %d", s)
			}
			if s := scan(u, fresh); s != http.StatusOK {
				return fmt.Errorf("new token: status %d", s)
			}
			return nil
		}, "old token refused and new one accepted on %s", u)
	}
}
