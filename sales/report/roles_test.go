package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/admitpark/admit/sales/audit"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
)

// tokens: the bearer token is the username.
type tokens map[string]web.Principal

func (tk tokens) Authenticate(_ context.Context, token, addr string) (web.Principal, error) {
	p, ok := tk[token]
	if !ok {
		return web.Principal{}, fmt.Errorf("%w: unknown token", web.ErrUnauthenticated)
	}
	p.RemoteAddr = addr
	return p, nil
}

func (w *world) serve() *httptest.Server {
	w.t.Helper()
	acfg := audit.DefaultConfig()
	acfg.Pool = w.pool
	au, err := audit.NewAPI(acfg)
	if err != nil {
		w.t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.shifts.Routes(mux, tokens(w.who))
	w.reports.Routes(mux, tokens(w.who))
	au.Routes(mux, tokens(w.who))
	srv := httptest.NewServer(mux)
	w.t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, token, path string, out any) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	if resp.StatusCode >= 400 && !strings.Contains(string(b), `"error"`) {
		t.Errorf("GET %s: %d without a JSON error: %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header
}

// TestRoles: finance and admin read every shift and report; a cashier only
// their own shifts and no report; a distributor nothing here.
func TestRoles(t *testing.T) {
	w := newWorld(t)
	srv := w.serve()
	var ids []int64
	for _, c := range []string{"c1", "c2"} {
		s, err := w.shifts.Open(w.ctx, w.who[c], shift.OpenRequest{OpeningFloatMinor: 100})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	o, _, err := w.orders.Create(w.ctx, w.who["c1"], "", orders.CreateRequest{Lines: []orders.LineRequest{{ProductID: "day", VisitDate: "2026-11-16", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.orders.Pay(w.ctx, w.who["c1"], o.Number, orders.PayRequest{Method: payment.MethodCash, AmountMinor: &o.TotalMinor}); err != nil {
		t.Fatal(err)
	}
	c1, c2 := fmt.Sprint(ids[0]), fmt.Sprint(ids[1])
	for _, c := range []struct {
		who, path string
		want      int
	}{
		{"c1", "/v1/shifts/" + c1, 200},
		{"c1", "/v1/shifts/" + c2, 404}, // another cashier's: as if it did not exist
		{"c2", "/v1/shifts/" + c1, 404},
		{"c1", "/v1/shifts/current", 200},
		{"fin", "/v1/shifts/" + c2, 200},
		{"adm", "/v1/shifts/" + c1, 200},
		{"dist", "/v1/shifts/" + c1, 403},
		{"dist", "/v1/shifts", 403},
		{"dist", "/v1/shifts/current", 403},
		{"c1", "/v1/reports/revenue?park=wk&from=2026-11-16", 403},
		{"c1", "/v1/reports/shifts?park=wk&from=2026-11-16", 403},
		{"dist", "/v1/reports/group-settlement?park=wk&from=2026-11-16", 403},
		{"c1", "/v1/audit", 403},
		{"dist", "/v1/audit", 403},
		{"fin", "/v1/reports/revenue?park=wk&from=2026-11-16", 200},
		{"adm", "/v1/reports/revenue?park=wk&from=2026-11-16&format=xlsx", 200},
		{"fin", "/v1/audit?action=shift.*", 200},
		{"nobody", "/v1/audit", 401},
		// Bad requests name what is wrong.
		{"fin", "/v1/reports/nope?park=wk", 404},
		{"fin", "/v1/reports/revenue?park=nope", 404},
		{"fin", "/v1/reports/revenue", 400},
		{"fin", "/v1/reports/revenue?park=wk&from=2026-13-01", 400},
		{"fin", "/v1/reports/revenue?park=wk&from=2026-11-16&to=2026-11-01", 400},
		{"fin", "/v1/reports/revenue?park=wk&group_by=colour", 400},
		{"fin", "/v1/reports/revenue?park=wk&format=pdf", 400},
		{"fin", "/v1/reports/flow?park=wk&group_by=zone", 400},
		{"fin", "/v1/reports/revenue?park=wk&bogus=1", 400},
		{"fin", "/v1/audit?limit=0", 400},
		{"fin", "/v1/audit?from=yesterday", 400},
		{"fin", "/v1/shifts/x", 400},
		{"fin", "/v1/shifts?status=lost", 400},
	} {
		if st, _ := get(t, srv, c.who, c.path, nil); st != c.want {
			t.Errorf("%s GET %s: %d, want %d", c.who, c.path, st, c.want)
		}
	}
	var list shift.ShiftsBody
	if st, _ := get(t, srv, "c2", "/v1/shifts", &list); st != 200 || len(list.Shifts) != 1 || list.Shifts[0].Username != "c2" {
		t.Errorf("c2's shift list: %d %+v", st, list)
	}
	if st, _ := get(t, srv, "fin", "/v1/shifts?park=wk&from=2026-11-16", &list); st != 200 || len(list.Shifts) != 2 {
		t.Errorf("finance's shift list: %d %d shifts", st, len(list.Shifts))
	}
	// A cashier may not close another's shift, nor confirm their own.
	if _, err := w.shifts.Close(w.ctx, w.who["c2"], ids[0], shift.CloseRequest{Counted: map[string]int64{}}); !isProblem(err, "unknown_shift") {
		t.Errorf("c2 closed c1's shift: %v", err)
	}
	if err := w.reports.Write(w.ctx, w.who["c1"], report.Revenue, report.Params{Park: "wk"}, io.Discard); err == nil {
		t.Error("a cashier read the revenue report")
	}
}

// TestAuditQuery pages the audit log by keyset, newest first, with
// filters.
func TestAuditQuery(t *testing.T) {
	w := newWorld(t)
	srv := w.serve()
	for _, c := range []string{"c1", "c2", "c3"} {
		s, err := w.shifts.Open(w.ctx, w.who[c], shift.OpenRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.shifts.Close(w.ctx, w.who[c], s.ID, shift.CloseRequest{Counted: map[string]int64{"cash": 0}}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []int64
	path := "/v1/audit?action=shift.*&limit=2"
	for pages := 0; ; pages++ {
		var p audit.Page
		if st, _ := get(t, srv, "fin", path, &p); st != 200 {
			t.Fatalf("GET %s: %d", path, st)
		}
		for _, e := range p.Entries {
			if !strings.HasPrefix(e.Action, "shift.") {
				t.Errorf("entry %+v does not match action shift.*", e)
			}
			if len(seen) > 0 && e.ID >= seen[len(seen)-1] {
				t.Errorf("entry %d after %d: not newest first", e.ID, seen[len(seen)-1])
			}
			seen = append(seen, e.ID)
		}
		if p.Next == 0 {
			break
		}
		path = fmt.Sprintf("/v1/audit?action=shift.*&limit=2&before=%d", p.Next)
	}
	if len(seen) != 6 {
		t.Errorf("%d shift entries, want 6 (3 opens, 3 closes)", len(seen))
	}
	var p audit.Page
	if st, _ := get(t, srv, "adm", "/v1/audit?user=c2&action=shift.close&entity=shift", &p); st != 200 || len(p.Entries) != 1 ||
		p.Entries[0].Username != "c2" || p.Entries[0].Action != "shift.close" {
		t.Errorf("c2's closes: %+v", p)
	}
	if st, _ := get(t, srv, "adm", "/v1/audit?from=2000-01-01&to=2000-01-02", &p); st != 200 || len(p.Entries) != 0 {
		t.Errorf("entries of 2000: %+v", p)
	}
}
