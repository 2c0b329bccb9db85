package adminclient

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/httpapi"
)

// node is a fake node answering its own view and the status with status.
func node(t *testing.T, self cluster.MemberStatus, status int) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+httpapi.PathLocalState, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(self)
	})
	mux.HandleFunc("GET "+httpapi.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"wrong admin token"}`))
			return
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(cluster.Status{AskedNode: self.ID, Leader: self.Leader})
	})
	mux.HandleFunc("POST "+httpapi.PathFaults, func(w http.ResponseWriter, r *http.Request) {
		var req httpapi.FaultsRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.Block == nil {
			w.WriteHeader(http.StatusBadRequest) // the server wants a list, [] to heal
			return
		}
		json.NewEncoder(w).Encode(httpapi.FaultsReply{Node: self.ID, Blocked: req.Block})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFailoverPolicy(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	n1 := node(t, cluster.MemberStatus{ID: "n1", State: "follower", Term: 3, Leader: "n2"}, http.StatusServiceUnavailable)
	n2 := node(t, cluster.MemberStatus{ID: "n2", State: "leader", Term: 3, Leader: "n2"}, http.StatusOK)
	ctx := t.Context()

	// An unreachable node is passed over.
	c, err := New(Config{URLs: []string{dead.URL, n2}, AdminToken: "tok", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx); err != nil || st.AskedNode != "n2" {
		t.Fatalf("status past a dead node: %+v, %v", st, err)
	}
	// A node's error reply stands, a 5xx too: admin calls are not all idempotent.
	c, _ = New(Config{URLs: []string{n1, n2}, AdminToken: "tok"})
	if _, err := c.Status(ctx); StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("status from a node answering 503: %v, want that 503", err)
	}
	c, _ = New(Config{URLs: []string{n2}, AdminToken: "wrong"})
	if _, err := c.Status(ctx); StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v", err)
	}
	// No node answers: ErrNoAnswer.
	c, _ = New(Config{URLs: []string{dead.URL}, AdminToken: "tok"})
	if _, err := c.Status(ctx); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("no node: %v, want ErrNoAnswer", err)
	}
}

func TestLeaderAndSettled(t *testing.T) {
	old := node(t, cluster.MemberStatus{ID: "n1", State: "leader", Term: 2, Leader: "n1"}, http.StatusOK)
	cur := node(t, cluster.MemberStatus{ID: "n2", State: "leader", Term: 3, Leader: "n2"}, http.StatusOK)
	fol := node(t, cluster.MemberStatus{ID: "n3", State: "follower", Term: 3, Leader: "n2"}, http.StatusOK)
	c, _ := New(Config{URLs: []string{old, cur, fol}, AdminToken: "tok"})
	if id, url, term := c.Leader(t.Context()); id != "n2" || url != cur || term != 3 {
		t.Fatalf("leader %s %s %d, want n2 in term 3", id, url, term)
	}
	if err := c.SelfSettled(t.Context()); !errors.Is(err, ErrNotSettled) {
		t.Fatalf("two nodes lead: SelfSettled = %v", err)
	}
	if err := c.At(cur).SelfSettled(t.Context()); err != nil {
		t.Fatal(err)
	}
	if out, err := c.At(fol).SetFaults(t.Context(), nil); err != nil || out.Node != "n3" {
		t.Fatalf("heal: %+v, %v", out, err)
	}
	st := cluster.Status{Leader: "n2", Members: []cluster.MemberStatus{
		{ID: "n1", Suffrage: "voter", State: "leader"}, {ID: "n2", Suffrage: "voter", State: "follower"},
		{ID: "n3", Suffrage: "voter", State: "unreachable"}}}
	if err := Settled(st, 2); err != nil {
		t.Fatal(err)
	}
	if err := Settled(st, 3); !errors.Is(err, ErrNotSettled) {
		t.Fatalf("one voter unreachable: %v", err)
	}
}
