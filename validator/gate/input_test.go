package gate_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

func TestBadInputGetsClearErrors(t *testing.T) {
	p := newPark(t, 3)
	g1 := p.addGate("g1", "main", "in")
	g2 := p.addGate("g2", "main", "in")
	tj := single("x")
	cd := p.issue(tj, code.Claims{ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil})
	base := p.URL(p.h.Running()[0])
	okScan := fmt.Sprintf(`{"code":%q,"gate":"g1","scan_id":"a1"}`, cd)

	cases := []struct {
		name, method, path, token string
		body                      []byte
		status                    int
		errHas                    string
	}{
		{"no token", "POST", gateapi.PathScan, "", []byte(okScan), 401, "missing gate token"},
		{"wrong token", "POST", gateapi.PathScan, "nope", []byte(okScan), 403, "gate token not accepted"},
		{"other gate's token", "POST", gateapi.PathScan, g2, []byte(okScan), 403, "gate token not accepted"},
		{"unregistered gate", "POST", gateapi.PathScan, g1, []byte(strings.Replace(okScan, `"g1"`, `"g9"`, 1)), 403, "gate token not accepted"},
		{"bad json", "POST", gateapi.PathScan, g1, []byte(`{"code":`), 400, "invalid JSON"},
		{"not an object", "POST", gateapi.PathScan, g1, []byte(`[1,2]`), 400, "invalid JSON"},
		{"unknown field", "POST", gateapi.PathScan, g1, []byte(`{"code":"A","gate":"g1","scan_id":"1","color":"red"}`), 400, "unknown field"},
		{"two values", "POST", gateapi.PathScan, g1, []byte(okScan + okScan), 400, "more than one value"},
		{"empty body", "POST", gateapi.PathScan, g1, nil, 400, "empty"},
		{"no code", "POST", gateapi.PathScan, g1, []byte(`{"gate":"g1","scan_id":"1"}`), 400, `"code" or "credential" is required`},
		{"no scan id", "POST", gateapi.PathScan, g1, []byte(fmt.Sprintf(`{"code":%q,"gate":"g1"}`, cd)), 400, `"scan_id"`},
		{"long scan id", "POST", gateapi.PathScan, g1, []byte(fmt.Sprintf(`{"code":%q,"gate":"g1","scan_id":%q}`, cd, strings.Repeat("x", 65))), 400, `"scan_id"`},
		{"bad direction", "POST", gateapi.PathScan, g1, []byte(fmt.Sprintf(`{"code":%q,"gate":"g1","scan_id":"1","direction":"up"}`, cd)), 400, `"direction"`},
		{"huge code", "POST", gateapi.PathScan, g1, []byte(fmt.Sprintf(`{"code":%q,"gate":"g1","scan_id":"1"}`, strings.Repeat("A", 600))), 400, "longer than"},
		{"empty batch", "POST", gateapi.PathScans, g1, []byte(`{"scans":[]}`), 400, `"scans" must hold`},
		{"bad item in batch", "POST", gateapi.PathScans, g1, []byte(`{"scans":[{"code":"A","gate":"g1"}]}`), 400, "scans[0]"},
		{"admin call with a gate token", "GET", gateapi.PathGates, g1, nil, 403, "wrong admin token"},
		{"admin call without token", "GET", gateapi.PathGates, "", nil, 401, "missing admin token"},
		{"bad ticket id", "GET", gateapi.PathTickets + "xyz", adminToken, nil, 400, "neither a ticket id"},
		{"unknown ticket", "GET", gateapi.PathTickets + strings.Repeat("ab", 16), adminToken, nil, 404, "not in the cluster"},
		{"issue without code", "POST", gateapi.PathIssue, adminToken, []byte(fmt.Sprintf(`{"tickets":[{"id":%q,"version":1,"product":"p","kind":"single"}]}`, newID())), 400, `"code" or "digest"`},
		{"issue bad kind", "POST", gateapi.PathIssue, adminToken, []byte(fmt.Sprintf(`{"tickets":[{"id":%q,"version":1,"product":"p","kind":"vip","digest":%q}]}`, newID(), strings.Repeat("0", 32))), 400, `"kind"`},
		{"gate with token", "POST", gateapi.PathGates, adminToken, []byte(`{"id":"g3","zone":"main","token":"mine"}`), 400, "made by the cluster"},
		{"zone warn over cap", "POST", gateapi.PathZones, adminToken, []byte(`{"id":"z","cap":10,"warn":20}`), 400, "warn"},
		{"zone bit past 31", "POST", gateapi.PathZones, adminToken, []byte(`{"id":"z","bit":32}`), 400, `"bit" must be 0-31`},
		{"gate with a zone bit", "POST", gateapi.PathGates, adminToken, []byte(`{"id":"q","zone":"main","zone_bit":0}`), 400, `"zone_bit" is the zone's`},
		{"bad time zone", "PUT", gateapi.PathPark, adminToken, []byte(`{"time_zone":"Mars/Olympus"}`), 400, "IANA"},
		{"revoke without version", "POST", gateapi.PathTickets + newID() + "/revoke", adminToken, []byte(`{}`), 400, `"version"`},
		{"update bad op", "POST", gateapi.PathTickets + newID() + "/update", adminToken, []byte(`{"version":2,"op":"melt"}`), 400, `"op"`},
		{"bad cursor", "GET", gateapi.PathEvents + "?after=x", adminToken, nil, 400, "cursor"},
		{"code and credential", "POST", gateapi.PathScan, g1, []byte(fmt.Sprintf(`{"code":%q,"credential":{"kind":"card","value":"1"},"gate":"g1","scan_id":"1"}`, cd)), 400, "not both"},
		{"bad credential kind", "POST", gateapi.PathScan, g1, []byte(`{"credential":{"kind":"passport","value":"1"},"gate":"g1","scan_id":"1"}`), 400, `"credential.kind"`},
		{"bad card value", "POST", gateapi.PathScan, g1, []byte(`{"credential":{"kind":"card","value":"é"},"gate":"g1","scan_id":"1"}`), 400, `"credential.value"`},
		{"bad offline", "POST", gateapi.PathScan, g1, []byte(fmt.Sprintf(`{"code":%q,"gate":"g1","scan_id":"1","offline":"maybe"}`, cd)), 400, `"offline"`},
		{"bad device time", "POST", gateapi.PathScan, g1, []byte(fmt.Sprintf(`{"code":%q,"gate":"g1","scan_id":"1","device_time":"1970-01-01T00:00:01Z"}`, cd)), 400, `"device_time"`},
		{"issue bad credential", "POST", gateapi.PathIssue, adminToken, []byte(fmt.Sprintf(`{"tickets":[{"id":%q,"version":1,"product":"p","kind":"single","digest":%q,"credentials":[{"kind":"ticket_number","value":"000000000019"}]}]}`, newID(), strings.Repeat("0", 32))), 400, "check digit"},
		{"short id card key", "PUT", gateapi.PathPark, adminToken, []byte(`{"id_card_key":"c2hvcnQ="}`), 400, `"id_card_key"`},
		{"bad conflicts cursor", "GET", gateapi.PathConflicts + "?after=x", adminToken, nil, 400, "cursor"},
		{"unknown path", "GET", "/v1/nothing", adminToken, nil, 404, "no such endpoint"},
		{"wrong method", "GET", gateapi.PathScan, g1, nil, 405, "not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var eb struct {
				Error string `json:"error"`
			}
			var body any
			if c.body != nil {
				body = c.body
			}
			status, err := gatetest.Call(base, c.method, c.path, c.token, body, &eb)
			if err != nil {
				t.Fatal(err)
			}
			if status != c.status || !strings.Contains(eb.Error, c.errHas) {
				t.Fatalf("%s %s: %d %q, want %d with %q", c.method, c.path, status, eb.Error, c.status, c.errHas)
			}
		})
	}

	// An oversize body is refused from its Content-Length, before it is
	// read. The request is written without its body: a server that refuses
	// a body closes the connection with it unread, and a client still
	// writing it may get a reset instead of the 413 (this test failed so).
	t.Run("oversize body", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", gateapi.PathScan, g1, 70<<10)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb struct {
			Error string `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 413 || !strings.Contains(eb.Error, "too large") {
			t.Fatalf("a 70 KiB body: %d %q, want 413 with %q", resp.StatusCode, eb.Error, "too large")
		}
	})

	// Nothing above touched the ticket: it still admits once.
	status, resp, msg := p.scan(base, g1, gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: "ok-1"})
	if status != 200 || resp.Result != "admit" {
		t.Fatalf("scan after bad input: %d %+v %s", status, resp, msg)
	}
}

func TestBatchEndpoint(t *testing.T) {
	p := newPark(t, 3)
	g1 := p.addGate("g1", "main", "in")
	codes := p.singles(3)
	req := gateapi.ScanBatchRequest{Scans: []gateapi.ScanRequest{
		{Code: codes[0], Gate: "g1", ScanID: "b1"},
		{Code: "GARBAGE", Gate: "g1", ScanID: "b2"},
		{Code: codes[1], Gate: "g1", ScanID: "b3"},
		{Code: codes[0], Gate: "g1", ScanID: "b4"}, // same ticket, same batch
		{Code: codes[2], Gate: "g1", ScanID: "b5"},
	}}
	var out gateapi.ScanBatchResponse
	status, err := gatetest.Call(p.URL(p.h.Followers()[0]), http.MethodPost, gateapi.PathScans, g1, req, &out)
	if err != nil || status != 200 {
		t.Fatalf("batch: %d %v", status, err)
	}
	want := []string{"admit/", "deny/invalid_code", "admit/", "deny/already_used", "admit/"}
	for i, r := range out.Results {
		if got := r.Result + "/" + r.Reason; got != want[i] || r.ScanID != req.Scans[i].ScanID {
			b, _ := json.Marshal(out)
			t.Fatalf("result %d = %s (scan %s), want %s; all: %s", i, got, r.ScanID, want[i], b)
		}
	}
	// A handheld re-uploading the same batch gets the same decisions, as rescans.
	var again gateapi.ScanBatchResponse
	gatetest.Call(p.URL(p.h.Leader()), http.MethodPost, gateapi.PathScans, g1, req, &again)
	for i, r := range again.Results {
		if r.Result != out.Results[i].Result || r.Reason != out.Results[i].Reason || (r.Reason != "invalid_code" && !r.Rescan) {
			t.Fatalf("re-upload result %d = %+v, want the original %+v as rescan", i, r, out.Results[i])
		}
	}
	// The changefeed holds the decided scans in order (invalid codes never reach the log).
	var ev struct {
		Events []gateapi.EventJSON `json:"events"`
		Next   string              `json:"next"`
	}
	p.admin(http.MethodGet, gateapi.PathEvents+"?after=0.0&limit=100", nil, &ev)
	var ids []string
	for _, e := range ev.Events {
		ids = append(ids, e.ScanID)
	}
	if strings.Join(ids, ",") != "b1,b3,b4,b5" {
		t.Fatalf("events %v, want b1,b3,b4,b5", ids)
	}
}
