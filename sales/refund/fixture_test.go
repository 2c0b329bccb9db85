package refund_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/admitpark/admit/sales/keys"
	"github.com/admitpark/admit/sales/payment"
	"github.com/admitpark/admit/sales/pgtest"
	"github.com/admitpark/admit/sales/quota"
	"github.com/admitpark/admit/sales/refund"
	"github.com/admitpark/admit/sales/web"
	"github.com/admitpark/admit/validator/code"
	"github.com/admitpark/admit/validator/gateapi"
	"github.com/admitpark/admit/validator/ticket"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

const parkTZ = "Asia/Shanghai"

// clock is a web.Clock moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// tokens maps bearer tokens to principals.
type tokens map[string]web.Principal

func (tk tokens) Authenticate(_ context.Context, token, addr string) (web.Principal, error) {
	p, ok := tk[token]
	if !ok {
		return web.Principal{}, fmt.Errorf("%w: unknown token", web.ErrUnauthenticated)
	}
	p.RemoteAddr = addr
	return p, nil
}

// fix is one test's world: a fresh database, a refund API over HTTP, a
// clock at the real time (the cluster decides scans at real time), and
// (when asked) a real 3-node cluster.
type fix struct {
	t      *testing.T
	ctx    context.Context
	pool   *pgxpool.Pool
	clock  *clock
	prov   *payment.TestProvider
	api    *refund.API
	srv    *httptest.Server
	park   *park
	loc    *time.Location
	visit  time.Time // tomorrow in the park
	users  map[string]int64
	seq    int
	gateTk string // token of gate g1 (zone main)
}

