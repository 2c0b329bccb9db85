package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/admitpark/admit/cluster"
	"github.com/admitpark/admit/cluster/clustertest"
	"github.com/admitpark/admit/cluster/countersm"
	"github.com/admitpark/admit/cluster/httpapi"
)

// TestFaultsAPI: the fault switch endpoint takes node ids or raft
// addresses, replaces the blocked set, heals with an empty list, and
// refuses what is wrong with a JSON 4xx.
func TestFaultsAPI(t *testing.T) {
	faults := cluster.NewFaults(nil)
	h := clustertest.New(t, 2, clustertest.Options{
		StateMachine: func(string) cluster.StateMachine { return countersm.Counter{} },
		Configure: func(c *cluster.Config) {
			if c.ID == "n1" {
				faults = cluster.NewFaults(c.Dial)
				c.Dial = faults.Dial
			}
		},
	})
	n1, n2 := h.Members[0], h.Members[1]
	const token = "s3cret"
	r := httpapi.NewRouter()
	(&httpapi.FaultsAPI{Node: n1.Node(), Faults: faults, AdminToken: token}).Register(r)
	srv, err := httpapi.Listen(httpapi.DefaultServerConfig("127.0.0.1:0"), r.Serve)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	url := "http://" + srv.Addr() + httpapi.PathFaults
	hc := &http.Client{Timeout: 10 * time.Second}

	call := func(method, tok, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	reply := func(b []byte) httpapi.FaultsReply {
		t.Helper()
		var out httpapi.FaultsReply
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("reply %s: %v", b, err)
		}
		return out
	}

	for _, tc := range []struct {
		name, tok, body string
		status          int
	}{
		{"no token", "", `{"block":[]}`, http.StatusUnauthorized},
		{"wrong token", "nope", `{"block":[]}`, http.StatusForbidden},
		{"empty body", token, ``, http.StatusBadRequest},
		{"bad json", token, `{"block":`, http.StatusBadRequest},
		{"unknown field", token, `{"blok":["n2"]}`, http.StatusBadRequest},
		{"not an address", token, `{"block":["nowhere"]}`, http.StatusBadRequest},
		{"itself by id", token, `{"block":["n1"]}`, http.StatusBadRequest},
		{"itself by address", token, `{"block":["` + n1.RaftAddr + `"]}`, http.StatusBadRequest},
		{"too many", token, `{"block":["h:1"` + strings.Repeat(`,"h:1"`, 64) + `]}`, http.StatusBadRequest},
		{"too large", token, `{"block":["` + strings.Repeat("x", 70<<10) + `:1"]}`, http.StatusRequestEntityTooLarge},
	} {
		status, b := call(http.MethodPost, tc.tok, tc.body)
		var eb httpapi.ErrorBody
		if status != tc.status || json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			t.Errorf("%s: %d %s; want %d with a JSON error", tc.name, status, bytes.TrimSpace(b), tc.status)
		}
	}
	if got := faults.Blocked(); len(got) != 0 {
		t.Fatalf("refused requests changed the blocked set: %v", got)
	}

	// Block n2 by id: its raft address is blocked, and the connections n1
	// had dialled to it are closed.
	clustertest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if faults.Open() == 0 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}, "n1 to have a connection open to n2")
	status, b := call(http.MethodPost, token, `{"block":["n2","10.9.9.9:7201"]}`)
	if status != http.StatusOK {
		t.Fatalf("block: %d %s", status, b)
	}
	out := reply(b)
	want := []string{"10.9.9.9:7201", n2.RaftAddr}
	slices.Sort(want)
	if out.Node != "n1" || !slices.Equal(out.Blocked, want) || out.Closed == 0 {
		t.Fatalf("block reply %+v; want blocked %v and connections closed", out, want)
	}
	if _, err := faults.Dial(context.Background(), n2.RaftAddr); err == nil {
		t.Fatal("dial to a blocked peer succeeded")
	}
	status, b = call(http.MethodGet, token, "")
	if status != http.StatusOK || !slices.Equal(reply(b).Blocked, want) {
		t.Fatalf("get: %d %s", status, b)
	}
	if status, _ := call(http.MethodGet, "", ""); status != http.StatusUnauthorized {
		t.Fatalf("get without token: %d", status)
	}

	// An empty list heals.
	status, b = call(http.MethodPost, token, `{"block":[]}`)
	if status != http.StatusOK || len(reply(b).Blocked) != 0 || len(faults.Blocked()) != 0 {
		t.Fatalf("heal: %d %s", status, b)
	}
}
