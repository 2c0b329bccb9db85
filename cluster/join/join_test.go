package join

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster/adminclient"
	"github.com/admitpark/admit/cluster/httpapi"
)

const token = "join-test-token"

// fakeNode answers POST /v1/cluster/join with the statuses in order (the
// last one from then on) and counts the requests.
type fakeNode struct {
	statuses []int
	calls    atomic.Int32
	got      chan httpapi.JoinRequest
}

func newFakeNode(t *testing.T, statuses ...int) (*fakeNode, *httptest.Server) {
	f := &fakeNode{statuses: statuses, got: make(chan httpapi.JoinRequest, 100)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != httpapi.PathJoin {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	n := int(f.calls.Add(1))
	if r.Header.Get("Authorization") != "Bearer "+token {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"wrong admin token"}`))
		return
	}
	var req httpapi.JoinRequest
	json.NewDecoder(r.Body).Decode(&req)
	f.got <- req
	status := f.statuses[min(n, len(f.statuses))-1]
	w.WriteHeader(status)
	if status == http.StatusOK {
		w.Write([]byte(`{"joined":"` + req.ID + `"}`))
	} else {
		w.Write([]byte(`{"error":"status ` + http.StatusText(status) + `"}`))
	}
}

// retries is a logger whose records go to a channel: the test learns of a
// failed attempt without sleeping.
type retries chan string

func (r retries) Enabled(context.Context, slog.Level) bool { return true }
func (r retries) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r <- rec.Message:
	default:
	}
	return nil
}
func (r retries) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r retries) WithGroup(string) slog.Handler      { return r }

func testConfig(urls ...string) (Config, retries) {
	cfg := DefaultConfig()
	cfg.URLs, cfg.AdminToken, cfg.ID, cfg.RaftAddr = urls, token, "n2", "127.0.0.1:7202"
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.AttemptTimeout = time.Millisecond, 4*time.Millisecond, 5*time.Second
	r := make(retries, 1000)
	cfg.Logger = slog.New(r)
	return cfg, r
}

// waitFor receives from ch or fails after a deadline, saying what it waited for.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
		panic("unreachable")
	}
}

func TestJoinFirstTry(t *testing.T) {
	f, srv := newFakeNode(t, http.StatusOK)
	cfg, _ := testConfig(srv.URL)
	cfg.Nonvoter = true
	if err := Join(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	req := waitFor(t, f.got, "join request")
	if req.ID != "n2" || req.RaftAddr != "127.0.0.1:7202" || !req.Nonvoter {
		t.Fatalf("request %+v", req)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestJoinRetriesAfter503(t *testing.T) {
	f, srv := newFakeNode(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK)
	cfg, _ := testConfig(srv.URL)
	if err := Join(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("%d requests, want 3 (503, 503, 200)", n)
	}
}

// A node that cannot be reached yet (the first node still starting) is
// asked again until it answers. The test keeps its port: while the node is
// "down" every connection is dropped at once, so no request reaches it.
func TestJoinRetriesWhileUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := &dropListener{Listener: ln}
	down.dropping.Store(true)
	f := &fakeNode{statuses: []int{http.StatusOK}, got: make(chan httpapi.JoinRequest, 10)}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener.Close()
	srv.Listener = down
	srv.Start()
	defer srv.Close()

	cfg, logged := testConfig(srv.URL)
	done := make(chan error, 1)
	go func() { done <- Join(t.Context(), cfg) }()
	if msg := waitFor(t, logged, "a retry after the dropped connection"); msg != "join failed; retrying" {
		t.Fatalf("logged %q", msg)
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("%d requests reached the node while it was down", n)
	}
	down.dropping.Store(false)
	if err := waitFor(t, done, "join to return"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f.got, "join request at the node once it listens")
}

// dropListener closes every connection it accepts while dropping is set:
// a node that is not up yet, on a port the test keeps.
type dropListener struct {
	net.Listener
	dropping atomic.Bool
}

func (l *dropListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.dropping.Load() {
			return c, err
		}
		c.Close()
	}
}

// 400, 401 and 403 are the cluster's final word: one request, no retry.
func TestJoinRefusedIsFinal(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
		f, srv := newFakeNode(t, status)
		cfg, _ := testConfig(srv.URL)
		err := Join(t.Context(), cfg)
		if !errors.Is(err, ErrRefused) || adminclient.StatusOf(err) != status {
			t.Fatalf("status %d: err %v, want ErrRefused with the status", status, err)
		}
		if n := f.calls.Load(); n != 1 {
			t.Fatalf("status %d: %d requests, want 1", status, n)
		}
	}
	// A wrong token is refused the same way.
	_, srv := newFakeNode(t, http.StatusOK)
	cfg, _ := testConfig(srv.URL)
	cfg.AdminToken = "wrong"
	if err := Join(t.Context(), cfg); !errors.Is(err, ErrRefused) {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestJoinStopsWhenContextEnds(t *testing.T) {
	f, srv := newFakeNode(t, http.StatusServiceUnavailable)
	cfg, logged := testConfig(srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Join(ctx, cfg) }()
	waitFor(t, logged, "a failed attempt")
	cancel()
	err := waitFor(t, done, "join to return after cancel")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRefused) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if f.calls.Load() < 1 {
		t.Fatal("no request reached the node")
	}
}

func TestConfigValidate(t *testing.T) {
	ok, _ := testConfig("http://127.0.0.1:1")
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, edit := range map[string]func(*Config){
		"no URL":            func(c *Config) { c.URLs = nil },
		"no id":             func(c *Config) { c.ID = "" },
		"no raft address":   func(c *Config) { c.RaftAddr = "" },
		"no timeout":        func(c *Config) { c.AttemptTimeout = 0 },
		"no backoff":        func(c *Config) { c.InitialBackoff = 0 },
		"max below initial": func(c *Config) { c.MaxBackoff = c.InitialBackoff / 2 },
	} {
		c := ok
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil", name)
		}
	}
	d := DefaultConfig()
	d.URLs, d.ID, d.RaftAddr = []string{"http://h:1"}, "n", "h:2"
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}
