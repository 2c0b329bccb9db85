package httpclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// node is a test server that counts its calls and may name another node.
type node struct {
	srv   *httptest.Server
	calls atomic.Int32
	names atomic.Pointer[string]
	down  atomic.Bool
}

func newNode(t *testing.T) *node {
	n := &node{}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.calls.Add(1)
		if n.down.Load() {
			http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		if p := n.names.Load(); p != nil {
			w.Header().Set("Admit-Leader", *p)
		}
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func counts(ns ...*node) []int32 {
	var out []int32
	for _, n := range ns {
		out = append(out, n.calls.Swap(0))
	}
	return out
}

// With a Hint, calls start at the node a reply named (only if it is one
// of the client's URLs), and stay with the node that answered last when
// the first one fails; without one, URLs[0] is always asked first.
func TestHintFollowsTheNamedNodeAndTheLastAnswer(t *testing.T) {
	a, b, c := newNode(t), newNode(t), newNode(t)
	urls := []string{a.srv.URL, b.srv.URL, c.srv.URL}
	cl := &Client{URLs: urls, HTTP: http.DefaultClient, Hint: NewHint("Admit-Leader")}
	ctx := context.Background()
	call := func() {
		t.Helper()
		if err := cl.Do(ctx, http.MethodPost, "/v1/scan", []byte(`{}`), nil); err != nil {
			t.Fatal(err)
		}
	}

	leader := c.srv.URL + "/"
	a.names.Store(&leader)
	call() // a answers and names c
	call()
	call()
	if got := counts(a, b, c); got[0] != 1 || got[2] != 2 {
		t.Fatalf("calls to a, b, c: %v; want the first at a, then at c", got)
	}

	stranger := "http://203.0.113.9:7101"
	c.names.Store(&stranger) // not one of the client's URLs: ignored
	call()
	if got := counts(a, b, c); got[2] != 1 {
		t.Fatalf("a hint to an unknown URL was followed: calls %v", got)
	}

	c.down.Store(true) // c fails: a answers (and names c, which is down)...
	a.names.Store(nil)
	call()
	call()
	if got := counts(a, b, c); got[0] != 2 || got[2] != 1 {
		t.Fatalf("after c went down: calls %v; want c tried once, then a first", got)
	}

	plain := &Client{URLs: urls, HTTP: http.DefaultClient}
	a.names.Store(&leader)
	for range 3 {
		if err := plain.Do(ctx, http.MethodGet, "/", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := counts(a, b, c); got[0] != 3 {
		t.Fatalf("a client without a hint did not keep to URLs[0]: %v", got)
	}
}
