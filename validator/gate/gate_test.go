package gate_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

// crowd scans every code from many clients through every node and records
// each decision. Clients retry a scan with the same scan_id (on the next
// node) until they get a decision, as turnstiles are told to.
type crowd struct {
	mu        sync.Mutex
	admits    map[string]map[string]bool // code -> scan ids that were admitted
	denies    map[string]int             // reason -> count
	rescans   int
	retries   int
	maxErrRun time.Duration
}

func (p *park) runCrowd(t *testing.T, codes []string, token string, clients int, during func(done int)) *crowd {
	t.Helper()
	c := &crowd{admits: map[string]map[string]bool{}, denies: map[string]int{}}
	var wg sync.WaitGroup
	var progress sync.WaitGroup
	var done int
	var doneMu sync.Mutex
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := rand.Perm(len(codes))
			for n, i := range order {
				scanID := fmt.Sprintf("g1:%d:%d", w, n)
				var firstErr time.Time
				for attempt := 0; ; attempt++ {
					running := p.h.Running()
					m := running[(w+attempt)%len(running)]
					status, resp, _ := p.scan(p.URL(m), token, gateapi.ScanRequest{Code: codes[i], Gate: "g1", ScanID: scanID})
					if status == http.StatusOK {
						if !firstErr.IsZero() {
							c.mu.Lock()
							c.maxErrRun = max(c.maxErrRun, time.Since(firstErr))
							c.mu.Unlock()
						}
						c.record(codes[i], scanID, resp)
						break
					}
					if status != 0 && status != http.StatusServiceUnavailable {
						t.Errorf("scan %s: unexpected status %d", scanID, status)
						return
					}
					if firstErr.IsZero() {
						firstErr = time.Now()
					}
					c.mu.Lock()
					c.retries++
					c.mu.Unlock()
					if time.Since(firstErr) > 20*time.Second {
						t.Errorf("scan %s got no decision for 20s", scanID)
						return
					}
				}
				doneMu.Lock()
				done++
				d := done
				doneMu.Unlock()
				if w == 0 && during != nil {
					progress.Add(1)
					during(d)
					progress.Done()
				}
			}
		}()
	}
	wg.Wait()
	return c
}

func (c *crowd) record(code, scanID string, r gateapi.ScanResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Rescan {
		c.rescans++
	}
	if r.Result == "admit" {
		if c.admits[code] == nil {
			c.admits[code] = map[string]bool{}
		}
		c.admits[code][scanID] = true
		return
	}
	c.denies[r.Reason]++
}

// check: every ticket admitted exactly once (by one scan id, however often
// that scan was retried); every other decision already_used.
func (c *crowd) check(t *testing.T, codes []string) {
	t.Helper()
	for _, cd := range codes {
		if n := len(c.admits[cd]); n != 1 {
			t.Fatalf("ticket admitted by %d different scans, want exactly 1", n)
		}
	}
	for reason, n := range c.denies {
		if reason != "already_used" {
			t.Fatalf("%d denies for %q; only already_used expected", n, reason)
		}
	}
}

func (p *park) singles(n int) []string {
	codes := make([]string, n)
	for i := range codes {
		tj := single("day-adult")
		codes[i] = p.issue(tj, code.Claims{ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil})
	}
	return codes
}

func TestConcurrentScansAdmitEachTicketOnce(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	codes := p.singles(150)
	c := p.runCrowd(t, codes, token, 12, nil)
	c.check(t, codes)
	if c.denies["already_used"] != 150*11 {
		t.Fatalf("%d already_used denies, want %d", c.denies["already_used"], 150*11)
	}
}

func TestLeaderKilledMidTrafficNeverAdmitsTwice(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	codes := p.singles(150)
	var killed *clustertest.Member
	c := p.runCrowd(t, codes, token, 9, func(done int) {
		if done >= 50 && killed == nil {
			killed = p.h.Leader()
			p.Kill(killed)
		}
	})
	c.check(t, codes)
	t.Logf("leader %s killed; %d retries, longest run of errors one client saw: %v", killed.ID, c.retries, c.maxErrRun.Round(time.Millisecond))

	// After the dust settles, every admitted ticket shows as used on every
	// node, the restarted one included.
	p.Restart(killed)
	p.h.WaitLeader(10 * time.Second)
	for _, m := range p.h.Members {
		for _, cd := range codes[:20] {
			var v gateapi.TicketView
			clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				status, err := gatetest.Call(p.URL(m), http.MethodGet, gateapi.PathTickets+escape(cd), adminToken, nil, &v)
				if err != nil || status != http.StatusOK {
					return fmt.Errorf("status %d: %v", status, err)
				}
				if !v.Used {
					return fmt.Errorf("ticket %s not used on %s", v.Ticket.ID, m.ID)
				}
				return nil
			}, "admitted ticket to show as used on %s", m.ID)
		}
	}
}

func TestRetriedScanGetsOriginalDecisionOnAnotherNode(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	cd := p.singles(1)[0]
	follower := p.h.Followers()[0]
	req := gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: "g1:000123"}
	status, first, msg := p.scan(p.URL(follower), token, req)
	if status != http.StatusOK || first.Result != "admit" || first.Rescan {
		t.Fatalf("first scan: %d %+v %s", status, first, msg)
	}

	// The leader changes; the turnstile, which never saw the answer, retries
	// the same scan on another node.
	old := p.h.Leader()
	p.Kill(old)
	p.h.WaitLeader(10 * time.Second)
	var retry gateapi.ScanResponse
	clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, m := range p.h.Running() {
			if m == follower {
				continue
			}
			status, resp, msg := p.scan(p.URL(m), token, req)
			if status != http.StatusOK {
				return fmt.Errorf("retry: %d %s", status, msg)
			}
			retry = resp
			return nil
		}
		return fmt.Errorf("no other node up")
	}, "the retried scan to be answered")
	if retry.Result != "admit" || !retry.Rescan || retry.FirstEntryAt != first.FirstEntryAt || retry.FirstEntryGate != "g1" {
		t.Fatalf("retry answered %+v, want the original admit marked rescan (first %+v)", retry, first)
	}
	// A new scan of the same ticket is a second entry attempt.
	status, again, _ := p.scan(p.URL(follower), token, gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: "g1:000124"})
	if status != http.StatusOK || again.Result != "deny" || again.Reason != "already_used" || again.FirstEntryAt != first.FirstEntryAt {
		t.Fatalf("new scan: %d %+v", status, again)
	}
}

func TestNoQuorumAnswers503(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	cd := p.singles(1)[0]
	survivor := p.h.Followers()[0]
	for _, m := range p.h.Members {
		if m != survivor {
			p.Kill(m)
		}
	}
	status, _, msg := p.scan(p.URL(survivor), token, gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: "x1"})
	if status != http.StatusServiceUnavailable || msg == "" {
		t.Fatalf("scan without quorum: %d %q, want 503 with an error", status, msg)
	}
	var eb struct{ Error string }
	if status, _ := gatetest.Call(p.URL(survivor), http.MethodGet, "/readyz", "", nil, &eb); status != http.StatusServiceUnavailable {
		t.Fatalf("readyz without quorum: %d", status)
	}
}
