package gateapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/admitpark/admit/validator/gateapi"
)

// node is a fake node that answers every request with status and body,
// and counts what it got.
type node struct {
	srv   *httptest.Server
	calls atomic.Int32
	auth  atomic.Value // last Authorization header
}

func newNode(t *testing.T, status int, body any) *node {
	n := &node{}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.calls.Add(1)
		n.auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

// deadURL is an address nothing listens on: dials are refused.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func client(t *testing.T, urls ...string) *gateapi.Client {
	c, err := gateapi.NewClient(gateapi.Config{URLs: urls, AdminToken: "admin-t", GateToken: "gate-t", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var scan = gateapi.ScanRequest{Code: "X", Gate: "g1", ScanID: "g1:1"}

func TestFailoverMovesOnAfterUnreachableAnd5xx(t *testing.T) {
	busy := newNode(t, http.StatusServiceUnavailable, gateapi.ErrorBody{Error: "no quorum"})
	ok := newNode(t, http.StatusOK, gateapi.ScanResponse{Result: gateapi.ResultAdmit, ScanID: "g1:1"})
	c := client(t, deadURL(t), busy.srv.URL, ok.srv.URL)
	resp, err := c.Scan(context.Background(), scan)
	if err != nil || resp.Result != gateapi.ResultAdmit {
		t.Fatalf("scan: %+v %v", resp, err)
	}
	if busy.calls.Load() != 1 || ok.calls.Load() != 1 {
		t.Fatalf("calls: busy %d ok %d, want 1 and 1", busy.calls.Load(), ok.calls.Load())
	}
	if got := ok.auth.Load(); got != "Bearer gate-t" {
		t.Fatalf("scan sent %q, want the gate token", got)
	}
}

func TestFourXXIsFinal(t *testing.T) {
	bad := newNode(t, http.StatusConflict, gateapi.ErrorBody{Error: "scan_id was already used"})
	other := newNode(t, http.StatusOK, gateapi.ScanResponse{Result: gateapi.ResultAdmit})
	c := client(t, bad.srv.URL, other.srv.URL)
	_, err := c.Scan(context.Background(), scan)
	var e *gateapi.Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict || e.Message != "scan_id was already used" {
		t.Fatalf("err %v, want a 409 *gateapi.Error with the server's message", err)
	}
	if gateapi.StatusOf(err) != http.StatusConflict {
		t.Fatalf("StatusOf = %d", gateapi.StatusOf(err))
	}
	if other.calls.Load() != 0 {
		t.Fatal("a 4xx answer was sent again to another node")
	}
}

func TestNoAnswerUnavailableOrUnknown(t *testing.T) {
	// Every dial refused: the request reached no node.
	c := client(t, deadURL(t), deadURL(t))
	_, err := c.Revoke(context.Background(), "00000000000000000000000000000001", gateapi.ChangeRequest{Version: 2})
	if !errors.Is(err, gateapi.ErrUnavailable) || errors.Is(err, gateapi.ErrOutcomeUnknown) {
		t.Fatalf("all refused: %v, want ErrUnavailable only", err)
	}
	// A node answered 503: it may have applied the command.
	busy := newNode(t, http.StatusServiceUnavailable, gateapi.ErrorBody{Error: "no answer in time"})
	c = client(t, deadURL(t), busy.srv.URL)
	_, err = c.Revoke(context.Background(), "00000000000000000000000000000001", gateapi.ChangeRequest{Version: 2})
	if !errors.Is(err, gateapi.ErrOutcomeUnknown) {
		t.Fatalf("503: %v, want ErrOutcomeUnknown", err)
	}
	var e *gateapi.Error
	if !errors.As(err, &e) || e.RetryAfter != 1 {
		t.Fatalf("503's Retry-After not kept: %v", err)
	}
	if got := busy.auth.Load(); got != "Bearer admin-t" {
		t.Fatalf("revoke sent %q, want the admin token", got)
	}
}

func TestAtPinsOneNode(t *testing.T) {
	a := newNode(t, http.StatusServiceUnavailable, gateapi.ErrorBody{Error: "busy"})
	b := newNode(t, http.StatusOK, gateapi.GatesResponse{Gates: []gateapi.GateJSON{{ID: "g1", Zone: "main"}}})
	c := client(t, a.srv.URL, b.srv.URL)
	if _, err := c.At(a.srv.URL).Gates(context.Background()); gateapi.StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("At(a): %v, want a's 503", err)
	}
	if b.calls.Load() != 0 {
		t.Fatal("At(a) reached b")
	}
	gates, err := c.Gates(context.Background())
	if err != nil || len(gates) != 1 || gates[0].ID != "g1" {
		t.Fatalf("gates %+v %v", gates, err)
	}
}

func TestParseURLs(t *testing.T) {
	got, err := gateapi.ParseURLs(" 127.0.0.1:7101, https://n2:7102/ ,")
	if err != nil || len(got) != 2 || got[0] != "http://127.0.0.1:7101" || got[1] != "https://n2:7102" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := gateapi.ParseURLs(" , "); err == nil {
		t.Fatal("no URL accepted")
	}
	if _, err := gateapi.NewClient(gateapi.Config{}); err == nil {
		t.Fatal("client without URLs")
	}
}
