package server_test

// A real 3-node park cluster with the gate API served over HTTP on every
// node, as `admit node` serves it (validator/gate/gatetest),
// and a JSON client for it and for sales.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/validator/gate/gatetest"
)

const clusterAdminToken = gatetest.AdminToken

// park is a real 3-node cluster serving the gate API (gatetest).
type park struct {
	*gatetest.Park
	h *clustertest.Harness
}

func newPark(t *testing.T) *park {
	t.Helper()
	g := gatetest.New(t, gatetest.Options{MaxBodyBytes: 64 << 10})
	return &park{Park: g, h: g.H}
}

// url is the base URL of the i-th member.
func (p *park) url(i int) string { return p.URL(p.h.Members[i]) }

var httpClient = &http.Client{Timeout: 10 * time.Second}

// do sends a JSON request (body nil for none) and decodes a JSON reply into
// out when given; it returns the status and the raw reply.
func do(method, url, token string, body, out any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, raw, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("decode %q: %w", raw, err)
		}
	}
	return resp.StatusCode, raw, nil
}

// must sends a request and fails the test unless the reply has status want.
func must(t *testing.T, want int, method, url, token string, body, out any) {
	t.Helper()
	status, raw, err := do(method, url, token, body, out)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, status, raw, want)
	}
}
