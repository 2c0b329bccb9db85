package gate_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

// A follower's scan reply names the leader's API (gateapi.HeaderLeader),
// so gates can send their next scans there; the leader's reply names
// nobody. The scan itself is decided either way.
func TestFollowerRepliesNameTheLeader(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g := gatetest.New(t, gatetest.Options{Nodes: 3, Configure: func(c *cluster.Config) { c.APIAddr = "http://api-of-" + c.ID }})
	p := &park{Park: g, t: t, h: g.H, key: key, http: &http.Client{Timeout: 10 * time.Second}}
	token := p.addGate("g1", "main", "in")
	codes := p.singles(40)
	leader, follower := p.h.Leader(), p.h.Followers()[0]
	n := 0
	scan := func(m *clustertest.Member) string {
		t.Helper()
		_, hdr, err := gatetest.CallHeader(p.URL(m), http.MethodPost, gateapi.PathScan, token,
			gateapi.ScanRequest{Code: codes[n], Gate: "g1", ScanID: fmt.Sprint("g1:", n)}, nil)
		n++
		if err != nil {
			t.Fatal(err)
		}
		return hdr.Get(gateapi.HeaderLeader)
	}
	want := "http://api-of-" + leader.ID
	clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := scan(follower); got != want {
			return fmt.Errorf("follower's reply names %q", got)
		}
		return nil
	}, "a follower's reply to name the leader %s", want)
	if got := scan(leader); got != "" {
		t.Fatalf("the leader's reply names %q", got)
	}
}
