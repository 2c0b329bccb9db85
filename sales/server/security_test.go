package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/auth"
	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/server"
)

// testKEK seals the signing keys of these tests.
var testKEK = func() *keys.KEK {
	k, err := keys.NewKEK(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		panic(err)
	}
	return k
}()

// startPlain starts the service on a fresh database without a cluster and
// returns its base URL and an admin token.
func startPlain(t *testing.T) (string, string) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DSN, cfg.HTTPAddr, cfg.Migrate = pgtest.NewDSN(t), "127.0.0.1:0", true
	cfg.ClusterURLs, cfg.ClusterToken = "http://127.0.0.1:1", "unused-token"
	cfg.HolderSecret, cfg.KEK = bytes.Repeat([]byte("s"), 32), testKEK
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
	acfg := auth.DefaultConfig()
	acfg.Pool, acfg.Argon2 = srv.Pool, auth.TestArgon2
	a, err := auth.NewAPI(acfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr()
	_, out := call(t, "POST", base+"/v1/login", "", map[string]string{"username": "admin", "password": res.Password})
	token, _ := out["token"].(string)
	if status, out := call(t, "POST", base+"/v1/me/password", token, map[string]string{"old_password": res.Password, "new_password": "a-new-long-password"}); status != 200 {
		t.Fatalf("change password: %d %v", status, out)
	}
	return base, token
}

// TestControlCharactersInTextAre400 is the probe's NUL: a NUL (or other
// control character, or invalid UTF-8) in a text field of any sales body
// was a 500 from PostgreSQL; now it is a 400 naming the field, and nothing
// is written.
func TestControlCharactersInTextAre400(t *testing.T) {
	base, token := startPlain(t)
	for _, c := range []struct {
		path, token, body, field string
	}{
		{"/v1/login", "", `{"username": "ad\u0000min", "password": "x"}`, "username"},
		{"/v1/login", "", "{\"username\": \"admin\", \"password\": \"\xff\xfe\"}", "password"},
		{"/v1/users", token, `{"username": "eve", "role": "finance", "display_name": "E\u0000ve"}`, "display_name"},
		{"/v1/distributors", token, `{"name": "ota\u0000"}`, "name"},
		{"/v1/parks", token, `{"id": "p1", "name": "Park\u0000", "time_zone": "UTC"}`, "name"},
		{"/v1/parks", token, `{"id": "p1", "name": "Two\nlines", "time_zone": "UTC"}`, "name"},
	} {
		req, _ := http.NewRequest("POST", base+c.path, strings.NewReader(c.body))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `\"`+c.field+`\"`) || !strings.Contains(string(b), "bad_text") {
			t.Errorf("POST %s %q: %d %s, want 400 bad_text naming %q", c.path, c.body, resp.StatusCode, b, c.field)
		}
	}
	if status, out := call(t, "GET", base+"/v1/parks", token, nil); status != 200 || len(out["parks"].([]any)) != 0 {
		t.Errorf("parks after refused bodies: %d %v", status, out)
	}
}

// TestReadyzNamesNothingAndOutagesAre503: an anonymous /readyz used to show
// the DSN's user and host when the database was down; now it answers 503
// with Retry-After and names nothing of the setup.
func TestReadyzNamesNothingAndOutagesAre503(t *testing.T) {
	base, _ := startPlain(t)
	if status, out := call(t, "GET", base+"/readyz", "", nil); status != 200 || out["status"] != "ready" {
		t.Fatalf("readyz up: %d %v", status, out)
	}
	// A pool whose server is gone: nothing listens on port 1.
	pool, err := pgxpool.New(t.Context(), "postgres://secretuser:secretpass@127.0.0.1:1/admitdb?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var logged bytes.Buffer
	srv := httptest.NewServer(server.Ready(pool, slog.New(slog.NewTextHandler(&logged, nil))))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz down: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, secret := range []string{"secretuser", "secretpass", "127.0.0.1", "admitdb", ":1"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("readyz body names %q: %s", secret, b)
		}
	}
	if !strings.Contains(logged.String(), "readyz") {
		t.Fatal("the cause was not logged")
	}
}
