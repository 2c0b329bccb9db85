package gate_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
)

// TestMetricsFollowConventions scrapes a node after real scans and checks
// what SREs rely on: Prometheus naming conventions (promlint: base units,
// _total counters, no reserved suffixes), the admit_ prefix, label names
// from a short fixed list, and no ticket id or token in any label value.
func TestMetricsFollowConventions(t *testing.T) {
	p := newPark(t, 3)
	tok := p.addGate("g1", "main", "in")
	tj := single("day")
	cd := p.issue(tj, code.Claims{ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil})
	for _, u := range p.ServedURLs() { // admits, denies and a forwarded scan on each node
		p.scan(u, tok, gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: "s-" + u})
	}
	resp, err := http.Get(p.ServedURLs()[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}

	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	allowedLabels := map[string]bool{"result": true, "reason": true, "kind": true, "path": true, "outcome": true, "state": true, "zone": true}
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for name, mf := range families {
		if !strings.HasPrefix(name, "admit_") {
			t.Errorf("metric %s lacks the admit_ prefix", name)
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !allowedLabels[l.GetName()] {
					t.Errorf("metric %s has label %q: labels are a fixed, bounded set", name, l.GetName())
				}
				if v := l.GetValue(); hexID.MatchString(v) || strings.Contains(v, tok) {
					t.Errorf("metric %s label %s=%q holds a ticket id or token", name, l.GetName(), v)
				}
			}
		}
	}
	for _, want := range []string{"admit_scans_total", "admit_scan_seconds", "admit_raft_state", "admit_fsm_apply_seconds", "admit_zone_occupancy"} {
		if families[want] == nil {
			t.Errorf("metric %s is missing", want)
		}
	}
}
