package gate_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gate/gatetest"
	"github.com/admitpark/admit/validator/gateapi"
)

// TestTextHygiene: a NUL, another control character or invalid UTF-8 in
// any text field the gate API accepts is a 400 that names the field,
// through real HTTP, on both scan decoders (the fast path refuses such
// bytes and hands the body to encoding/json, which turns \u0000 into NUL
// and invalid bytes into U+FFFD); nothing of it reaches the changefeed.
func TestTextHygiene(t *testing.T) {
	p := newPark(t, 3)
	g1 := p.addGate("g1", "main", "in")
	tj := single("x")
	cd := p.issue(tj, code.Claims{ValidFrom: tj.ValidFrom, ValidUntil: tj.ValidUntil})
	base := p.URL(p.h.Running()[0])
	scanBody := func(gate, scanID string) []byte {
		return []byte(`{"code":"` + cd + `","gate":"` + gate + `","scan_id":"` + scanID + `"}`)
	}
	id := newID()
	cases := []struct {
		name, method, path, token string
		body                      []byte
		field                     string
	}{
		{"scan id with escaped NUL", "POST", gateapi.PathScan, g1, scanBody("g1", `a\u0000b`), `"scan_id"`},
		{"scan id with raw invalid UTF-8", "POST", gateapi.PathScan, g1, scanBody("g1", "a\xffb"), `"scan_id"`},
		{"scan id with a lone surrogate", "POST", gateapi.PathScan, g1, scanBody("g1", `a\ud800`), `"scan_id"`},
		{"scan id with a newline", "POST", gateapi.PathScan, g1, scanBody("g1", `a\nb`), `"scan_id"`},
		{"scan id with C1 control", "POST", gateapi.PathScan, g1, scanBody("g1", `a\u0085`), `"scan_id"`},
		{"gate with NUL", "POST", gateapi.PathScan, g1, scanBody(`g1\u0000`, "s1"), `"gate"`},
		{"direction with NUL", "POST", gateapi.PathScan, g1, []byte(`{"code":"` + cd + `","gate":"g1","scan_id":"s1","direction":"in\u0000"}`), `"direction"`},
		{"batch scan id with NUL", "POST", gateapi.PathScans, g1, []byte(`{"scans":[` + string(scanBody("g1", `x\u0000`)) + `]}`), `scans[0]: "scan_id"`},
		{"gate add id", "POST", gateapi.PathGates, adminToken, []byte(`{"id":"g\u0000","zone":"main"}`), `"id"`},
		{"gate add zone", "POST", gateapi.PathGates, adminToken, []byte("{\"id\":\"g7\",\"zone\":\"m\xfe\"}"), `"zone"`},
		{"gate delete id", "DELETE", gateapi.PathGates + "/g%00", adminToken, nil, `"id"`},
		{"zone id", "POST", gateapi.PathZones, adminToken, []byte(`{"id":"z\u001b[31m"}`), `"id"`},
		{"zone delete id", "DELETE", gateapi.PathZones + "/z%0A", adminToken, nil, `"id"`},
		{"park time zone", "PUT", gateapi.PathPark, adminToken, []byte(`{"time_zone":"UTC\u0000"}`), `"time_zone"`},
		{"issue product", "POST", gateapi.PathIssue, adminToken, issueBody(id, `"product":"day\u0000"`), `tickets[0]: "product"`},
		{"issue holder", "POST", gateapi.PathIssue, adminToken, issueBody(id, `"product":"day","holder":"Ann\u0000"`), `"holder"`},
		{"issue zones", "POST", gateapi.PathIssue, adminToken, issueBody(id, `"product":"day","zones":["main","z\u0007"]`), `"zones[1]"`},
		{"update op", "POST", gateapi.PathTickets + id + "/update", adminToken, []byte(`{"version":2,"op":"suspend\u0000"}`), `"op"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var eb gateapi.ErrorBody
			var body any
			if c.body != nil {
				body = c.body
			}
			status, err := gatetest.Call(base, c.method, c.path, c.token, body, &eb)
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusBadRequest || !strings.Contains(eb.Error, c.field) {
				t.Fatalf("%s %s: %d %q, want 400 naming %s", c.method, c.path, status, eb.Error, c.field)
			}
		})
	}
	// Clean text outside ASCII is fine: a holder's name in any script.
	var out gateapi.IssueResponse
	p.admin(http.MethodPost, gateapi.PathIssue, gateapi.IssueRequest{Tickets: []gateapi.TicketJSON{func() gateapi.TicketJSON {
		tj := single("day")
		tj.Holder, tj.Digest = "Zoë 张三", strings.Repeat("0", 32)
		return tj
	}()}}, &out)
	if out.Applied != 1 {
		t.Fatalf("issue with a non-ASCII holder: %+v", out)
	}
	// The ticket still admits once, and the changefeed holds only that scan.
	if status, resp, msg := p.scan(base, g1, gateapi.ScanRequest{Code: cd, Gate: "g1", ScanID: "ok-1"}); status != 200 || resp.Result != "admit" {
		t.Fatalf("scan: %d %+v %s", status, resp, msg)
	}
	var ev gateapi.EventsResponse
	p.admin(http.MethodGet, gateapi.PathEvents+"?limit=100", nil, &ev)
	if len(ev.Events) != 1 || ev.Events[0].ScanID != "ok-1" {
		t.Fatalf("events: %+v", ev.Events)
	}
}

func issueBody(id, fields string) []byte {
	return []byte(fmt.Sprintf(`{"tickets":[{"id":%q,"version":1,"kind":"single","digest":%q,%s}]}`, id, strings.Repeat("0", 32), fields))
}

// TestUnknownGateLooksLikeWrongToken: a scan for a gate that does not
// exist and a scan with another gate's token get the same status and the
// same body, so answers do not reveal which gate ids exist; the metric
// keeps the two apart for the operator.
func TestUnknownGateLooksLikeWrongToken(t *testing.T) {
	p := newPark(t, 3)
	g1 := p.addGate("g1", "main", "in")
	g2 := p.addGate("g2", "main", "in")
	m := p.h.Running()[0]
	base := p.URL(m)
	call := func(gate, token string) (int, string) {
		t.Helper()
		var eb gateapi.ErrorBody
		status, err := gatetest.Call(base, http.MethodPost, gateapi.PathScan, token,
			gateapi.ScanRequest{Code: "ABC", Gate: gate, ScanID: "s1"}, &eb)
		if err != nil {
			t.Fatal(err)
		}
		return status, eb.Error
	}
	s1, b1 := call("g1", g2)        // a real gate, another gate's token
	s2, b2 := call("no-such", g2)   // no such gate
	s3, b3 := call("no-such", "xx") // no such gate, a made-up token
	if s1 != http.StatusForbidden || s1 != s2 || s2 != s3 || b1 != b2 || b2 != b3 {
		t.Fatalf("answers differ: %d %q / %d %q / %d %q", s1, b1, s2, b2, s3, b3)
	}
	if status, _ := call("g1", g1); status != http.StatusOK {
		t.Fatalf("own token: %d", status)
	}
	for reason, want := range map[string]float64{"wrong_token": 1, "unknown_gate": 2} {
		if got := authFailures(t, m.Registry, reason); got != want {
			t.Errorf("auth failures %s = %v, want %v", reason, got, want)
		}
	}
}

// TestScopedTokens: the sales token may issue, change and read tickets and
// read the configuration, but not add a gate, change a zone or the park,
// scan, or touch the cluster admin API; the operator token may do all.
func TestScopedTokens(t *testing.T) {
	p := newPark(t, 3)
	base := p.URL(p.h.Running()[0])
	tj := single("day")
	tj.Digest = strings.Repeat("0", 32)
	issue := gateapi.IssueRequest{Tickets: []gateapi.TicketJSON{tj}}
	cases := []struct {
		name, method, path string
		body               any
		sales, operator    int
	}{
		{"add a gate", "POST", gateapi.PathGates, gateapi.GateJSON{ID: "g9", Zone: "main"}, 403, 201},
		{"issue", "POST", gateapi.PathIssue, issue, 200, 200},
		{"view a ticket", "GET", gateapi.PathTickets + tj.ID, nil, 200, 200},
		{"revoke", "POST", gateapi.PathTickets + tj.ID + "/revoke", gateapi.ChangeRequest{Version: 2}, 200, 200},
		{"events", "GET", gateapi.PathEvents, nil, 200, 200},
		{"list gates", "GET", gateapi.PathGates, nil, 200, 200},
		{"list zones", "GET", gateapi.PathZones, nil, 200, 200},
		{"read the park", "GET", gateapi.PathPark, nil, 200, 200},
		{"set a zone", "POST", gateapi.PathZones, gateapi.ZoneJSON{ID: "main", Cap: 100}, 403, 200},
		{"remove a gate", "DELETE", gateapi.PathGates + "/g9", nil, 403, 200},
		{"set the park", "PUT", gateapi.PathPark, gateapi.ParkJSON{TimeZone: "UTC"}, 403, 200},
		{"reset zones", "POST", gateapi.PathExitAll, nil, 403, 200},
		{"scan for a gate", "POST", gateapi.PathScan, gateapi.ScanRequest{Code: "ABC", Gate: "g1", ScanID: "1"}, 403, 200}, // operator: deny invalid_code
		{"cluster status", "GET", httpapi.PathStatus, nil, 403, 200},
		{"add a member", "POST", httpapi.PathJoin, httpapi.JoinRequest{ID: "n9", RaftAddr: "127.0.0.1:1"}, 403, -1},
	}
	for _, c := range cases {
		for _, who := range []struct {
			token string
			want  int
		}{{gatetest.SalesToken, c.sales}, {adminToken, c.operator}} {
			if who.want < 0 {
				continue // not tried: it would change the cluster
			}
			var eb gateapi.ErrorBody
			status, err := gatetest.Call(base, c.method, c.path, who.token, c.body, &eb)
			if err != nil {
				t.Fatal(err)
			}
			if status != who.want {
				t.Errorf("%s with %s: %d %q, want %d", c.name, who.token, status, eb.Error, who.want)
			}
		}
	}
}
