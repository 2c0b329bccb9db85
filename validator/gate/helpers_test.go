package gate_test

import (
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func escape(s string) string { return url.PathEscape(s) }

// authFailures is the admit_gate_auth_failures_total value for reason.
func authFailures(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "admit_gate_auth_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
