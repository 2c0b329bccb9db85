package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/xuri/excelize/v2"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/orders"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/report"
	"github.com/admitpark/admit/sales/shift"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/gateapi"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// parkTZ is west of UTC: an evening shift's sales fall on the next UTC day.
const parkTZ = "America/New_York"

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// revoked stands in for the park's cluster answering every revoke
// "revoked" (the revoke protocol runs against a real cluster in
// sales/refund's tests; here only the money that follows matters).
type revoked struct{}

func (revoked) Revoke(context.Context, [16]byte, uint64) (refund.RevokeResult, error) {
	return refund.RevokeResult{Outcome: gateapi.OutcomeRevoked}, nil
}

var testKEK = func() *keys.KEK {
	k, err := keys.NewKEK([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()

// world is one test's sales service in process: a fresh database, the
// orders, refund, shift and report APIs on one moved-by-hand clock.
type world struct {
	t       testing.TB
	ctx     context.Context
	pool    *pgxpool.Pool
	clock   *clock
	loc     *time.Location
	prov    *payment.TestProvider
	orders  *orders.API
	refunds *refund.API
	shifts  *shift.API
	reports *report.API
	who     map[string]web.Principal
	reg     *prometheus.Registry
}

func newWorld(t testing.TB) *world {
	t.Helper()
	loc, err := time.LoadLocation(parkTZ)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: t.Context(), pool: pgtest.NewDB(t), loc: loc,
		clock: &clock{now: time.Date(2026, 11, 16, 8, 0, 0, 0, loc)}, who: map[string]web.Principal{}}
	w.seed()
	if w.prov, err = payment.NewTestProvider([]byte("webhook-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ocfg := orders.DefaultConfig()
	ocfg.Pool, ocfg.Clock, ocfg.Log, ocfg.KEK = w.pool, w.clock, quiet, testKEK
	ocfg.HolderIDSecret = []byte("report-test-holder-secret-0123456789abcdef")
	ocfg.Providers = []payment.Provider{w.prov}
	if w.orders, err = orders.NewAPI(ocfg); err != nil {
		t.Fatal(err)
	}
	rcfg := refund.DefaultConfig()
	rcfg.Pool, rcfg.Clock, rcfg.Log, rcfg.Revoker, rcfg.KEK = w.pool, w.clock, quiet, revoked{}, testKEK
	rcfg.Providers = map[string]payment.Provider{w.prov.Name(): w.prov}
	if w.refunds, err = refund.NewAPI(rcfg); err != nil {
		t.Fatal(err)
	}
	scfg := shift.DefaultConfig()
	w.reg = prometheus.NewRegistry()
	scfg.Pool, scfg.Clock, scfg.Log, scfg.Registerer = w.pool, w.clock, quiet, w.reg
	if w.shifts, err = shift.NewAPI(scfg); err != nil {
		t.Fatal(err)
	}
	pcfg := report.DefaultConfig()
	pcfg.Pool, pcfg.Clock, pcfg.Log, pcfg.Shifts = w.pool, w.clock, quiet, w.shifts
	if w.reports, err = report.NewAPI(pcfg); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	if _, err := w.pool.Exec(w.ctx, sql, args...); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
}

// seed: park "wk" with two business units, windows w1 (unit A) and w2
// (unit B), three cashiers (c1, c2 at w1, c3 at w2), finance, an admin,
// a distributor's user, and three products.
func (w *world) seed() {
	w.t.Helper()
	w.exec(`INSERT INTO parks (id, name, time_zone, currency) VALUES ('wk', 'Week Park', $1, 'USD')`, parkTZ)
	w.exec(`INSERT INTO zones (park_id, id, name) VALUES ('wk', 'main', 'Main'), ('wk', 'ride', 'Ride')`)
	w.exec(`INSERT INTO business_units (id, park_id, name) VALUES (1, 'wk', 'Unit A'), (2, 'wk', 'Unit B')`)
	w.exec(`INSERT INTO sales_points (id, park_id, business_unit_id, name, kind) VALUES
		('w1', 'wk', 1, 'Window 1', 'window'), ('w2', 'wk', 2, 'Window 2', 'window')`)
	w.exec(`INSERT INTO distributors (id, name) VALUES (1, 'ota-one')`)
	for _, u := range []struct{ name, role, sp string }{
		{"c1", "cashier", "w1"}, {"c2", "cashier", "w1"}, {"c3", "cashier", "w2"},
		{"fin", "finance", ""}, {"adm", "admin", ""}, {"dist", "distributor", ""},
	} {
		var id int64
		var dist *int64
		if u.role == "distributor" {
			one := int64(1)
			dist = &one
		}
		if err := w.pool.QueryRow(w.ctx, `INSERT INTO users (username, role, password_hash, sales_point_id, distributor_id)
			VALUES ($1, $2, 'x', nullif($3, ''), $4) RETURNING id`, u.name, u.role, u.sp, dist).Scan(&id); err != nil {
			w.t.Fatal(err)
		}
		p := web.Principal{UserID: id, Username: u.name, Role: u.role, SalesPointID: u.sp}
		if dist != nil {
			p.DistributorID = *dist
		}
		w.who[u.name] = p
	}
	// Refunds allowed until two days after the visit day starts; day: fee
	// 5.00 + 10 %; kid: no fee; fam: a group ticket for 4.
	w.exec(`INSERT INTO products (id, park_id, name, kind, entries, price_minor, currency, refund_until_hours, refund_fee_minor, refund_fee_percent, max_per_order) VALUES
		('day', 'wk', 'Day', 'single', 0, 10000, 'USD', -48, 500, 10, 50),
		('kid', 'wk', 'Kid', 'single', 0, 4500, 'USD', -48, 0, 0, 50),
		('fam', 'wk', 'Family of 4', 'group', 4, 30000, 'USD', -48, 0, 5, 50)`)
	if _, err := keys.Ensure(w.ctx, w.pool, testKEK); err != nil {
		w.t.Fatal(err)
	}
}

// report runs a report and returns its bytes.
func (w *world) report(name string, q report.Params) []byte {
	w.t.Helper()
	var b bytes.Buffer
	if err := w.reports.Write(w.ctx, w.who["fin"], name, q, &b); err != nil {
		w.t.Fatalf("report %s %+v: %v", name, q, err)
	}
	return b.Bytes()
}

// table is a report read back: column names, rows and totals as strings
// (numbers in decimal), whatever the format.
type table struct {
	cols   []string
	rows   [][]string
	totals []string
}

func parseJSON(t *testing.T, b []byte) table {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw struct {
		Columns []report.Column  `json:"columns"`
		Rows    []map[string]any `json:"rows"`
		Totals  map[string]any   `json:"totals"`
	}
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("json report: %v\n%s", err, b)
	}
	var tb table
	cell := func(v any) string {
		switch v := v.(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		}
		t.Fatalf("json cell %T %v", v, v)
		return ""
	}
	for _, c := range raw.Columns {
		tb.cols = append(tb.cols, c.Name)
	}
	for _, r := range raw.Rows {
		var row []string
		for _, c := range tb.cols {
			row = append(row, cell(r[c]))
		}
		tb.rows = append(tb.rows, row)
	}
	for _, c := range tb.cols {
		tb.totals = append(tb.totals, cell(raw.Totals[c]))
	}
	return tb
}

func parseCSV(t *testing.T, b []byte) table {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("csv report: %v (%d records)", err, len(recs))
	}
	return table{cols: recs[0], rows: recs[1 : len(recs)-1], totals: recs[len(recs)-1]}
}

func parseXLSX(t *testing.T, b []byte) table {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("xlsx report: %v", err)
	}
	defer f.Close()
	recs, err := f.GetRows(report.Sheet, excelize.Options{RawCellValue: true})
	if err != nil || len(recs) < 2 {
		t.Fatalf("xlsx report: %v (%d rows)", err, len(recs))
	}
	n := len(recs[0])
	for i := range recs { // GetRows drops trailing empty cells
		for len(recs[i]) < n {
			recs[i] = append(recs[i], "")
		}
	}
	return table{cols: recs[0], rows: recs[1 : len(recs)-1], totals: recs[len(recs)-1]}
}

// num is column name's value in row as an int64.
func (tb table) num(t *testing.T, row []string, name string) int64 {
	t.Helper()
	for i, c := range tb.cols {
		if c == name {
			v, err := strconv.ParseInt(row[i], 10, 64)
			if err != nil {
				t.Fatalf("column %s: %q is not a number", name, row[i])
			}
			return v
		}
	}
	t.Fatalf("no column %s in %v", name, tb.cols)
	return 0
}

func (tb table) text(t *testing.T, row []string, name string) string {
	t.Helper()
	for i, c := range tb.cols {
		if c == name {
			return row[i]
		}
	}
	t.Fatalf("no column %s in %v", name, tb.cols)
	return ""
}

// isProblem: err is a *web.Problem with code.
func isProblem(err error, code string) bool {
	var p *web.Problem
	return errors.As(err, &p) && p.Code == code
}
