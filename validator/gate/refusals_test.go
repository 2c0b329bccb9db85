package gate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

// TestNoQuorumScanSays503RetryAfter: a node that cannot get a scan decided
// answers it, single or batch, with 503 and "Retry-After: 1" (README,
// SCAN.md), so that turnstiles retry with the same scan_id instead of
// guessing. Both kinds of 503 are seen: a survivor of a lost quorum
// forwarding to the dead leader gets no answer in time (outcome unknown),
// and a node whose Raft has stopped while its HTTP server still answers has
// no quorum.
func TestNoQuorumScanSays503RetryAfter(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	cd := p.singles(1)[0]
	survivor := p.h.Followers()[0]
	for _, m := range p.h.Members {
		if m != survivor {
			p.Kill(m)
		}
	}
	n := 0
	// post503 sends a single and a batch scan, wants 503 with Retry-After
	// for both, and returns their messages.
	post503 := func(stage, token string) []string {
		t.Helper()
		var msgs []string
		for _, path := range []string{gateapi.PathScan, gateapi.PathScans} {
			n++
			scan := gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: fmt.Sprintf("g1:%d", n)}
			body := any(scan)
			if path == gateapi.PathScans {
				body = gateapi.ScanBatchRequest{Scans: []gateapi.ScanRequest{scan}}
			}
			var eb gateapi.ErrorBody
			status, h, err := gatetest.CallHeader(p.URL(survivor), http.MethodPost, path, token, body, &eb)
			if err != nil {
				t.Fatalf("%s: POST %s: %v", stage, path, err)
			}
			t.Logf("%s: POST %s: %d, Retry-After %q: %s", stage, path, status, h.Get("Retry-After"), eb.Error)
			if status != http.StatusServiceUnavailable || !strings.Contains(eb.Error, "same scan_id") {
				t.Fatalf("%s: POST %s: %d %q; want 503 telling to retry with the same scan_id", stage, path, status, eb.Error)
			}
			if got := h.Get("Retry-After"); got != "1" {
				t.Fatalf("%s: POST %s: 503 %q with Retry-After %q, want \"1\"", stage, path, eb.Error, got)
			}
			msgs = append(msgs, eb.Error)
		}
		return msgs
	}
	// The survivor forwards to the dead leader until it notices; every
	// answer meanwhile is a 503 (outcome unknown or no quorum, as its view
	// goes); wait for an outcome unknown.
	clustertest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		for _, msg := range post503("two of three nodes dead", token) {
			if strings.Contains(msg, "no answer from the cluster in time") {
				return nil
			}
		}
		return errors.New("no outcome-unknown 503 yet")
	}, "a scan forwarded to the dead leader to time out")
	// The node stops; its HTTP server is left up. Its gate tokens can no
	// longer be read, so the admin token (good for scans too) gets past
	// the token check to the batcher.
	p.h.Kill(survivor)
	for _, msg := range post503("Raft stopped", adminToken) {
		if !strings.Contains(msg, "no quorum") {
			t.Fatalf("a stopped node's 503 %q does not say no quorum", msg)
		}
	}
}

// TestReusedScanIDIs409: a gate that reuses a scan id for another ticket
// (its counter was reset, say) is refused with 409 through the HTTP API,
// not answered with the first ticket's decision as a rescan; the refused
// ticket stays unused, the same scan id with its own ticket is still a
// rescan, and scan ids are per gate.
func TestReusedScanIDIs409(t *testing.T) {
	p := newPark(t, 3)
	token := p.addGate("g1", "main", "in")
	token2 := p.addGate("g2", "main", "in")
	codes := p.singles(2)
	base := p.URL(p.h.Running()[0])

	status, first, msg := p.scan(base, token, gateapi.ScanRequest{Code: codes[0], Gate: "g1", ScanID: "g1:7"})
	if status != http.StatusOK || first.Result != "admit" {
		t.Fatalf("first scan: %d %+v %s", status, first, msg)
	}
	status, resp, msg := p.scan(base, token, gateapi.ScanRequest{Code: codes[1], Gate: "g1", ScanID: "g1:7"})
	t.Logf("scan id reused for another ticket: %d %q", status, msg)
	if status != http.StatusConflict || !strings.Contains(msg, "scan_id") || resp.Result != "" {
		t.Fatalf("scan id reused for another ticket: %d %+v %q; want 409 about the scan_id", status, resp, msg)
	}
	// Through the batch endpoint the same refusal is a per-scan error.
	var batch gateapi.ScanBatchResponse
	raw := json.RawMessage{}
	status, err := gatetest.Call(base, http.MethodPost, gateapi.PathScans, token,
		gateapi.ScanBatchRequest{Scans: []gateapi.ScanRequest{{Code: codes[1], Gate: "g1", ScanID: "g1:7"}}}, &raw)
	if err != nil || status != http.StatusOK || json.Unmarshal(raw, &batch) != nil || len(batch.Results) != 1 ||
		batch.Results[0].Error != "scan_id_conflict" || batch.Results[0].Result == "admit" {
		t.Fatalf("batch with the reused scan id: %d %s %v; want a scan_id_conflict result", status, raw, err)
	}

	// The first ticket's scan id still answers its own decision.
	status, again, msg := p.scan(base, token, gateapi.ScanRequest{Code: codes[0], Gate: "g1", ScanID: "g1:7"})
	if status != http.StatusOK || again.Result != "admit" || !again.Rescan {
		t.Fatalf("the scan id with its own ticket: %d %+v %s; want the original admit as a rescan", status, again, msg)
	}
	// The refused ticket was not used: a fresh scan id admits it.
	status, fresh, msg := p.scan(base, token, gateapi.ScanRequest{Code: codes[1], Gate: "g1", ScanID: "g1:8"})
	if status != http.StatusOK || fresh.Result != "admit" || fresh.Rescan {
		t.Fatalf("the refused ticket with a new scan id: %d %+v %s; want admit", status, fresh, msg)
	}
	// Scan ids are per gate: g2 may use g1:7 for any ticket.
	codes2 := p.singles(1)
	status, other, msg := p.scan(base, token2, gateapi.ScanRequest{Code: codes2[0], Gate: "g2", ScanID: "g1:7"})
	if status != http.StatusOK || other.Result != "admit" || other.Rescan {
		t.Fatalf("the same scan id at another gate: %d %+v %s; want admit", status, other, msg)
	}
}
