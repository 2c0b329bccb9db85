package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/countersm"
	"github.com/admitpark/admit/cluster/httpapi"
)

// TestOpsAddress: with Admin.Ops set (admit node --ops-addr), metrics and
// pprof are served on the operations address and not on the main one;
// the admin API and health stay on the main one. Without it, metrics are
// on the main address.
func TestOpsAddress(t *testing.T) {
	h := clustertest.New(t, 1, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return countersm.Counter{} },
	})
	m := h.Members[0]
	const token = "operator-token"
	listen := func(r *httpapi.Router) string {
		t.Helper()
		srv, err := httpapi.Listen(httpapi.DefaultServerConfig("127.0.0.1:0"), r.Serve)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		})
		return "http://" + srv.Addr()
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(url string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	main, ops := httpapi.NewRouter(), httpapi.NewRouter()
	(&httpapi.Admin{Node: m.Node(), AdminToken: token, Gatherer: m.Registry, Ops: ops}).Register(main)
	mainURL, opsURL := listen(main), listen(ops)
	for _, c := range []struct {
		url    string
		status int
		has    string
	}{
		{opsURL + httpapi.PathMetrics, 200, "admit_"},
		{mainURL + httpapi.PathMetrics, 404, "no such endpoint"},
		{opsURL + httpapi.PathPprof + "cmdline", 200, ""},
		{mainURL + httpapi.PathPprof + "cmdline", 404, "no such endpoint"},
		{opsURL + httpapi.PathHealth, 200, "ok"},
		{mainURL + httpapi.PathHealth, 200, "ok"},
		{mainURL + httpapi.PathLocalState, 200, ""},
		{opsURL + httpapi.PathLocalState, 404, "no such endpoint"},
	} {
		if status, body := get(c.url); status != c.status || !strings.Contains(body, c.has) {
			t.Errorf("GET %s: %d %.80q, want %d with %q", c.url, status, body, c.status, c.has)
		}
	}

	one := httpapi.NewRouter()
	(&httpapi.Admin{Node: m.Node(), AdminToken: token, Gatherer: m.Registry}).Register(one)
	if status, body := get(listen(one) + httpapi.PathMetrics); status != 200 || !strings.Contains(body, "admit_") {
		t.Errorf("metrics without an ops address: %d %.80q", status, body)
	}
}