func newFix(t *testing.T, withCluster bool) *fix {
	t.Helper()
	f := &fix{t: t, ctx: context.Background(), pool: pgtest.NewDB(t), clock: &clock{now: time.Now()}, users: map[string]int64{}}
	var err error
	if f.loc, err = time.LoadLocation(parkTZ); err != nil {
		t.Fatal(err)
	}
	y, m, d := f.clock.Now().In(f.loc).Date()
	f.visit = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	f.seed()

	if f.prov, err = payment.NewTestProvider([]byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	var revoker refund.Revoker = unreachable{}
	if withCluster {
		f.park = newPark(t)
		f.gateTk = f.park.addGate("g1", "main")
		if revoker, err = refund.NewClusterRevoker(f.park.ClusterURLs(), adminToken, 3*time.Second, nil); err != nil {
			t.Fatal(err)
		}
	}
	cfg := refund.DefaultConfig()
	cfg.Pool, cfg.Clock, cfg.Revoker = f.pool, f.clock, revoker
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Providers = map[string]payment.Provider{f.prov.Name(): f.prov}
	cfg.KEK = testKEK
	cfg.RevokeTimeout = 3 * time.Second
	if f.api, err = refund.NewAPI(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.api.Routes(mux, tokens{
		"admin":   {UserID: f.users["admin"], Username: "admin", Role: web.RoleAdmin},
		"cashier": {UserID: f.users["cash1"], Username: "cash1", Role: web.RoleCashier, SalesPointID: "w1"},
		"finance": {UserID: f.users["fin"], Username: "fin", Role: web.RoleFinance},
		"dist1":   {UserID: f.users["dist1"], Username: "dist1", Role: web.RoleDistributor, DistributorID: 1},
		"dist2":   {UserID: f.users["dist2"], Username: "dist2", Role: web.RoleDistributor, DistributorID: 2},
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// unreachable is a Revoker for tests without a cluster.
type unreachable struct{}

func (unreachable) Revoke(context.Context, [16]byte, uint64) (refund.RevokeResult, error) {
	return refund.RevokeResult{}, refund.ErrClusterUnavailable
}

func (f *fix) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fix) seed() {
	f.t.Helper()
	f.exec(`INSERT INTO parks (id, name, time_zone, currency) VALUES ('park1', 'Park One', $1, 'CNY')`, parkTZ)
	f.exec(`INSERT INTO zones (park_id, id, name) VALUES ('park1', 'main', 'Main')`)
	f.exec(`INSERT INTO sales_points (id, park_id, name, kind) VALUES ('w1', 'park1', 'Window 1', 'window')`)
	f.exec(`INSERT INTO distributors (id, name) VALUES (1, 'ota-a'), (2, 'ota-b')`)
	for _, u := range []struct {
		name, role, sp string
		dist           int64
	}{
		{"admin", "admin", "", 0}, {"cash1", "cashier", "w1", 0}, {"fin", "finance", "", 0},
		{"dist1", "distributor", "", 1}, {"dist2", "distributor", "", 2},
	} {
		var id int64
		err := f.pool.QueryRow(f.ctx, `INSERT INTO users (username, role, password_hash, sales_point_id, distributor_id)
			VALUES ($1, $2, 'x', nullif($3, ''), nullif($4, 0::bigint)) RETURNING id`, u.name, u.role, u.sp, u.dist).Scan(&id)
		if err != nil {
			f.t.Fatal(err)
		}
		f.users[u.name] = id
	}
	// The cashier is on shift: window payouts need one (package shift).
	f.exec(`INSERT INTO shifts (park_id, sales_point_id, user_id, status, currency, opening_float_minor, opened_at)
		VALUES ('park1', 'w1', $1, 'open', 'CNY', 0, now())`, f.users["cash1"])
	// day: fee 5.00 + 10 %; late: refunds close 48 hours before the visit day; final: not refundable.
	f.exec(`INSERT INTO products (id, park_id, name, kind, price_minor, refund_until_hours, refund_fee_minor, refund_fee_percent, refundable)
		VALUES ('day', 'park1', 'Day ticket', 'single', 10000, 0, 500, 10, true),
		       ('late', 'park1', 'Late ticket', 'single', 10000, 48, 0, 0, true),
		       ('final', 'park1', 'Final sale', 'single', 10000, 0, 0, 0, false)`)
	if _, err := keys.Ensure(f.ctx, f.pool, testKEK); err != nil {
		f.t.Fatal(err)
	}
}

// order is what a test sells.
type order struct {
	product     string
	tickets     int
	method      string // cash, provider, or "" (no payment: settled on account)
	distributor int64
	phone       string
	noIssue     bool // leave the tickets in the outbox only: the cluster never hears of them
	// before: a provider payment of the order made before the one that
	// settled it (a lower id), as orders leaves it: "duplicate" (paid in
	// full twice, the extra one refunded), "underpaid" (too little, refunded),
	// "underpaid_due" (too little, its refund still due).
	before string
}

type soldTicket struct {
	ID   [16]byte
	Code string
	JSON gateapi.TicketJSON
}

type sold struct {
	Number    string
	OrderID   int64
	PaymentID int64
	Tickets   []soldTicket
}

// sell writes a paid order with issued tickets, as orders would, and sends
// the tickets to the cluster as the relay would (unless noIssue).
func (f *fix) sell(o order) sold {
	f.t.Helper()
	f.seq++
	s := sold{Number: fmt.Sprintf("W-TEST-%04d", f.seq)}
	now := f.clock.Now()
	validFrom := now.Add(-time.Hour).Truncate(time.Minute).UTC()
	validUntil := time.Date(f.visit.Year(), f.visit.Month(), f.visit.Day()+1, 0, 0, 0, 0, f.loc).UTC()
	var price int64
	if err := f.pool.QueryRow(f.ctx, `SELECT price_minor FROM products WHERE id = $1`, o.product).Scan(&price); err != nil {
		f.t.Fatal(err)
	}
	var ref string
	if o.method == "provider" {
		st, err := f.prov.Start(f.ctx, payment.StartRequest{OrderNumber: s.Number, AmountMinor: price * int64(o.tickets), Currency: "CNY"})
		if err != nil {
			f.t.Fatal(err)
		}
		ref = st.ProviderRef
	}
	err := pgx.BeginFunc(f.ctx, f.pool, func(tx pgx.Tx) error {
		channel, dist := "window", (*int64)(nil)
		if o.distributor != 0 {
			channel, dist = "distributor", &o.distributor
		}
		if err := tx.QueryRow(f.ctx, `INSERT INTO orders (number, park_id, channel, distributor_id, status, currency, total_minor, contact_phone, paid_at)
			VALUES ($1, 'park1', $2, $3, 'paid', 'CNY', $4, $5, $6) RETURNING id`,
			s.Number, channel, dist, price*int64(o.tickets), o.phone, now).Scan(&s.OrderID); err != nil {
			return err
		}
		var lineID int64
		if err := tx.QueryRow(f.ctx, `INSERT INTO order_lines (order_id, product_id, visit_date, quantity, unit_price_minor)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, s.OrderID, o.product, f.visit, o.tickets, price).Scan(&lineID); err != nil {
			return err
		}
		if err := quota.Take(f.ctx, tx, s.OrderID, quota.Request{ParkID: "park1", ProductID: o.product, VisitDate: f.visit, Quantity: o.tickets}); err != nil {
			return err
		}
		switch o.before {
		case "duplicate", "underpaid", "underpaid_due":
			amount, status, refunded := price*int64(o.tickets), "refunded", price*int64(o.tickets)
			why, due := "order "+s.Number+" is paid", (*time.Time)(nil)
			if o.before != "duplicate" {
				amount, refunded, why = amount-1, amount-1, "paid too little"
			}
			if o.before == "underpaid_due" {
				status, refunded, due = "succeeded", 0, &now
			}
			if _, err := tx.Exec(f.ctx, `INSERT INTO payments (order_id, method, provider, provider_ref, amount_minor, currency,
					status, refunded_minor, confirmed_at, refund_due_since, refund_due_reason)
				VALUES ($1, 'provider', $2, $3, $4, 'CNY', $5, $6, $7, $8, $9)`,
				s.OrderID, f.prov.Name(), "early-"+s.Number, amount, status, refunded, now, due, why); err != nil {
				return err
			}
		}
		switch o.method {
		case "cash":
			if err := tx.QueryRow(f.ctx, `INSERT INTO payments (order_id, method, amount_minor, currency, status, user_id, sales_point_id, confirmed_at)
				VALUES ($1, 'cash', $2, 'CNY', 'succeeded', $3, 'w1', $4) RETURNING id`, s.OrderID, price*int64(o.tickets), f.users["cash1"], now).Scan(&s.PaymentID); err != nil {
				return err
			}
		case "provider":
			if err := tx.QueryRow(f.ctx, `INSERT INTO payments (order_id, method, provider, provider_ref, amount_minor, currency, status, confirmed_at)
				VALUES ($1, 'provider', $2, $3, $4, 'CNY', 'succeeded', $5) RETURNING id`, s.OrderID, f.prov.Name(), ref, price*int64(o.tickets), now).Scan(&s.PaymentID); err != nil {
				return err
			}
		}
		if s.PaymentID != 0 {
			if _, err := tx.Exec(f.ctx, `UPDATE orders SET paid_payment_id = $2 WHERE id = $1`, s.OrderID, s.PaymentID); err != nil {
				return err
			}
		}
		signer, err := keys.Active(f.ctx, tx, testKEK)
		if err != nil {
			return err
		}
		for range o.tickets {
			var id [16]byte
			rand.Read(id[:])
			c, err := signer.Sign(code.Claims{TicketID: id, Version: 1, Kind: uint8(ticket.Single), ValidFrom: validFrom, ValidUntil: validUntil})
			if err != nil {
				return err
			}
			tj := gateapi.TicketJSON{ID: ticket.FormatID(id), Version: 1, Product: o.product, Kind: "single",
				ValidFrom: validFrom, ValidUntil: validUntil, Status: "active", Code: c}
			if _, err := tx.Exec(f.ctx, `INSERT INTO tickets (id, order_id, order_line_id, park_id, product_id, kind, visit_date,
					valid_from, valid_until, status, version, code, key_id, price_minor, issued_at)
				VALUES ($1, $2, $3, 'park1', $4, 'single', $5, $6, $7, 'active', 1, $8, $9, $10, $11)`,
				id, s.OrderID, lineID, o.product, f.visit, validFrom, validUntil, c, int(signer.KeyID), price, now); err != nil {
				return err
			}
			payload, _ := json.Marshal(tj)
			if _, err := tx.Exec(f.ctx, `INSERT INTO outbox (kind, ticket_id, version, payload) VALUES ('issue', $1, 1, $2)`, id, payload); err != nil {
				return err
			}
			s.Tickets = append(s.Tickets, soldTicket{ID: id, Code: c, JSON: tj})
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if !o.noIssue && f.park != nil {
		var list []gateapi.TicketJSON
		for _, t := range s.Tickets {
			list = append(list, t.JSON)
		}
		if out := f.park.issue(list...); out.Applied != len(list) {
			f.t.Fatalf("issue: %+v", out)
		}
		f.exec(`UPDATE outbox SET sent_at = now() WHERE ticket_id = ANY($1)`, ids(s.Tickets))
	}
	return s
}

func ids(ts []soldTicket) [][16]byte {
	out := make([][16]byte, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// relay sends the unsent ticket rows of the outbox to the cluster in seq
// order, as the sync relay does, and marks them sent. Configure rows (the
// park's signing keys) are left unsent: the test cluster checks no keys.
func (f *fix) relay() {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, `SELECT seq, kind, ticket_id, payload FROM outbox
		WHERE sent_at IS NULL AND kind <> 'configure' ORDER BY seq`)
	if err != nil {
		f.t.Fatal(err)
	}
	type row struct {
		seq     int64
		kind    string
		id      [16]byte
		payload []byte
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.seq, &x.kind, &x.id, &x.payload)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range list {
		switch r.kind {
		case "issue":
			var tj gateapi.TicketJSON
			if err := json.Unmarshal(r.payload, &tj); err != nil {
				f.t.Fatal(err)
			}
			f.park.issue(tj)
		case "revoke":
			var req gateapi.ChangeRequest
			if err := json.Unmarshal(r.payload, &req); err != nil {
				f.t.Fatal(err)
			}
			var resp gateapi.ChangeResponse
			f.park.admin(http.MethodPost, gateapi.PathTickets+ticket.FormatID(r.id)+gateapi.PathTicketRevoke, req, &resp)
		default:
			f.t.Fatalf("outbox row %d: kind %s", r.seq, r.kind)
		}
		f.exec(`UPDATE outbox SET sent_at = now() WHERE seq = $1`, r.seq)
	}
}

// do calls the refund API and decodes a 2xx or 4xx JSON reply into out.
func (f *fix) do(token, method, path string, body, out any) int {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			f.t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// ticketRow is a ticket's state in the database.
type ticketRow struct {
	Status  string
	Version int64
	Code    string
}

func (f *fix) ticket(id [16]byte) ticketRow {
	f.t.Helper()
	var r ticketRow
	if err := f.pool.QueryRow(f.ctx, `SELECT status, version, code FROM tickets WHERE id = $1`, id).Scan(&r.Status, &r.Version, &r.Code); err != nil {
		f.t.Fatal(err)
	}
	return r
}

// money returns a payment's refunded_minor and status.
func (f *fix) payment(id int64) (int64, string) {
	f.t.Helper()
	var refunded int64
	var status string
	if err := f.pool.QueryRow(f.ctx, `SELECT refunded_minor, status FROM payments WHERE id = $1`, id).Scan(&refunded, &status); err != nil {
		f.t.Fatal(err)
	}
	return refunded, status
}

func (f *fix) orderStatus(id int64) string {
	f.t.Helper()
	var s string
	if err := f.pool.QueryRow(f.ctx, `SELECT status FROM orders WHERE id = $1`, id).Scan(&s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fix) quotaUsed(product string) int {
	f.t.Helper()
	var n int
	err := f.pool.QueryRow(f.ctx, `SELECT used FROM quota_usage WHERE scope = 'product' AND scope_id = $1 AND visit_date = $2`, product, f.visit).Scan(&n)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		f.t.Fatal(err)
	}
	return n
}

func (f *fix) audits(action string) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM audit_log WHERE action = $1`, action).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// refundTickets asks for a refund over HTTP.
func (f *fix) refundTickets(token string, s sold, tickets ...soldTicket) (int, refund.RefundsBody) {
	f.t.Helper()
	req := refund.Request{OrderNumber: s.Number, Reason: "changed plans"}
	for _, t := range tickets {
		req.TicketIDs = append(req.TicketIDs, ticket.FormatID(t.ID))
	}
	var body refund.RefundsBody
	status := f.do(token, http.MethodPost, "/v1/refunds", req, &body)
	return status, body
}

func itoa(n int64) string { return fmt.Sprint(n) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func adminP(f *fix) web.Principal {
	return web.Principal{UserID: f.users["admin"], Username: "admin", Role: web.RoleAdmin}
}

// testKEK seals the signing keys of these tests.
var testKEK = func() *keys.KEK {
	k, err := keys.NewKEK([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()
