package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/server"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func call(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// TestServerWiring starts the whole sales service on a real database and
// checks that every part answers through the one mux.
func TestServerWiring(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	reg := prometheus.NewRegistry()
	cfg := server.DefaultConfig()
	cfg.DSN, cfg.HTTPAddr, cfg.Migrate = dsn, "127.0.0.1:0", true
	cfg.ClusterURLs, cfg.ClusterToken = "http://127.0.0.1:1", "unused-token"
	cfg.HolderSecret = bytes.Repeat([]byte("s"), 32)
	cfg.KEK = testKEK
	cfg.TestPaymentSecret = bytes.Repeat([]byte("p"), 32)
	cfg.Registerer, cfg.Gatherer = reg, reg
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	base := "http://" + srv.Addr()

	acfg := auth.DefaultConfig()
	acfg.Pool = srv.Pool
	a, err := auth.NewAPI(acfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(t.Context())
	if err != nil || !res.Created {
		t.Fatalf("init: %+v %v", res, err)
	}
	status, out := call(t, "POST", base+"/v1/login", "", map[string]string{"username": "admin", "password": res.Password})
	if status != 200 {
		t.Fatalf("login: %d %v", status, out)
	}
	token := out["token"].(string)
	if status, out := call(t, "POST", base+"/v1/me/password", token, map[string]string{"old_password": res.Password, "new_password": "a-new-long-password"}); status != 200 {
		t.Fatalf("change password: %d %v", status, out)
	}

	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"GET", "/openapi.json", 200},
		{"GET", "/v1/keys", 200},
		{"GET", "/v1/parks", 200},
		{"GET", "/v1/users", 200},
		{"GET", "/v1/orders?phone=13800138000", 200},
		{"GET", "/v1/refunds/1", 404},
		{"GET", "/v1/nothing", 404},
	} {
		if got, out := call(t, c.method, base+c.path, token, nil); got != c.status {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, got, out, c.status)
		}
	}
	if got, out := call(t, "GET", base+"/v1/parks", "", nil); got != 401 || out["error"] == nil {
		t.Errorf("anonymous: %d %v, want 401 with an error", got, out)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "admit_sales_pg_conns_max") {
		t.Error("metrics lack the pool gauges")
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems { // naming conventions SREs rely on
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
